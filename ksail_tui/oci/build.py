"""Build a source folder into a Flux OCI artifact, reproducibly and without touching the folder.

The layer is a gzip'd tar of the folder's contents, walked like Flux walks it (names sorted within
each folder, folders before their contents), with every environment-specific detail removed: uid/gid
0, empty user and group names, zero mtimes, modes normalised to 0644 for files and 0755 for folders,
and a gzip header without name or time; it is compressed in blocks on several threads, in pigz's
format (one gzip member, as Flux reads it). The same content therefore always gives the same layer
digest, whoever builds it, whenever and on however many cores (for a given zlib). The manifest
digest still changes with ``org.opencontainers.image.created``; the push compares layer digests for
that reason.

Symlinks follow Flux, which skips them (source-controller skips them when it unpacks, too): a symlink
inside the folder is left out and reported in ``skipped_symlinks``. A symlink that leaves the folder
or has an absolute target, and device files, FIFOs and sockets, are refused, naming the path, since
the artifact would silently differ from what the folder shows.
"""

from __future__ import annotations

import collections
import errno
import hashlib
import io
import os
import queue
import stat
import struct
import subprocess
import tarfile
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import semver

from ksail_tui.errors import InvalidInput
from ksail_tui.oci import check_record, deflate_cache
from ksail_tui.oci.artifact_format import (
    CREATED_ANNOTATION,
    EMPTY_CONFIG,
    REVISION_ANNOTATION,
    SOURCE_ANNOTATION,
    VERSION_ANNOTATION,
    LayerFile,
    check_artifact,
    manifest_bytes,
    sha256_digest,
)
from ksail_tui.oci.ignore import SOURCEIGNORE_FILE, IgnoreRules, PathParts
from ksail_tui.oci.manifest_worker import ManifestChecker
from ksail_tui.oci.manifests import ManifestProblem, is_manifest, raise_for_problems
from ksail_tui.urls import without_credentials

if TYPE_CHECKING:
    from ksail_tui.config import ClusterConfig

FILE_MODE = 0o644
DIRECTORY_MODE = 0o755
# Level 6 is zlib's and Go's default: what `tar -czf` and `flux push artifact` use. Changing it changes
# every layer digest, so it is fixed.
COMPRESS_LEVEL = 6
_GIT_TIMEOUT_SECONDS = 5

# What gzip.GzipFile(filename="", mtime=0) writes first: no name, no time, "unknown" OS (255).
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
_TAR_BLOCK = tarfile.BLOCKSIZE
_TAR_RECORD = tarfile.RECORDSIZE
# The tar stream is compressed in blocks of this size, each primed with the deflate window before it
# (pigz's format, in larger blocks: as small as one stream, and few hand-overs between threads);
# two blocks more than there are threads are in flight, so a build's memory does not grow with the tree.
_BLOCK_BYTES = 1 << 20
_DICTIONARY_BYTES = 32 << 10
_MAX_COMPRESSING_THREADS = 4
# What ends the stream after the sync-flushed blocks: an empty final block with fixed codes.
_FINAL_BLOCK = b"\x03\x00"
# Larger files are read in chunks of this size.
_CHUNK_BYTES = 1 << 20
# Larger files that are not manifests are streamed rather than read whole.
_READ_WHOLE_BYTES = 8 << 20

LayerSink = Callable[[bytes], object]


@dataclass(frozen=True, slots=True)
class BuiltArtifact:
    """A built artifact: the three blobs a push uploads (the layer unless it was streamed elsewhere),
    and what went into them."""

    source_path: Path
    version: str
    manifest: bytes
    config: bytes
    layer: bytes | None  # None when the build streamed the layer to a sink
    layer_size: int
    manifest_digest: str
    config_digest: str
    layer_digest: str
    annotations: dict[str, str]
    files: tuple[LayerFile, ...]
    skipped_symlinks: tuple[str, ...] = field(default=())

    @property
    def size(self) -> int:
        """Bytes of manifest, config and layer: what the registry stores for this version."""
        return len(self.manifest) + len(self.config) + self.layer_size

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


def build_workload(
    config: ClusterConfig,
    name: str | None = None,
    *,
    version: str | None = None,
    validate_manifests: bool = True,
    layer_sink: LayerSink | None = None,
) -> BuiltArtifact:
    """Build the workload's source folder as its configured version (or ``version``); the layer is
    kept in memory or streamed to ``layer_sink``. Here rather than in the service, so that a build
    never loads the HTTP stack."""
    workload = config.workload(name)
    return build_artifact(
        config.source_path(workload),
        version=version or workload.version,
        ignore=workload.ignore,
        validate_manifests=validate_manifests,
        layer_sink=layer_sink,
    )


def build_artifact(
    source: Path,
    *,
    version: str,
    ignore: Sequence[str] = (),
    created: datetime | None = None,
    validate_manifests: bool = True,
    layer_sink: LayerSink | None = None,
) -> BuiltArtifact:
    """Validate ``source`` and pack it as a Flux artifact tagged ``version``.

    ``validate_manifests=False`` packs whatever is there (a diff must work on a folder mid-edit);
    the ignore rules and the refusal of escaping symlinks and special files apply either way.
    The layer is kept in memory, or written, as it is compressed, to ``layer_sink`` (which then
    holds a partial layer if the build fails).
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
    recorded = check_record.load(source) if validate_manifests else {}
    # With nothing recorded, parsing keeps the other cores busy, and more compressing threads only
    # take turns with it; with the checks recorded, compression is the build's critical path.
    threads = _compressing_threads() if recorded or not validate_manifests else 1
    kept = io.BytesIO()
    blocks = deflate_cache.default_cache(COMPRESS_LEVEL)
    stream = _GzipStream(layer_sink if layer_sink is not None else kept.write, threads, blocks)
    try:
        files, skipped, problems, manifest_count = _pack(source, rules, validate_manifests, stream, recorded)
    except OSError as error:
        stream.abort()
        raise InvalidInput(
            f"cannot read {error.filename or source}: {error.strerror or error}",
            hint="check the permissions of the source folder",
        ) from None
    except BaseException:
        stream.abort()
        raise
    stream.close()
    blocks.prune()
    if validate_manifests:
        raise_for_problems(problems, manifest_count=manifest_count, source=str(source))
    layer_digest = stream.digest
    revision, source_url = _git_metadata(source)
    annotations = {
        CREATED_ANNOTATION: _rfc3339(created or datetime.now(UTC)),
        SOURCE_ANNOTATION: source_url or source.as_uri(),
        REVISION_ANNOTATION: revision or layer_digest,
        VERSION_ANNOTATION: version,
    }
    manifest = manifest_bytes(EMPTY_CONFIG, layer_digest, stream.size, annotations)
    check_artifact(manifest, EMPTY_CONFIG, layer_digest, stream.size)
    return BuiltArtifact(
        source_path=source,
        version=version,
        manifest=manifest,
        config=EMPTY_CONFIG,
        layer=kept.getvalue() if layer_sink is None else None,
        layer_size=stream.size,
        manifest_digest=sha256_digest(manifest),
        config_digest=sha256_digest(EMPTY_CONFIG),
        layer_digest=layer_digest,
        annotations=annotations,
        files=tuple(files),
        skipped_symlinks=tuple(skipped),
    )


def _pack(
    source: Path,
    rules: IgnoreRules,
    validate_manifests: bool,
    stream: _GzipStream,
    recorded: check_record.Passed,
) -> tuple[list[LayerFile], list[str], list[ManifestProblem], int]:
    """One pass over the folder: each file is read once, checked (unless ``recorded`` says it passed
    before), hashed and written as a tar entry.

    The tar stream is what ``tarfile`` writes (its own header encoding, 512-byte blocks, two zero
    blocks and a full last record), byte for byte what earlier builds packed. Reading and checking
    happen here while other threads compress what came before (and, in a large tree, a second
    process checks part of the manifests: see :mod:`ksail_tui.oci.manifest_worker`).
    """
    checker = ManifestChecker(recorded=recorded)
    try:
        files, skipped, offset = _pack_entries(source, rules, validate_manifests, stream, checker)
        manifest_count, problems = checker.finish()
    finally:
        checker.close()
    if checker.passed != recorded:
        check_record.save(source, checker.passed)
    end = b"\0" * (_TAR_BLOCK * 2)
    offset += len(end)
    stream.write(end + b"\0" * (-offset % _TAR_RECORD))
    return files, skipped, problems, manifest_count


def _pack_entries(
    source: Path, rules: IgnoreRules, validate_manifests: bool, stream: _GzipStream, checker: ManifestChecker
) -> tuple[list[LayerFile], list[str], int]:
    """Every entry of the folder into the tar stream; the files, the skipped symlinks, the offset."""
    files: list[LayerFile] = []
    skipped: list[str] = []
    offset = 0
    for relative, full_path, is_dir in _walk(source, rules, skipped):
        if is_dir:
            offset += _write_entry(stream, tar_header(relative, 0, is_dir=True), ())
            continue
        check = validate_manifests and is_manifest(relative.rsplit("/", 1)[-1])
        with open(full_path, "rb") as handle:
            if check or os.fstat(handle.fileno()).st_size <= _READ_WHOLE_BYTES:
                data = handle.read()
                size = len(data)
                digest = sha256_digest(data)
                if check:
                    checker.check(relative, data, digest)
                offset += _write_entry(stream, tar_header(relative, size, is_dir=False), (data,))
            else:
                size = os.fstat(handle.fileno()).st_size
                header = tar_header(relative, size, is_dir=False)
                written, digest = _stream_entry(stream, header, size, handle)
                offset += written
        files.append(LayerFile(relative, size, digest))
    return files, skipped, offset


# The fields of a ustar header after the checksum, as tarfile writes them for these entries: the
# type, no link, the POSIX magic, no user or group names, no device numbers, no prefix, padding.
_USTAR_TAIL = b"\0" * 100 + tarfile.POSIX_MAGIC + b"\0" * (32 + 32 + 8 + 8 + 155 + 12)
# uid and gid 0; after the size, mtime 0.
_OWNERS = b"0000000\0" * 2
_MTIME = b"00000000000\0"
_USTAR_NAME = 100
_USTAR_MAX_SIZE = 8**11


def tar_header(name: str, size: int, *, is_dir: bool) -> bytes:
    """The header ``TarInfo.tobuf(PAX_FORMAT)`` writes for an entry of the layer (normalised owner,
    mode and time), built directly for the usual entry: an ASCII name of at most 100 bytes and a
    size a ustar field holds. Anything else (long or non-ASCII names: a pax header) goes to tarfile.
    """
    entry = name + "/" if is_dir and not name.endswith("/") else name  # as TarInfo names a folder
    if len(entry) <= _USTAR_NAME and entry.isascii() and size < _USTAR_MAX_SIZE:
        kind, mode = (tarfile.DIRTYPE, DIRECTORY_MODE) if is_dir else (tarfile.REGTYPE, FILE_MODE)
        padded = entry.encode().ljust(_USTAR_NAME, b"\0")
        head = b"%s%07o\0%s%011o\0%s" % (padded, mode, _OWNERS, size, _MTIME)
        tail = kind + _USTAR_TAIL
        checksum = sum(head) + sum(tail) + 8 * ord(" ")  # the checksum field counts as spaces
        return head + b"%06o\0 " % checksum + tail
    info = tarfile.TarInfo(name)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    info.size = size
    info.type, info.mode = (tarfile.DIRTYPE, DIRECTORY_MODE) if is_dir else (tarfile.REGTYPE, FILE_MODE)
    return info.tobuf(tarfile.PAX_FORMAT, tarfile.ENCODING, "surrogateescape")


def _write_entry(stream: _GzipStream, header: bytes, chunks: Sequence[bytes]) -> int:
    """One tar entry (header, content, padding to the block); the bytes it took."""
    stream.write(header)
    size = 0
    for chunk in chunks:
        stream.write(chunk)
        size += len(chunk)
    padding = -size % _TAR_BLOCK
    if padding:
        stream.write(b"\0" * padding)
    return len(header) + size + padding


def _stream_entry(
    stream: _GzipStream, header: bytes, size: int, handle: io.BufferedReader
) -> tuple[int, str]:
    """A large file as a tar entry, read a chunk at a time; the bytes it took, and its digest."""
    stream.write(header)
    hasher = hashlib.sha256()
    remaining = size
    while remaining > 0:
        chunk = handle.read(min(_CHUNK_BYTES, remaining))
        if not chunk:
            raise OSError(errno.EIO, "the file shrank while it was read", handle.name)
        hasher.update(chunk)
        stream.write(chunk)
        remaining -= len(chunk)
    if handle.read(1):
        raise OSError(errno.EIO, "the file grew while it was read", handle.name)
    padding = -size % _TAR_BLOCK
    if padding:
        stream.write(b"\0" * padding)
    return len(header) + size + padding, "sha256:" + hasher.hexdigest()


class _Block:
    """A block of the tar stream on its way through a compressing thread to the sink."""

    __slots__ = ("data", "dictionary", "done", "error", "output")

    def __init__(self, data: bytes, dictionary: bytes) -> None:
        self.data = data
        self.dictionary = dictionary
        self.done = False
        self.output = b""
        self.error: BaseException | None = None


class _GzipStream:
    """One gzip member of the tar stream, compressed in blocks on one or more threads, with its
    sha256 and size.

    As pigz does it: each block of :data:`_BLOCK_BYTES` is deflated on its own, primed with the 32 KiB
    that came before it and ended by a sync flush, and an empty final block closes the stream. The
    bytes depend only on the tar stream (and zlib), never on the number of threads or how the writes
    were cut, and are as small as one stream's. zlib lets go of the GIL, so the threads really run
    side by side; the thread that finishes the oldest block writes it, and any after it that are
    done, so the sink gets them in order without a thread of its own. At most two blocks more than
    there are threads are in flight: memory stays bounded. An error of the sink is raised by ``close``.
    With ``blocks``, a block compressed by an earlier build is read back from it instead.
    """

    def __init__(
        self, sink: LayerSink, compressing: int, blocks: deflate_cache.DeflateCache | None = None
    ) -> None:
        self._sink = sink
        self._blocks = blocks
        self._pending = bytearray()
        self._window = b""  # the last 32 KiB written before the pending bytes: the next dictionary
        self._aborted = False
        self._error: BaseException | None = None
        self._hash = hashlib.sha256()
        self.size = 0
        self._crc = 0
        self._length = 0
        self._in_flight: collections.deque[_Block] = collections.deque()
        self._room = threading.Semaphore(compressing + 2)
        self._writing = threading.Lock()
        self._jobs: queue.SimpleQueue[_Block | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._compress, name="layer-gzip", daemon=True)
            for _ in range(compressing)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()

    def write(self, data: bytes) -> None:
        pending = self._pending
        pending += data
        if len(pending) < _BLOCK_BYTES:
            return
        whole = len(pending) - len(pending) % _BLOCK_BYTES
        with memoryview(pending) as view:
            for start in range(0, whole, _BLOCK_BYTES):
                self._submit(bytes(view[start : start + _BLOCK_BYTES]))
        del pending[:whole]

    def close(self) -> None:
        if self._pending:
            self._submit(bytes(self._pending))
            self._pending.clear()
        self._stop()
        if self._error is None:
            try:
                self._emit(_FINAL_BLOCK + struct.pack("<II", self._crc, self._length & 0xFFFFFFFF))
            except BaseException as error:
                self._error = error
        if self._error is not None:
            raise self._error

    def abort(self) -> None:
        """Stop without finishing the stream (the build failed)."""
        self._aborted = True
        self._pending.clear()
        self._stop()

    def _submit(self, data: bytes) -> None:
        self._room.acquire()  # waits while enough is in flight
        block = _Block(data, self._window)
        tail = data[-_DICTIONARY_BYTES:]
        self._window = tail if len(tail) == _DICTIONARY_BYTES else (self._window + tail)[-_DICTIONARY_BYTES:]
        self._in_flight.append(block)
        self._jobs.put(block)

    def _stop(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()

    def _compress(self) -> None:
        while (block := self._jobs.get()) is not None:
            if not self._aborted and self._error is None:
                try:
                    if self._blocks is None:
                        block.output = _deflate_block(block.data, block.dictionary)
                    else:
                        block.output = self._blocks.compressed(block.data, block.dictionary, _deflate_block)
                except BaseException as error:  # handed to close(), in the building thread
                    block.error = error
            block.done = True
            self._write_done_blocks()

    def _write_done_blocks(self) -> None:
        """Write the oldest blocks, in order, as long as they are compressed."""
        with self._writing:
            while self._in_flight and self._in_flight[0].done:
                block = self._in_flight.popleft()
                self._room.release()
                if self._error is not None or self._aborted:
                    continue  # keep taking blocks, so that a write never waits for a thread that stopped
                try:
                    if block.error is not None:
                        raise block.error
                    self._crc = zlib.crc32(block.data, self._crc)
                    self._length += len(block.data)
                    self._emit(block.output)
                except BaseException as error:
                    self._error = error

    def _emit(self, data: bytes) -> None:
        if not self.size:
            data = _GZIP_HEADER + data  # the header goes out with whatever is written first
        self._hash.update(data)
        self.size += len(data)
        self._sink(data)


def _deflate_block(data: bytes, dictionary: bytes) -> bytes:
    """One block as raw deflate, primed with what came before it, ending on a byte boundary."""
    if dictionary:
        compressor = zlib.compressobj(
            COMPRESS_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS, zlib.DEF_MEM_LEVEL, 0, dictionary
        )
    else:
        compressor = zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS, zlib.DEF_MEM_LEVEL, 0)
    return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)


def _compressing_threads() -> int:
    return max(1, min(_MAX_COMPRESSING_THREADS, os.cpu_count() or 1))


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
