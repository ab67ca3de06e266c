"""What passed the manifest checks in a folder's last build, kept on disk (issue 18).

Parsing is most of a build's work, and between two builds of the loop most files are unchanged. A
verdict depends only on a file's name and content, so a file whose (path, sha256) passed before
passes again: the next build, in this process or a new one, parses only what changed. The record is
one small JSON file per source folder under the user's cache folder, rewritten whole, atomically,
after a build that checked something new; it is tied to the checks' own code, so a release with
other checks, another PyYAML or another Python reads none of it. A record that cannot be read or
written costs only time: the build checks everything and says nothing.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import yaml

from ksail_tui.cache import user_cache_dir
from ksail_tui.oci import manifests

# Records of this many folders are kept; the least recently written beyond them are removed.
KEPT_RECORDS = 200
_FORMAT = 1
_RECORD_NAME = re.compile(r"[0-9a-f]{32}\.json")
_TEMPORARY_NAME = re.compile(r"[0-9a-f]{32}\.json\.\d+-\d+\.tmp")
# A temporary file this old was left by a build that died while writing it.
_STALE_SECONDS = 3600

Passed = dict[tuple[str, str], int]  # (path in the folder, content digest) -> documents in it


def record_dir() -> Path:
    return user_cache_dir() / "checked"


def load(source: Path) -> Passed:
    """What passed in ``source``'s last recorded build, or nothing if there is no usable record."""
    try:
        document = json.loads(_record_file(source).read_bytes())
        if document.get("format") != _FORMAT or document.get("checks") != _checks_fingerprint():
            return {}
        passed: Passed = {}
        for path, digest, count in document["passed"]:
            if not (isinstance(path, str) and isinstance(digest, str) and type(count) is int and count >= 0):
                return {}
            passed[(path, digest)] = count
        return passed
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def save(source: Path, passed: Mapping[tuple[str, str], int]) -> None:
    """Record ``passed`` as what passed in ``source``, replacing the folder's earlier record."""
    folder = record_dir()
    target = _record_file(source)
    # Unique to this process and thread, so that concurrent builds never write one file.
    temporary = target.with_name(f"{target.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        document = {
            "format": _FORMAT,
            "checks": _checks_fingerprint(),
            "source": str(source),
            "passed": [[path, digest, count] for (path, digest), count in passed.items()],
        }
        folder.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(json.dumps(document, separators=(",", ":")).encode())
        os.replace(temporary, target)
        _prune(folder)
    except OSError:
        # A cache that cannot be written makes the next build slower, nothing else.
        with contextlib.suppress(OSError):
            temporary.unlink()


def _record_file(source: Path) -> Path:
    name = hashlib.sha256(os.fsencode(source)).hexdigest()[:32]
    return record_dir() / f"{name}.json"


def _prune(folder: Path) -> None:
    """Remove the oldest records beyond :data:`KEPT_RECORDS` and stale temporary files; only files
    named as this module names them are touched."""
    records: list[tuple[float, str]] = []
    stale: list[str] = []
    now = time.time()
    with os.scandir(folder) as entries:
        for entry in entries:
            if not entry.is_file(follow_symlinks=False):
                continue
            modified = entry.stat(follow_symlinks=False).st_mtime
            if _RECORD_NAME.fullmatch(entry.name):
                records.append((modified, entry.path))
            elif _TEMPORARY_NAME.fullmatch(entry.name) and now - modified > _STALE_SECONDS:
                stale.append(entry.path)
    records.sort(reverse=True)
    for path in stale + [path for _, path in records[KEPT_RECORDS:]]:
        with contextlib.suppress(OSError):
            os.unlink(path)


@functools.cache
def _checks_fingerprint() -> str:
    """What the verdicts depend on besides the files: the checks' source, the parser, the interpreter."""
    digest = hashlib.sha256(Path(manifests.__file__).read_bytes())
    libyaml = getattr(yaml, "__with_libyaml__", False)
    digest.update(f"{yaml.__version__} libyaml={libyaml} {sys.version_info[:3]}".encode())
    return digest.hexdigest()
