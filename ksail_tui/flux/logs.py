"""The Flux controllers' JSON log lines about one object (``flux logs --kind --name`` semantics).

Flux controllers log one JSON object per line, naming the object they reconcile
(``controllerKind``, ``name``, ``namespace``). :func:`parse_line` reads such a line and
:meth:`LogLine.about` filters by object. Where the lines come from is a :class:`LogSink`: on a
real cluster the controllers' pod logs (:mod:`ksail_tui.flux.controller_logs`); in the demo the
simulated controllers write to :data:`IN_PROCESS`, a bounded sink in this process.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ksail_tui.models import ObjectRef

# Lines kept per sink and shown per view: enough for a busy minute, bounded for a long session.
MAX_LINES = 2000


@dataclass(frozen=True)
class LogLine:
    controller: str
    level: str
    ts: str
    message: str
    kind: str = ""
    name: str = ""
    namespace: str = ""
    error: str = ""
    group: str = ""
    reconcile_id: str = ""

    def about(self, ref: ObjectRef) -> bool:
        return (self.kind, self.name, self.namespace) == (ref.kind, ref.name, ref.namespace)


def parse_line(controller: str, text: str) -> LogLine | None:
    """One controller log line, or None for what is not a JSON object (start-up banners)."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return LogLine(
        controller=controller,
        level=str(data.get("level", "info")),
        ts=str(data.get("ts", "")),
        message=str(data.get("msg", "")),
        kind=str(data.get("controllerKind", "")),
        name=str(data.get("name", "")),
        namespace=str(data.get("namespace", "")),
        error=str(data.get("error", "")),
        group=str(data.get("controllerGroup", "")),
        reconcile_id=str(data.get("reconcileID", "")),
    )


def json_line(
    level: str, message: str, kind: str, group: str, namespace: str, name: str, error: str = ""
) -> str:
    """A line shaped as controller-runtime writes them for Flux (for the simulated controllers)."""
    entry: dict[str, Any] = {
        "level": level,
        "ts": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "msg": message,
        "controller": kind.lower(),
        "controllerGroup": group,
        "controllerKind": kind,
        kind: {"name": name, "namespace": namespace},
        "namespace": namespace,
        "name": name,
        "reconcileID": str(uuid.uuid4()),
    }
    if error:
        entry["error"] = error
    return json.dumps(entry)


OnLine = Callable[[LogLine], None]


@dataclass(frozen=True)
class LogNotice:
    """Something about the following itself (no controller pods, a 403, a reconnect), not a line."""

    message: str
    hint: str = ""
    final: bool = False  # nothing more will come


OnNotice = Callable[[LogNotice], None]


class LogSink:
    """A bounded, thread-safe buffer of controller log lines that readers can follow."""

    def __init__(self, max_lines: int = MAX_LINES) -> None:
        self._lines: deque[LogLine] = deque(maxlen=max_lines)
        self._followers: list[OnLine] = []
        self._lock = threading.Lock()

    def write(self, controller: str, text: str) -> None:
        line = parse_line(controller, text)
        if line is None:
            return
        with self._lock:
            self._lines.append(line)
            followers = list(self._followers)
        for follower in followers:
            follower(line)

    def follow(
        self, ref: ObjectRef, on_line: OnLine, on_notice: OnNotice | None = None
    ) -> Callable[[], None]:
        """Replay the kept lines about ``ref``, then call ``on_line`` for each new one; returns
        the function that stops following. ``on_line`` runs on the writer's thread. A sink in
        this process never drops, so ``on_notice`` (the pod logs' reconnect notices) is not called."""

        def about(line: LogLine) -> None:
            if line.about(ref):
                on_line(line)

        with self._lock:
            kept = [line for line in self._lines if line.about(ref)]
            self._followers.append(about)
        for line in kept:
            on_line(line)

        def stop() -> None:
            with self._lock:
                if about in self._followers:
                    self._followers.remove(about)

        return stop


IN_PROCESS = LogSink()
