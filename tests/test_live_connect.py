"""LiveCluster's connector: a restart must not be undone by the connector of the start before it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from ksail_sim.apiserver.server import ApiServer
from ksail_tui.config import ClusterConfig, parse_config
from ksail_tui.kube.client import KubeClient
from ksail_tui.live import ConnectionUpdate, LiveCluster, LiveUpdate, NodeUpdate

WAIT_SECONDS = 10.0


def config_for(kubeconfig: Path) -> ClusterConfig:
    return parse_config(
        "apiVersion: ksail.io/v1alpha1\nkind: Cluster\n"
        f"metadata: {{name: t}}\nspec: {{cluster: {{connection: {{kubeconfig: {kubeconfig}}}}}}}\n",
        base_dir=kubeconfig.parent,
    )


def test_a_restart_keeps_the_new_client_when_the_old_connector_finishes_late(
    apiserver: ApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_path = apiserver.write_kubeconfig(tmp_path / "old" / "kubeconfig")
    new_path = apiserver.write_kubeconfig(tmp_path / "new" / "kubeconfig")
    building_old = threading.Event()
    release_old = threading.Event()
    old_built = threading.Event()
    original_init = KubeClient.__init__

    def init(self: KubeClient, kubeconfig: str | Path, *args: Any, **kwargs: Any) -> None:
        if Path(kubeconfig) == old_path:  # the old connector, held while the restart happens
            building_old.set()
            release_old.wait(WAIT_SECONDS)
            original_init(self, kubeconfig, *args, **kwargs)
            old_built.set()
            return
        original_init(self, kubeconfig, *args, **kwargs)

    monkeypatch.setattr(KubeClient, "__init__", init)
    connected = threading.Event()

    def on_updates(batch: list[LiveUpdate]) -> None:
        if any(isinstance(u, ConnectionUpdate) and u.connected for u in batch):
            connected.set()

    live = LiveCluster(config_for(old_path), on_updates)
    live.start()
    try:
        assert building_old.wait(WAIT_SECONDS)
        old_connector = live._connector
        live.restart(config_for(new_path))
        assert connected.wait(WAIT_SECONDS), "the restarted LiveCluster never connected"
        release_old.set()
        assert old_built.wait(WAIT_SECONDS)
        assert old_connector is not None
        old_connector.join(WAIT_SECONDS)
        assert not old_connector.is_alive()

        assert live.client is not None and live.client.kubeconfig == new_path
        live.stop()
        live.start()  # a plain stop and start keeps watching the new cluster
        assert live.client is not None and live.client.kubeconfig == new_path
    finally:
        release_old.set()
        live.stop()


def test_reconnects_when_the_cluster_comes_back_on_a_new_port(tmp_path: Path) -> None:
    """A cluster re-created outside the dashboard has a new API server address in the kubeconfig."""
    kubeconfig = tmp_path / "kubeconfig"
    first = ApiServer(port=0)
    first.start()
    first.write_kubeconfig(kubeconfig)
    nodes: dict[str, object] = {}
    seen = threading.Condition()

    def on_updates(batch: list[LiveUpdate]) -> None:
        with seen:
            for update in batch:
                if isinstance(update, NodeUpdate):
                    nodes[update.name] = update.node
            seen.notify_all()

    live = LiveCluster(config_for(kubeconfig), on_updates, max_backoff=0.2)
    live.start()
    second = ApiServer(port=0)
    try:
        first.apply({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "old-node"}})
        with seen:
            assert seen.wait_for(lambda: "old-node" in nodes, WAIT_SECONDS)
        first.stop()  # the cluster is deleted ...
        second.start()  # ... and created again, elsewhere
        second.apply({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "new-node"}})
        second.write_kubeconfig(kubeconfig)
        with seen:
            assert seen.wait_for(lambda: nodes.get("new-node") is not None, WAIT_SECONDS)
            assert nodes.get("old-node") is None  # what the old cluster held is gone
    finally:
        live.stop()
        second.stop()
