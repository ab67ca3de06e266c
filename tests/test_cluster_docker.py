"""Against the real Docker engine: discovery through labels, and create/delete with the Docker registry.

The cluster CLIs are stand-ins (they create no nodes), so discovery is fed containers labelled the
way Kind and K3d label theirs; create and delete run the real Docker registry backend on a network
made for the test (Kind's network name comes from KIND_EXPERIMENTAL_DOCKER_NETWORK).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ksail_tui.cli.main import main
from ksail_tui.cluster.discovery import discover_clusters
from ksail_tui.registry.docker_backend import CLUSTER_LABEL, MANAGED_LABEL
from tests.fixtures.cluster import ClusterCLIs, cluster_config_text
from tests.fixtures.cluster_docker import LabelledContainer

pytestmark = pytest.mark.needs_docker


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def write_kubeconfig(path: Path, contexts: list[str]) -> Path:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "contexts": [{"name": c, "context": {"cluster": c, "user": c}} for c in contexts],
            }
        )
    )
    return path


def test_discovery_finds_kind_and_k3d_clusters_by_their_labels(
    labelled_container: LabelledContainer, cluster_network: str, tmp_path: Path
) -> None:
    kind_name, k3d_name = unique("kind"), unique("k3d")
    labelled_container(
        f"{kind_name}-control-plane",
        {"io.x-k8s.kind.cluster": kind_name, "io.x-k8s.kind.role": "control-plane"},
        network=cluster_network,
        start=True,
    )
    labelled_container(
        f"{kind_name}-worker",
        {"io.x-k8s.kind.cluster": kind_name, "io.x-k8s.kind.role": "worker"},
        network=cluster_network,
    )
    labelled_container(
        f"{kind_name}-registry", {MANAGED_LABEL: "true", CLUSTER_LABEL: kind_name}, network=cluster_network
    )
    labelled_container(f"k3d-{k3d_name}-server-0", {"k3d.cluster": k3d_name, "k3d.role": "server"})
    labelled_container(f"k3d-{k3d_name}-serverlb", {"k3d.cluster": k3d_name, "k3d.role": "loadbalancer"})
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", [f"kind-{kind_name}"])

    found = {c.name: c for c in discover_clusters(kubeconfig) if c.name in (kind_name, k3d_name)}

    kind, k3d = found[kind_name], found[k3d_name]
    assert kind.distribution.value == "Kind"
    assert [(c.name, c.role, c.state) for c in kind.containers] == [
        (f"{kind_name}-control-plane", "control-plane", "running"),
        (f"{kind_name}-worker", "worker", "created"),
    ]
    assert kind.state == "degraded"
    assert (kind.context, kind.context_exists) == (f"kind-{kind_name}", True)
    assert kind.networks == (cluster_network,)
    assert kind.registry == f"{kind_name}-registry"
    assert k3d.distribution.value == "K3d"
    assert [(c.role, c.state) for c in k3d.containers] == [("server", "created"), ("loadbalancer", "created")]
    assert k3d.state == "stopped"
    assert (k3d.context, k3d.context_exists, k3d.registry) == (f"k3d-{k3d_name}", False, None)


def test_cluster_status_lists_clusters_and_exits_4_for_a_missing_one(
    labelled_container: LabelledContainer,
    cluster_network: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = unique("kind")
    labelled_container(
        f"{name}-control-plane",
        {"io.x-k8s.kind.cluster": name, "io.x-k8s.kind.role": "control-plane"},
        network=cluster_network,
    )
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", [f"kind-{name}"])
    config = tmp_path / "ksail.yaml"
    config.write_text(cluster_config_text(name, kubeconfig=kubeconfig, context=None))

    code = main(["cluster", "status", "-c", str(config), "-o", "json"])

    report = json.loads(capsys.readouterr().out)
    assert code == 0
    configured = report["configured"]
    assert (configured["exists"], configured["context"], configured["context_exists"]) == (
        True,
        f"kind-{name}",
        True,
    )
    assert configured["cluster"]["containers"][0]["role"] == "control-plane"
    assert configured["registry"]["status"] == "NotProvisioned"
    assert name in [c["name"] for c in report["clusters"]]

    config.write_text(cluster_config_text(unique("absent"), kubeconfig=kubeconfig, context=None))
    code = main(["cluster", "status", "-c", str(config)])

    out = capsys.readouterr().out
    assert code == 4
    assert "does not exist: run `ksail-tui cluster create`" in out
    assert f"{name}-control-plane (control-plane: created)" in out


@pytest.fixture
def cluster_name() -> Iterator[str]:
    """A unique cluster name whose registry container and volume are removed after the test."""
    from tests.fixtures.registry_env import remove_docker_leftovers

    name = unique("t")
    yield name
    remove_docker_leftovers(name)


def test_create_then_delete_with_the_docker_registry_on_the_cluster_network(
    cluster_clis: ClusterCLIs,
    cluster_docker: Any,
    cluster_network: str,
    registry_image: str,
    cluster_registry_port: int,
    kubeconfig: Path,
    flux_manifests_file: Path,
    cluster_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KIND_EXPERIMENTAL_DOCKER_NETWORK", cluster_network)
    config = tmp_path / "ksail.yaml"
    config.write_text(
        cluster_config_text(
            cluster_name, kubeconfig=kubeconfig, port=cluster_registry_port, image=registry_image
        )
    )
    registry_name, volume = f"{cluster_name}-registry", f"{cluster_name}-registry-data"

    code = main(["cluster", "create", "-c", str(config), "--manifests", str(flux_manifests_file)])

    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert f"registry: {registry_name}, push to localhost:{cluster_registry_port}" in captured.out
    assert f"(network {cluster_network})" in captured.out
    container = cluster_docker.containers.get(registry_name)
    assert container.status == "running"
    assert cluster_network in container.attrs["NetworkSettings"]["Networks"]

    code = main(["cluster", "delete", "--yes", "-c", str(config)])

    err = capsys.readouterr().err
    assert code == 0
    assert f"registry data kept in volume {volume}; use --purge to remove it" in err
    assert [c.name for c in cluster_docker.containers.list(all=True, filters={"name": registry_name})] == []
    assert cluster_docker.volumes.get(volume)
    assert cluster_clis.clusters("kind") == []

    code = main(["cluster", "delete", "--yes", "--purge", "-c", str(config)])

    assert code == 0
    assert cluster_docker.volumes.list(filters={"name": volume}) == []
