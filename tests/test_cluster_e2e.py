"""Opt-in end to end (KSAIL_TUI_E2E=1) on a machine with Docker, kind or k3d, and image access.

From nothing to a reconciled artifact and back: ``cluster create`` (real nodes, the registry
container on the cluster network, Flux from its release manifests), push a workload, reconcile,
check what Flux applied, then ``cluster delete --purge``.
"""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path

import pytest

from ksail_tui.cli.main import main
from ksail_tui.kube.client import OCI_REPOSITORIES, KubeClient, Resource

pytestmark = [pytest.mark.e2e, pytest.mark.needs_docker, pytest.mark.timeout(1200)]

CONFIG_MAPS = Resource("", "v1", "configmaps", "ConfigMap")


@pytest.mark.parametrize(("distribution", "program"), [("Kind", "kind"), ("K3d", "k3d")])
def test_create_reconcile_and_delete_a_real_cluster(
    distribution: str,
    program: str,
    tmp_path: Path,
    cluster_registry_port: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if shutil.which(program) is None:
        pytest.skip(f"needs {program} on PATH")
    name = f"e2e-{secrets.token_hex(3)}"
    context = f"{program}-{name}"
    kubeconfig = tmp_path / "kubeconfig"
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "settings.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {message: hello}\n"
    )
    config = tmp_path / "ksail.yaml"
    config.write_text(
        "apiVersion: ksail.io/v1alpha1\nkind: Cluster\n"
        f"metadata: {{name: {name}}}\n"
        "spec:\n"
        "  cluster:\n"
        f"    distribution: {distribution}\n"
        f"    connection: {{kubeconfig: '{kubeconfig}', context: {context}, timeout: 5m}}\n"
        f"    localRegistry: {{port: {cluster_registry_port}}}\n"
        "  workloads:\n"
        "    - {name: app, sourceDirectory: app, targetNamespace: apps}\n"
    )

    def cli(*argv: str) -> int:
        return main(["-c", str(config), *argv])

    try:
        assert cli("cluster", "create") == 0, capsys.readouterr().err
        assert cli("flux", "status") == 0
        assert cli("workload", "push") == 0, capsys.readouterr().err
        assert cli("workload", "reconcile", "--timeout", "5m") == 0, capsys.readouterr().err

        kube = KubeClient(kubeconfig, context)
        source = kube.get(OCI_REPOSITORIES, "app", "flux-system")
        ready = {c["type"]: c["status"] for c in source["status"]["conditions"]}
        assert ready["Ready"] == "True"
        assert source["status"]["artifact"]["revision"].startswith("0.1.0@sha256:")
        assert kube.get(CONFIG_MAPS, "settings", "apps")["data"] == {"message": "hello"}
        capsys.readouterr()
        assert cli("cluster", "status", "-o", "json") == 0
        status = json.loads(capsys.readouterr().out)["configured"]
        assert status["cluster"]["registry_attached"] is True
    finally:
        assert cli("cluster", "delete", "--yes", "--purge") == 0
    capsys.readouterr()
    assert cli("cluster", "status") == 4
