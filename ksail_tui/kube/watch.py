"""A watch that does not give up: list, then watch from the list's resourceVersion.

- resumes from the last resourceVersion seen (events and bookmarks) after a dropped connection,
- relists on ``410 Gone`` and hands the consumer a full snapshot (``SYNC``), so a state written
  while the history expired is never missed and deleted objects disappear,
- backs off and reconnects while the API server is away, reporting the reason,
- backs off as well when 410 comes back at once after every relist (a server whose history is
  always expired), instead of relisting in a tight loop.

Every retry waits ``backoff(n)``: bounded exponential, with jitter so that many watchers of one
restarted server do not come back in step.
"""

from __future__ import annotations

import random
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
    # The first list from the API server's cache, as client-go's informers take it: it may be a
    # moment behind, which the watch from its resourceVersion then makes up. Relists read through
    # (after a 410 the cache may be behind what was already seen). For views, not for decisions.
    first_list_from_cache: bool = False
    initial_backoff: float = 0.2
    max_backoff: float = 5.0
    timeout_seconds: int = 300
    # Injected by tests: how a retry waits (True when stopped meanwhile), and the jitter source.
    sleep: Callable[[float], bool] | None = None
    jitter: Callable[[], float] = random.random
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _stream: WatchStream | None = field(default=None, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    _connected: bool | None = field(default=None, init=False)
    _delivered: bool = field(default=False, init=False)  # the current watch sent an event
    _listed: bool = field(default=False, init=False)

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

    def backoff(self, failures: int) -> float:
        """The wait before retry number ``failures`` (1, 2, ...): doubling up to ``max_backoff``,
        then cut by up to half at random."""
        step = min(self.max_backoff, self.initial_backoff * 2 ** min(failures - 1, 32))
        return step * (0.5 + self.jitter() / 2)

    def _wait(self, failures: int) -> bool:
        """Wait before a retry; True when stopped meanwhile."""
        delay = self.backoff(failures)
        return self.sleep(delay) if self.sleep is not None else self._stop.wait(delay)

    def _relist(self) -> None:
        from_cache = self.first_list_from_cache and not self._listed
        listing = self.client.list(
            self.resource,
            self.namespace,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            resource_version="0" if from_cache else None,
        )
        self._listed = True
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
        self._delivered = False
        for event in stream:
            if self._stop.is_set():
                return
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                code = obj.get("code")
                if code == 410:
                    raise Gone()
                raise ApiError.from_status(code if isinstance(code, int) else 500, obj)
            version = (obj.get("metadata") or {}).get("resourceVersion")
            if version:
                self.resource_version = version
            if version or kind in (ADDED, MODIFIED, DELETED):
                self._delivered = True  # the history was fine for a while: a 410 now is normal
            if kind in (ADDED, MODIFIED, DELETED):
                self.on_event(WatchEvent(kind, object=obj))

    def run(self) -> None:
        failures = 0  # consecutive, of any kind: reset by a watch that worked
        while not self._stop.is_set():
            try:
                if self.resource_version is None:
                    self._relist()
                    self._set_state(True)
                self._watch_once()
                failures = 0
                continue
            except (Gone, ApiError) as error:
                if isinstance(error, ApiError) and error.status != 410:
                    failures += 1
                    self._set_state(False, str(error))
                else:
                    self.resource_version = None
                    # The first 410 after a working watch relists at once; 410 again right after
                    # a relist means the server cannot keep up, so wait like any failure.
                    failures = 0 if self._delivered else failures + 1
            except KsailError as error:
                deadline = self.client.deadline
                if self._stop.is_set() or (deadline is not None and deadline.expired):
                    return  # a watch bounded by a deadline ends with it: nothing was lost
                failures += 1
                self._set_state(False, error.message)
            except Exception as error:  # a bad event or a consumer's bug must not end the watch for good
                if self._stop.is_set():
                    return
                failures += 1
                self.resource_version = None
                self._set_state(False, f"internal error: {type(error).__name__}: {error}")
            finally:
                self._stream = None
                self._delivered = False
            if failures and self._wait(failures):
                return
