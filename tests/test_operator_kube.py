"""The Environment operator against a real kube-apiserver and kube-controller-manager
(``needs_kube``): namespace deletion through Terminating, quota admission and LimitRange
defaulting are the real ones here, not the emulator's."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip(
    "tests.fixtures.kube_real", reason="the real control plane tier (tests/fixtures/kube_real.py)"
)

from ksail_tui.kube.client import NAMESPACES, ApiError, KubeClient, Resource
from ksail_tui.operator.crds import catalyst_crds
from ksail_tui.operator.kopf_app import OperatorThread
from ksail_tui.operator.service import ENVIRONMENTS
from tests.fixtures.operator import (
    PROJECT_NAMESPACE,
    TEST_WATCH_TIMEOUTS,
    environment_manifest,
    project_manifest,
    wait_ready,
    wait_until,
)

pytestmark = pytest.mark.needs_kube

CRDS = Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False)
PODS = Resource("", "v1", "pods", "Pod")
QUOTAS = Resource("", "v1", "resourcequotas", "ResourceQuota")
NETWORK_POLICIES = Resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy")


@pytest.fixture
def kube_client(real_kube: Any) -> KubeClient:
    client = KubeClient(real_kube.kubeconfig)
    for crd in catalyst_crds():
        client.apply(crd)
    for crd in catalyst_crds():
        wait_until(
            lambda crd=crd: any(
                c["type"] == "Established" and c["status"] == "True"
                for c in (client.get(CRDS, crd["metadata"]["name"]).get("status") or {}).get("conditions")
                or []
            ),
            "the CRD to be established",
        )
    client.forget_discovery()
    client.apply(project_manifest("5"))
    return client


@pytest.fixture
def operator(kube_client: KubeClient) -> Iterator[OperatorThread]:
    with OperatorThread(kube_client, timeouts=TEST_WATCH_TIMEOUTS) as running:
        time.sleep(1.0)  # kopf lists and opens its watches; no store to ask here
        yield running
    assert running.error is None


def pod(name: str, resources: dict[str, Any] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": "registry.k8s.io/pause:3.9"}
    if resources is not None:
        container["resources"] = resources
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [container]},
    }


def test_ready_then_quota_and_limits_are_enforced_by_the_real_server(
    kube_client: KubeClient, operator: OperatorThread
) -> None:
    kube_client.apply(environment_manifest("real-1"))
    status = wait_ready(kube_client, "real-1", timeout=60)
    namespace = status["namespace"]
    assert namespace == "team-a-shop-real-1"
    quota = kube_client.get(QUOTAS, "default-quota", namespace)
    assert quota["spec"]["hard"]["pods"] == "5"
    # The server's quota admission reads an informer's cache (and caches an empty live lookup for
    # 30 s): a pod created the moment the quota exists can pass unchecked. Once the quota controller
    # has written status.hard, the server has seen the quota.
    wait_until(
        lambda: (
            (kube_client.get(QUOTAS, "default-quota", namespace).get("status") or {}).get("hard")
            == quota["spec"]["hard"]
        ),
        "the quota controller to account for the quota",
        timeout=30,
    )

    # Admitted although it sets no resources: the LimitRange gives it the defaults.
    admitted = kube_client.create(PODS, pod("no-resources"), namespace)
    (container,) = admitted["spec"]["containers"]
    assert container["resources"]["requests"] == {"cpu": "100m", "memory": "128Mi"}
    assert container["resources"]["limits"] == {"cpu": "500m", "memory": "512Mi"}

    # Refused: more than the quota's limits.memory (8Gi).
    with pytest.raises(ApiError) as refused:
        kube_client.create(
            PODS, pod("too-big", {"limits": {"memory": "16Gi"}, "requests": {"memory": "1Gi"}}), namespace
        )
    assert refused.value.status == 403 and "exceeded quota" in refused.value.api_message

    # A spec change updates the quota, and admission follows it.
    kube_client.merge_patch(ENVIRONMENTS, "real-1", {"spec": {"quota": {"pods": "1"}}}, PROJECT_NAMESPACE)
    wait_until(
        lambda: kube_client.get(QUOTAS, "default-quota", namespace)["spec"]["hard"]["pods"] == "1",
        "the quota to follow the spec",
        timeout=30,
    )
    wait_until(
        lambda: (
            (kube_client.get(QUOTAS, "default-quota", namespace).get("status") or {})
            .get("hard", {})
            .get("pods")
            == "1"
        ),
        "the quota controller to account for it",
        timeout=30,
    )
    with pytest.raises(ApiError) as second:
        kube_client.create(PODS, pod("second"), namespace)
    assert second.value.status == 403


def test_drift_is_repaired_and_deletion_waits_for_the_namespace(
    kube_client: KubeClient, operator: OperatorThread
) -> None:
    kube_client.apply(environment_manifest("real-2"))
    namespace = wait_ready(kube_client, "real-2", timeout=60)["namespace"]
    kube_client.delete(NETWORK_POLICIES, "default-policy", namespace)
    wait_until(
        lambda: kube_client.get_or_none(NETWORK_POLICIES, "default-policy", namespace),
        "the NetworkPolicy to be recreated",
        timeout=30,
    )
    kube_client.create(PODS, pod("leftover"), namespace)

    kube_client.delete(ENVIRONMENTS, "real-2", PROJECT_NAMESPACE)
    seen_terminating = []

    def environment_gone() -> bool:
        ns = kube_client.get_or_none(NAMESPACES, namespace)
        if ns is not None and (ns.get("status") or {}).get("phase") == "Terminating":
            seen_terminating.append(ns)
        if kube_client.get_or_none(ENVIRONMENTS, "real-2", PROJECT_NAMESPACE) is None:
            # The finalizer let go only once the namespace was really gone.
            assert kube_client.get_or_none(NAMESPACES, namespace) is None
            return True
        return False

    wait_until(environment_gone, "the Environment and its namespace to be gone", timeout=120)
    assert seen_terminating, "the real namespace went through Terminating"
