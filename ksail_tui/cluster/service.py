"""One command from nothing to a reconciling cluster, and back.

``create`` runs these steps, reporting each through ``on_progress``:

1. create the Kind or K3d cluster through its CLI (or reuse the one with that name);
2. Kind only: point each node's containerd at the registry (hosts.toml);
3. start the registry (Docker backend) and wait until it answers;
4. join the registry to the cluster's Docker network under the name pods use;
5. document the registry in ``kube-public/local-registry-hosting`` (KEP-1755);
6. install Flux (when ``gitOpsEngine`` is Flux);
7. apply each workload's OCIRepository and Kustomization.

Steps 2-5 need the local registry enabled, 6-7 need Flux. Every step is idempotent, so running
``create`` again repairs a half-made cluster.

``on_progress`` is always called on the caller's thread. The collaborators are injectable (the
command runner, the registry service and the kube client factories) so tests can run the real
steps against stand-in CLIs, a registry process and the API emulator::

    service = ClusterService(config)
    created = service.create(print, flux_manifests=None)
    info = service.status()
    service.delete(purge=False, on_progress=print)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from ksail_tui.cluster.commands import CommandRunner, Progress, run_command
from ksail_tui.cluster.discovery import discover_clusters, kube_contexts
from ksail_tui.cluster.k3d import K3dProvisioner
from ksail_tui.cluster.kind import KindProvisioner
from ksail_tui.cluster.provisioner import Provisioner, default_context, local_registry_hosting
from ksail_tui.cluster.reports import ClusterCreated, ClusterDeleted, ClusterInfo, DiscoveredCluster
from ksail_tui.config import ClusterConfig, Distribution
from ksail_tui.errors import InvalidInput, KsailError
from ksail_tui.flux.install import SIMULATED_LABEL, FluxInstallation, install
from ksail_tui.flux.service import FluxService
from ksail_tui.kube.client import NODES, KubeClient
from ksail_tui.models import ObjectRef, OCIRegistry
from ksail_tui.registry.service import open_registry_service


class RegistryLifecycle(Protocol):
    """What the cluster needs of :class:`~ksail_tui.registry.service.RegistryService`."""

    def up(self) -> OCIRegistry: ...

    def connect_to_cluster_network(self) -> str: ...

    def remove(self, purge: bool = False) -> OCIRegistry: ...

    def status(self) -> OCIRegistry: ...


RegistryFactory = Callable[[ClusterConfig, Progress], RegistryLifecycle]
KubeFactory = Callable[[ClusterConfig, str], KubeClient]
PROVISIONERS: dict[Distribution, type[Provisioner]] = {
    Distribution.KIND: KindProvisioner,
    Distribution.K3D: K3dProvisioner,
}


def _ignore_progress(_: str) -> None:
    pass


def docker_registry(config: ClusterConfig, on_progress: Progress) -> RegistryLifecycle:
    """The registry as a container: the only backend pods can reach."""
    return open_registry_service(config, "docker", on_progress=on_progress)


def kube_client(config: ClusterConfig, context: str) -> KubeClient:
    return KubeClient(config.spec.cluster.connection.kubeconfig, context)


class _Steps:
    """Numbers the steps of one operation in its progress messages."""

    def __init__(self, total: int, progress: Progress) -> None:
        self._total = total
        self._done = 0
        self._progress = progress

    def begin(self, title: str) -> None:
        self._done += 1
        self._progress(f"[{self._done}/{self._total}] {title}")


class ClusterService:
    """The cluster of one configuration: create, status, delete."""

    def __init__(
        self,
        config: ClusterConfig,
        *,
        runner: CommandRunner = run_command,
        registry_factory: RegistryFactory = docker_registry,
        kube_factory: KubeFactory = kube_client,
    ) -> None:
        self.config = config
        self.provisioner = PROVISIONERS[config.spec.cluster.distribution](config, runner)
        self._registry_factory = registry_factory
        self._kube_factory = kube_factory

    @property
    def distribution(self) -> Distribution:
        return self.config.spec.cluster.distribution

    @property
    def context(self) -> str:
        """The kube context of the cluster: connection.context, else the one Kind or K3d writes."""
        return self.config.spec.cluster.connection.context or default_context(
            self.distribution, self.config.name
        )

    @property
    def kubeconfig(self) -> Path:
        """The kubeconfig the cluster CLIs write the context into (``$KUBECONFIG`` for them)."""
        return self.provisioner.kubeconfig

    def _check_context(self) -> None:
        """A context left over from the other distribution would never be written: say so first."""
        for other in Distribution:
            if other is not self.distribution and self.context == default_context(other, self.config.name):
                raise InvalidInput(
                    f"spec.cluster.connection.context is {self.context}, but a {self.distribution.value} "
                    f"cluster's context is {default_context(self.distribution, self.config.name)}",
                    hint="fix spec.cluster.connection.context (or remove it) in ksail.yaml",
                )

    # --- create -------------------------------------------------------------------------------

    def create(
        self, on_progress: Progress | None = None, *, flux_manifests: str | None = None
    ) -> ClusterCreated:
        """Create (or reuse) the cluster, its registry, Flux and the workloads' sources.

        ``flux_manifests`` is Flux's install.yaml (a file or URL) for offline installs.
        """
        progress = on_progress or _ignore_progress
        self._check_context()
        self.provisioner.require_program()
        kind = self.distribution.value
        steps = _Steps(self._create_step_count(), progress)

        steps.begin(f"{kind} cluster {self.config.name}")
        reused = self.provisioner.exists()
        if reused:
            progress(f"{kind} cluster {self.config.name} already exists: reusing it")
        else:
            self.provisioner.create(progress)

        registry: OCIRegistry | None = None
        network: str | None = None
        if self.config.registry.enabled:
            registry, network = self._start_registry(steps, progress)
        else:
            progress("the local registry is disabled in the configuration: skipping it")

        flux: FluxInstallation | None = None
        sources: list[ObjectRef] = []
        if self.config.registry.enabled or self.config.flux_enabled:
            kube = self._kube_factory(self.config, self.context)
            if self.config.registry.enabled:
                steps.begin("documenting the registry in ConfigMap kube-public/local-registry-hosting")
                kube.apply(local_registry_hosting(self.config))
            if self.config.flux_enabled:
                flux, sources = self._bootstrap_flux(kube, flux_manifests, steps, progress)
        if not self.config.flux_enabled:
            progress("gitOpsEngine is not Flux: Flux and the workloads' sources are not installed")
        progress(f"{kind} cluster {self.config.name} is ready (context {self.context})")
        return ClusterCreated(
            name=self.config.name,
            distribution=self.distribution,
            context=self.context,
            reused=reused,
            registry=registry,
            registry_network=network,
            flux=flux,
            sources=tuple(sources),
        )

    def _create_step_count(self) -> int:
        count = 1
        if self.config.registry.enabled:
            count += 4 if isinstance(self.provisioner, KindProvisioner) else 3
        if self.config.flux_enabled:
            count += 2
        return count

    def _start_registry(self, steps: _Steps, progress: Progress) -> tuple[OCIRegistry, str]:
        if isinstance(self.provisioner, KindProvisioner):
            steps.begin(f"pointing the nodes' containerd at {self.config.registry_cluster_endpoint}")
            self.provisioner.configure_registry_mirror(progress)
        steps.begin(f"starting the registry {self.config.registry_name}")
        registry_service = self._registry_factory(self.config, progress)
        registry = registry_service.up()
        steps.begin("joining the registry to the cluster's Docker network")
        return registry, registry_service.connect_to_cluster_network()

    def _bootstrap_flux(
        self, kube: KubeClient, manifests: str | None, steps: _Steps, progress: Progress
    ) -> tuple[FluxInstallation, list[ObjectRef]]:
        steps.begin("installing Flux")
        flux = install(
            kube,
            manifests=manifests,
            timeout=self.config.spec.cluster.connection.timeout_seconds,
            on_progress=progress,
        )
        steps.begin("applying the workloads' OCIRepository and Kustomization")
        sources = FluxService(self.config, kube).apply_sources()
        for ref in sources:
            progress(f"applied {ref}")
        return flux, sources

    # --- delete -------------------------------------------------------------------------------

    def delete(self, purge: bool = False, on_progress: Progress | None = None) -> ClusterDeleted:
        """Delete the cluster and the registry container; ``purge`` also deletes the registry's data."""
        progress = on_progress or _ignore_progress
        self.provisioner.require_program()
        kind = self.distribution.value
        existed = self.provisioner.exists()
        kept: str | None = None
        if self.config.registry.enabled:
            # First, because a container still attached keeps k3d from removing the cluster network.
            removed = self._registry_factory(self.config, progress).remove(purge=purge)
            if not purge:
                kept = removed.volume
                where = f"volume {kept}" if removed.backend == "docker" else kept
                progress(f"registry data kept in {where}; use --purge to remove it")
        if existed:
            progress(f"deleting {kind} cluster {self.config.name}")
            self.provisioner.delete(progress)
        else:
            progress(f"there is no {kind} cluster named {self.config.name}: nothing to delete")
        return ClusterDeleted(
            name=self.config.name,
            distribution=self.distribution,
            existed=existed,
            purged=purge and self.config.registry.enabled,
            registry_data_kept=kept,
        )

    # --- status -------------------------------------------------------------------------------

    def status(self, discovered: list[DiscoveredCluster] | None = None) -> ClusterInfo:
        """The configured cluster as Docker and the kubeconfig show it.

        ``discovered`` reuses a :func:`discover_clusters` listing; by default Docker is asked.
        Raises :class:`~ksail_tui.errors.Unavailable` when Docker does not answer.
        """
        clusters = discovered if discovered is not None else discover_clusters(self.kubeconfig)
        cluster = next(
            (c for c in clusters if c.name == self.config.name and c.distribution is self.distribution), None
        )
        registry = (
            self._registry_factory(self.config, _ignore_progress).status()
            if self.config.registry.enabled
            else None
        )
        context_exists = self.context in kube_contexts(self.kubeconfig)
        return ClusterInfo(
            name=self.config.name,
            distribution=self.distribution,
            context=self.context,
            context_exists=context_exists,
            cluster=cluster,
            registry=registry,
            simulated=cluster is None and context_exists and self._simulated(),
        )

    def _simulated(self) -> bool:
        """Whether the context's API server is the demo's emulator: its nodes say they are simulated."""
        try:
            nodes = self._kube_factory(self.config, self.context).list(
                NODES, label_selector=f"{SIMULATED_LABEL}=true"
            )
        except KsailError:  # no API server there: simply not simulated
            return False
        return bool(nodes["items"])
