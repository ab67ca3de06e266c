"""Kind clusters with the local registry, following kind's documented local-registry recipe.

* The cluster config goes to ``kind create cluster --config -`` on stdin. With the registry enabled
  it patches containerd to read per-registry settings from ``/etc/containerd/certs.d``.
* After creation each node gets ``/etc/containerd/certs.d/localhost:<port>/hosts.toml`` (through
  ``docker exec``), so an image named ``localhost:<port>/...`` is pulled from the registry container
  by name on the ``kind`` network, the same name Flux's source-controller uses.
"""

from __future__ import annotations

from ksail_tui.cluster.commands import Progress
from ksail_tui.cluster.provisioner import DELETE_TIMEOUT_SECONDS, Provisioner, registry_mirror_url
from ksail_tui.config import ClusterConfig, Distribution

CONTAINERD_CERTS_DIR = "/etc/containerd/certs.d"


def kind_config(config: ClusterConfig) -> str:
    """The kind ``Cluster`` config for this configuration."""
    lines = ["kind: Cluster", "apiVersion: kind.x-k8s.io/v1alpha4", f"name: {config.name}"]
    if config.registry.enabled:
        lines += [
            "containerdConfigPatches:",
            "  - |-",
            '    [plugins."io.containerd.grpc.v1.cri".registry]',
            f'      config_path = "{CONTAINERD_CERTS_DIR}"',
        ]
    return "\n".join(lines) + "\n"


def hosts_directory(config: ClusterConfig) -> str:
    """containerd's settings folder for the registry host that images name: localhost:<port>."""
    return f"{CONTAINERD_CERTS_DIR}/{config.registry_endpoint}"


def hosts_toml(config: ClusterConfig) -> str:
    return f'[host."{registry_mirror_url(config)}"]\n'


class KindProvisioner(Provisioner):
    distribution = Distribution.KIND
    program = "kind"

    def exists(self) -> bool:
        # "No kind clusters found." goes to stderr; stdout lists one name a line.
        return self.name in self.run("get", "clusters").output.split()

    def create(self, progress: Progress) -> None:
        self.run(
            "create",
            "cluster",
            "--name",
            self.name,
            "--config",
            "-",
            "--wait",
            self.config.spec.cluster.connection.timeout,
            stdin=kind_config(self.config),
            on_output=progress,
            timeout=self.create_timeout,
        )

    def nodes(self) -> list[str]:
        return self.run("get", "nodes", "--name", self.name).output.split()

    def configure_registry_mirror(self, progress: Progress) -> None:
        directory = hosts_directory(self.config)
        for node in self.nodes():
            progress(f"writing {directory}/hosts.toml on node {node}")
            self.run("exec", node, "mkdir", "-p", directory, program="docker")
            self.run(
                "exec",
                "-i",
                node,
                "cp",
                "/dev/stdin",
                f"{directory}/hosts.toml",
                stdin=hosts_toml(self.config),
                program="docker",
            )

    def delete(self, progress: Progress) -> None:
        self.run("delete", "cluster", "--name", self.name, on_output=progress, timeout=DELETE_TIMEOUT_SECONDS)
