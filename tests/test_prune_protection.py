"""Prune never deletes a version an OCIRepository in the cluster can resolve to, from the CLI or the
dashboard's services; and it refuses when the cluster cannot be asked.

The cluster is the API emulator with Flux's CRDs; the registry is the real registry binary.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ksail_tui.cli.main import main
from ksail_tui.config import ClusterConfig, load_config
from ksail_tui.errors import Unavailable
from ksail_tui.kube.client import OCI_REPOSITORIES, KubeClient
from ksail_tui.oci.service import list_versions, push_workload
from ksail_tui.ui.services import ClusterServices
from tests.fixtures.flux import flux_config_text
from tests.fixtures.registry import RegistryProcess, free_port

REPOSITORY = "t/app"  # flux_config_text's metadata.name and workload
VERSIONS = ("0.1.0", "0.1.1", "0.1.2", "0.1.3", "0.1.4", "0.2.0", "0.3.0")


def configmap(value: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  value: '{value}'\n"


def write_project(directory: Path, kubeconfig: Path, port: int) -> Path:
    (directory / "app").mkdir(exist_ok=True)
    (directory / "app" / "a.yaml").write_text(configmap("0"))
    path = directory / "ksail.yaml"
    path.write_text(flux_config_text(kubeconfig, port=port))
    return path


@pytest.fixture
def project(
    kube: KubeClient, kubeconfig: Path, tmp_path: Path, registry_process: RegistryProcess
) -> tuple[Path, ClusterConfig, dict[str, str]]:
    """Seven versions with seven manifests; returns the config and each version's digest."""
    path = write_project(tmp_path, kubeconfig, registry_process.port)
    config = load_config(path)
    digests = {}
    for version in VERSIONS:
        (tmp_path / "app" / "a.yaml").write_text(configmap(version))
        digests[version] = push_workload(config, "app", version=version).artifact.digest
    return path, config, digests


def source(kube: KubeClient, name: str, ref: dict[str, str], revision: str | None = None) -> None:
    obj: dict[str, Any] = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "OCIRepository",
        "metadata": {"name": name, "namespace": "flux-system"},
        "spec": {"interval": "1m", "url": f"oci://local-registry:5000/{REPOSITORY}", "ref": ref},
    }
    kube.apply(obj)
    if revision is not None:
        status = {"status": {"artifact": {"revision": revision}}}
        kube.merge_patch(OCI_REPOSITORIES, name, status, "flux-system", subresource="status")


def remaining(config: ClusterConfig) -> set[str]:
    return {artifact.tag for artifact in list_versions(config, "app")}


def cli(config_path: Path, *argv: str) -> int:
    return main(["-c", str(config_path), "workload", "prune", *argv])


def prune_by_cli(config_path: Path, config: ClusterConfig) -> set[str]:
    assert cli(config_path, "--keep", "1", "--yes") == 0
    return remaining(config)


def prune_by_dashboard(config_path: Path, config: ClusterConfig) -> set[str]:
    services = ClusterServices(config)
    plan = services.prune("app", 1, True)
    services.prune("app", 1, False, plan.deleted_digests)
    return remaining(config)


PRUNERS = [pytest.param(prune_by_cli, id="cli"), pytest.param(prune_by_dashboard, id="dashboard")]


@pytest.mark.needs_registry
@pytest.mark.parametrize("prune", PRUNERS)
def test_a_version_pinned_by_digest_survives(
    project: tuple[Path, ClusterConfig, dict[str, str]], kube: KubeClient, prune: Any
) -> None:
    path, config, digests = project
    source(kube, "pinned", {"digest": digests["0.1.1"]})
    assert prune(path, config) == {"0.3.0", "0.1.1"}


@pytest.mark.needs_registry
@pytest.mark.parametrize("prune", PRUNERS)
def test_every_version_a_semver_range_admits_survives(
    project: tuple[Path, ClusterConfig, dict[str, str]], kube: KubeClient, prune: Any
) -> None:
    path, config, digests = project
    source(kube, "follows", {"semver": ">=0.1.0 <0.2.0"}, revision=f"0.1.4@{digests['0.1.4']}")
    # Not only the one running: the newest match changes when a tag comes or goes.
    assert prune(path, config) == {"0.3.0", "0.1.0", "0.1.1", "0.1.2", "0.1.3", "0.1.4"}


@pytest.mark.needs_registry
@pytest.mark.parametrize("prune", PRUNERS)
def test_a_semver_filter_narrows_what_the_range_protects(
    project: tuple[Path, ClusterConfig, dict[str, str]], kube: KubeClient, prune: Any
) -> None:
    path, config, _ = project
    source(kube, "follows", {"semver": ">=0.1.0 <0.2.0", "semverFilter": r"^0\.1\.[34]$"})
    assert prune(path, config) == {"0.3.0", "0.1.3", "0.1.4"}


@pytest.mark.needs_registry
@pytest.mark.parametrize("prune", PRUNERS)
def test_what_a_source_last_fetched_survives_in_both_revision_forms(
    project: tuple[Path, ClusterConfig, dict[str, str]], kube: KubeClient, prune: Any
) -> None:
    path, config, digests = project
    # The spec moved on to 0.3.0, but the cluster still runs what the status says.
    source(kube, "tagged", {"tag": "0.3.0"}, revision=f"0.1.2@{digests['0.1.2']}")
    source(kube, "digest-only", {"tag": "0.3.0"}, revision=digests["0.1.0"])
    assert prune(path, config) == {"0.3.0", "0.1.2", "0.1.0"}


@pytest.mark.needs_registry
def test_an_unreadable_range_protects_every_version(
    project: tuple[Path, ClusterConfig, dict[str, str]], kube: KubeClient
) -> None:
    path, config, _ = project
    source(kube, "odd", {"semver": ">=0.1.0", "semverFilter": "(unclosed"})
    assert prune_by_cli(path, config) == set(VERSIONS)


@pytest.mark.needs_registry
def test_the_cli_says_which_source_keeps_a_version(
    project: tuple[Path, ClusterConfig, dict[str, str]],
    kube: KubeClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, _, digests = project
    source(kube, "pinned", {"digest": digests["0.2.0"]})
    capsys.readouterr()
    assert cli(path, "--keep", "1", "--dry-run") == 0
    assert f"kept 0.2.0: flux-system/pinned pins {digests['0.2.0']}" in capsys.readouterr().out


def two_versions(tmp_path: Path, kubeconfig: Path, registry: RegistryProcess) -> tuple[Path, ClusterConfig]:
    path = write_project(tmp_path, kubeconfig, registry.port)
    config = load_config(path)
    for version in ("0.1.0", "0.2.0"):
        (tmp_path / "app" / "a.yaml").write_text(configmap(version))
        push_workload(config, "app", version=version)
    return path, config


def kubeconfig_for(tmp_path: Path, server: str) -> Path:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: ksail-sim\n"
        f"clusters: [{{name: c, cluster: {{server: '{server}'}}}}]\n"
        "users: [{name: u, user: {}}]\n"
        "contexts: [{name: ksail-sim, context: {cluster: c, user: u}}]\n"
    )
    return kubeconfig


@pytest.fixture
def unreachable_project(tmp_path: Path, registry_process: RegistryProcess) -> tuple[Path, ClusterConfig]:
    """Two versions in the registry, and a kubeconfig whose API server is not listening."""
    kubeconfig = kubeconfig_for(tmp_path, f"http://127.0.0.1:{free_port()}")
    return two_versions(tmp_path, kubeconfig, registry_process)


class NotFoundEverywhere(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.mark.needs_registry
def test_a_404_from_a_server_that_is_no_api_server_is_not_no_flux(
    tmp_path: Path, registry_process: RegistryProcess
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), NotFoundEverywhere)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        kubeconfig = kubeconfig_for(tmp_path, f"http://127.0.0.1:{server.server_address[1]}")
        path, config = two_versions(tmp_path, kubeconfig, registry_process)
        assert cli(path, "--keep", "1", "--yes") == 4
        assert remaining(config) == {"0.1.0", "0.2.0"}
    finally:
        server.shutdown()


@pytest.mark.needs_registry
def test_a_cluster_without_flux_uses_nothing(
    apiserver: object, kubeconfig: Path, tmp_path: Path, registry_process: RegistryProcess
) -> None:
    path, config = two_versions(tmp_path, kubeconfig, registry_process)  # the emulator, no Flux CRDs
    assert cli(path, "--keep", "1", "--yes") == 0
    assert remaining(config) == {"0.2.0"}


@pytest.mark.needs_registry
def test_an_unreachable_cluster_refuses_even_with_yes(
    unreachable_project: tuple[Path, ClusterConfig], capsys: pytest.CaptureFixture[str]
) -> None:
    path, config = unreachable_project
    assert cli(path, "--keep", "1", "--yes") == 4
    assert "nothing pruned" in capsys.readouterr().err
    assert remaining(config) == {"0.1.0", "0.2.0"}
    with pytest.raises(Unavailable, match="nothing pruned"):
        ClusterServices(config).prune("app", 1, False)
    assert remaining(config) == {"0.1.0", "0.2.0"}
    assert cli(path, "--keep", "1", "--yes", "--ignore-cluster-references") == 0
    assert remaining(config) == {"0.2.0"}


@pytest.mark.needs_registry
def test_the_dashboard_deletes_only_what_the_user_confirmed(
    project: tuple[Path, ClusterConfig, dict[str, str]],
) -> None:
    _, config, digests = project
    services = ClusterServices(config)
    services.prune("app", 1, False, (digests["0.1.0"],))
    assert remaining(config) == set(VERSIONS) - {"0.1.0"}
