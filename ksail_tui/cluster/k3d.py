"""K3d clusters with the local registry.

k3d takes a k3s ``registries.yaml`` with ``--registry-config FILE``; it has no stdin form, so the
file is written to a temporary folder for the duration of ``k3d cluster create`` (k3d copies it
into each node as /etc/rancher/k3s/registries.yaml). The mirror sends ``localhost:<port>/...`` to
the registry container by name on the ``k3d-<name>`` network. ``--registry-use`` would need a
k3d-managed registry, which ours is not.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import yaml

from ksail_tui.cluster.commands import Progress
from ksail_tui.cluster.provisioner import DELETE_TIMEOUT_SECONDS, Provisioner, registry_mirror_url
from ksail_tui.config import ClusterConfig, Distribution
from ksail_tui.errors import OperationFailed


def registries_yaml(config: ClusterConfig) -> str:
    """The k3s registries.yaml mirroring localhost:<port> to the registry container."""
    mirrors = {config.registry_endpoint: {"endpoint": [registry_mirror_url(config)]}}
    return yaml.safe_dump({"mirrors": mirrors}, sort_keys=False)


class K3dProvisioner(Provisioner):
    distribution = Distribution.K3D
    program = "k3d"

    def exists(self) -> bool:
        output = self.run("cluster", "list", "--output", "json").output
        try:
            clusters = json.loads(output or "[]")
        except (ValueError, RecursionError):
            clusters = None
        if not isinstance(clusters, list):
            raise OperationFailed(
                f"`k3d cluster list` printed something other than a JSON list: {output[:200]}"
            )
        return any(isinstance(c, dict) and c.get("name") == self.name for c in clusters)

    def create(self, progress: Progress) -> None:
        arguments = ["cluster", "create", self.name, "--timeout", self.config.spec.cluster.connection.timeout]
        if not self.config.registry.enabled:
            self.run(*arguments, on_output=progress, timeout=self.create_timeout)
            return
        with tempfile.TemporaryDirectory(prefix="ksail-tui-k3d-") as folder:
            registries = Path(folder) / "registries.yaml"
            registries.write_text(registries_yaml(self.config), encoding="utf-8")
            self.run(
                *arguments,
                "--registry-config",
                str(registries),
                on_output=progress,
                timeout=self.create_timeout,
            )

    def delete(self, progress: Progress) -> None:
        self.run("cluster", "delete", self.name, on_output=progress, timeout=DELETE_TIMEOUT_SECONDS)
