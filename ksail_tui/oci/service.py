"""Workload artifacts in the registry: build, push, list, diff and prune versions.

The API the CLI and the dashboard call. Versions are immutable: a push of an existing version with
other content fails unless forced, and the same content again changes nothing, so the manifest digest
Flux already stored stays valid. Identity is the layer digest, which builds reproducibly; the manifest
digest is not, because it includes the build time.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import tempfile
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import semver

from ksail_tui.config import ClusterConfig, Workload
from ksail_tui.errors import InvalidInput, OperationFailed, Unavailable
from ksail_tui.humanize import parse_time, short_digest
from ksail_tui.models import OCIArtifact
from ksail_tui.oci.artifact_format import (
    CREATED_ANNOTATION,
    REVISION_ANNOTATION,
    SOURCE_ANNOTATION,
    VERSION_ANNOTATION,
    read_layer_files,
)
from ksail_tui.oci.registry_client import RegistryClient, RemoteManifest, blob_size
from ksail_tui.urls import without_credentials

if TYPE_CHECKING:
    from ksail_tui.flux.references import SourceReference
    from ksail_tui.oci.build import BuiltArtifact
    from ksail_tui.oci.layer_upload import LayerUpload

_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_MANIFEST_FETCH_WORKERS = 8
_LOCK_POLL_SECONDS = 0.05


class PushPhase(StrEnum):
    BUILDING = "building"
    CHECKING = "checking"
    UPLOADING = "uploading"
    TAGGING = "tagging"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class PushProgress:
    phase: PushPhase
    bytes_done: int = 0
    bytes_total: int = 0
    message: str = ""


ProgressCallback = Callable[[PushProgress], None]


@dataclass(frozen=True, slots=True)
class PushResult:
    artifact: OCIArtifact
    pushed: bool  # False when this version already held the same content
    overwritten: bool = False  # --force replaced other content
    also_tags: tuple[str, ...] = ()
    skipped_symlinks: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "repository": self.artifact.repository,
            "tag": self.artifact.tag,
            "digest": self.artifact.digest,
            "layer_digest": self.artifact.layer_digest,
            "size": self.artifact.size,
            "pushed": self.pushed,
            "overwritten": self.overwritten,
            "also_tags": list(self.also_tags),
            "reference": self.artifact.reference,
        }


@dataclass(frozen=True, slots=True)
class ArtifactDiff:
    """How the local folder differs from a pushed version, file by file."""

    workload: str
    reference: str
    local_layer_digest: str
    remote_layer_digest: str
    added: tuple[str, ...] = ()  # in the folder, not in the pushed version
    removed: tuple[str, ...] = ()  # in the pushed version, not in the folder
    modified: tuple[str, ...] = ()

    @property
    def same_layer(self) -> bool:
        return self.local_layer_digest == self.remote_layer_digest

    @property
    def identical(self) -> bool:
        return self.same_layer or not (self.added or self.removed or self.modified)

    def to_json(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "reference": self.reference,
            "identical": self.identical,
            "local_layer_digest": self.local_layer_digest,
            "remote_layer_digest": self.remote_layer_digest,
            "added": list(self.added),
            "removed": list(self.removed),
            "modified": list(self.modified),
        }


@dataclass(frozen=True, slots=True)
class PruneResult:
    repository: str
    dry_run: bool
    kept: tuple[str, ...]  # the newest versions, by semver
    deleted: tuple[OCIArtifact, ...]  # or, in a dry run, what would be
    protected: tuple[str, ...] = ()  # beyond --keep, but the cluster can resolve to them
    protected_by: tuple[str, ...] = ()  # for each protected tag: which source, and how
    cluster_consulted: bool = True  # False with ignore_cluster_references
    shared: tuple[str, ...] = ()  # beyond --keep, but their manifest is also a kept tag's
    reclaimable_bytes: int = 0  # blobs only the deleted manifests referenced
    deleted_digests: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "dry_run": self.dry_run,
            "kept": list(self.kept),
            "deleted": [artifact.tag for artifact in self.deleted],
            "deleted_digests": list(self.deleted_digests),
            "protected": list(self.protected),
            "protected_by": dict(zip(self.protected, self.protected_by, strict=True)),
            "cluster_consulted": self.cluster_consulted,
            "shared": list(self.shared),
            "reclaimable_bytes": self.reclaimable_bytes,
        }


# --- build and push -------------------------------------------------------------------------------


def push_workload(
    config: ClusterConfig,
    name: str | None = None,
    *,
    version: str | None = None,
    force: bool = False,
    also_tags: Sequence[str] = (),
    on_progress: ProgressCallback | None = None,
) -> PushResult:
    """Build, check and push a workload version; a no-op when the same content is already there.

    The layer is sent into an upload session while it is built (see :mod:`ksail_tui.oci.layer_upload`)
    and committed only once the build, its validation included, has passed.
    """
    # Imported here: the build's modules (YAML checks, ignore rules) are half of `workload list`'s.
    from ksail_tui.oci.build import build_workload, validate_version
    from ksail_tui.oci.layer_upload import LayerUpload

    report = on_progress or _ignore_progress
    for tag in also_tags:
        _check_moving_tag(tag)
    workload = config.workload(name)
    repository = config.repository_of(workload)
    tag = validate_version(version or workload.version)
    reference = f"{config.registry_endpoint}/{repository}:{tag}"
    with RegistryClient(config.registry_endpoint) as client, _version_lock(client, repository, tag):
        report(PushProgress(PushPhase.BUILDING, message=f"building {config.source_path(workload)}"))
        upload = LayerUpload(client, repository, tag, force=force)
        try:
            built = build_workload(config, workload.name, version=tag, layer_sink=upload.write)
            report(PushProgress(PushPhase.CHECKING, message=f"checking {reference}"))
            existing = upload.existing()
        except BaseException:
            upload.cancel()
            raise
        if existing is not None and not force:
            upload.cancel()
            if existing.layer_digest != built.layer_digest:
                raise OperationFailed(
                    f"version {tag} of {repository} is already in the registry with different content "
                    f"(layer {short_digest(existing.layer_digest, missing='none')}, "
                    f"this build {short_digest(built.layer_digest, missing='none')}); "
                    "pushed versions are immutable",
                    hint="bump the version (in ksail.yaml or with --version) or pass --force to overwrite it",
                )
            return _already_pushed(client, config, workload, existing, built, also_tags, report)
        _upload(client, repository, built, upload, report)
        holder = _read_back(client, repository, tag, built)
        if holder.digest != built.manifest_digest:  # a concurrent push of the same content won
            return _already_pushed(client, config, workload, holder, built, also_tags, report)
        for extra in also_tags:
            client.put_manifest(repository, extra, built.manifest)
    report(PushProgress(PushPhase.DONE, built.size, built.size, message="pushed"))
    return PushResult(
        artifact=_built_artifact(config, workload, repository, built),
        pushed=True,
        overwritten=existing is not None and existing.layer_digest != built.layer_digest,
        also_tags=tuple(also_tags),
        skipped_symlinks=built.skipped_symlinks,
    )


def _already_pushed(
    client: RegistryClient,
    config: ClusterConfig,
    workload: Workload,
    holder: RemoteManifest,
    built: BuiltArtifact,
    also_tags: Sequence[str],
    report: ProgressCallback,
) -> PushResult:
    """The version holds this content already: point the moving tags at it, report its digest."""
    repository = config.repository_of(workload)
    for extra in also_tags:
        client.put_manifest(repository, extra, holder.raw)
    report(PushProgress(PushPhase.DONE, message="already pushed"))
    return PushResult(
        artifact=_artifact(config, workload, repository, built.version, holder),
        pushed=False,
        also_tags=tuple(also_tags),
        skipped_symlinks=built.skipped_symlinks,
    )


def _upload(
    client: RegistryClient,
    repository: str,
    built: BuiltArtifact,
    layer: LayerUpload,
    report: ProgressCallback,
) -> None:
    """Commit the layer sent while building, and upload the config blob unless the registry has it."""
    total = built.size
    sent = layer.streamed_bytes
    message = f"uploading {short_digest(built.layer_digest)} ({sent} bytes sent while building)"
    report(PushProgress(PushPhase.UPLOADING, sent, total, message))
    layer.commit(built.layer_digest)
    if not client.blob_exists(repository, built.config_digest):
        client.upload_blob(repository, built.config_digest, built.config)
    done = built.layer_size + len(built.config)
    report(PushProgress(PushPhase.TAGGING, done, total, f"tagging {built.version}"))
    client.put_manifest(repository, built.version, built.manifest)


def _read_back(client: RegistryClient, repository: str, tag: str, built: BuiltArtifact) -> RemoteManifest:
    """The manifest the tag holds after our PUT; raises when it is not this content.

    The distribution API has no compare-and-swap: a push from elsewhere that tagged the same
    version in between would go unnoticed, and this push would report a digest the tag does not
    hold. Reading the tag back is what the registry can tell.
    """
    holder = client.get_manifest(repository, tag)
    if holder is not None and holder.layer_digest == built.layer_digest:
        return holder
    now = (
        f"the tag now holds {holder.digest} (layer {short_digest(holder.layer_digest, missing='none')})"
        if holder is not None
        else "the tag is gone"
    )
    raise OperationFailed(
        f"another push of {repository}:{tag} won: {now}, not this push's {built.manifest_digest}; "
        "pushed versions are immutable",
        hint=f"see what it holds with `ksail-tui workload diff --version {tag}`, or bump the version",
    )


@contextmanager
def _version_lock(client: RegistryClient, repository: str, tag: str) -> Iterator[None]:
    """Serialise the pushes of one version from this machine, from the check to the read-back.

    Two pushes of one version would otherwise both find the tag free and both tag it; with the
    lock the second one finds the first one's manifest and is judged against it (same content:
    nothing to do; other content: immutable). Pushes from other machines are caught by the
    read-back in :func:`_read_back`.
    """
    key = hashlib.sha256(f"{client.endpoint}/{repository}:{tag}".encode()).hexdigest()[:32]
    directory = _lock_directory()
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(directory / f"push-{key}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as error:
        raise OperationFailed(
            f"cannot create the push lock in {directory}: {error.strerror or error}",
            hint="set XDG_RUNTIME_DIR to a folder you can write to",
        ) from None
    try:
        # Polled, not blocking: a push that hangs must not make this one wait past its deadline.
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                client.check_deadline(f"waiting for another push of {repository}:{tag} on this machine")
                time.sleep(_LOCK_POLL_SECONDS)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _lock_directory() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "ksail-tui" / "locks"
    return Path(tempfile.gettempdir()) / f"ksail-tui-{os.getuid()}" / "locks"


def _check_moving_tag(tag: str) -> None:
    if not _TAG.match(tag):
        raise InvalidInput(f"{tag!r} is not a valid tag: use letters, digits, '.', '_' and '-' (max 128)")
    if _semver(tag) is not None:
        raise InvalidInput(
            f"--also-tag {tag} is a version, and versions are immutable",
            hint="use --also-tag for moving tags such as latest, and --version for versions",
        )


def _ignore_progress(_: PushProgress) -> None:
    """The callback when nobody watches."""


# --- list ------------------------------------------------------------------------------------------


def list_versions(config: ClusterConfig, name: str | None = None) -> list[OCIArtifact]:
    """Every tag of the workload's repository, newest version first, then tags that are not semver."""
    workload = config.workload(name)
    repository = config.repository_of(workload)
    with RegistryClient(config.registry_endpoint) as client:
        manifests = _fetch_manifests(client, repository)
    return [_artifact(config, workload, repository, tag, manifest) for tag, manifest in manifests]


def _fetch_manifests(client: RegistryClient, repository: str) -> list[tuple[str, RemoteManifest]]:
    """(tag, manifest) of every tag, fetched concurrently, in version order."""
    tags = sort_tags(client.list_tags(repository))
    if not tags:
        return []
    with ThreadPoolExecutor(max_workers=min(_MANIFEST_FETCH_WORKERS, len(tags))) as pool:
        manifests = list(pool.map(lambda tag: client.get_manifest(repository, tag), tags))
    # A tag deleted between the listing and the fetch has no manifest any more.
    return [(tag, manifest) for tag, manifest in zip(tags, manifests, strict=True) if manifest is not None]


def sort_tags(tags: Iterable[str]) -> list[str]:
    """Newest semver first (a leading ``v`` allowed), then the other tags by name."""
    parsed = [(tag, _semver(tag)) for tag in tags]
    versions = [(version, tag) for tag, version in parsed if version is not None]
    others = sorted(tag for tag, version in parsed if version is None)
    return [tag for _, tag in sorted(versions, key=lambda pair: pair[0], reverse=True)] + others


def _semver(tag: str) -> semver.Version | None:
    text = tag.removeprefix("v")
    return semver.Version.parse(text) if semver.Version.is_valid(text) else None


# --- diff ------------------------------------------------------------------------------------------


def diff_workload(
    config: ClusterConfig, name: str | None = None, *, version: str | None = None
) -> ArtifactDiff:
    """Compare the folder with a pushed version: by layer digest first, else file by file."""
    from ksail_tui.oci.build import build_workload

    workload = config.workload(name)
    repository = config.repository_of(workload)
    # A diff is read-only and most useful mid-edit, so manifests are not validated here.
    built = build_workload(config, workload.name, version=version, validate_manifests=False)
    reference = f"{config.registry_endpoint}/{repository}:{built.version}"
    with RegistryClient(config.registry_endpoint) as client:
        remote = client.get_manifest(repository, built.version)
        if remote is None:
            raise InvalidInput(
                f"{reference} is not in the registry",
                hint=f"see the pushed versions with `ksail-tui workload list {workload.name}`",
            )
        if remote.layer_digest is None:
            raise OperationFailed(f"{reference} has no layer: it is not a Flux artifact")
        if remote.layer_digest == built.layer_digest:
            return ArtifactDiff(workload.name, reference, built.layer_digest, remote.layer_digest)
        remote_files = read_layer_files(client.get_blob(repository, remote.layer_digest))
    local_files = {file.path: file for file in built.files}
    return ArtifactDiff(
        workload.name,
        reference,
        built.layer_digest,
        remote.layer_digest,
        added=tuple(sorted(local_files.keys() - remote_files.keys())),
        removed=tuple(sorted(remote_files.keys() - local_files.keys())),
        modified=tuple(
            sorted(
                path
                for path in local_files.keys() & remote_files.keys()
                if local_files[path].digest != remote_files[path].digest
            )
        ),
    )


# --- prune -----------------------------------------------------------------------------------------


def prune_versions(
    config: ClusterConfig,
    name: str | None = None,
    *,
    keep: int,
    protected_tags: Collection[str] = frozenset(),
    dry_run: bool = False,
    confirmed_digests: Collection[str] | None = None,
    ignore_cluster_references: bool = False,
) -> PruneResult:
    """Delete the versions beyond the ``keep`` newest (FR-018).

    Never deletes a version an OCIRepository in the cluster can resolve to (see
    :mod:`ksail_tui.flux.references`), one in ``protected_tags``, nor a manifest that a kept tag also
    points at: deleting a manifest by digest deletes all its tags. Tags that are not semver (e.g.
    ``latest``) are never pruned and keep their manifest too. When the cluster cannot be asked this
    raises :class:`Unavailable` before deleting anything, unless ``ignore_cluster_references``.
    With ``confirmed_digests`` (what a preview showed and the user agreed to) nothing else is
    deleted, even if the registry changed in between.
    """
    from ksail_tui.flux.references import protected_versions

    if keep < 0:
        raise InvalidInput(f"--keep must be 0 or more, not {keep}")
    workload = config.workload(name)
    repository = config.repository_of(workload)
    with RegistryClient(config.registry_endpoint) as client:
        manifests = _fetch_manifests(client, repository)
        # Asked after the listing, so what the cluster uses is as fresh as it can be at deletion.
        references = () if ignore_cluster_references else _cluster_references(config, repository)
        in_use = protected_versions(references, {tag: manifest.digest for tag, manifest in manifests})
        in_use.update({tag: "asked to keep it" for tag in protected_tags if tag not in in_use})
        versions = [(tag, manifest) for tag, manifest in manifests if _semver(tag) is not None]
        kept = [tag for tag, _ in versions[:keep]]
        kept_digests = {manifest.digest for tag, manifest in manifests if tag in kept or _semver(tag) is None}
        kept_digests |= {manifest.digest for tag, manifest in versions if tag in in_use}
        protected, shared, doomed = [], [], []
        for tag, manifest in versions[keep:]:
            if tag in in_use:
                protected.append(tag)
            elif manifest.digest in kept_digests:
                shared.append(tag)
            elif confirmed_digests is None or manifest.digest in confirmed_digests:
                doomed.append((tag, manifest))
        doomed_digests = list(dict.fromkeys(manifest.digest for _, manifest in doomed))
        if not dry_run:
            for digest in doomed_digests:
                client.delete_manifest(repository, digest)
    return PruneResult(
        repository=repository,
        dry_run=dry_run,
        kept=tuple(kept),
        deleted=tuple(_artifact(config, workload, repository, tag, manifest) for tag, manifest in doomed),
        protected=tuple(protected),
        protected_by=tuple(in_use[tag] for tag in protected),
        cluster_consulted=not ignore_cluster_references,
        shared=tuple(shared),
        reclaimable_bytes=_reclaimable_bytes(manifests, set(doomed_digests)),
        deleted_digests=tuple(doomed_digests),
    )


def _cluster_references(config: ClusterConfig, repository: str) -> tuple[SourceReference, ...]:
    """Imported when called, so that commands which never ask the cluster (push) do not load the
    kubernetes client."""
    from ksail_tui.flux.references import cluster_references

    try:
        return cluster_references(config, repository)
    except Unavailable as error:
        raise Unavailable(
            f"nothing pruned: the cluster cannot say which versions of {repository} Flux uses "
            f"({error.message})",
            hint="start the cluster, or pass --ignore-cluster-references to prune by --keep alone, "
            "which may delete a version the cluster runs",
        ) from None


def _reclaimable_bytes(manifests: list[tuple[str, RemoteManifest]], deleted: set[str]) -> int:
    """Bytes of the deleted manifests and of the blobs no remaining manifest of the repository uses:
    what the registry's garbage collection can free (less any blob another repository shares)."""
    remaining = [manifest for _, manifest in manifests if manifest.digest not in deleted]
    still_used = {blob.get("digest") for manifest in remaining for blob in manifest.blobs}
    freed: dict[str, int] = {}
    for _, manifest in manifests:
        if manifest.digest in deleted:
            freed[manifest.digest] = len(manifest.raw)
            for blob in manifest.blobs:
                digest = blob.get("digest")
                if isinstance(digest, str) and digest not in still_used:
                    freed[digest] = blob_size(blob)
    return sum(freed.values())


# --- results ---------------------------------------------------------------------------------------


def _artifact(
    config: ClusterConfig, workload: Workload, repository: str, tag: str, manifest: RemoteManifest
) -> OCIArtifact:
    annotations = manifest.annotations
    # An artifact pushed by another tool (or an older ksail-tui) may carry a remote's secrets.
    source = annotations.get(SOURCE_ANNOTATION)
    return OCIArtifact(
        name=workload.name,
        version=annotations.get(VERSION_ANNOTATION) or tag,
        registry_endpoint=config.registry_endpoint,
        repository=repository,
        tag=tag,
        created=parse_time(annotations.get(CREATED_ANNOTATION)),
        digest=manifest.digest,
        layer_digest=manifest.layer_digest,
        size=manifest.size,
        source=without_credentials(source) if isinstance(source, str) else None,
        revision=annotations.get(REVISION_ANNOTATION),
    )


def _built_artifact(
    config: ClusterConfig, workload: Workload, repository: str, built: BuiltArtifact
) -> OCIArtifact:
    return OCIArtifact(
        name=workload.name,
        version=built.version,
        registry_endpoint=config.registry_endpoint,
        repository=repository,
        tag=built.version,
        source_path=built.source_path,
        created=parse_time(built.created),
        digest=built.manifest_digest,
        layer_digest=built.layer_digest,
        size=built.size,
        source=built.annotations[SOURCE_ANNOTATION],
        revision=built.revision,
    )
