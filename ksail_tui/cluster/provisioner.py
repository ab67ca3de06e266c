"""What Kind and K3d have in common: one CLI each, the kube context it writes, the registry mirror.

Both CLIs write the new cluster's context into the kubeconfig that ``$KUBECONFIG`` names, so every
call gets ``KUBECONFIG=<spec.cluster.connection.kubeconfig>``: the context lands in (and on delete
leaves) the file ksail-tui reads.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from ksail_tui.cluster.commands import CommandResult, CommandRunner, Progress, require_program
from ksail_tui.config import ClusterConfig, Distribution

# The cluster CLIs pull node images on first use, which can take minutes on top of the wait.
CREATE_GRACE_SECONDS = 600.0
DELETE_TIMEOUT_SECONDS = 300.0
QUERY_TIMEOUT_SECONDS = 60.0

CONTEXT_PREFIXES = {Distribution.KIND: "kind", Distribution.K3D: "k3d"}
LOCAL_REGISTRY_HOSTING_HELP = (
    "https://github.com/kubernetes/enhancements/tree/master/keps/sig-cluster-lifecycle/generic/"
    "1755-communicating-a-local-registry"
)


def default_context(distribution: Distribution, name: str) -> str:
    """The context Kind (``kind-<name>``) or K3d (``k3d-<name>``) writes for a cluster."""
    return f"{CONTEXT_PREFIXES[distribution]}-{name}"


def registry_mirror_url(config: ClusterConfig) -> str:
    """Where the nodes' container runtime pulls ``localhost:<port>/...`` from: the registry by name."""
    return f"http://{config.registry_cluster_endpoint}"


def local_registry_hosting(config: ClusterConfig) -> dict[str, Any]:
    """The ``kube-public/local-registry-hosting`` ConfigMap of KEP-1755, documenting the registry."""
    document = (
        f'host: "{config.registry_endpoint}"\n'
        f'hostFromContainerRuntime: "{config.registry_endpoint}"\n'
        f'hostFromClusterNetwork: "{config.registry_cluster_endpoint}"\n'
        f'help: "{LOCAL_REGISTRY_HOSTING_HELP}"\n'
    )
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "local-registry-hosting", "namespace": "kube-public"},
        "data": {"localRegistryHosting.v1": document},
    }


class Provisioner(ABC):
    """Creates, finds and deletes one configuration's cluster through its distribution's CLI."""

    distribution: ClassVar[Distribution]
    program: ClassVar[str]

    def __init__(self, config: ClusterConfig, runner: CommandRunner) -> None:
        self.config = config
        self._runner = runner

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def kubeconfig(self) -> Path:
        return Path(self.config.spec.cluster.connection.kubeconfig).expanduser()

    @property
    def create_timeout(self) -> float:
        return self.config.spec.cluster.connection.timeout_seconds + CREATE_GRACE_SECONDS

    def require_program(self) -> None:
        require_program(self.program)

    def run(
        self,
        *arguments: str,
        stdin: str | None = None,
        on_output: Progress | None = None,
        timeout: float = QUERY_TIMEOUT_SECONDS,
        program: str | None = None,
    ) -> CommandResult:
        argv: Sequence[str] = [program or self.program, *arguments]
        return self._runner(
            argv,
            stdin=stdin,
            env={"KUBECONFIG": str(self.kubeconfig)},
            on_output=on_output,
            timeout=timeout,
        )

    @abstractmethod
    def exists(self) -> bool:
        """Whether the CLI knows a cluster of this name."""

    @abstractmethod
    def create(self, progress: Progress) -> None:
        """Create the cluster, with its nodes' runtime mirroring localhost:<port> to the registry
        when the registry is enabled."""

    @abstractmethod
    def delete(self, progress: Progress) -> None:
        """Delete the cluster and its context."""
