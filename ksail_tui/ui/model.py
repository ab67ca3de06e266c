"""What the dashboard knows, in one place, without Textual.

The app feeds it live updates and service results; the widgets read from it. Keeping it plain
makes the rules (which workload an object belongs to, whether the cluster runs the newest push)
testable without a terminal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ksail_tui.cluster.models import DiscoveredCluster
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
    object_key,
)
from ksail_tui.models import (
    KUSTOMIZATION_KIND,
    OCI_REPOSITORY_KIND,
    FluxKustomization,
    FluxOCIRepository,
    OCIArtifact,
)
from ksail_tui.ui.services import RegistryView


@dataclass
class Changes:
    """What one batch of live updates changed, so that only those parts are redrawn."""

    flux_keys: set[str] = field(default_factory=set)
    nodes: bool = False
    controllers: bool = False
    connection: bool = False
    events: list[FluxEvent] = field(default_factory=list)


@dataclass
class DashboardModel:
    config: ClusterConfig
    simulated: bool = False
    flux: dict[str, FluxObject] = field(default_factory=dict)
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

    # --- live updates ---------------------------------------------------------------------

    def apply(self, updates: Iterable[LiveUpdate]) -> Changes:
        changes = Changes()
        for update in updates:
            if isinstance(update, FluxObjectUpdate):
                if update.obj is None:
                    self.flux.pop(update.key, None)
                else:
                    self.flux[update.key] = update.obj
                changes.flux_keys.add(update.key)
                changes.flux_keys.update(self.dependents(update.key))
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

    def dependents(self, key: str) -> list[str]:
        """Kustomizations whose row shows this source's revision."""
        if not key.startswith(OCI_REPOSITORY_KIND + "/"):
            return []
        return [
            other_key
            for other_key, obj in self.flux.items()
            if isinstance(obj, FluxKustomization)
            and object_key(obj.source_kind, obj.source_namespace, obj.source_name) == key
        ]

    # --- workloads ------------------------------------------------------------------------

    def workload_of(self, key: str | None) -> Workload | None:
        """The configured workload a Flux object belongs to (same name, in the Flux namespace)."""
        if not key:
            return None
        _, namespace, name = key.split("/", 2)
        if namespace != self.config.flux_namespace:
            return None
        return next((w for w in self.config.workloads if w.name == name), None)

    def source_of(self, kustomization: FluxKustomization) -> FluxOCIRepository | None:
        source = self.flux.get(
            object_key(kustomization.source_kind, kustomization.source_namespace, kustomization.source_name)
        )
        return source if isinstance(source, FluxOCIRepository) else None

    def status_of(self, workload: str) -> WorkloadStatus:
        namespace = self.config.flux_namespace
        source = self.flux.get(object_key(OCI_REPOSITORY_KIND, namespace, workload))
        kustomization = self.flux.get(object_key(KUSTOMIZATION_KIND, namespace, workload))
        return workload_status(
            workload,
            namespace,
            source if isinstance(source, FluxOCIRepository) else None,
            kustomization if isinstance(kustomization, FluxKustomization) else None,
            self.pushed.get(workload),
        )

    def running_revision(self, workload: str) -> str | None:
        kustomization = self.flux.get(object_key(KUSTOMIZATION_KIND, self.config.flux_namespace, workload))
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
