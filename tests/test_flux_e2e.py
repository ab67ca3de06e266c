"""Issue 5 end to end: the CLI against the emulator, the simulated Flux controllers and the real registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from ksail_sim.flux import SimulatedFlux
from ksail_sim.flux.crds import flux_crds
from ksail_tui.cli.main import main
from ksail_tui.config import load_config
from ksail_tui.kube.client import DEPLOYMENTS, KubeClient
from ksail_tui.oci.service import list_versions
from tests.fixtures.kube_real import KUBE_TARGETS, context_of, kubeconfig_for
from tests.fixtures.sim_flux import IN_CLUSTER_REGISTRY

pytestmark = pytest.mark.needs_registry

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings}}\ndata: {{message: {message}}}\n"
UNSERVED_KIND = (
    "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: tls}\nspec: {secretName: tls}\n"
)


def write_config(root: Path, kubeconfig: Path, port: int, version: str = "0.1.0") -> Path:
    path = root / "ksail.yaml"
    path.write_text(
        "apiVersion: ksail.io/v1alpha1\nkind: Cluster\n"
        "metadata: {name: t}\n"
        "spec:\n"
        "  cluster:\n"
        f"    connection: {{kubeconfig: {kubeconfig}, context: {context_of(kubeconfig)}, timeout: 60s}}\n"
        f"    localRegistry: {{port: {port}, clusterEndpoint: '{IN_CLUSTER_REGISTRY}'}}\n"
        "  workloads:\n"
        f"    - {{name: app, sourceDirectory: app, targetNamespace: apps, version: {version}}}\n"
    )
    return path


@pytest.fixture(params=KUBE_TARGETS)
def kubeconfig(request: pytest.FixtureRequest) -> Path:
    """The flows run on the emulator and on a real kube-apiserver (needs_kube)."""
    return kubeconfig_for(request)


@pytest.fixture
def emulator_kubeconfig(apiserver: Any, tmp_path: Path) -> Path:
    return Path(apiserver.write_kubeconfig(tmp_path / "kubeconfig"))


@pytest.fixture
def project(tmp_path: Path, kubeconfig: Path, registry_process: Any, simulated_flux: SimulatedFlux) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "settings.yaml").write_text(CONFIGMAP.format(message="one"))
    return write_config(tmp_path, kubeconfig, registry_process.port)


def cli(config: Path, *argv: str) -> int:
    return main(["-c", str(config), *argv])


def status_json(config: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    cli(config, "workload", "status", "-o", "json")
    (status,) = json.loads(capsys.readouterr().out)
    return status


def test_push_apply_reconcile_then_upgrade(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(project, "workload", "push") == 0
    assert cli(project, "workload", "apply") == 0
    assert cli(project, "workload", "reconcile") == 0
    (pushed,) = list_versions(load_config(project), "app")
    status = status_json(project, capsys)
    assert status["health"] == "Ready" and status["current"]
    assert status["artifact_revision"] == status["applied_revision"] == f"0.1.0@{pushed.digest}"

    (project.parent / "app" / "settings.yaml").write_text(CONFIGMAP.format(message="two"))
    write_config(project.parent, *_connection(project), version="0.1.1")
    assert cli(project, "workload", "push") == 0
    assert cli(project, "workload", "apply") == 0
    capsys.readouterr()
    assert cli(project, "workload", "reconcile", "-o", "json") == 0
    (outcome,) = json.loads(capsys.readouterr().out)
    newest = list_versions(load_config(project), "app")[0]
    assert newest.tag == "0.1.1"
    assert outcome["applied_revision"] == f"0.1.1@{newest.digest}"
    print(f"0.1.1 reconciled in {outcome['seconds']:.3f}s")  # the benchmark measures this properly


def _connection(config_path: Path) -> tuple[Path, int]:
    config = load_config(config_path)
    return Path(config.spec.cluster.connection.kubeconfig), config.registry.port


def test_a_broken_manifest_fails_fast_with_flux_message(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project.parent / "app" / "certificate.yaml").write_text(UNSERVED_KIND)
    assert cli(project, "workload", "push") == 0  # valid locally: only the cluster lacks the kind
    assert cli(project, "workload", "apply") == 0
    capsys.readouterr()
    # A 60 s timeout: exit 1 (not 3) proves reconcile did not sit until the deadline.
    assert cli(project, "workload", "reconcile", "--timeout", "60s") == 1
    out = capsys.readouterr().out
    assert "no matches for kind" in out and "Certificate" in out
    status = status_json(project, capsys)
    assert status["health"] == "Failing" and not status["current"]


def test_suspended_is_an_error_and_resume_recovers(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(project, "workload", "push") == 0
    assert cli(project, "workload", "apply") == 0
    assert cli(project, "workload", "suspend") == 0
    assert status_json(project, capsys)["health"] == "Suspended"
    assert cli(project, "workload", "reconcile") == 1
    assert "is suspended" in capsys.readouterr().out
    assert cli(project, "workload", "reconcile", "--resume") == 0


def test_timeout_exits_3(
    project: Path, simulated_flux: SimulatedFlux, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(project, "workload", "push") == 0
    assert cli(project, "workload", "apply") == 0
    simulated_flux.stop()  # nobody answers now
    assert cli(project, "workload", "reconcile", "--timeout", "500ms") == 3
    assert "timed out" in capsys.readouterr().out


def install_manifests(path: Path) -> Path:
    """A Flux install.yaml in miniature: the real CRDs, the namespace and labelled Deployments."""
    labels = {"app.kubernetes.io/part-of": "flux", "app.kubernetes.io/version": "v2.9.0"}
    documents: list[dict[str, Any]] = [
        *flux_crds(),
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "flux-system"}},
    ]
    for component in ("source-controller", "kustomize-controller", "helm-controller"):
        documents.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {
                    "name": component,
                    "namespace": "flux-system",
                    "labels": labels | {"app.kubernetes.io/component": component},
                },
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": component}},
                    "template": {
                        "metadata": {"labels": {"app": component}},
                        "spec": {"containers": [{"name": "manager", "image": f"ghcr.io/fluxcd/{component}"}]},
                    },
                },
            }
        )
    path.write_text(yaml.safe_dump_all(documents))
    return path


def test_install_from_a_manifests_file_then_detects_it(
    tmp_path: Path, emulator_kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = emulator_kubeconfig
    config = write_config(tmp_path, kubeconfig, 5050)
    manifests = install_manifests(tmp_path / "install.yaml")
    assert cli(config, "flux", "status") == 4
    assert "not installed" in capsys.readouterr().out
    assert cli(config, "flux", "install", "--manifests", str(manifests), "--timeout", "20s") == 0
    captured = capsys.readouterr()
    assert "Flux v2.9.0 is installed" in captured.out
    assert "waiting for CRD ocirepositories.source.toolkit.fluxcd.io" in captured.err
    kube = KubeClient(kubeconfig)
    names = {d["metadata"]["name"] for d in kube.list(DEPLOYMENTS, "flux-system")["items"]}
    assert names == {"source-controller", "kustomize-controller"}  # helm-controller filtered out
    assert cli(config, "flux", "install", "--manifests", str(manifests)) == 0
    assert "nothing to do" in capsys.readouterr().err
    assert cli(config, "flux", "status", "-o", "json") == 0
    assert json.loads(capsys.readouterr().out)["installed"] is True


def test_install_with_a_missing_manifests_file_is_bad_input(
    tmp_path: Path, emulator_kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, emulator_kubeconfig, 5050)
    assert cli(config, "flux", "install", "--manifests", str(tmp_path / "nope.yaml")) == 2
    assert "nope.yaml" in capsys.readouterr().err


def test_status_shows_a_push_flux_has_not_fetched_yet(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(project, "workload", "push") == 0
    assert cli(project, "workload", "apply") == 0
    assert cli(project, "workload", "reconcile") == 0
    assert status_json(project, capsys)["current"]
    # Overwrite the tag the OCIRepository follows; Flux only sees it at its next interval.
    (project.parent / "app" / "settings.yaml").write_text(CONFIGMAP.format(message="moved"))
    assert cli(project, "workload", "push", "--force") == 0
    (moved,) = list_versions(load_config(project), "app")
    status = status_json(project, capsys)
    assert status["health"] == "Progressing" and not status["current"]
    assert status["pushed_revision"] == f"0.1.0@{moved.digest}"
    assert "waiting for Flux to fetch" in status["summary"]
    assert cli(project, "workload", "status") == 3
    assert cli(project, "workload", "reconcile") == 0
    assert status_json(project, capsys)["current"]
