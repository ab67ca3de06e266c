"""``delete``: the cluster through its CLI, the registry container first, its data only with purge."""

from __future__ import annotations

from pathlib import Path

import pytest

from ksail_tui.cluster.service import ClusterService
from tests.fixtures.cluster import ClusterCLIs, ProcessRegistries, write_cluster_config

pytestmark = pytest.mark.needs_registry


def started_cluster(
    cluster_clis: ClusterCLIs, registries: ProcessRegistries, tmp_path: Path, port: int, distribution: str
) -> ClusterService:
    """A "created" cluster (the stand-in's state) whose registry process is running."""
    config = write_cluster_config(tmp_path, "dev", distribution=distribution, port=port)
    cluster_clis.add_cluster(distribution.lower(), "dev")
    registries.factory(config, lambda _: None).up()
    return ClusterService(config, registry_factory=registries.factory)


@pytest.mark.parametrize(
    ("distribution", "delete_command"),
    [("Kind", "kind delete cluster --name dev"), ("K3d", "k3d cluster delete dev")],
)
def test_delete_removes_the_registry_then_the_cluster_and_keeps_the_data(
    cluster_clis: ClusterCLIs,
    process_registries: ProcessRegistries,
    cluster_registry_port: int,
    tmp_path: Path,
    distribution: str,
    delete_command: str,
) -> None:
    service = started_cluster(cluster_clis, process_registries, tmp_path, cluster_registry_port, distribution)
    messages: list[str] = []

    deleted = service.delete(purge=False, on_progress=messages.append)

    assert cluster_clis.commands()[-1] == delete_command
    assert cluster_clis.calls()[-1]["kubeconfig"] == str(Path("~/.kube/config").expanduser())
    assert cluster_clis.clusters(distribution.lower()) == []
    storage = process_registries.data_dir
    assert f"registry data kept in {storage}; use --purge to remove it" in messages
    # The registry goes first: a container still on k3d's network keeps k3d from removing it.
    registry_stopped = next(i for i, m in enumerate(messages) if m.startswith("stopping registry process"))
    assert registry_stopped < messages.index(f"deleting {distribution} cluster dev")
    assert (storage / "storage").is_dir()
    assert (deleted.existed, deleted.purged, deleted.registry_data_kept) == (True, False, str(storage))


def test_delete_with_purge_also_deletes_the_registry_data(
    cluster_clis: ClusterCLIs,
    process_registries: ProcessRegistries,
    cluster_registry_port: int,
    tmp_path: Path,
) -> None:
    service = started_cluster(cluster_clis, process_registries, tmp_path, cluster_registry_port, "Kind")

    deleted = service.delete(purge=True)

    assert not process_registries.data_dir.exists()
    assert (deleted.existed, deleted.purged, deleted.registry_data_kept) == (True, True, None)


def test_deleting_a_missing_cluster_still_cleans_up_the_registry(
    cluster_clis: ClusterCLIs,
    process_registries: ProcessRegistries,
    cluster_registry_port: int,
    tmp_path: Path,
) -> None:
    config = write_cluster_config(tmp_path, "gone", port=cluster_registry_port)
    process_registries.factory(config, lambda _: None).up()
    messages: list[str] = []

    deleted = ClusterService(config, registry_factory=process_registries.factory).delete(
        purge=True, on_progress=messages.append
    )

    assert cluster_clis.commands() == ["kind get clusters"]
    assert "there is no Kind cluster named gone: nothing to delete" in messages
    assert not process_registries.data_dir.exists()
    assert deleted.existed is False
