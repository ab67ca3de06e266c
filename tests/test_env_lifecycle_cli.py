"""``ksail-tui env create|list|status|wait|reconcile|delete`` and ``project init`` against the
emulator with the operator running: every command and its exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ksail_sim.apiserver.server import ApiServer
from ksail_tui.cli.main import main
from ksail_tui.kube.client import NAMESPACES, KubeClient
from ksail_tui.operator import environments, naming
from ksail_tui.operator.service import ENVIRONMENTS, PROJECTS
from tests.fixtures.operator import (
    PROJECT_NAMESPACE,
    OperatorFactory,
    environment_manifest,
    wait_ready,
    wait_until,
)
from tests.fixtures.ui_environments import git_checkout

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def env(kubeconfig: Path, *args: str) -> int:
    return main(["env", *args, "--kubeconfig", str(kubeconfig)])


def out_json(capsys: pytest.CaptureFixture[str]) -> object:
    return json.loads(capsys.readouterr().out)


def test_create_then_wait_prints_each_step_and_is_ready(
    kubeconfig: Path, start_operator: OperatorFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    start_operator()
    assert (
        env(kubeconfig, "create", "pr-1", "--project", "shop", "--branch", "feat/x", "--commit", COMMIT) == 0
    )
    assert "created Environment pr-1 (feat/x@0123456)" in capsys.readouterr().out
    assert env(kubeconfig, "wait", "pr-1", "--timeout", "20s") == 0
    captured = capsys.readouterr()
    assert "Environment pr-1 is Ready" in captured.out
    for step in ("namespace", "quota", "limits", "network-policy"):
        assert f"Succeeded {step}" in captured.err
    assert env(kubeconfig, "status", "pr-1", "-o", "json") == 0
    status = out_json(capsys)
    assert isinstance(status, dict)
    assert status["phase"] == "Ready" and status["branch"] == "feat/x" and status["commit"] == COMMIT
    assert status["progress"]["done"] == status["progress"]["total"] > 0
    assert status["targetNamespace"] == "local-shop-pr-1"  # the Project has no team label


def test_list_shows_phase_and_progress(
    kubeconfig: Path,
    operator_client: KubeClient,
    start_operator: OperatorFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    start_operator()
    assert env(kubeconfig, "list") == 0
    assert "no Environments" in capsys.readouterr().out
    env(kubeconfig, "create", "pr-2", "--project", "shop", "--commit", COMMIT)
    wait_ready(operator_client, "pr-2")
    capsys.readouterr()
    assert env(kubeconfig, "list") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["NAME", "PROJECT", "REVISION", "PHASE", "PROGRESS", "URL", "AGE"]
    name, project, revision, phase, progress = table[1].split()[:5]
    assert (name, project, revision, phase) == ("pr-2", "shop", "0123456", "Ready")
    done, total = progress.split("/")
    assert done == total  # every step the operator has, however many
    assert env(kubeconfig, "list", "-o", "json") == 0
    assert [e["name"] for e in out_json(capsys)] == ["pr-2"]  # type: ignore[union-attr]


def test_status_exit_codes_ready_failed_in_progress(
    catalyst_apiserver: ApiServer,
    kubeconfig: Path,
    operator_client: KubeClient,
    start_operator: OperatorFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # No operator yet: a new Environment has no status, it is on its way (3).
    env(kubeconfig, "create", "ok", "--project", "shop", "--commit", COMMIT)
    assert env(kubeconfig, "status", "ok") == 3
    start_operator()
    wait_ready(operator_client, "ok")
    assert env(kubeconfig, "status", "ok") == 0
    # Without its identity labels the operator reports InvalidSpec: Failed (1).
    broken = environment_manifest("broken")
    del broken["metadata"]["labels"][naming.TEAM_LABEL]
    catalyst_apiserver.apply(broken)
    wait_until(lambda: environments.Environments(operator_client).get("broken").phase == "Failed", "Failed")
    capsys.readouterr()
    assert env(kubeconfig, "status", "broken") == 1
    assert "catalyst.dev/team" in capsys.readouterr().out
    assert env(kubeconfig, "status") == 1  # the worst of all of them
    assert env(kubeconfig, "status", "nope") == 2


def test_wait_fails_fast_on_failed_and_times_out_with_3(
    catalyst_apiserver: ApiServer,
    kubeconfig: Path,
    start_operator: OperatorFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    start_operator()
    waiting = environment_manifest("slow")
    waiting["spec"]["projectRef"]["name"] = "ghost"  # ProjectNotFound: the operator keeps waiting
    catalyst_apiserver.apply(waiting)
    assert env(kubeconfig, "wait", "slow", "--timeout", "1s") == 3
    broken = environment_manifest("broken")
    del broken["metadata"]["labels"][naming.PROJECT_LABEL]
    catalyst_apiserver.apply(broken)
    capsys.readouterr()
    assert env(kubeconfig, "wait", "broken", "--timeout", "20s") == 1
    assert "Environment broken failed" in capsys.readouterr().err


def test_create_rejects_bad_input_with_2(
    catalyst_apiserver: ApiServer, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert env(kubeconfig, "create", "Bad_Name", "--project", "shop", "--commit", COMMIT) == 2
    assert "not a valid Environment name" in capsys.readouterr().err
    assert env(kubeconfig, "create", "pr-9", "--project", "nope", "--commit", COMMIT) == 2
    assert "project init" in capsys.readouterr().err
    assert env(kubeconfig, "create", "pr-9", "--project", "shop", "--commit", COMMIT, "--ttl", "soon") == 2
    assert env(kubeconfig, "create", "pr-9", "--project", "shop", "--commit", COMMIT) == 0
    assert env(kubeconfig, "create", "pr-9", "--project", "shop", "--commit", COMMIT) == 2
    assert "already exists" in capsys.readouterr().err


def test_create_takes_the_branch_and_commit_checked_out_here(
    catalyst_apiserver: ApiServer,
    kubeconfig: Path,
    operator_client: KubeClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = tmp_path / "repo"
    head = git_checkout(repo)
    monkeypatch.chdir(repo)
    assert env(kubeconfig, "create", "login", "--project", "shop") == 0
    source = operator_client.get(ENVIRONMENTS, "login", PROJECT_NAMESPACE)["spec"]["sources"][0]
    assert source == {"name": "app", "branch": "feature/login", "commitSha": head}
    monkeypatch.chdir(tmp_path)  # no git checkout here
    assert env(kubeconfig, "create", "other", "--project", "shop") == 2


def test_reconcile_annotates_the_environment_and_its_flux_objects(
    kubeconfig: Path, operator_client: KubeClient, start_operator: OperatorFactory
) -> None:
    from ksail_sim.flux import install_simulated_flux

    install_simulated_flux(operator_client)
    operator_client.forget_discovery()
    start_operator()
    env(kubeconfig, "create", "pr-3", "--project", "shop", "--commit", COMMIT)
    namespace = wait_ready(operator_client, "pr-3")["namespace"]
    kustomizations = operator_client.resolve("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
    operator_client.create(
        kustomizations,
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {"interval": "1m", "prune": True, "sourceRef": {"kind": "OCIRepository", "name": "web"}},
        },
        namespace,
    )
    assert env(kubeconfig, "reconcile", "pr-3") == 0
    annotations = operator_client.get(ENVIRONMENTS, "pr-3", PROJECT_NAMESPACE)["metadata"]["annotations"]
    asked = annotations[environments.RECONCILE_ANNOTATION]
    flux = operator_client.get(kustomizations, "web", namespace)["metadata"]["annotations"]
    assert flux[environments.FLUX_RECONCILE_ANNOTATION] == asked
    assert env(kubeconfig, "reconcile", "nope") == 2


def test_delete_asks_first_and_waits_until_the_namespace_is_gone(
    kubeconfig: Path,
    operator_client: KubeClient,
    start_operator: OperatorFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    start_operator()
    env(kubeconfig, "create", "pr-4", "--project", "shop", "--commit", COMMIT)
    namespace = wait_ready(operator_client, "pr-4")["namespace"]
    assert env(kubeconfig, "delete", "pr-4") == 2  # no terminal to ask on, no --yes
    assert operator_client.get_or_none(ENVIRONMENTS, "pr-4", PROJECT_NAMESPACE) is not None
    assert env(kubeconfig, "delete", "pr-4", "--yes", "--wait", "--timeout", "20s") == 0
    assert f"and namespace {namespace}" in capsys.readouterr().out
    assert operator_client.get_or_none(NAMESPACES, namespace) is None
    assert operator_client.get_or_none(ENVIRONMENTS, "pr-4", PROJECT_NAMESPACE) is None
    assert env(kubeconfig, "delete", "pr-4", "--yes") == 2


def test_without_the_crds_every_command_is_unavailable_with_4(
    kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert env(kubeconfig, "list") == 4
    assert "operator manifests --crds-only" in capsys.readouterr().err
    assert env(kubeconfig, "status", "x") == 4
    assert env(kubeconfig, "create", "x", "--project", "p", "--commit", COMMIT) == 4


def test_project_init_writes_the_project_from_ksail_yaml(
    catalyst_apiserver: ApiServer, kubeconfig: Path, operator_client: KubeClient, tmp_path: Path
) -> None:
    git_checkout(tmp_path, branch="main")
    (tmp_path / "ksail.yaml").write_text(
        "apiVersion: ksail.io/v1alpha1\nkind: Cluster\nmetadata: {name: web}\nspec:\n"
        f"  cluster: {{connection: {{kubeconfig: {kubeconfig}}}}}\n"
        "  workloads: [{name: app, sourceDirectory: k8s}]\n"
        "  environments: {team: team-a, quota: {pods: '7'}, builds: [{name: web, path: src}]}\n"
    )
    config = ["--config", str(tmp_path / "ksail.yaml")]
    assert main(["project", "init", *config]) == 0
    project = operator_client.get(PROJECTS, "web", PROJECT_NAMESPACE)
    assert project["metadata"]["labels"][naming.TEAM_LABEL] == "team-a"
    assert project["spec"]["resources"]["defaultQuota"] == {"pods": "7"}
    template = project["spec"]["templates"]["development"]
    assert template["artifact"]["repository"] == "web/app" and template["path"] == "k8s"
    assert template["builds"] == [
        {"name": "web", "sourceRef": "app", "path": "src", "dockerfile": "Dockerfile"}
    ]
    assert project["spec"]["sources"][0]["branch"] == "main"
    assert main(["project", "init", *config]) == 0  # again: updated, not refused
    (tmp_path / "ksail.yaml").write_text(
        "apiVersion: ksail.io/v1alpha1\nkind: Cluster\nspec: {environments: {ttl: x}}\n"
    )
    assert main(["project", "init", *config]) == 2


def test_create_takes_project_and_ttl_from_ksail_yaml(
    catalyst_apiserver: ApiServer, kubeconfig: Path, operator_client: KubeClient, tmp_path: Path
) -> None:
    (tmp_path / "ksail.yaml").write_text(
        "apiVersion: ksail.io/v1alpha1\nkind: Cluster\nmetadata: {name: web}\nspec:\n"
        f"  cluster: {{connection: {{kubeconfig: {kubeconfig}}}}}\n"
        "  environments: {project: shop, ttl: 2h}\n"
    )
    config = ["--config", str(tmp_path / "ksail.yaml")]
    assert main(["env", "create", "pr-8", "--commit", COMMIT, *config]) == 0
    env = operator_client.get(ENVIRONMENTS, "pr-8", PROJECT_NAMESPACE)
    assert env["spec"]["projectRef"] == {"name": "shop"} and env["spec"]["ttl"] == "2h"
