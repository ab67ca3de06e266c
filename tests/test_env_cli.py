"""``ksail-tui env build``: the host build with the local Docker engine satisfies the operator's
image check, so no build Job runs; bad input is named, before Docker is asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from ksail_sim.apiserver.server import ApiServer
from ksail_tui.cli.main import main
from ksail_tui.kube.client import KubeClient
from ksail_tui.oci.registry_client import RegistryClient
from ksail_tui.operator import conditions as cond
from ksail_tui.operator.service import JOBS, EnvironmentService
from ksail_tui.operator.settings import Settings
from tests.fixtures.operator import env_status, install_catalyst
from tests.fixtures.registry import RegistryProcess
from tests.fixtures.world_environments import commit, environment, git, project_manifest


@pytest.fixture
def app(tmp_path: Path) -> tuple[Path, str]:
    repository = tmp_path / "app"
    repository.mkdir()
    git(repository, "init", "-q", "-b", "main")
    return repository, commit(repository, "first", {"Dockerfile": "FROM scratch\nLABEL app=web\n"})


@pytest.fixture
def cluster(apiserver: ApiServer, kubeconfig: Path, app: tuple[Path, str]) -> Path:
    install_catalyst(apiserver)
    apiserver.apply(project_manifest(f"file://{app[0]}"))
    apiserver.apply(environment("pr-9", app[1]))
    return kubeconfig


def build(kubeconfig: Path, source: Path, registry: str) -> int:
    where = [
        "--kubeconfig",
        str(kubeconfig),
        "--registry",
        registry,
        "--registry-endpoint",
        "local-registry:5000",
    ]
    return main(["env", "build", "pr-9", "--source", str(source), *where])


@pytest.mark.needs_docker
@pytest.mark.needs_registry
def test_a_host_build_satisfies_the_image_check(
    cluster: Path,
    app: tuple[Path, str],
    registry_process: RegistryProcess,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source, sha = app
    assert build(cluster, source, registry_process.endpoint) == 0
    with RegistryClient(registry_process.endpoint) as registry:
        digest = registry.manifest_digest("shop/web-pr-9", sha[:12])
    assert digest is not None
    assert capsys.readouterr().out == f"pushed local-registry:5000/shop/web-pr-9:{sha[:12]}@{digest}\n"
    # The operator finds it: the image step passes without a build Job.
    client = KubeClient(cluster)
    service = EnvironmentService(client, Settings(registry_access=registry_process.endpoint))
    service.converge("default", "pr-9")
    image = cond.status_of(env_status(client, "pr-9")["conditions"], cond.IMAGE_READY)
    assert image is not None and image["status"] == cond.TRUE, image
    assert client.list(JOBS, "team-a-shop-pr-9").get("items") == []


def test_a_checkout_at_another_commit_is_refused(
    cluster: Path, app: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    source, sha = app
    commit(source, "second", {"README": "later\n"})
    assert build(cluster, source, "127.0.0.1:1") == 2
    error = capsys.readouterr().err
    assert f"the Environment asks for {sha[:12]}" in error
    assert f"git -C {source} checkout {sha}" in error


def test_an_unknown_environment_is_named(
    cluster: Path, app: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["env", "build", "nope", "--source", str(app[0]), "--kubeconfig", str(cluster)])
    assert code == 2
    assert "no Environment nope in namespace default" in capsys.readouterr().err
