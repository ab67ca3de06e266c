"""A live view of one cluster: watches, not polling.

:class:`LiveCluster` runs one resilient :class:`~ksail_tui.kube.watch.Watcher` per resource
(every Flux kind the cluster serves, in every namespace, Nodes, Flux's Deployments and the Events of
the Flux namespace), keeps the current objects by :class:`~ksail_tui.models.ObjectRef`, and reports
what changed as typed updates.

Updates arrive in batches through one callback, called from the watchers' threads: one batch per
watch event, so the first list of 1,000 objects is one batch, not 1,000 calls. The first lists of
OCIRepositories and Kustomizations arrive together, as one batch: a Kustomization is shown with its
source's revision, so Kustomizations reported before their sources would be drawn twice. A caller
with a UI hands the batch over to its own thread and must not block for long.

Starting never raises and never blocks: the client is built and the watches are opened on a
background thread. An unreachable cluster (or a kubeconfig that does not exist yet) is reported as
a :class:`ConnectionUpdate` with the reason, and retried with backoff until :meth:`LiveCluster.stop`.

Usage::

    live = LiveCluster(config, on_updates=print)
    live.start()
    ...
    live.restart(other_config)   # a new context: old objects are reported as removed first
    live.stop()
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from ksail_tui.collector import bulk_load
from ksail_tui.config import DEFAULT_FLUX_NAMESPACE, ClusterConfig
from ksail_tui.errors import KsailError
from ksail_tui.flux.kinds import BY_KIND, CORE_KINDS
from ksail_tui.flux.service import FluxEvent, event_of, open_kube
from ksail_tui.flux.status import FluxObject
from ksail_tui.kube.client import (
    DEPLOYMENTS,
    EVENTS,
    KUSTOMIZATIONS,
    NODES,
    OCI_REPOSITORIES,
    KubeClient,
    Resource,
)
from ksail_tui.kube.wait import OnUpdate
from ksail_tui.kube.watch import ADDED, DELETED, MODIFIED, SYNC, Watcher, WatchEvent, WatchState
from ksail_tui.models import (
    KUSTOMIZATION_KIND,
    OCI_REPOSITORY_KIND,
    FluxKustomization,
    FluxOCIRepository,
    FluxResource,
    ObjectRef,
    parse_outside,
)

logger = logging.getLogger(__name__)

FLUX_PART_OF = "app.kubernetes.io/part-of=flux"
VERSION_LABEL = "app.kubernetes.io/version"
SIMULATED_LABEL = "ksail.io/simulated"
ROLE_LABEL_PREFIX = "node-role.kubernetes.io/"
# Events of the last list worth showing; older ones are history the events screen can fetch.
INITIAL_EVENTS = 10
FLUX_KINDS = frozenset(BY_KIND)


# --- what is kept ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeInfo:
    name: str
    ready: bool
    reason: str = ""  # why it is not Ready
    roles: tuple[str, ...] = ()
    version: str = ""

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> NodeInfo:
        metadata = obj.get("metadata") or {}
        status = obj.get("status") or {}
        ready = next((c for c in status.get("conditions") or () if c.get("type") == "Ready"), None)
        roles = tuple(
            sorted(
                label.removeprefix(ROLE_LABEL_PREFIX)
                for label in metadata.get("labels") or {}
                if label.startswith(ROLE_LABEL_PREFIX)
            )
        )
        is_ready = ready is not None and ready.get("status") == "True"
        reason = "" if is_ready else (ready or {}).get("message") or (ready or {}).get("reason") or "no Ready"
        return cls(
            name=metadata.get("name", ""),
            ready=is_ready,
            reason=reason,
            roles=roles,
            version=(status.get("nodeInfo") or {}).get("kubeletVersion", ""),
        )


@dataclass(frozen=True)
class ControllerInfo:
    """A Flux controller's Deployment."""

    name: str
    namespace: str
    available: bool
    ready_replicas: int = 0
    replicas: int = 1
    version: str | None = None
    simulated: bool = False
    message: str = ""  # why it is not available

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> ControllerInfo:
        return parse_outside(cls._from_object, obj)

    @classmethod
    def _from_object(cls, obj: dict[str, Any]) -> ControllerInfo:
        metadata = obj.get("metadata") or {}
        labels = metadata.get("labels") or {}
        status = obj.get("status") or {}
        replicas = int((obj.get("spec") or {}).get("replicas", 1))
        ready_replicas = int(status.get("readyReplicas") or 0)
        conditions = {c.get("type"): c for c in status.get("conditions") or ()}
        available_condition = conditions.get("Available") or {}
        available = available_condition.get("status") == "True" or (
            replicas > 0 and int(status.get("availableReplicas") or 0) >= replicas
        )
        message = "" if available else available_condition.get("message") or "not available yet"
        return cls(
            name=metadata.get("name", ""),
            namespace=metadata.get("namespace", ""),
            available=available,
            ready_replicas=ready_replicas,
            replicas=replicas,
            version=labels.get(VERSION_LABEL),
            simulated=labels.get(SIMULATED_LABEL) == "true",
            message=message,
        )


# --- what is reported ------------------------------------------------------------------------


@dataclass(frozen=True)
class FluxObjectUpdate:
    """An OCIRepository or Kustomization was added or changed; ``obj`` None: it is gone."""

    ref: ObjectRef
    obj: FluxObject | None


@dataclass(frozen=True)
class NodeUpdate:
    name: str
    node: NodeInfo | None


@dataclass(frozen=True)
class ControllerUpdate:
    key: str  # namespace/name
    controller: ControllerInfo | None


@dataclass(frozen=True)
class FluxEventUpdate:
    """A new (or repeated) Kubernetes Event about a Flux object."""

    event: FluxEvent


@dataclass(frozen=True)
class ConnectionUpdate:
    """Whether the cluster answers (``connected``) and whether it serves Flux's API (``flux_api``).

    ``flux_api`` is None while that is not known (the cluster is away, or the Flux watches have not
    answered yet). ``reason`` and ``flux_reason`` say why not; the watches keep retrying meanwhile.
    """

    connected: bool
    reason: str = ""
    flux_api: bool | None = None
    flux_reason: str = ""


LiveUpdate = FluxObjectUpdate | NodeUpdate | ControllerUpdate | FluxEventUpdate | ConnectionUpdate
OnUpdates = Callable[[Sequence[LiveUpdate]], None]
# name, resource, namespace, label selector, and what its events change
_Watch = tuple[str, Resource, str | None, str | None, Callable[[WatchEvent], list[LiveUpdate]]]

# The OCI loop's watches, whose first lists are reported together; how long the first one to list
# waits for the other (a slow or failing list must not hide the objects already listed).
LOOP_WATCHES = frozenset({"ocirepositories", "kustomizations"})
FIRST_LISTS_WAIT_SECONDS = 2.0


@dataclass
class _FirstLists:
    """What the loop's watches reported while one of them has not listed yet."""

    listed: set[str] = field(default_factory=set)
    held: list[LiveUpdate] = field(default_factory=list)
    timer: threading.Timer | None = None


def parse_flux_object(obj: dict[str, Any]) -> FluxObject | None:
    """The typed Flux object, or None for something that is not one (or cannot be read)."""
    try:
        if obj.get("kind") == OCI_REPOSITORY_KIND:
            return FluxOCIRepository.from_object(obj)
        if obj.get("kind") == KUSTOMIZATION_KIND:
            return FluxKustomization.from_object(obj)
        if obj.get("kind") in BY_KIND:
            return FluxResource.from_object(obj)
    except (ValueError, TypeError) as error:  # a malformed object must not stop the watch
        logger.warning("skipping unreadable %s: %s", obj.get("kind"), error)
    return None


def _metadata_key(obj: dict[str, Any]) -> tuple[str, str]:
    metadata = obj.get("metadata") or {}
    return metadata.get("namespace", ""), metadata.get("name", "")


@dataclass
class _State:
    """Everything held for one cluster; guarded by LiveCluster._lock."""

    flux: dict[ObjectRef, FluxObject] = field(default_factory=dict)
    raw: dict[ObjectRef, dict[str, Any]] = field(default_factory=dict)
    nodes: dict[str, NodeInfo] = field(default_factory=dict)
    controllers: dict[str, ControllerInfo] = field(default_factory=dict)
    seen_events: dict[str, str] = field(default_factory=dict)  # uid -> resourceVersion
    watch_states: dict[str, WatchState] = field(default_factory=dict)
    connection: ConnectionUpdate | None = None


class LiveCluster:
    """Watches one cluster and reports typed updates (see the module docstring)."""

    def __init__(
        self,
        source: ClusterConfig | KubeClient,
        on_updates: OnUpdates,
        *,
        flux_namespace: str | None = None,
        request_timeout: float = 10.0,
        max_backoff: float = 5.0,
    ) -> None:
        self._source = source
        self._on_updates = on_updates
        self._flux_namespace = flux_namespace
        self._request_timeout = request_timeout
        self._max_backoff = max_backoff
        self._lock = threading.RLock()
        self._state = _State()
        self._watchers: list[Watcher] = []
        self._generation = 0
        self._first_lists: _FirstLists | None = None  # of this generation, until both have listed
        self._stop = threading.Event()
        self._connector: threading.Thread | None = None
        # Waits fed from these watches (kube/wait.py's ObjectFeed): (object, its watch, callback).
        self._followers: list[tuple[ObjectRef, str, OnUpdate]] = []
        self.client: KubeClient | None = source if isinstance(source, KubeClient) else None
        # The kubeconfig as it was when the client was built: a cluster re-created elsewhere
        # (e.g. `ksail-tui cluster create` in another terminal) gets a new API server port.
        self._kubeconfig_stamp: int | None = None

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def flux_namespace(self) -> str:
        if self._flux_namespace:
            return self._flux_namespace
        if isinstance(self._source, ClusterConfig):
            return self._source.flux_namespace
        return DEFAULT_FLUX_NAMESPACE

    @property
    def running(self) -> bool:
        return self._connector is not None and not self._stop.is_set()

    def start(self) -> None:
        """Connect and watch in the background; never raises, returns at once."""
        if self.running:
            return
        with self._lock:
            self._generation += 1
            generation = self._generation
        self._stop = threading.Event()
        self._connector = threading.Thread(
            target=self._connect,
            args=(generation, self._stop, self._source, self.client),
            name="live-connect",
            daemon=True,
        )
        self._connector.start()

    def stop(self) -> None:
        """Stop every watch; the objects held stay readable."""
        self._stop.set()
        with self._lock:
            self._generation += 1
            watchers, self._watchers = self._watchers, []
            followers, self._followers = self._followers, []
            if self._first_lists is not None and self._first_lists.timer is not None:
                self._first_lists.timer.cancel()
            self._first_lists = None
            for _, _, on_update in followers:  # a wait fed from here hears no more
                on_update(WatchState(False, "the dashboard stopped watching"))
        for watcher in watchers:
            watcher.stop()
        self._connector = None

    def restart(self, source: ClusterConfig | KubeClient | None = None) -> None:
        """Watch again, e.g. another context: what was held is first reported as removed."""
        self.stop()
        with self._lock:
            old, self._state = self._state, _State()
        if source is not None:
            self._source = source
        # A client built from a kubeconfig is built again: the file may name another server now.
        self.client = self._source if isinstance(self._source, KubeClient) else None
        removals: list[LiveUpdate] = [FluxObjectUpdate(ref, None) for ref in old.flux]
        removals += [NodeUpdate(name, None) for name in old.nodes]
        removals += [ControllerUpdate(key, None) for key in old.controllers]
        if removals:
            self._emit(removals)
        self.start()

    # --- reading --------------------------------------------------------------------------

    def flux_objects(self) -> dict[ObjectRef, FluxObject]:
        with self._lock:
            return dict(self._state.flux)

    def raw(self, ref: ObjectRef) -> dict[str, Any] | None:
        """The object as the API server last sent it (for describe and YAML)."""
        with self._lock:
            return self._state.raw.get(ref)

    def nodes(self) -> dict[str, NodeInfo]:
        with self._lock:
            return dict(self._state.nodes)

    def controllers(self) -> dict[str, ControllerInfo]:
        with self._lock:
            return dict(self._state.controllers)

    @property
    def connection(self) -> ConnectionUpdate | None:
        with self._lock:
            return self._state.connection

    def follow(
        self, resource: Resource, namespace: str, name: str, on_update: OnUpdate
    ) -> Callable[[], None] | None:
        """An :class:`~ksail_tui.kube.wait.ObjectFeed`: the object's state now (if held), then each
        of its events and each state of its watch, on the watch's thread; None unless it is watched.
        A reconcile started from the dashboard waits on these instead of opening a watch."""
        ref = ObjectRef(kind=resource.kind, namespace=namespace, name=name)
        entry = (ref, resource.plural, on_update)
        with self._lock:
            if not self.running or not any(w.resource.plural == resource.plural for w in self._watchers):
                return None
            self._followers.append(entry)
            raw = self._state.raw.get(ref)
            if raw is not None:
                on_update(WatchEvent(MODIFIED, object=raw))

        def unfollow() -> None:
            with self._lock:
                if entry in self._followers:
                    self._followers.remove(entry)

        return unfollow

    # --- internals ------------------------------------------------------------------------

    def _emit(self, updates: list[LiveUpdate]) -> None:
        if not updates:
            return
        try:
            self._on_updates(updates)
        except Exception:  # a consumer's bug must not kill the watch thread
            logger.exception("the live update callback failed")

    def _connect(
        self,
        generation: int,
        stop: threading.Event,
        source: ClusterConfig | KubeClient,
        client: KubeClient | None,
    ) -> None:
        """Build the client (retrying while it cannot be) and open the watches of this start.

        ``source`` and ``client`` are those of this start: a connector that ``restart`` has
        outlived must not hand its client (for the old cluster) to the next start.
        """
        backoff = 0.2
        while not stop.is_set() and client is None:
            assert isinstance(source, ClusterConfig)
            try:
                stamp = _kubeconfig_stamp(source)
                client = open_kube(source, self._request_timeout)
                self._kubeconfig_stamp = stamp
            except KsailError as error:
                self._report_state(generation, "client", WatchState(False, error.message))
                stop.wait(backoff)
                backoff = min(backoff * 2, self._max_backoff)
        if stop.is_set() or client is None:
            return
        core: list[_Watch] = [
            ("nodes", NODES, None, None, self._on_node),
            ("ocirepositories", OCI_REPOSITORIES, None, None, self._flux_handler(OCI_REPOSITORY_KIND)),
            ("kustomizations", KUSTOMIZATIONS, None, None, self._flux_handler(KUSTOMIZATION_KIND)),
            ("controllers", DEPLOYMENTS, None, FLUX_PART_OF, self._on_controller),
            ("events", EVENTS, self.flux_namespace, None, self._on_event),
        ]
        with self._lock:
            if generation != self._generation:
                return
            self.client = client
            self._state.watch_states.pop("client", None)
            self._first_lists = _FirstLists()
            self._open(generation, client, core)
        # The other Flux kinds after the loop's are listing: asking discovery about each kind first
        # took a round trip per API group before the first list was even asked for.
        others: list[_Watch] = [
            (resource.plural, resource, None, None, self._flux_handler(resource.kind))
            for resource in _served_flux_kinds(client)
        ]
        with self._lock:
            if generation == self._generation:
                self._open(generation, client, others)

    def _open(self, generation: int, client: KubeClient, watches: list[_Watch]) -> None:
        for name, resource, namespace, selector, handler in watches:
            watcher = Watcher(
                client,
                resource,
                self._guarded(generation, name, handler),
                namespace=namespace,
                label_selector=selector,
                on_state=partial(self._report_state, generation, name),
                max_backoff=self._max_backoff,
                first_list_from_cache=True,  # 10,000 objects: 1.1 s from etcd on a real API server
            )
            self._watchers.append(watcher)
            watcher.start(name=f"live-{name}")

    def _guarded(
        self, generation: int, watch: str, handler: Callable[[WatchEvent], list[LiveUpdate]]
    ) -> Callable[[WatchEvent], None]:
        """Apply an event only if it belongs to the current start; report what changed."""

        def on_event(event: WatchEvent) -> None:
            with self._lock:
                if generation != self._generation:
                    return
                updates = handler(event)
                if self._first_lists is not None and watch in LOOP_WATCHES:
                    self._hold(generation, watch, event, updates)
                    return
            self._emit(updates)

        return on_event

    def _hold(self, generation: int, watch: str, event: WatchEvent, updates: list[LiveUpdate]) -> None:
        """Keep a loop watch's updates until the other loop watch has listed too (lock held)."""
        first = self._first_lists
        assert first is not None
        if event.type == SYNC:
            first.listed.add(watch)
        if first.listed >= LOOP_WATCHES:
            self._release_first_lists(generation, updates)
            return
        first.held.extend(updates)
        if first.listed and first.timer is None:
            first.timer = threading.Timer(
                FIRST_LISTS_WAIT_SECONDS, self._release_first_lists, args=(generation,)
            )
            first.timer.daemon = True
            first.timer.start()

    def _release_first_lists(self, generation: int, then: Sequence[LiveUpdate] = ()) -> None:
        """Report what the loop's watches held back, then ``then``; the watches report as they
        go from now on. Reported under the lock, so that nothing newer is reported before it."""
        with self._lock:
            first = self._first_lists
            if generation != self._generation or first is None:
                return
            self._first_lists = None
            if first.timer is not None:
                first.timer.cancel()
            self._emit([*first.held, *then])

    def _report_state(self, generation: int, watch: str, state: WatchState) -> None:
        if watch == "nodes" and not state.connected and self._kubeconfig_changed():
            # Lost the cluster and the kubeconfig moved on: reconnect with the new one.
            threading.Thread(target=self.restart, name="live-reconnect", daemon=True).start()
        if watch in LOOP_WATCHES and not state.connected:
            self._release_first_lists(generation)  # the other list may be long in coming
        with self._lock:
            if generation != self._generation:
                return
            for _, followed, on_update in self._followers:
                if followed == watch:
                    on_update(state)
            self._state.watch_states[watch] = state
            connection = self._connection_of(self._state.watch_states)
            if connection is None or connection == self._state.connection:
                return
            self._state.connection = connection
        self._emit([connection])

    def _kubeconfig_changed(self) -> bool:
        if not isinstance(self._source, ClusterConfig) or self._kubeconfig_stamp is None:
            return False
        with self._lock:
            changed = _kubeconfig_stamp(self._source) != self._kubeconfig_stamp
            if changed:
                self._kubeconfig_stamp = None  # one reconnect per change
            return changed

    @staticmethod
    def _connection_of(states: dict[str, WatchState]) -> ConnectionUpdate | None:
        """The cluster's state as the Nodes watch (or building the client) sees it; None: not known yet."""
        cluster = states.get("client") or states.get("nodes")
        if cluster is None:
            return None
        flux_states = [states.get("ocirepositories"), states.get("kustomizations")]
        flux_failing = [s.reason for s in flux_states if s is not None and not s.connected]
        flux_api: bool | None = None
        flux_reason = cluster.reason
        if cluster.connected and flux_failing:
            flux_api, flux_reason = False, flux_failing[0]
        elif cluster.connected and all(s is not None for s in flux_states):
            flux_api, flux_reason = True, ""
        return ConnectionUpdate(
            connected=cluster.connected, reason=cluster.reason, flux_api=flux_api, flux_reason=flux_reason
        )

    def _flux_handler(self, kind: str) -> Callable[[WatchEvent], list[LiveUpdate]]:
        def handle(event: WatchEvent) -> list[LiveUpdate]:
            state = self._state
            if event.type == SYNC:
                with bulk_load(len(event.objects)):
                    return self._sync_flux(kind, event.objects)
            if event.object is None:
                return []
            ref = _ref_of(kind, event.object)
            for followed, _, on_update in self._followers:
                if followed == ref:
                    on_update(event)
            if event.type == DELETED:
                state.raw.pop(ref, None)
                return [FluxObjectUpdate(ref, None)] if state.flux.pop(ref, None) is not None else []
            return self._store_flux(ref, event.object)

        return handle

    def _sync_flux(self, kind: str, objects: Sequence[dict[str, Any]]) -> list[LiveUpdate]:
        """A full list of one kind: what it no longer holds is gone."""
        state = self._state
        listed = {_ref_of(kind, obj): obj for obj in objects}
        for ref, _, on_update in self._followers:
            if ref.kind == kind:
                obj = listed.get(ref)
                on_update(WatchEvent(MODIFIED, object=obj) if obj is not None else WatchEvent(DELETED))
        gone = [ref for ref in state.flux if ref.kind == kind and ref not in listed]
        updates: list[LiveUpdate] = []
        for ref in gone:
            del state.flux[ref]
            state.raw.pop(ref, None)
            updates.append(FluxObjectUpdate(ref, None))
        for ref, obj in listed.items():
            updates.extend(self._store_flux(ref, obj))
        return updates

    def _store_flux(self, ref: ObjectRef, obj: dict[str, Any]) -> list[LiveUpdate]:
        parsed = parse_flux_object(obj)
        if parsed is None:
            return []
        self._state.raw[ref] = obj
        if self._state.flux.get(ref) == parsed:
            return []
        self._state.flux[ref] = parsed
        return [FluxObjectUpdate(ref, parsed)]

    def _on_node(self, event: WatchEvent) -> list[LiveUpdate]:
        return _sync_table(
            self._state.nodes, event, lambda obj: _metadata_key(obj)[1], NodeInfo.from_object, NodeUpdate
        )

    def _on_controller(self, event: WatchEvent) -> list[LiveUpdate]:
        return _sync_table(
            self._state.controllers,
            event,
            lambda obj: "/".join(_metadata_key(obj)),
            ControllerInfo.from_object,
            ControllerUpdate,
        )

    def _on_event(self, event: WatchEvent) -> list[LiveUpdate]:
        seen = self._state.seen_events
        if event.type == SYNC:
            fresh = [item for item in event.objects if _is_new_flux_event(item, seen)]
            # The first list is history: show only its latest few.
            fresh.sort(key=lambda item: event_of(item).timestamp or "")
            if not seen:
                fresh = fresh[-INITIAL_EVENTS:]
            seen.clear()
            seen.update({_uid(item): _version(item) for item in event.objects})
            return [FluxEventUpdate(event_of(item)) for item in fresh]
        if event.object is None or event.type not in (ADDED, MODIFIED):
            if event.object is not None:
                seen.pop(_uid(event.object), None)
            return []
        if not _is_new_flux_event(event.object, seen):
            return []
        seen[_uid(event.object)] = _version(event.object)
        return [FluxEventUpdate(event_of(event.object))]


def _served_flux_kinds(client: KubeClient) -> list[Resource]:
    """The Flux kinds beyond the OCI loop's that the cluster serves (asked once per connect)."""
    served = []
    for flux_kind in BY_KIND.values():
        if flux_kind.kind in CORE_KINDS:
            continue
        try:
            client.resolve(flux_kind.resource.api_version, flux_kind.kind)
        except KsailError:
            continue  # not installed (or discovery failed): the OCI loop works without it
        served.append(flux_kind.resource)
    return served


def _ref_of(kind: str, obj: dict[str, Any]) -> ObjectRef:
    namespace, name = _metadata_key(obj)
    return ObjectRef(kind=kind, namespace=namespace, name=name)


def _kubeconfig_stamp(config: ClusterConfig) -> int | None:
    try:
        return Path(config.spec.cluster.connection.kubeconfig).expanduser().stat().st_mtime_ns
    except OSError:
        return None


def _uid(item: dict[str, Any]) -> str:
    metadata = item.get("metadata") or {}
    return str(metadata.get("uid") or metadata.get("name") or "")


def _version(item: dict[str, Any]) -> str:
    return str((item.get("metadata") or {}).get("resourceVersion") or "")


def _is_new_flux_event(item: dict[str, Any], seen: dict[str, str]) -> bool:
    if (item.get("involvedObject") or {}).get("kind") not in FLUX_KINDS:
        return False
    return seen.get(_uid(item)) != _version(item)


def _sync_table(
    table: dict[str, Any],
    event: WatchEvent,
    key_of: Callable[[dict[str, Any]], str],
    parse: Callable[[dict[str, Any]], Any],
    update: Callable[[str, Any], LiveUpdate],
) -> list[LiveUpdate]:
    """Apply a watch event to a table of parsed objects; the updates for what changed."""
    updates: list[LiveUpdate] = []
    if event.type == SYNC:
        listed = {key_of(obj): parse(obj) for obj in event.objects}
        for key in [k for k in table if k not in listed]:
            del table[key]
            updates.append(update(key, None))
        for key, value in listed.items():
            if table.get(key) != value:
                table[key] = value
                updates.append(update(key, value))
        return updates
    if event.object is None:
        return updates
    key = key_of(event.object)
    if event.type == DELETED:
        if table.pop(key, None) is not None:
            updates.append(update(key, None))
        return updates
    value = parse(event.object)
    if table.get(key) != value:
        table[key] = value
        updates.append(update(key, value))
    return updates
