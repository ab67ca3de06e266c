"""Wait for one object to reach a verdict by watching it, never by polling."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ksail_tui.deadline import Deadline
from ksail_tui.errors import OperationFailed, TimedOut, Unavailable
from ksail_tui.kube.client import KubeClient, Resource
from ksail_tui.kube.watch import DELETED, SYNC, Watcher, WatchEvent, WatchState

# How often a wait with a cancel event looks at it between watch events.
CANCEL_CHECK_SECONDS = 0.2


class Cancelled(OperationFailed):
    """The caller stopped waiting (e.g. the dashboard is closing)."""


@dataclass(frozen=True)
class Verdict:
    state: Literal["done", "failed", "pending"]
    message: str = ""

    @classmethod
    def done(cls, message: str = "") -> Verdict:
        return cls("done", message)

    @classmethod
    def failed(cls, message: str) -> Verdict:
        return cls("failed", message)

    @classmethod
    def pending(cls, message: str) -> Verdict:
        return cls("pending", message)


Judge = Callable[[dict[str, Any] | None], Verdict]
OnUpdate = Callable[[WatchEvent | WatchState], None]


class ObjectFeed(Protocol):
    """Events of objects someone already watches (the dashboard's live store), so that a wait
    needs no watch of its own."""

    def follow(
        self, resource: Resource, namespace: str, name: str, on_update: OnUpdate
    ) -> Callable[[], None] | None:
        """Hand ``on_update`` the object's state now (if held) and then each event of it and each
        state of its watch; the function ending that. None: this feed does not watch it."""


def wait_for(
    client: KubeClient,
    resource: Resource,
    name: str,
    namespace: str | None,
    judge: Judge,
    *,
    timeout: float | Deadline,
    what: str,
    initial: dict[str, Any] | None = None,
    on_progress: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
    feed: ObjectFeed | None = None,
) -> tuple[Verdict, dict[str, Any] | None]:
    """Watch ``name`` until ``judge`` says done or failed; TimedOut (exit 3) at the deadline.

    ``timeout`` is seconds from now or the command's deadline; the watch's own requests are
    bounded by it too. With ``initial`` (e.g. the object a patch returned) the watch starts at
    its resourceVersion, so no change after it can be missed; without, it lists first. Once
    ``cancel`` is set it raises :class:`Cancelled` (within CANCEL_CHECK_SECONDS) and closes the watch.
    With a ``feed`` that watches the object already, its events are judged instead of a watch's.
    """
    deadline = timeout if isinstance(timeout, Deadline) else Deadline.after(timeout)
    updates: queue.Queue[WatchEvent | WatchState] = queue.Queue()
    current = initial
    verdict = judge(current) if initial is not None else Verdict.pending("waiting for the first state")
    if verdict.state != "pending":
        return verdict, current
    stop = feed.follow(resource, namespace or "", name, updates.put) if feed is not None else None
    if stop is None:
        watcher = Watcher(
            client.within(deadline),
            resource,
            on_event=updates.put,
            on_state=updates.put,
            namespace=namespace,
            field_selector=f"metadata.name={name}",
            resource_version=((initial or {}).get("metadata") or {}).get("resourceVersion"),
            timeout_seconds=max(1, int(deadline.remaining()) + 5),
        ).start(name=f"wait-{name}")
        stop = watcher.stop
    last_reported = ""
    disconnected: str | None = None
    try:
        while True:
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"stopped waiting for {what}")
            remaining = deadline.remaining()
            if remaining <= 0:
                if disconnected is not None:
                    raise Unavailable(f"lost the cluster while waiting for {what}: {disconnected}")
                raise TimedOut(f"timed out after {deadline.seconds:g}s waiting for {what}: {verdict.message}")
            try:
                update = updates.get(
                    timeout=remaining if cancel is None else min(remaining, CANCEL_CHECK_SECONDS)
                )
            except queue.Empty:
                continue
            if isinstance(update, WatchState):
                disconnected = None if update.connected else update.reason
                if disconnected and on_progress:
                    on_progress(f"connection lost ({disconnected}); reconnecting")
                continue
            if update.type == SYNC:
                current = next((o for o in update.objects if o["metadata"]["name"] == name), None)
            else:
                current = None if update.type == DELETED else update.object
            verdict = judge(current)
            if verdict.state != "pending":
                return verdict, current
            if on_progress and verdict.message != last_reported:
                last_reported = verdict.message
                on_progress(verdict.message)
    finally:
        stop()
