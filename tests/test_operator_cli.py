"""``ksail-tui operator run`` and ``operator manifests``: exit codes, output, a foreground run."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ksail_sim.apiserver.server import ApiServer
from ksail_tui.cli.main import main
from ksail_tui.kube.client import KubeClient
from tests.fixtures.operator import env_status, environment_manifest, wait_ready, wait_until


def test_manifests_print_crds_rbac_and_a_deployment(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["operator", "manifests", "--namespace", "ops", "--image", "example/ksail-tui:1"]) == 0
    documents = list(yaml.safe_load_all(capsys.readouterr().out))
    kinds = [d["kind"] for d in documents]
    assert kinds.count("CustomResourceDefinition") == 2
    (deployment,) = [d for d in documents if d["kind"] == "Deployment"]
    assert deployment["metadata"]["namespace"] == "ops"
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "example/ksail-tui:1"
    assert container["args"][:3] == ["operator", "run", "--in-cluster"]
    (binding,) = [d for d in documents if d["kind"] == "ClusterRoleBinding"]
    assert binding["subjects"][0]["namespace"] == "ops"


def test_manifests_crds_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["operator", "manifests", "--crds-only"]) == 0
    names = [d["metadata"]["name"] for d in yaml.safe_load_all(capsys.readouterr().out)]
    assert names == ["projects.catalyst.catalyst.dev", "environments.catalyst.catalyst.dev"]


def test_run_with_a_missing_kubeconfig_is_unavailable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["operator", "run", "--kubeconfig", str(tmp_path / "nope")]) == 4
    assert "does not exist" in capsys.readouterr().err


def test_run_without_the_crds_says_how_to_install_them(
    kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["operator", "run", "--kubeconfig", str(kubeconfig)]) == 4
    err = capsys.readouterr().err
    assert "does not serve Project" in err and "operator manifests --crds-only" in err


def test_run_rejects_bad_numbers(kubeconfig: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["operator", "run", "--kubeconfig", str(kubeconfig), "--resync", "0"]) == 2
    assert "--resync" in capsys.readouterr().err


def test_in_cluster_outside_a_pod_is_unavailable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["operator", "run", "--in-cluster"]) == 4
    assert "service account" in capsys.readouterr().err


def _ctrl_c_as_in_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_run(kubeconfig: Path) -> subprocess.Popen[str]:
    command = ["operator", "run", "--kubeconfig", str(kubeconfig), "--watch-timeout", "5"]
    return subprocess.Popen(
        [sys.executable, "-m", "ksail_tui", *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_ctrl_c_as_in_a_terminal,
    )


def test_run_reconciles_in_the_foreground_until_ctrl_c(
    catalyst_apiserver: ApiServer, kubeconfig: Path
) -> None:
    process = _start_run(kubeconfig)
    try:
        catalyst_apiserver.apply(environment_manifest("cli"))
        client = KubeClient(kubeconfig)
        wait_ready(client, "cli", timeout=30)
        environments = catalyst_apiserver.store.type_for("catalyst.catalyst.dev/v1alpha1", "Environment")
        assert environments is not None
        wait_until(lambda: catalyst_apiserver.store.watch_count(environments) == 1, "one watch")
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 0, stderr
        assert "Traceback" not in stderr
        assert "watching Environments on http://127.0.0.1" in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_run_uses_the_connection_of_ksail_yaml(
    kubeconfig: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "ksail.yaml"
    config.write_text(
        "apiVersion: ksail.io/v1alpha1\nkind: Cluster\n"
        f"metadata: {{name: demo}}\nspec: {{cluster: {{connection: {{kubeconfig: {kubeconfig}}}}}}}\n"
    )
    # The emulator behind that kubeconfig has no Catalyst CRDs: proof that it was the one asked.
    assert main(["operator", "run", "--config", str(config)]) == 4
    assert "does not serve Project" in capsys.readouterr().err


def test_an_operator_killed_mid_work_converges_when_started_again(
    catalyst_apiserver: ApiServer, kubeconfig: Path
) -> None:
    client = KubeClient(kubeconfig)
    names = [f"kill-{i}" for i in range(20)]
    first = _start_run(kubeconfig)
    try:
        for name in names:
            catalyst_apiserver.apply(environment_manifest(name))
        # SIGKILL as soon as some work is done: no cleanup, no status written on the way out.
        wait_until(lambda: env_status(client, names[0]).get("conditions"), "the first pass", timeout=30)
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    unfinished = [n for n in names if env_status(client, n).get("phase") != "Ready"]
    second = _start_run(kubeconfig)
    try:
        for name in names:
            wait_ready(client, name, timeout=30)
        second.send_signal(signal.SIGINT)
        _, stderr = second.communicate(timeout=30)
        assert second.returncode == 0, stderr
    finally:
        if second.poll() is None:
            second.kill()
            second.communicate()
    assert unfinished, "the kill came after all the work; the test proved nothing"
