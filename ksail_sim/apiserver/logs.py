"""Container logs for the emulator's ``pods/{name}/log`` subresource.

There is no kubelet and no container here: a test or the demo supplies what a Pod "logged"
(:meth:`PodLogs.write`), and the server answers ``GET .../pods/{name}/log`` with it, honouring
``tailLines``, ``follow`` (the connection stays open and new lines arrive as they are written) and
``timestamps``. A Pod nobody wrote for answers as on a real server: an empty log when it is not
scheduled (no ``spec.nodeName``), the kubelet's "waiting to start" when it is.
:meth:`PodLogs.cut` drops every following connection, as a kubelet restart or a proxy timeout
would, so that a client's reconnect can be tested; the server stopping cuts them too.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

# Lines kept per Pod; a follower that falls further behind loses the oldest, as kubelet rotates logs.
MAX_LINES = 10_000


@dataclass
class _Log:
    lines: deque[tuple[int, str, str]] = field(default_factory=lambda: deque(maxlen=MAX_LINES))
    written: int = 0  # lines ever written; a line's number is its position in that count


class PodLogs:
    """What each Pod logged, keyed by (namespace, pod name), and the followers waiting for more."""

    def __init__(self) -> None:
        self._logs: dict[tuple[str, str], _Log] = {}
        self._changed = threading.Condition()
        self._generation = 0  # bumped by cut(): followers of an older one stop

    def write(self, namespace: str, pod: str, text: str) -> None:
        """Append ``text`` (one line or several) to the Pod's log."""
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with self._changed:
            log = self._logs.setdefault((namespace, pod), _Log())
            for line in text.splitlines():
                log.lines.append((log.written, stamp, line))
                log.written += 1
            self._changed.notify_all()

    def has_log(self, namespace: str, pod: str) -> bool:
        with self._changed:
            return (namespace, pod) in self._logs

    def forget(self, namespace: str, pod: str) -> None:
        """The Pod is gone: its followers' streams end, and a Pod made again starts empty."""
        with self._changed:
            self._logs.pop((namespace, pod), None)
            self._changed.notify_all()

    def tail(self, namespace: str, pod: str, lines: int | None) -> tuple[list[tuple[str, str]], int]:
        """The last ``lines`` lines (all when None) as (timestamp, text), and where to follow from."""
        with self._changed:
            log = self._logs.get((namespace, pod)) or _Log()
            kept = list(log.lines)
            if lines is not None:
                kept = kept[-lines:] if lines else []
            return [(stamp, text) for _, stamp, text in kept], log.written

    def generation(self) -> int:
        with self._changed:
            return self._generation

    def wait(
        self, namespace: str, pod: str, after: int, generation: int, timeout: float
    ) -> tuple[list[tuple[str, str]], int] | None:
        """Lines written since line number ``after`` (waiting up to ``timeout`` for one), and the
        next number; None when the stream must end (the Pod's log is gone, cut() or end())."""
        with self._changed:
            while True:
                log = self._logs.get((namespace, pod))
                if log is None or self._generation != generation:
                    return None
                if log.written > after:
                    new = [(stamp, text) for number, stamp, text in log.lines if number >= after]
                    return new, log.written
                if not self._changed.wait(timeout):
                    return [], after

    def cut(self) -> None:
        """Drop every following connection (their clients see the stream end and reconnect)."""
        with self._changed:
            self._generation += 1
            self._changed.notify_all()
