"""Hand live updates from watcher threads to the UI, collapsing bursts (Toolong's replaceable messages).

Watchers call :meth:`LiveInbox.put` on their threads. Only the first batch after a take posts a
message; later ones merge into what is waiting, keeping only the newest state per object. A burst of
200 status writes therefore becomes one repaint, and the watcher threads never block on the UI.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from ksail_tui.live import (
    ConnectionUpdate,
    ControllerUpdate,
    FluxEventUpdate,
    FluxObjectUpdate,
    LiveUpdate,
    NodeUpdate,
)

# Events beyond this many while the UI is busy are dropped, oldest first (they stay in the cluster).
MAX_PENDING_EVENTS = 200


def _slot(update: LiveUpdate) -> tuple[str, str]:
    if isinstance(update, FluxObjectUpdate):
        return ("flux", update.key)
    if isinstance(update, NodeUpdate):
        return ("node", update.name)
    if isinstance(update, ControllerUpdate):
        return ("controller", update.key)
    if isinstance(update, ConnectionUpdate):
        return ("connection", "")
    raise TypeError(f"no slot for {type(update).__name__}")


class LiveInbox:
    def __init__(self, on_ready: Callable[[], None]) -> None:
        self._on_ready = on_ready
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], LiveUpdate] = {}
        self._events: list[FluxEventUpdate] = []
        self._scheduled = False

    def put(self, updates: Sequence[LiveUpdate]) -> None:
        with self._lock:
            for update in updates:
                if isinstance(update, FluxEventUpdate):
                    self._events.append(update)
                else:
                    self._pending[_slot(update)] = update
            del self._events[:-MAX_PENDING_EVENTS]
            if self._scheduled:
                return
            self._scheduled = True
        self._on_ready()

    def take(self) -> list[LiveUpdate]:
        with self._lock:
            updates: list[LiveUpdate] = [*self._pending.values(), *self._events]
            self._pending = {}
            self._events = []
            self._scheduled = False
        return updates
