"""A watch that does not give up: list, then watch from the list's resourceVersion.

- resumes from the last resourceVersion seen (events and bookmarks) after a dropped connection,
- relists on ``410 Gone`` and hands the consumer a full snapshot (``SYNC``), so a state written
  while the history expired is never missed and deleted objects disappear,
- backs off and reconnects while the API server is away, reporting the reason.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ksail_tui.errors import KsailError
from ksail_tui.kube.client import ApiError, KubeClient, Resource, WatchStream

ADDED, MODIFIED, DELETED, SYNC = "ADDED", "MODIFIED", "DELETED", "SYNC"


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED | MODIFIED | DELETED | SYNC
    object: dict[str, Any] | None = None
    objects: tuple[dict[str, Any], ...] = ()  # the whole collection, for SYNC


@dataclass(frozen=True)
class WatchState:
    connected: bool
    reason: str = ""


class Gone(Exception):
    """The resourceVersion is too old: relist."""


@dataclass
class Watcher:
    client: KubeClient
    resource: Resource
    on_event: Callable[[WatchEvent], None]
    namespace: str | None = None
    label_selector: str | None = None
    field_selector: str | None = None
    on_state: Callable[[WatchState], None] | None = None
    resource_version: str | None = None  # start here instead of listing first
    initial_backoff: float = 0.2
    max_backoff: float = 5.0
    timeout_seconds: int = 300
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _stream: WatchStream | None = field(default=None, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    _connected: bool | None = field(default=None, init=False)

    def start(self, name: str | None = None) -> Watcher:
        self._thread = threading.Thread(
            target=self.run, name=name or f"watch-{self.resource.plural}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        stream = self._stream
        if stream is not None:
            stream.close()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def _set_state(self, connected: bool, reason: str = "") -> None:
        if self._connected == connected and connected:
            return
        self._connected = connected
        if self.on_state is not None:
            self.on_state(WatchState(connected, reason))

    def _relist(self) -> None:
        listing = self.client.list(
            self.resource,
            self.namespace,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
        )
        self.resource_version = (listing.get("metadata") or {}).get("resourceVersion")
        self.on_event(WatchEvent(SYNC, objects=tuple(listing.get("items") or ())))

    def _watch_once(self) -> None:
        stream = self.client.watch(
            self.resource,
            self.namespace,
            resource_version=self.resource_version,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            timeout_seconds=self.timeout_seconds,
        )
        self._stream = stream
        if self._stop.is_set():
            stream.close()
            return
        self._set_state(True)
        for event in stream:
            if self._stop.is_set():
                return
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                if obj.get("code") == 410:
                    raise Gone()
                raise ApiError(
                    int(obj.get("code") or 500), str(obj.get("reason", "")), str(obj.get("message", ""))
                )
            version = (obj.get("metadata") or {}).get("resourceVersion")
            if version:
                self.resource_version = version
            if kind in (ADDED, MODIFIED, DELETED):
                self.on_event(WatchEvent(kind, object=obj))

    def run(self) -> None:
        backoff = self.initial_backoff
        while not self._stop.is_set():
            try:
                if self.resource_version is None:
                    self._relist()
                    self._set_state(True)
                self._watch_once()
                backoff = self.initial_backoff
            except Gone:
                self.resource_version = None
            except ApiError as error:
                if error.status == 410:
                    self.resource_version = None
                    continue
                self._set_state(False, str(error))
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
            except KsailError as error:
                if self._stop.is_set():
                    return
                self._set_state(False, error.message)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
            except Exception as error:  # a bad event or a consumer's bug must not end the watch for good
                if self._stop.is_set():
                    return
                self.resource_version = None
                self._set_state(False, f"internal error: {type(error).__name__}: {error}")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
            finally:
                self._stream = None
