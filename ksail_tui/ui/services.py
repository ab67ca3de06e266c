"""What the dashboard asks of the world, behind one protocol.

The dashboard never talks to Kubernetes, Docker or the registry itself: it calls
:class:`DashboardServices`, whose real implementation, :class:`ClusterServices`, is a thin adapter
over the core services (FluxService, the registry service, the OCI service, ClusterService and
LiveCluster). Tests and the screenshot script pass a scripted implementation instead, so that every
state is reproducible. Every method may block: the dashboard calls them from its jobs (threads) only.

This module does not import Textual.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ksail_tui.cluster.reports import ClusterCreated, ClusterDeleted, DiscoveredCluster
from ksail_tui.config import ClusterConfig
from ksail_tui.devloop.state import LoopState
from ksail_tui.errors import OperationFailed
from ksail_tui.flux.controller_logs import follow_controller_logs
from ksail_tui.flux.inventory import InventoryNode, cluster_getters, inventory_tree
from ksail_tui.flux.logs import LogSink, OnLine, OnNotice
from ksail_tui.flux.objects import ObjectReconciled, flux_kind, reconcile_object, set_object_suspended
from ksail_tui.flux.service import FluxEvent, FluxService, ReconcileOutcome
from ksail_tui.kube.client import ApiError
from ksail_tui.kube.contexts import KubeContext, kube_contexts
from ksail_tui.live import LiveCluster, OnUpdates
from ksail_tui.models import ObjectRef, OCIArtifact
from ksail_tui.oci.build import BuiltArtifact
from ksail_tui.oci.service import PruneResult, PushProgress, PushResult
from ksail_tui.registry import BackendName

# The Registry pane's content comes from the core, which `registry status` uses too.
from ksail_tui.registry.service import RegistryService, RegistryView
from ksail_tui.registry.service import RepositoryInfo as RepositoryInfo

if TYPE_CHECKING:
    from ksail_tui.cluster.service import ClusterService

Progress = Callable[[str], None]


class LiveSource(Protocol):
    """What the dashboard needs of a :class:`~ksail_tui.live.LiveCluster`."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def raw(self, ref: ObjectRef) -> dict[str, Any] | None: ...


class DevloopHandle(Protocol):
    """A running dev loop (a :class:`~ksail_tui.devloop.DevLoop`): watch mode, to the user."""

    def stop(self, timeout: float = ...) -> None: ...


class DashboardServices(Protocol):
    config: ClusterConfig

    def with_config(self, config: ClusterConfig) -> DashboardServices:
        """The same kind of services for another configuration (a changed ksail.yaml or context)."""
        ...

    def live(self, on_updates: OnUpdates) -> LiveSource: ...

    def reconcile(
        self, names: list[str] | None, on_progress: Progress, cancel: threading.Event
    ) -> list[ReconcileOutcome]:
        """Reconcile and wait for the outcome; returns early once ``cancel`` is set (the app closes)."""
        ...

    def apply(self, workload: str) -> None:
        """Apply the workload's OCIRepository and Kustomization (after a push of a new version)."""
        ...

    def set_suspended(self, names: list[str], suspended: bool) -> list[ObjectRef]: ...

    def delete(self, ref: ObjectRef) -> None: ...

    def reconcile_object(
        self, ref: ObjectRef, on_progress: Progress, cancel: threading.Event
    ) -> ObjectReconciled:
        """``flux reconcile <kind> <name> --with-source`` of any Flux object."""
        ...

    def set_object_suspended(self, ref: ObjectRef, suspended: bool) -> None: ...

    def contexts(self) -> list[KubeContext]:
        """The contexts of the configured kubeconfig."""
        ...

    def inventory(self, ref: ObjectRef) -> list[InventoryNode]:
        """What ``ref`` applied (its ``status.inventory``), each object judged."""
        ...

    def follow_logs(self, ref: ObjectRef, on_line: OnLine, on_notice: OnNotice) -> Callable[[], None]:
        """The controllers' log lines about ``ref``, kept ones first, then as they come; what goes
        wrong meanwhile (no controller pods, a dropped stream) to ``on_notice``. Both run on
        other threads. Returns at once, with the function that stops following."""
        ...

    def events(self, ref: ObjectRef) -> list[FluxEvent]: ...

    def registry(self) -> RegistryView: ...

    def artifacts(self, workload: str) -> list[OCIArtifact]: ...

    def build(self, workload: str) -> BuiltArtifact: ...

    def push(self, workload: str, on_progress: Callable[[PushProgress], None]) -> PushResult: ...

    def prune(
        self, workload: str, keep: int, dry_run: bool, confirmed_digests: tuple[str, ...] | None = None
    ) -> PruneResult:
        """Prune as ``workload prune`` does: sparing what the cluster can resolve to, refusing when it
        cannot be asked, and deleting only ``confirmed_digests`` (what the user saw) when given."""
        ...

    def start_devloop(self, workload: str, on_state: Callable[[LoopState], None]) -> DevloopHandle:
        """Start the dev loop for a workload; ``on_state`` is called from its threads, must not block."""
        ...

    def clusters(self) -> list[DiscoveredCluster]:
        """Every Kind and K3d cluster Docker runs; :class:`~ksail_tui.errors.Unavailable` without Docker."""
        ...

    def create_cluster(self, on_progress: Progress) -> ClusterCreated:
        """Create (or reuse) the configured cluster with its registry, Flux and the workloads' sources."""
        ...

    def delete_cluster(self, purge: bool, on_progress: Progress) -> ClusterDeleted:
        """Delete the configured cluster and its registry container; ``purge`` also the registry's data."""
        ...


class ClusterServices:
    """The real services of one cluster configuration."""

    def __init__(
        self,
        config: ClusterConfig,
        *,
        registry_backend: BackendName = "auto",
        registry_data_dir: Path | None = None,
        cluster_service: Callable[[ClusterConfig], ClusterService] | None = None,
        log_sink: LogSink | None = None,
    ) -> None:
        """``registry_data_dir``: the process backend's folder, when not the default (the demo's).
        ``cluster_service``: how to make the cluster lifecycle service (tests pass stand-in parts).
        ``log_sink``: where the controller logs come from when not the controllers' pods (the
        demo's simulated controllers write to :data:`~ksail_tui.flux.logs.IN_PROCESS`)."""
        self.config = config
        self._log_sink = log_sink
        self._registry_backend = registry_backend
        self._registry_data_dir = registry_data_dir
        self._cluster_service_factory = cluster_service
        self._flux: FluxService | None = None
        self._live: LiveCluster | None = None
        self._registry_service: RegistryService | None = None
        self._lock = threading.Lock()

    def _flux_service(self) -> FluxService:
        # Opened on first use, not at start: the cluster may not exist yet when the dashboard opens.
        with self._lock:
            if self._flux is None:
                # One client per cluster: the live view's, once it has connected.
                client = self._live.client if self._live is not None else None
                self._flux = FluxService(self.config, client) if client else FluxService.open(self.config)
            return self._flux

    def _forget_flux(self) -> None:
        """A cluster made anew has a new API server address: the next call opens a new client."""
        with self._lock:
            self._flux = None

    def _cluster_service(self) -> ClusterService:
        if self._cluster_service_factory is not None:
            return self._cluster_service_factory(self.config)
        from ksail_tui.cluster.service import ClusterService

        return ClusterService(self.config)

    def with_config(self, config: ClusterConfig) -> ClusterServices:
        return ClusterServices(
            config,
            registry_backend=self._registry_backend,
            registry_data_dir=self._registry_data_dir,
            cluster_service=self._cluster_service_factory,
            log_sink=self._log_sink,
        )

    def live(self, on_updates: OnUpdates) -> LiveCluster:
        self._live = LiveCluster(self.config, on_updates)
        return self._live

    def reconcile(
        self, names: list[str] | None, on_progress: Progress, cancel: threading.Event
    ) -> list[ReconcileOutcome]:
        # The dashboard's watches see the workloads' objects already: the waits listen to them.
        return self._flux_service().reconcile(names, on_progress=on_progress, cancel=cancel, feed=self._live)

    def apply(self, workload: str) -> None:
        self._flux_service().apply_sources([workload])

    def set_suspended(self, names: list[str], suspended: bool) -> list[ObjectRef]:
        return self._flux_service().set_suspended(names, suspended)

    def delete(self, ref: ObjectRef) -> None:
        resource = flux_kind(ref).resource
        try:
            self._flux_service().kube.delete(resource, ref.name, ref.namespace)
        except ApiError as error:
            raise OperationFailed(f"cannot delete {ref}: {error.message}") from None

    def events(self, ref: ObjectRef) -> list[FluxEvent]:
        return self._flux_service().events(ref)

    def reconcile_object(
        self, ref: ObjectRef, on_progress: Progress, cancel: threading.Event
    ) -> ObjectReconciled:
        timeout = self.config.spec.cluster.connection.timeout_seconds
        kube = self._flux_service().kube
        # As for workloads: the dashboard's watches see the object already, the waits listen to them.
        return reconcile_object(
            kube, ref, timeout=timeout, on_progress=on_progress, cancel=cancel, feed=self._live
        )

    def set_object_suspended(self, ref: ObjectRef, suspended: bool) -> None:
        set_object_suspended(self._flux_service().kube, ref, suspended)

    def contexts(self) -> list[KubeContext]:
        return kube_contexts(self.config.spec.cluster.connection.kubeconfig)

    def inventory(self, ref: ObjectRef) -> list[InventoryNode]:
        kube = self._flux_service().kube
        obj = kube.get_or_none(flux_kind(ref).resource, ref.name, ref.namespace)
        if obj is None:
            raise OperationFailed(f"{ref} does not exist")
        return inventory_tree(obj, *cluster_getters(kube))

    def follow_logs(self, ref: ObjectRef, on_line: OnLine, on_notice: OnNotice) -> Callable[[], None]:
        if self._log_sink is not None:
            return self._log_sink.follow(ref, on_line, on_notice)
        kube = self._flux_service().kube
        return follow_controller_logs(
            kube, ref, on_line, on_notice, flux_namespace=self.config.flux_namespace
        )

    def registry(self) -> RegistryView:
        from ksail_tui.registry.service import open_registry_service

        if self._registry_service is None:
            self._registry_service = open_registry_service(
                self.config, backend=self._registry_backend, data_dir=self._registry_data_dir
            )
        return self._registry_service.overview()

    def artifacts(self, workload: str) -> list[OCIArtifact]:
        from ksail_tui.oci.service import list_versions

        return list_versions(self.config, workload)

    def build(self, workload: str) -> BuiltArtifact:
        from ksail_tui.oci.build import build_workload

        return build_workload(self.config, workload)

    def push(self, workload: str, on_progress: Callable[[PushProgress], None]) -> PushResult:
        from ksail_tui.oci.service import push_workload

        return push_workload(self.config, workload, on_progress=on_progress)

    def prune(
        self, workload: str, keep: int, dry_run: bool, confirmed_digests: tuple[str, ...] | None = None
    ) -> PruneResult:
        from ksail_tui.oci.service import prune_versions

        return prune_versions(
            self.config, workload, keep=keep, dry_run=dry_run, confirmed_digests=confirmed_digests
        )

    def start_devloop(self, workload: str, on_state: Callable[[LoopState], None]) -> DevloopHandle:
        from ksail_tui.devloop import DevLoop

        return DevLoop(self.config, [workload], on_state=on_state).start()

    def clusters(self) -> list[DiscoveredCluster]:
        from ksail_tui.cluster.discovery import discover_clusters

        return discover_clusters(self.config.spec.cluster.connection.kubeconfig)

    def create_cluster(self, on_progress: Progress) -> ClusterCreated:
        try:
            return self._cluster_service().create(on_progress)
        finally:
            self._forget_flux()

    def delete_cluster(self, purge: bool, on_progress: Progress) -> ClusterDeleted:
        try:
            return self._cluster_service().delete(purge, on_progress)
        finally:
            self._forget_flux()
