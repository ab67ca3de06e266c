"""Build a source folder into a Flux OCI artifact, reproducibly and without touching the folder.

The layer is a gzip'd tar of the folder's contents, walked like Flux walks it (names sorted within
each folder, folders before their contents), with every environment-specific detail removed: uid/gid
0, empty user and group names, zero mtimes, modes normalised to 0644 for files and 0755 for folders,
and a gzip header without name or time. The same content therefore always gives the same layer
digest, whoever builds it and whenever (for a given zlib). The manifest digest still changes with
``org.opencontainers.image.created``; the push compares layer digests for that reason.

Symlinks follow Flux, which skips them (source-controller skips them when it unpacks, too): a symlink
inside the folder is left out and reported in ``skipped_symlinks``. A symlink that leaves the folder
or has an absolute target, and device files, FIFOs and sockets, are refused, naming the path, since
the artifact would silently differ from what the folder shows.
"""

from __future__ import annotations

import errno
import gzip
import io
import os
import stat
import subprocess
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import semver

from ksail_tui.errors import InvalidInput
from ksail_tui.oci.artifact_format import (
    CREATED_ANNOTATION,
    EMPTY_CONFIG,
    REVISION_ANNOTATION,
    SOURCE_ANNOTATION,
    VERSION_ANNOTATION,
    LayerFile,
    manifest_bytes,
    sha256_digest,
)
from ksail_tui.oci.ignore import SOURCEIGNORE_FILE, IgnoreRules, PathParts
from ksail_tui.oci.manifests import ManifestProblem, check_manifest_once, is_manifest, raise_for_problems
from ksail_tui.urls import without_credentials

FILE_MODE = 0o644
DIRECTORY_MODE = 0o755
# Level 6 is zlib's and Go's default: what `tar -czf` and `flux push artifact` use. Changing it changes
# every layer digest, so it is fixed.
COMPRESS_LEVEL = 6
_GIT_TIMEOUT_SECONDS = 5


@dataclass(frozen=True, slots=True)
class BuiltArtifact:
    """A built artifact held in memory: the three blobs a push uploads, and what went into them."""

    source_path: Path
    version: str
    manifest: bytes
    config: bytes
    layer: bytes
    manifest_digest: str
    config_digest: str
    layer_digest: str
    annotations: dict[str, str]
    files: tuple[LayerFile, ...]
    skipped_symlinks: tuple[str, ...] = field(default=())

    @property
    def size(self) -> int:
        """Bytes of manifest, config and layer: what the registry stores for this version."""
        return len(self.manifest) + len(self.config) + len(self.layer)

    @property
    def created(self) -> str:
        return self.annotations[CREATED_ANNOTATION]

    @property
    def revision(self) -> str:
        return self.annotations[REVISION_ANNOTATION]


def validate_version(version: str) -> str:
    """The version as a tag: valid semver, without build metadata (``+`` cannot be in an OCI tag)."""
    if not isinstance(version, str) or not semver.Version.is_valid(version):
        raise InvalidInput(
            f"{version!r} is not a semantic version", hint="write MAJOR.MINOR.PATCH, e.g. 0.1.0 or 1.2.0-rc.1"
        )
    if "+" in version:
        raise InvalidInput(
            f"{version!r} has build metadata, which an OCI tag cannot hold ('+' is not allowed in tags)",
            hint="drop the +... part or make it a pre-release, e.g. 1.2.0-build.5",
        )
    return version


def build_artifact(
    source: Path,
    *,
    version: str,
    ignore: Sequence[str] = (),
    created: datetime | None = None,
    validate_manifests: bool = True,
) -> BuiltArtifact:
    """Validate ``source`` and pack it as a Flux artifact tagged ``version``.

    ``validate_manifests=False`` packs whatever is there (a diff must work on a folder mid-edit);
    the ignore rules and the refusal of escaping symlinks and special files apply either way.
    """
    version = validate_version(version)
    if _is_symlink_loop(str(source)):
        raise InvalidInput(
            f"the source folder {source} is a symlink loop",
            hint="point sourceDirectory in ksail.yaml at a real folder",
        )
    source = Path(os.path.realpath(source))
    if not source.is_dir():
        what = "is not a folder" if source.exists() else "does not exist"
        raise InvalidInput(
            f"the source folder {source} {what}",
            hint="create it, or fix sourceDirectory in ksail.yaml (relative to the file's folder)",
        )
    rules = IgnoreRules(ignore)
    try:
        layer, files, skipped, problems, manifest_count = _pack(source, rules, validate_manifests)
    except OSError as error:
        raise InvalidInput(
            f"cannot read {error.filename or source}: {error.strerror or error}",
            hint="check the permissions of the source folder",
        ) from None
    if validate_manifests:
        raise_for_problems(problems, manifest_count=manifest_count, source=str(source))
    layer_digest = sha256_digest(layer)
    revision, source_url = _git_metadata(source)
    annotations = {
        CREATED_ANNOTATION: _rfc3339(created or datetime.now(UTC)),
        SOURCE_ANNOTATION: source_url or source.as_uri(),
        REVISION_ANNOTATION: revision or layer_digest,
        VERSION_ANNOTATION: version,
    }
    manifest = manifest_bytes(EMPTY_CONFIG, layer_digest, len(layer), annotations)
    return BuiltArtifact(
        source_path=source,
        version=version,
        manifest=manifest,
        config=EMPTY_CONFIG,
        layer=layer,
        manifest_digest=sha256_digest(manifest),
        config_digest=sha256_digest(EMPTY_CONFIG),
        layer_digest=layer_digest,
        annotations=annotations,
        files=tuple(files),
        skipped_symlinks=tuple(skipped),
    )


def _pack(
    source: Path, rules: IgnoreRules, validate_manifests: bool
) -> tuple[bytes, list[LayerFile], list[str], list[ManifestProblem], int]:
    """One pass over the folder: each file is read once, checked, hashed and streamed into the tar."""
    files: list[LayerFile] = []
    skipped: list[str] = []
    problems: list[ManifestProblem] = []
    manifest_count = 0
    buffer = io.BytesIO()
    # filename="" and mtime=0 keep the gzip header free of anything that varies between builds.
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=COMPRESS_LEVEL, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for relative, full_path, is_dir in _walk(source, rules, skipped):
            info = tarfile.TarInfo(relative)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            if is_dir:
                info.type = tarfile.DIRTYPE
                info.mode = DIRECTORY_MODE
                archive.addfile(info)
                continue
            with open(full_path, "rb") as handle:
                data = handle.read()
            digest = sha256_digest(data)
            if validate_manifests and is_manifest(relative.rsplit("/", 1)[-1]):
                documents, found = check_manifest_once(relative, data, digest)
                manifest_count += documents
                problems.extend(found)
            info.mode = FILE_MODE
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
            files.append(LayerFile(relative, len(data), digest))
    return buffer.getvalue(), files, skipped, problems, manifest_count


def _walk(source: Path, rules: IgnoreRules, skipped: list[str]) -> Iterator[tuple[str, str, bool]]:
    """(relative path, full path, is a folder) of every entry that goes into the layer, in Flux's order.

    Depth-first with a stack of its own, not recursion: a tree of any depth the file system allows
    is walked. Symlinks are never followed, so a link cannot make the walk go round in circles.
    """
    stack: list[Iterator[tuple[str, str, bool]]] = [_folder(source, str(source), (), rules, skipped)]
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            continue
        relative, full_path, is_dir = entry
        yield entry
        if is_dir:
            stack.append(_folder(source, full_path, tuple(relative.split("/")), rules, skipped))


def _folder(
    source: Path, directory: str, parts: PathParts, rules: IgnoreRules, skipped: list[str]
) -> Iterator[tuple[str, str, bool]]:
    """The entries of one folder that go into the layer, sorted by name; refuses the odd ones."""
    with os.scandir(directory) as scan:
        entries = sorted(scan, key=lambda entry: entry.name)
    # The folder's own .sourceignore applies to its contents, so it is read before them.
    for entry in entries:
        if entry.name == SOURCEIGNORE_FILE and entry.is_file(follow_symlinks=False):
            with open(entry.path, encoding="utf-8", errors="replace") as handle:
                rules.add_sourceignore(parts, handle.read())
    for entry in entries:
        child = (*parts, entry.name)
        relative = "/".join(child)
        is_link = entry.is_symlink()
        is_dir = not is_link and entry.is_dir(follow_symlinks=False)
        if rules.ignored(child, is_dir=is_dir):
            continue
        if not _is_utf8(entry.name):
            raise InvalidInput(
                f"{_shown(entry.path)}: the name is not valid UTF-8, which a tar entry and Flux need",
                hint="rename it, or add it to a .sourceignore file",
            )
        if is_link:
            _check_symlink(source, entry.path)
            skipped.append(relative)
        elif is_dir or entry.is_file(follow_symlinks=False):
            yield relative, entry.path, is_dir
        else:
            raise InvalidInput(
                f"{entry.path} is a {_special_kind(entry.path)}, which cannot go into an artifact",
                hint="remove it from the source folder or add it to a .sourceignore file",
            )


def _check_symlink(source: Path, link: str) -> None:
    target = os.readlink(link)
    if os.path.isabs(target):
        raise InvalidInput(
            f"{link} is a symlink to the absolute path {target}; artifacts cannot hold absolute paths",
            hint="copy the file into the folder, or make the link relative to a file inside it",
        )
    if _is_symlink_loop(link):
        raise InvalidInput(
            f"{link} is a symlink loop ({target} leads back to itself)",
            hint="remove the link, or add it to a .sourceignore file",
        )
    resolved = Path(os.path.realpath(link))
    if resolved != source and source not in resolved.parents:
        raise InvalidInput(
            f"{link} is a symlink to {target}, outside the source folder {source}",
            hint="copy the file into the folder: Flux cannot follow links out of the artifact",
        )


def _is_symlink_loop(path: str) -> bool:
    try:
        os.stat(path)
    except OSError as error:
        return error.errno == errno.ELOOP
    return False


def _is_utf8(name: str) -> bool:
    """False for a name the OS gave with undecodable bytes (Python holds them as surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(path: str) -> str:
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _special_kind(path: str) -> str:
    mode = os.lstat(path).st_mode
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device file"
    return "special file"


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _git(source: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(source), *args],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def _git_metadata(source: Path) -> tuple[str | None, str | None]:
    """``(<branch>@sha1:<sha>, remote URL)`` when the folder is in a git work tree with a commit."""
    head = _git(source, "rev-parse", "HEAD", "--abbrev-ref", "HEAD")
    if not head or len(head.split()) != 2:
        return None, None
    sha, branch = head.split()
    revision = f"sha1:{sha}" if branch == "HEAD" else f"{branch}@sha1:{sha}"
    remote = _git(source, "config", "--get", "remote.origin.url")
    return revision, without_credentials(remote) if remote else None
