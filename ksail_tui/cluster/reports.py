"""What the cluster service reports: plain values for the CLI's text and JSON and the dashboard."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, computed_field

from ksail_tui.config import Distribution
from ksail_tui.flux.install import FluxInstallation
from ksail_tui.models import ObjectRef, OCIRegistry


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True)


class ClusterContainer(_Value):
    """One Docker container of a cluster: a node, or k3d's load balancer and tools."""

    name: str
    role: str  # control-plane, worker, server, agent, loadbalancer, ...
    state: str  # Docker's state: created, running, exited, paused, ...
    status: str = ""  # Docker's description, e.g. "Up 3 minutes"


class DiscoveredCluster(_Value):
    """A Kind or K3d cluster found through the labels on its containers."""

    name: str
    distribution: Distribution
    context: str  # the kube context Kind or K3d writes: kind-<name> / k3d-<name>
    context_exists: bool
    containers: tuple[ClusterContainer, ...]
    networks: tuple[str, ...] = ()
    # The ksail-tui registry container of this cluster on one of its networks, if any.
    registry: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def state(self) -> str:
        running = sum(container.state == "running" for container in self.containers)
        if running == len(self.containers):
            return "running"
        return "stopped" if running == 0 else "degraded"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def registry_attached(self) -> bool:
        return self.registry is not None


class ClusterInfo(_Value):
    """The configured cluster: whether it exists, its context and its registry."""

    name: str
    distribution: Distribution
    context: str  # the context ksail-tui uses (connection.context, else Kind's or K3d's)
    context_exists: bool
    cluster: DiscoveredCluster | None  # None: no containers carry the cluster's label
    registry: OCIRegistry | None = None  # None when the local registry is disabled
    simulated: bool = False  # no containers, but the context answers with simulated nodes (the demo)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def exists(self) -> bool:
        return self.cluster is not None


class ClusterCreated(_Value):
    """The outcome of ``create``: every step's result."""

    name: str
    distribution: Distribution
    context: str
    reused: bool  # the cluster existed already and was kept
    registry: OCIRegistry | None = None
    registry_network: str | None = None
    flux: FluxInstallation | None = None
    sources: tuple[ObjectRef, ...] = ()


class ClusterDeleted(_Value):
    """The outcome of ``delete``."""

    name: str
    distribution: Distribution
    existed: bool  # False: there was no cluster to delete (the registry was still cleaned up)
    purged: bool
    # The volume or folder that still holds the registry's data; None after --purge.
    registry_data_kept: str | None = None
