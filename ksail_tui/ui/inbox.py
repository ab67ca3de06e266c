"""Hand live updates from watcher threads to the UI, collapsing bursts (Toolong's replaceable messages).

Watchers call the put that :meth:`LiveInbox.sender` gave their live source, on their threads. Only
the first batch after a take posts a message; later ones merge into what is waiting, keeping only the
newest state per object. A burst of 200 status writes therefore becomes one repaint, and the watcher
threads never block on the UI. A new sender (the watches restarted on another cluster) silences the
one before, so that nothing the old cluster held reaches the new cluster's table.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import partial

from ksail_tui.live import (
    ConnectionUpdate,
    ControllerUpdate,
    FluxEventUpdate,
    FluxObjectUpdate,
    LiveUpdate,
    NodeUpdate,
    OnUpdates,
)

# Events beyond this many while the UI is busy are dropped, oldest first (they stay in the cluster).
MAX_PENDING_EVENTS = 200


def _slot(update: LiveUpdate) -> tuple[str, object]:
    if isinstance(update, FluxObjectUpdate):
        return ("flux", update.ref)
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
        self._pending: dict[tuple[str, object], LiveUpdate] = {}
        self._events: list[FluxEventUpdate] = []
        self._scheduled = False
        self._sender = 0  # the number of the latest sender: the only one heard

    def sender(self) -> OnUpdates:
        """The put of a new live source. What earlier sources sent and was not taken is dropped, and
        so is whatever they send from now on (a stopped watch thread may still deliver a last batch)."""
        with self._lock:
            self._sender += 1
            self._pending = {}
            self._events = []
            return partial(self._put, self._sender)

    def _put(self, sender: int, updates: Sequence[LiveUpdate]) -> None:
        with self._lock:
            if sender != self._sender:
                return
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
