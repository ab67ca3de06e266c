"""Compressed blocks of earlier builds, kept on disk (issue 18).

A layer is compressed in blocks of its tar stream (see ``_GzipStream`` in :mod:`ksail_tui.oci.build`),
each primed with the 32 KiB before it, so a block's deflate output depends only on those bytes, the
level and zlib. Between two builds of the loop most of the tar stream is unchanged: an edit that keeps
the file within its 512-byte tar blocks moves nothing after it. Such blocks are read back instead of
compressed again, and the layer is byte for byte what compressing them would give.

An entry is a file named by the sha256 of what its output depends on, holding the sha256 of that
output before it: a damaged entry is compressed again, never used. At most :data:`KEPT_BYTES` are
kept, the least recently used removed first, and only files named as this module names them are ever
removed. Entries hold the user's manifests, compressed, so the folder and its files are the user's
alone. A cache that cannot be read or written costs only time.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path

from ksail_tui.cache import user_cache_dir

KEPT_BYTES = 128 << 20
# A block of the tar stream deflates to little more than its size, even when it does not compress.
_MAX_ENTRY_BYTES = 2 << 20
_ENTRY_NAME = re.compile(r"[0-9a-f]{64}\.z")
_TEMPORARY_NAME = re.compile(r"[0-9a-f]{64}\.z\.\d+-\d+\.tmp")
# A temporary file this old was left by a build that died while writing it.
_STALE_SECONDS = 3600
_DIGEST_BYTES = 32

Deflate = Callable[[bytes, bytes], bytes]  # (block, dictionary) -> raw deflate


def cache_dir() -> Path:
    return user_cache_dir() / "deflate"


class DeflateCache:
    """Deflate output of blocks by what it depends on; safe to use from several threads."""

    def __init__(self, folder: Path, level: int) -> None:
        self._folder = folder
        self._salt = b"zlib %s level %d\n" % (zlib.ZLIB_RUNTIME_VERSION.encode(), level)
        self._wrote = False
        self._made_folder = False
        self._lock = threading.Lock()

    def compressed(self, data: bytes, dictionary: bytes, deflate: Deflate) -> bytes:
        """``deflate(data, dictionary)``, from an earlier build's entry if there is a sound one."""
        hasher = hashlib.sha256(self._salt + b"%d\n" % len(dictionary))
        hasher.update(dictionary)
        hasher.update(data)
        path = self._folder / f"{hasher.hexdigest()}.z"
        output = _read_entry(path)
        if output is not None:
            with contextlib.suppress(OSError):
                os.utime(path)  # recently used: pruned last
            return output
        output = deflate(data, dictionary)
        self._write_entry(path, output)
        return output

    def prune(self) -> None:
        """Keep at most :data:`KEPT_BYTES` of entries, if this cache wrote any."""
        if self._wrote:
            with contextlib.suppress(OSError):
                _prune(self._folder)

    def _write_entry(self, path: Path, output: bytes) -> None:
        temporary = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
        try:
            with self._lock:
                if not self._made_folder:
                    self._folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                    self._made_folder = True
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(hashlib.sha256(output).digest())
                handle.write(output)
            os.replace(temporary, path)
            self._wrote = True
        except OSError:
            with contextlib.suppress(OSError):
                temporary.unlink()


def default_cache(level: int) -> DeflateCache:
    return DeflateCache(cache_dir(), level)


def _read_entry(path: Path) -> bytes | None:
    """The entry's output, or None if there is none or it is not sound."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode) or not _DIGEST_BYTES < info.st_size <= _MAX_ENTRY_BYTES:
            return None
        content = os.read(descriptor, info.st_size + 1)
    except OSError:
        return None
    finally:
        os.close(descriptor)
    if len(content) != info.st_size:
        return None  # changed while it was read
    digest, output = content[:_DIGEST_BYTES], content[_DIGEST_BYTES:]
    return output if hashlib.sha256(output).digest() == digest else None


def _prune(folder: Path) -> None:
    entries: list[tuple[float, int, str]] = []
    stale: list[str] = []
    now = time.time()
    with os.scandir(folder) as found:
        for entry in found:
            if not entry.is_file(follow_symlinks=False):
                continue
            info = entry.stat(follow_symlinks=False)
            if _ENTRY_NAME.fullmatch(entry.name):
                entries.append((info.st_mtime, info.st_size, entry.path))
            elif _TEMPORARY_NAME.fullmatch(entry.name) and now - info.st_mtime > _STALE_SECONDS:
                stale.append(entry.path)
    entries.sort(reverse=True)  # newest first
    kept = 0
    removed = list(stale)
    for _, size, path in entries:
        kept += size
        if kept > KEPT_BYTES:
            removed.append(path)
    for path in removed:
        with contextlib.suppress(OSError):
            os.unlink(path)
