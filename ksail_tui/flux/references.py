"""Which versions of a repository the cluster's OCIRepositories can resolve to: prune never deletes them.

The one rule the CLI, the dashboard and the dev loop share. A version is protected when any
OCIRepository can resolve to it, now or at its next reconcile: its tag, its digest (every tag that
holds that manifest), every tag its semver range (and filter) admits, since the newest match changes
as tags come and go, and the revision it last fetched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ksail_tui.config import ClusterConfig
from ksail_tui.errors import KsailError, Unavailable
from ksail_tui.flux.semver_range import SemverRangeError, admitted
from ksail_tui.kube.client import NAMESPACES, OCI_REPOSITORIES, ApiError, KubeClient

# Flux's default when an OCIRepository has no ref.
DEFAULT_TAG = "latest"


def repository_of_url(url: str) -> str | None:
    """``local/app`` of ``oci://host:5000/local/app``; None for anything that is not an OCI URL."""
    if not url.startswith("oci://"):
        return None
    _, _, path = url.removeprefix("oci://").partition("/")
    return path.rstrip("/") or None


@dataclass(frozen=True, slots=True)
class SourceReference:
    """How one OCIRepository picks its version, and what it fetched last."""

    source: str  # namespace/name, to say who protects a version
    tag: str | None = None
    digest: str | None = None
    semver: str | None = None
    semver_filter: str | None = None
    revision: str | None = None  # status.artifact.revision: 'tag@sha256:…' or 'sha256:…'

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> SourceReference:
        metadata = _mapping(obj.get("metadata"))
        ref = _mapping(_mapping(obj.get("spec")).get("ref"))
        artifact = _mapping(_mapping(obj.get("status")).get("artifact"))
        return cls(
            source=f"{metadata.get('namespace', '')}/{metadata.get('name', '')}",
            tag=_text(ref.get("tag")),
            digest=_text(ref.get("digest")),
            semver=_text(ref.get("semver")),
            semver_filter=_text(ref.get("semverFilter")),
            revision=_text(artifact.get("revision")),
        )

    def protects(self, listing: Mapping[str, str]) -> dict[str, str]:
        """The tags of ``listing`` (tag → manifest digest) this source can resolve to, with why."""
        found: dict[str, str] = {}

        def add(tags: Iterable[str], why: str) -> None:
            for tag in tags:
                found.setdefault(tag, f"{self.source} {why}")

        def holding(digest: str) -> list[str]:
            return [tag for tag, held in listing.items() if held == digest]

        if self.tag:
            add([self.tag], f"follows tag {self.tag}")
        if self.digest:
            add(holding(self.digest), f"pins {self.digest}")
        if self.semver:
            add(_in_range(listing, self.semver, self.semver_filter), f"follows {self.semver!r}")
        if not (self.tag or self.digest or self.semver):
            add([DEFAULT_TAG], f"follows {DEFAULT_TAG}")
        if self.revision:
            tag, _, digest = self.revision.rpartition("@")
            if not digest.startswith("sha256:"):  # Flux before 2.0 wrote 'tag/hex'
                tag, _, hex_digest = self.revision.rpartition("/")
                digest = f"sha256:{hex_digest}"
            if tag:
                add([tag], f"fetched {self.revision}")
            add(holding(digest), f"fetched {self.revision}")
        return {tag: why for tag, why in found.items() if tag in listing}


def _in_range(listing: Mapping[str, str], constraint: str, tag_filter: str | None) -> list[str]:
    """Every tag the range admits, read as Flux reads it; every tag at all when it cannot be read,
    since nobody can then say which one the source resolves to."""
    try:
        return [tag for _, tag in admitted(list(listing), constraint, tag_filter)]
    except SemverRangeError:
        return list(listing)


def cluster_references(config: ClusterConfig, repository: str) -> tuple[SourceReference, ...]:
    """What every OCIRepository in the cluster that pulls ``repository`` resolves by.

    Raises :class:`Unavailable` when the cluster cannot be asked: then nobody can say what is in use.
    """
    from ksail_tui.flux.service import open_kube

    kube = open_kube(config, request_timeout=3.0)
    try:
        items = kube.list(OCI_REPOSITORIES)["items"]
    except ApiError as error:
        if error.status == 404 and _is_kubernetes(kube):  # Flux is not installed: nothing is in use
            return ()
        raise Unavailable(f"the cluster did not list its OCIRepositories: {error.message}") from None
    return tuple(
        SourceReference.from_object(item)
        for item in items
        if repository_of_url(_text(_mapping(_mapping(item).get("spec")).get("url")) or "") == repository
    )


def _is_kubernetes(kube: KubeClient) -> bool:
    """Whether a 404 came from an API server without Flux, not from some other server on the port."""
    try:
        kube.list(NAMESPACES)
    except KsailError:
        return False
    return True


def protected_versions(references: Iterable[SourceReference], listing: Mapping[str, str]) -> dict[str, str]:
    """Tag → which source protects it, for every tag in ``listing`` any of ``references`` can resolve to."""
    found: dict[str, str] = {}
    for reference in references:
        for tag, why in reference.protects(listing).items():
            found.setdefault(tag, why)
    return found


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
