"""The simulated kustomize-controller as a client of both API servers: the emulator and a real
kube-apiserver (needs_kube). What a real server refuses must fail the same way on the emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ksail_sim.flux import SimulatedFlux
from ksail_tui.kube.client import DEPLOYMENTS, NAMESPACES, OCI_REPOSITORIES, KubeClient
from tests.fixtures.kube_real import KUBE_TARGETS, kubeconfig_for
from tests.test_sim_flux import (
    CONFIGMAP,
    CONFIGMAPS,
    DEPLOYMENT,
    applied_revision,
    condition,
    deploy,
    kustomization,
    push,
    wait_for,
    wait_until,
)

pytestmark = pytest.mark.needs_registry

# A Service whose name no API server accepts: its dry-run fails with 422.
BAD_SERVICE = """\
apiVersion: v1
kind: Service
metadata: {name: Bad_Name}
spec:
  selector: {app: web}
  ports: [{port: 80, protocol: TCP}]
"""
WAIT = 30.0  # the real server's controllers take their time on a busy machine


@pytest.fixture(params=KUBE_TARGETS)
def kubeconfig(request: pytest.FixtureRequest) -> Path:
    return kubeconfig_for(request)


def test_a_deployment_is_applied_then_waited_for_until_available(
    simulated_flux: SimulatedFlux, flux_cluster: KubeClient, registry_process: Any, tmp_path: Path
) -> None:
    kube = flux_cluster
    built = push(
        registry_process,
        tmp_path,
        "0.1.0",
        {"cm.yaml": CONFIGMAP.format(name="settings", version="0.1.0"), "deploy.yaml": DEPLOYMENT},
    )
    deploy(kube, tmp_path, registry_process)
    wait_for(applied_revision(kube, f"0.1.0@{built.manifest_digest}"), WAIT, "the applied revision")
    ks = kustomization(kube)
    assert condition(ks, "Ready")["reason"] == "ReconciliationSucceeded"
    assert condition(ks, "Healthy")["status"] == "True"  # the Kustomization waits (spec.wait)
    status = kube.get(DEPLOYMENTS, "web", "apps")["status"]
    assert status["availableReplicas"] == 1
    assert condition({"status": status}, "Available")["status"] == "True"


def test_one_invalid_object_leaves_the_whole_set_unwritten(
    simulated_flux: SimulatedFlux, flux_cluster: KubeClient, registry_process: Any, tmp_path: Path
) -> None:
    kube = flux_cluster
    # Sorted by file name, the Service comes last: applied one by one, the others would be written.
    push(
        registry_process,
        tmp_path,
        "0.1.0",
        {
            "a-cm.yaml": CONFIGMAP.format(name="settings", version="0.1.0"),
            "b-deploy.yaml": DEPLOYMENT,
            "c-service.yaml": BAD_SERVICE,
        },
    )
    deploy(kube, tmp_path, registry_process)
    ks = wait_until(
        lambda: kustomization(kube),
        lambda k: condition(k, "Ready").get("reason") == "ReconciliationFailed",
        "the dry-run failure",
        timeout=WAIT,
    )
    message = condition(ks, "Ready")["message"]
    assert message.startswith('Service/apps/Bad_Name dry-run failed (Invalid): Service "Bad_Name" is invalid')
    assert kube.get_or_none(CONFIGMAPS, "settings", "apps") is None
    assert kube.get_or_none(DEPLOYMENTS, "web", "apps") is None
    assert "inventory" not in ks["status"]


def test_unserved_kinds_fail_the_apply(
    simulated_flux: SimulatedFlux, flux_cluster: KubeClient, registry_process: Any, tmp_path: Path
) -> None:
    kube = flux_cluster
    push(
        registry_process,
        tmp_path,
        "0.1.0",
        {"monitor.yaml": "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: m}\n"},
    )
    deploy(kube, tmp_path, registry_process)
    ks = wait_until(
        lambda: kustomization(kube),
        lambda k: condition(k, "Ready").get("reason") == "ReconciliationFailed",
        "apply failure",
        timeout=WAIT,
    )
    assert condition(ks, "Ready")["reason"] == "ReconciliationFailed"
    assert condition(ks, "Ready")["message"] == (
        'ServiceMonitor/apps/m dry-run failed: no matches for kind "ServiceMonitor" '
        'in version "monitoring.coreos.com/v1"'
    )


def test_a_missing_target_namespace_fails_the_dry_run_until_it_exists(
    simulated_flux: SimulatedFlux, flux_cluster: KubeClient, registry_process: Any, tmp_path: Path
) -> None:
    kube = flux_cluster
    built = push(
        registry_process, tmp_path, "0.1.0", {"cm.yaml": CONFIGMAP.format(name="settings", version="a")}
    )
    deploy(kube, tmp_path, registry_process)
    wait_for(applied_revision(kube, f"0.1.0@{built.manifest_digest}"), WAIT, "first apply")
    kube.delete(NAMESPACES, "apps")
    wait_for(lambda: kube.get_or_none(NAMESPACES, "apps") is None, WAIT, "namespace deletion")
    moved = push(
        registry_process, tmp_path, "0.1.1", {"cm.yaml": CONFIGMAP.format(name="settings", version="b")}
    )
    kube.merge_patch(OCI_REPOSITORIES, "app", {"spec": {"ref": {"tag": "0.1.1"}}}, "flux-system")
    wait_for(
        lambda: (
            condition(kustomization(kube), "Ready").get("message")
            == 'ConfigMap/apps/settings dry-run failed (NotFound): namespaces "apps" not found'
        ),
        WAIT,
        "missing namespace",
    )
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}})
    wait_for(
        applied_revision(kube, f"0.1.1@{moved.manifest_digest}"), WAIT, "applied after the namespace came"
    )
