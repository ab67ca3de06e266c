"""The second process of :mod:`ksail_tui.oci.manifest_worker`: it checks the manifests it is sent.

Kept apart so that it starts with only what the checks need (no subprocess, threads or files).
"""

from __future__ import annotations

import json
import struct
import sys

from ksail_tui.oci.manifests import check_manifest

FRAME = struct.Struct(">II")  # path length, content length; then the path and the content
Verdict = tuple[int, list[tuple[int | None, str]]]  # documents, and (line, message) of each problem


def main() -> None:
    """The worker: frames of (path, content) on stdin until it closes, then the verdicts as JSON."""
    source = sys.stdin.buffer
    verdicts: list[Verdict] = []
    while header := source.read(FRAME.size):
        path_length, size = FRAME.unpack(header)
        path = source.read(path_length).decode("utf-8", "surrogateescape")
        count, problems = check_manifest(path, source.read(size))
        verdicts.append((count, [(problem.line, problem.message) for problem in problems]))
    sys.stdout.write(json.dumps(verdicts))
