"""What the dashboard knows, in one place, without Textual.

The app feeds it live updates and service results; the widgets read from it. Keeping it plain
makes the rules (which workload an object belongs to, whether the cluster runs the newest push)
testable without a terminal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from ksail_tui.cluster.reports import DiscoveredCluster
from ksail_tui.config import ClusterConfig, Workload
from ksail_tui.flux.service import FluxEvent
from ksail_tui.flux.status import FluxObject, WorkloadStatus, workload_status
from ksail_tui.live import (
    ConnectionUpdate,
    ControllerInfo,
    ControllerUpdate,
    FluxEventUpdate,
    FluxObjectUpdate,
    LiveUpdate,
    NodeInfo,
    NodeUpdate,
)
from ksail_tui.models import (
    KUSTOMIZATION_KIND,
    OCI_REPOSITORY_KIND,
    FluxKustomization,
    FluxOCIRepository,
    ObjectRef,
    OCIArtifact,
)
from ksail_tui.ui.services import RegistryView


@dataclass
class Changes:
    """What one batch of live updates changed, so that only those parts are redrawn."""

    flux_refs: set[ObjectRef] = field(default_factory=set)
    nodes: bool = False
    controllers: bool = False
    connection: bool = False
    events: list[FluxEvent] = field(default_factory=list)


@dataclass(frozen=True)
class LiveChanged:
    """One batch of live updates, as the panes that show live state receive it: the model it was
    applied to (a new one after a context switch) and what it changed."""

    model: DashboardModel
    changes: Changes
    now: datetime


@dataclass(frozen=True)
class SelectionChanged:
    """The Flux table's cursor is on another object (None: on none), as the panes that show the
    selection receive it."""

    model: DashboardModel
    selected: ObjectRef | None
    now: datetime


@dataclass(frozen=True)
class ArtifactsChanged:
    """A listing of ``workload``'s pushed versions came back (into ``model.artifacts``)."""

    model: DashboardModel
    workload: str
    now: datetime


@dataclass
class DashboardModel:
    config: ClusterConfig
    simulated: bool = False
    flux: dict[ObjectRef, FluxObject] = field(default_factory=dict)
    nodes: dict[str, NodeInfo] = field(default_factory=dict)
    controllers: dict[str, ControllerInfo] = field(default_factory=dict)
    connection: ConnectionUpdate | None = None
    registry: RegistryView | None = None
    registry_error: str = ""
    artifacts: dict[str, list[OCIArtifact]] = field(default_factory=dict)
    artifacts_error: dict[str, str] = field(default_factory=dict)
    pushed: dict[str, str] = field(default_factory=dict)  # workload -> revision pushed this session
    clusters: list[DiscoveredCluster] | None = None  # every Kind and K3d cluster in Docker; None: not known
    clusters_error: str = ""  # why they could not be listed (Docker not answering)
    # source -> the Kustomizations that apply it, so that a source's update finds them at once.
    _users: dict[ObjectRef, set[ObjectRef]] = field(default_factory=dict, init=False, repr=False)

    # --- live updates ---------------------------------------------------------------------

    def apply(self, updates: Iterable[LiveUpdate]) -> Changes:
        changes = Changes()
        for update in updates:
            if isinstance(update, FluxObjectUpdate):
                self._store(update.ref, update.obj)
                changes.flux_refs.add(update.ref)
                changes.flux_refs.update(self.dependents(update.ref))
            elif isinstance(update, NodeUpdate):
                if update.node is None:
                    self.nodes.pop(update.name, None)
                else:
                    self.nodes[update.name] = update.node
                changes.nodes = True
            elif isinstance(update, ControllerUpdate):
                if update.controller is None:
                    self.controllers.pop(update.key, None)
                else:
                    self.controllers[update.key] = update.controller
                changes.controllers = True
            elif isinstance(update, ConnectionUpdate):
                self.connection = update
                changes.connection = True
            elif isinstance(update, FluxEventUpdate):
                changes.events.append(update.event)
        return changes

    def _store(self, ref: ObjectRef, obj: FluxObject | None) -> None:
        old = self.flux.pop(ref, None)
        if isinstance(old, FluxKustomization):
            users = self._users.get(old.source_ref)
            if users is not None:
                users.discard(ref)
                if not users:
                    del self._users[old.source_ref]
        if obj is None:
            return
        self.flux[ref] = obj
        if isinstance(obj, FluxKustomization):
            self._users.setdefault(obj.source_ref, set()).add(ref)

    def dependents(self, ref: ObjectRef) -> set[ObjectRef]:
        """Kustomizations whose row shows this source's revision."""
        return set(self._users.get(ref, ()))

    # --- workloads ------------------------------------------------------------------------

    def workload_ref(self, kind: str, workload: str) -> ObjectRef:
        """The workload's OCIRepository or Kustomization: named after it, in the Flux namespace."""
        return ObjectRef(kind=kind, namespace=self.config.flux_namespace, name=workload)

    def workload_of(self, ref: ObjectRef | None) -> Workload | None:
        """The configured workload a Flux object belongs to (same name, in the Flux namespace)."""
        if ref is None or ref.namespace != self.config.flux_namespace:
            return None
        return next((w for w in self.config.workloads if w.name == ref.name), None)

    def source_of(self, kustomization: FluxKustomization) -> FluxOCIRepository | None:
        source = self.flux.get(kustomization.source_ref)
        return source if isinstance(source, FluxOCIRepository) else None

    def status_of(self, workload: str) -> WorkloadStatus:
        namespace = self.config.flux_namespace
        source = self.flux.get(self.workload_ref(OCI_REPOSITORY_KIND, workload))
        kustomization = self.flux.get(self.workload_ref(KUSTOMIZATION_KIND, workload))
        return workload_status(
            workload,
            namespace,
            source if isinstance(source, FluxOCIRepository) else None,
            kustomization if isinstance(kustomization, FluxKustomization) else None,
            self.pushed.get(workload),
        )

    def running_revision(self, workload: str) -> str | None:
        kustomization = self.flux.get(self.workload_ref(KUSTOMIZATION_KIND, workload))
        return kustomization.last_applied_revision if isinstance(kustomization, FluxKustomization) else None

    # --- clusters ---------------------------------------------------------------------------

    def is_configured(self, cluster: DiscoveredCluster) -> bool:
        """Whether ``cluster`` is the one ksail.yaml describes (same name and distribution)."""
        return (
            cluster.name == self.config.name and cluster.distribution is self.config.spec.cluster.distribution
        )

    # --- Flux -----------------------------------------------------------------------------

    @property
    def flux_version(self) -> str | None:
        return next((c.version for c in self.controllers.values() if c.version), None)

    @property
    def flux_simulated(self) -> bool:
        return any(c.simulated for c in self.controllers.values())

    def flux_summary(self) -> str:
        """One phrase for the header: the version, or why there is none."""
        connection = self.connection
        if connection is None:
            return "connecting…"
        if not connection.connected:
            return "unknown (cluster unreachable)"
        if connection.flux_api is None:
            return "checking…"
        if not connection.flux_api:
            return "not installed"
        if not self.controllers:
            return "CRDs only, no controllers"
        version = self.flux_version or "unknown version"
        unavailable = [c.name for c in self.controllers.values() if not c.available]
        if unavailable:
            return f"{version} ({', '.join(unavailable)} not available)"
        return version
