"""The controller plumbing the simulated Flux controllers share.

Part of the simulated Flux controllers (``ksail_sim.flux``): a work queue with client-go's
guarantees (an object is never reconciled twice at once; a request that arrives meanwhile runs
right after), Flux's condition bookkeeping, status patches that carry only what changed, and an
event recorder that aggregates repeats the way client-go's does.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections import OrderedDict, deque
from typing import Any

from ksail_sim.apiserver.store import now_rfc3339
from ksail_tui.config import parse_duration
from ksail_tui.flux.logs import IN_PROCESS, json_line
from ksail_tui.kube.client import EVENTS, ApiError, KubeClient, Resource
from ksail_tui.models import RECONCILE_ANNOTATION

log = logging.getLogger("ksail_sim.flux")

Key = tuple[str, str]  # (namespace, name)

SIMULATED_LABEL = "ksail.io/simulated"

READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"
PROGRESSING = "Progressing"
PROGRESSING_WITH_RETRY = "ProgressingWithRetry"

DEFAULT_INTERVAL = 600.0  # only when spec.interval is unreadable; the CRDs require it


def duration_of(spec: dict[str, Any], field: str, default: float) -> float:
    """``spec.<field>`` (a Go duration) in seconds; ``default`` when it is missing or unreadable."""
    try:
        return parse_duration(str(spec[field])) if spec.get(field) else default
    except ValueError:
        return default


def interval_of(spec: dict[str, Any]) -> float:
    return duration_of(spec, "interval", DEFAULT_INTERVAL)


def go_duration(seconds: float) -> str:
    """Go's time.Duration.String(), at millisecond precision: 1m0s, 2.5s, 120ms."""
    millis = round(seconds * 1000)
    if millis == 0:
        return "0s"
    if millis < 1000:
        return f"{millis}ms"
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, fraction = divmod(rest, 1000)
    text = f"{whole}.{fraction:03d}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    return f"{minutes}m{text}" if minutes else text


class WorkQueue:
    """Keys to reconcile, now or after a delay; one worker at a time per key."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._ready: deque[Key] = deque()
        self._queued: set[Key] = set()
        self._active: set[Key] = set()
        self._again: set[Key] = set()  # requested while being reconciled
        self._due: dict[Key, float] = {}
        self._closed = False

    def _enqueue(self, key: Key) -> None:
        if key in self._active:
            self._again.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._ready.append(key)
            self._lock.notify()

    def add(self, key: Key) -> None:
        with self._lock:
            self._due.pop(key, None)
            self._enqueue(key)

    def add_after(self, key: Key, delay: float) -> None:
        """Reconcile ``key`` after ``delay`` seconds, replacing its earlier timer."""
        with self._lock:
            self._due[key] = time.monotonic() + delay
            self._lock.notify_all()  # a waiting worker may need to wake up sooner

    def forget(self, key: Key) -> None:
        with self._lock:
            self._due.pop(key, None)

    def get(self) -> Key | None:
        """The next key to work on, or None once closed."""
        with self._lock:
            while not self._closed:
                now = time.monotonic()
                for key, due in list(self._due.items()):
                    if due <= now:
                        del self._due[key]
                        self._enqueue(key)
                if self._ready:
                    key = self._ready.popleft()
                    self._queued.discard(key)
                    self._active.add(key)
                    return key
                wait = min(self._due.values()) - now if self._due else None
                self._lock.wait(wait)
            return None

    def done(self, key: Key) -> None:
        with self._lock:
            self._active.discard(key)
            if key in self._again:
                self._again.discard(key)
                self._enqueue(key)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()


class Conditions:
    """Flux's condition setter: lastTransitionTime moves only when the status does."""

    def __init__(self, existing: list[dict[str, Any]] | None, generation: int) -> None:
        self._by_type: dict[str, dict[str, Any]] = {c["type"]: dict(c) for c in existing or () if "type" in c}
        self.generation = generation

    def get(self, type_: str) -> dict[str, Any] | None:
        return self._by_type.get(type_)

    def is_true(self, type_: str) -> bool:
        condition = self._by_type.get(type_)
        return condition is not None and condition.get("status") == "True"

    def set(self, type_: str, status: str, reason: str, message: str) -> None:
        previous = self._by_type.get(type_)
        changed = previous is None or previous.get("status") != status
        self._by_type[type_] = {
            "type": type_,
            "status": status,
            "reason": reason,
            "message": message,
            "observedGeneration": self.generation,
            "lastTransitionTime": now_rfc3339()
            if previous is None or changed
            else previous.get("lastTransitionTime", now_rfc3339()),
        }

    def delete(self, *types: str) -> None:
        for type_ in types:
            self._by_type.pop(type_, None)

    def mark_retrying(self, message: str) -> None:
        """A failure that will be retried: Reconciling=True/ProgressingWithRetry, keeping its message."""
        reconciling = self._by_type.get(RECONCILING)
        kept = reconciling.get("message") if reconciling and reconciling.get("status") == "True" else None
        self.set(RECONCILING, "True", PROGRESSING_WITH_RETRY, kept or message)

    def as_list(self) -> list[dict[str, Any]]:
        """Ready first, then by type, like fluxcd/pkg sorts them."""
        return sorted(self._by_type.values(), key=lambda c: (c["type"] != READY, c["type"]))


def merge_patch_between(old: Any, new: Any) -> Any:
    """The RFC 7386 merge patch that turns ``old`` into ``new`` (None when they are equal)."""
    if isinstance(old, dict) and isinstance(new, dict):
        patch: dict[str, Any] = {key: None for key in old if key not in new}
        for key, value in new.items():
            if key not in old:
                patch[key] = value
            elif old[key] != value:
                patch[key] = merge_patch_between(old[key], value)
        return patch or None
    return None if old == new else new


def write_status(
    kube: KubeClient, resource: Resource, obj: dict[str, Any], status: dict[str, Any]
) -> dict[str, Any]:
    """Write ``status`` through the /status subresource, sending only the difference."""
    current = obj.get("status") or {}
    patch = merge_patch_between(current, status)
    if patch is None:
        return obj
    metadata = obj["metadata"]
    updated = kube.merge_patch(
        resource, metadata["name"], {"status": patch}, metadata.get("namespace"), subresource="status"
    )
    obj["status"] = updated.get("status", status)
    return obj


def with_handled_request(obj: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    """The status at the end of an attempt, successful or not: the request token is handled."""
    token = (obj["metadata"].get("annotations") or {}).get(RECONCILE_ANNOTATION)
    return {**status, "lastHandledReconcileAt": token} if token else status


class EventRecorder:
    """Core v1 Events as a controller records them, marked simulated; repeats bump ``count``."""

    MAX_REMEMBERED = 1024

    def __init__(self, kube: KubeClient, component: str) -> None:
        self._kube = kube
        self._component = component
        self._seen: OrderedDict[tuple[str, ...], tuple[str, int]] = OrderedDict()
        self._lock = threading.Lock()

    def record(
        self,
        obj: dict[str, Any],
        type_: str,
        reason: str,
        message: str,
        annotations: dict[str, str] | None = None,
    ) -> None:
        """Best effort, like a real recorder: a failed write is logged, never raised."""
        try:
            self._record(obj, type_, reason, message, annotations or {})
        except Exception as error:
            log.debug("event %s for %s not recorded: %s", reason, obj["metadata"].get("name"), error)

    def _record(
        self, obj: dict[str, Any], type_: str, reason: str, message: str, annotations: dict[str, str]
    ) -> None:
        metadata = obj["metadata"]
        namespace = metadata.get("namespace") or "default"
        key = (namespace, str(metadata.get("uid", "")), metadata["name"], type_, reason, message)
        timestamp = now_rfc3339()
        with self._lock:
            known = self._seen.get(key)
        if known is not None:
            name, count = known
            try:
                self._kube.merge_patch(
                    EVENTS, name, {"count": count + 1, "lastTimestamp": timestamp}, namespace
                )
                self._remember(key, name, count + 1)
                return
            except ApiError as error:
                if error.status != 404:
                    raise
        name = f"{metadata['name']}.{time.time_ns():x}"
        self._kube.create(
            EVENTS,
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": {SIMULATED_LABEL: "true"},
                    "annotations": annotations,
                },
                "involvedObject": {
                    "apiVersion": obj.get("apiVersion", ""),
                    "kind": obj.get("kind", ""),
                    "name": metadata["name"],
                    "namespace": namespace,
                    "uid": metadata.get("uid", ""),
                    "resourceVersion": metadata.get("resourceVersion", ""),
                },
                "reason": reason,
                "message": message,
                "type": type_,
                "source": {"component": self._component},
                # core/v1 spells reportingController "reportingComponent".
                "reportingComponent": f"ksail-tui.sim/{self._component}",
                "reportingInstance": f"{self._component}-simulated",
                "firstTimestamp": timestamp,
                "lastTimestamp": timestamp,
                "count": 1,
            },
            namespace,
        )
        self._remember(key, name, 1)

    def _remember(self, key: tuple[str, ...], name: str, count: int) -> None:
        with self._lock:
            self._seen[key] = (name, count)
            self._seen.move_to_end(key)
            while len(self._seen) > self.MAX_REMEMBERED:
                self._seen.popitem(last=False)


class Failure(Exception):
    """A reconcile step failed in a way the controller reports as ``reason`` and retries."""

    def __init__(self, reason: str, message: str, *, event: bool = True, condition: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.event = event  # kustomize-controller only logs while it waits for a source or dependency
        self.condition = condition  # the negative-polarity condition it sets too (FetchFailed...), if any


class Controller:
    """Watch-driven reconciles of one kind: the event filter, the queue and the workers.

    An object is queued when it is new, its generation changed or its
    ``reconcile.fluxcd.io/requestedAt`` token changed (Flux's predicates); the controller's own
    status writes change neither, so they never loop back. Timers requeue it after each attempt.
    """

    resource: Resource
    component: str

    def __init__(self, kube: KubeClient, *, retry_interval: float, workers: int = 4) -> None:
        self.kube = kube
        self.retry_interval = retry_interval
        self.queue = WorkQueue()
        self.events = EventRecorder(kube, self.component)
        self.stopping = threading.Event()
        self._fingerprints: dict[Key, tuple[str, int, str | None]] = {}
        self._lock = threading.Lock()
        self._workers = [
            threading.Thread(target=self._work, name=f"sim-{self.component}-{index}", daemon=True)
            for index in range(workers)
        ]

    # --- triggers -----------------------------------------------------------------------------

    def observe(self, event_type: str, objects: tuple[dict[str, Any], ...]) -> None:
        """Feed a watch event: ADDED, MODIFIED, DELETED (one object) or SYNC (all of them)."""
        if event_type == "SYNC":
            present = {key_of(obj) for obj in objects}
            with self._lock:
                gone = [key for key in self._fingerprints if key not in present]
            for key in gone:
                self.forget(key)
        for obj in objects:
            if event_type == "DELETED":
                self.forget(key_of(obj))
            else:
                self.consider(obj)

    def consider(self, obj: dict[str, Any]) -> None:
        metadata = obj.get("metadata") or {}
        key = key_of(obj)
        fingerprint = (
            str(metadata.get("uid", "")),
            int(metadata.get("generation") or 0),
            (metadata.get("annotations") or {}).get(RECONCILE_ANNOTATION),
        )
        with self._lock:
            changed = self._fingerprints.get(key) != fingerprint
            self._fingerprints[key] = fingerprint
        if changed:
            self.queue.add(key)

    def forget(self, key: Key) -> None:
        with self._lock:
            self._fingerprints.pop(key, None)
        self.queue.forget(key)

    # --- workers ------------------------------------------------------------------------------

    def start(self) -> None:
        for worker in self._workers:
            worker.start()

    def stop(self) -> None:
        self.stopping.set()
        self.queue.close()

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            if worker.is_alive():
                worker.join(max(0.0, deadline - time.monotonic()))

    def _work(self) -> None:
        while (key := self.queue.get()) is not None:
            try:
                delay = self.reconcile(key)
                self.log_outcome(key)
            except Exception as error:  # the API server went away mid-write, or a bug: retry later
                log.warning("%s: reconcile of %s/%s failed: %s", self.component, *key, error)
                delay = self.retry_interval
            if delay is not None and not self.stopping.is_set():
                self.queue.add_after(key, delay)
            self.queue.done(key)

    def log_outcome(self, key: Key) -> None:
        """Write the JSON log line the real controller would, to the in-process sink the
        dashboard reads in the demo (``flux logs`` on a real cluster)."""
        obj = self.kube.get_or_none(self.resource, key[1], key[0])
        if obj is None:
            return
        ready: dict[str, Any] = next(
            (c for c in (obj.get("status") or {}).get("conditions") or () if c.get("type") == READY), {}
        )
        args = (self.resource.kind, self.resource.group, key[0], key[1])
        if (obj.get("spec") or {}).get("suspend"):
            line = json_line("info", "Reconciliation is suspended for this object", *args)
        elif ready.get("status") == "False":
            message = str(ready.get("message", ""))
            line = json_line("error", "Reconciler error", *args, error=message)
        else:
            line = json_line("info", str(ready.get("message") or "reconciliation in progress"), *args)
        IN_PROCESS.write(self.component, line)

    def reconcile(self, key: Key) -> float | None:
        """One attempt; returns when to look again (None: only on a new trigger)."""
        raise NotImplementedError

    def fetch(self, key: Key) -> dict[str, Any] | None:
        """The live object, sure to carry its apiVersion and kind (Events name them); None when gone."""
        namespace, name = key
        obj = self.kube.get_or_none(self.resource, name, namespace)
        if obj is not None:
            obj.setdefault("apiVersion", self.resource.api_version)
            obj.setdefault("kind", self.resource.kind)
        return obj

    def skip_suspended(self, obj: dict[str, Any]) -> bool:
        """True when ``obj`` is suspended: Flux leaves it alone but still marks its request handled."""
        if not (obj.get("spec") or {}).get("suspend"):
            return False
        status = copy.deepcopy(obj.get("status") or {})
        write_status(self.kube, self.resource, obj, with_handled_request(obj, status))
        return True


def key_of(obj: dict[str, Any]) -> Key:
    metadata = obj.get("metadata") or {}
    return (str(metadata.get("namespace") or ""), str(metadata.get("name") or ""))
