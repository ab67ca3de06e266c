"""The manifest checks of a large tree, shared with a second process (issue 18).

Parsing is most of a build's work, and it holds the GIL: a thread cannot run it beside the reading,
packing and hashing of the building thread. So once a tree has shown itself large, a second Python
process runs the same checks (:func:`ksail_tui.oci.manifests.check_manifest`, the same code, so the
same verdicts and messages) on the files handed to it. It takes what it can: a file goes to it only
while little waits for it, else the building process checks the file itself. Problems are reported in
the folder's order, whoever found them; the layer does not depend on who checked what.
"""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from ksail_tui.errors import OperationFailed
from ksail_tui.oci.manifest_check import FRAME, Verdict
from ksail_tui.oci.manifests import ManifestProblem, check_manifest_once, passed_before, remember_passed

# A tree is checked in the building process alone until it has read this much of manifests: a small
# tree is done before a second interpreter would have started.
OFFLOAD_AFTER_BYTES = 4 << 20
# At most this much waits for the second process; when it is behind, the building process checks
# the next file itself.
QUEUED_BYTES = 2 << 20
# The package the building process runs, first on the worker's path: the worker runs the same code.
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_WORKER_CODE = (
    "import sys; sys.path.insert(0, sys.argv[1]); from ksail_tui.oci.manifest_check import main; main()"
)


class ManifestChecker:
    """Checks a build's manifests in the order they are packed; :meth:`finish` gives the verdict."""

    def __init__(
        self, *, offload: bool = True, recorded: Mapping[tuple[str, str], int] | None = None
    ) -> None:
        self._offload = offload
        self._recorded = recorded or {}
        # Every file that passed, by (path, digest), in the folder's order: what the record keeps.
        self.passed: dict[tuple[str, str], int] = {}
        self._count = 0
        self._found: list[tuple[int, list[ManifestProblem]]] = []  # (file index, its problems)
        self._index = 0
        self._read = 0
        self._worker: _Worker | None = None
        self._sent: list[tuple[int, str, str]] = []  # (index, path, digest) of what the worker checks

    def check(self, path: str, data: bytes, digest: str) -> None:
        index = self._index
        self._index += 1
        self._read += len(data)
        cached = passed_before(path, digest)
        if cached is None:
            cached = self._recorded.get((path, digest))
        if cached is not None:
            self._count += cached
            self.passed[(path, digest)] = cached
            return
        if self._worker is None and self._offload and self._read > OFFLOAD_AFTER_BYTES:
            self._offload = False  # one attempt: if it cannot start, everything is checked here
            self._worker = _Worker.start()
        if self._worker is not None and self._worker.offer(path, data):
            self._sent.append((index, path, digest))
            return
        count, problems = check_manifest_once(path, data, digest)
        self._count += count
        if problems:
            self._found.append((index, problems))
        else:
            self.passed[(path, digest)] = count

    def finish(self) -> tuple[int, list[ManifestProblem]]:
        """The number of documents, and every problem in the folder's order."""
        if self._worker is not None:
            worker, self._worker = self._worker, None
            verdicts = worker.verdicts(len(self._sent))
            for (index, path, digest), (count, problems) in zip(self._sent, verdicts, strict=True):
                self._count += count
                if problems:
                    found = [ManifestProblem(path, line, text) for line, text in problems]
                    self._found.append((index, found))
                else:
                    remember_passed(path, digest, count)
                    self.passed[(path, digest)] = count
        self._found.sort(key=lambda pair: pair[0])
        return self._count, [problem for _, problems in self._found for problem in problems]

    def close(self) -> None:
        """Stop the worker, if it still runs (the build failed)."""
        if self._worker is not None:
            self._worker.stop()
            self._worker = None


class _Worker:
    """The second process, fed through its stdin by a thread of its own (a pipe write that waits
    would hold up the build); it answers with every verdict at the end."""

    def __init__(self, process: subprocess.Popen[bytes], errors: IO[bytes]) -> None:
        self._process = process
        self._errors = errors
        self._queue: queue.Queue[tuple[bytes, bytes] | None] = queue.Queue()
        self._queued = 0
        self._lock = threading.Lock()
        self._broken: OSError | None = None
        self._feeder = threading.Thread(target=self._feed, name="manifest-feed", daemon=True)
        self._feeder.start()

    @classmethod
    def start(cls) -> _Worker | None:
        import tempfile  # only here: most builds start no worker

        errors = tempfile.TemporaryFile()  # noqa: SIM115  # the worker's; closed when it is done
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", _WORKER_CODE, _PACKAGE_ROOT],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
            )
        except (OSError, ValueError):  # no interpreter to start (an embedded Python)
            errors.close()
            return None
        return cls(process, errors)

    def offer(self, path: str, data: bytes) -> bool:
        """Queue a file for the worker; False when enough already waits (check it here instead)."""
        with self._lock:
            if self._broken is not None or (self._queued and self._queued + len(data) > QUEUED_BYTES):
                return False
            self._queued += len(data)
        encoded = path.encode("utf-8", "surrogateescape")
        self._queue.put((FRAME.pack(len(encoded), len(data)) + encoded, data))
        return True

    def verdicts(self, expected: int) -> list[Verdict]:
        self._queue.put(None)
        self._feeder.join()
        assert self._process.stdout is not None
        answer = self._process.stdout.read()
        code = self._process.wait()
        verdicts: list[Verdict] = []
        with contextlib.suppress(ValueError, TypeError):  # a worker that died half-way: said below
            verdicts = [(count, [(line, text) for line, text in seen]) for count, seen in json.loads(answer)]
        if self._broken is not None or code != 0 or len(verdicts) != expected:
            self._errors.seek(0)
            detail = self._errors.read()[-500:].decode("utf-8", "replace").strip() or f"exit code {code}"
            self._errors.close()
            raise OperationFailed(
                f"the second process checking the manifests stopped before it was done: {detail}",
                hint="build again; if it keeps failing, report it with this message",
            )
        self._errors.close()
        return verdicts

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._queue.put(None)
        self._feeder.join()
        self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._errors.close()

    def _feed(self) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        try:
            while (item := self._queue.get()) is not None:
                header, data = item
                stdin.write(header)
                stdin.write(data)
                with self._lock:
                    self._queued -= len(data)
            stdin.close()
        except OSError as error:  # the worker is gone; what it was sent is checked by nobody
            with self._lock:
                self._broken = error
            while self._queue.get() is not None:
                pass
