"""The Environment operator (kopf, standalone, in a thread) against the emulated API server:
create, change, drift, delete, TTL, and the faults (server restart, silent watch, operator
stopped between steps)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ksail_sim.apiserver.server import ApiServer
from ksail_tui.kube.client import NAMESPACES, ApiError, KubeClient, Resource
from ksail_tui.operator import naming
from ksail_tui.operator.kopf_app import OperatorThread
from ksail_tui.operator.reconcile import Observed, reconcile
from ksail_tui.operator.service import ENVIRONMENTS, EnvironmentService
from ksail_tui.operator.settings import Settings
from tests.fixtures.operator import (
    PROJECT_NAMESPACE,
    TEST_WATCH_TIMEOUTS,
    OperatorFactory,
    create,
    env_status,
    environment_manifest,
    install_catalyst,
    project_manifest,
    wait_ready,
    wait_until,
)

NETWORK_POLICIES = Resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy")
QUOTAS = Resource("", "v1", "resourcequotas", "ResourceQuota")
EVENTS = Resource("", "v1", "events", "Event")


def test_an_environment_gets_its_namespace_and_policies_and_becomes_ready(
    catalyst_apiserver: ApiServer, operator_client: KubeClient, start_operator: OperatorFactory
) -> None:
    start_operator()
    create(catalyst_apiserver, "pr-1")
    status = wait_ready(operator_client, "pr-1")
    namespace = "team-a-shop-pr-1"
    assert status["namespace"] == namespace and status["observedGeneration"] == 1
    assert status["progress"] == {"done": 9, "total": 9}  # no template: nothing to build or deploy
    ns = operator_client.get(NAMESPACES, namespace)
    assert ns["metadata"]["labels"][naming.ENVIRONMENT_LABEL] == "pr-1"
    quota = operator_client.get(QUOTAS, "default-quota", namespace)
    assert quota["spec"]["hard"]["pods"] == "30"  # the Project's defaultQuota
    assert operator_client.get(NETWORK_POLICIES, "default-policy", namespace)
    env = operator_client.get(ENVIRONMENTS, "pr-1", PROJECT_NAMESPACE)
    assert naming.FINALIZER in env["metadata"]["finalizers"]
    reasons = wait_until(
        lambda: (
            {e["reason"] for e in operator_client.list(EVENTS, PROJECT_NAMESPACE)["items"]}
            >= {"NamespaceReady", "QuotaReady", "LimitsReady", "NetworkPolicyReady"}
        ),
        "the step events",
    )
    assert reasons


def test_an_operator_thread_does_not_warn_that_it_takes_no_signals(
    start_operator: OperatorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # It stops on its stop flag; kopf's warning would reach the terminal of the demo on quit.
    start_operator().stop()
    assert not [record for record in caplog.records if "OS signals are ignored" in record.getMessage()]


def test_a_spec_change_updates_the_quota(
    catalyst_apiserver: ApiServer, operator_client: KubeClient, start_operator: OperatorFactory
) -> None:
    start_operator()
    create(catalyst_apiserver, "pr-2")
    wait_ready(operator_client, "pr-2")
    operator_client.merge_patch(ENVIRONMENTS, "pr-2", {"spec": {"quota": {"pods": "3"}}}, PROJECT_NAMESPACE)
    wait_until(
        lambda: (
            operator_client.get(QUOTAS, "default-quota", "team-a-shop-pr-2")["spec"]["hard"]["pods"] == "3"
        ),
        "the quota to follow the spec",
    )
    # The first status of generation 2 may still say Provisioning (its policies being applied).
    wait_until(
        lambda: (
            (s := env_status(operator_client, "pr-2")).get("observedGeneration") == 2
            and s.get("phase") == "Ready"
        ),
        "Ready at observedGeneration 2",
    )


def test_objects_deleted_by_hand_come_back(
    catalyst_apiserver: ApiServer, operator_client: KubeClient, start_operator: OperatorFactory
) -> None:
    start_operator()
    create(catalyst_apiserver, "pr-3")
    wait_ready(operator_client, "pr-3")
    namespace = "team-a-shop-pr-3"
    operator_client.delete(NETWORK_POLICIES, "default-policy", namespace)
    wait_until(
        lambda: operator_client.get_or_none(NETWORK_POLICIES, "default-policy", namespace),
        "the NetworkPolicy to be recreated",
    )
    operator_client.delete(NAMESPACES, namespace)
    wait_until(
        lambda: operator_client.get_or_none(QUOTAS, "default-quota", namespace), "a new namespace and quota"
    )
    wait_ready(operator_client, "pr-3")


def test_deleting_an_environment_deletes_its_namespace(
    catalyst_apiserver: ApiServer, operator_client: KubeClient, start_operator: OperatorFactory
) -> None:
    start_operator()
    create(catalyst_apiserver, "pr-4")
    wait_ready(operator_client, "pr-4")
    operator_client.delete(ENVIRONMENTS, "pr-4", PROJECT_NAMESPACE)
    # The emulator deletes a namespace and its contents at once; a real server goes through
    # Terminating first, which the finalizer waits out (see the real-server tier).
    wait_until(
        lambda: operator_client.get_or_none(ENVIRONMENTS, "pr-4", PROJECT_NAMESPACE) is None,
        "the Environment gone",
    )
    assert operator_client.get_or_none(NAMESPACES, "team-a-shop-pr-4") is None


def test_a_namespace_that_is_not_ours_is_never_deleted(
    catalyst_apiserver: ApiServer, operator_client: KubeClient, start_operator: OperatorFactory
) -> None:
    catalyst_apiserver.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a-shop-pr-5"}}
    )
    start_operator()
    create(catalyst_apiserver, "pr-5")
    status = wait_until(
        lambda: (s := env_status(operator_client, "pr-5")).get("phase") == "Failed" and s, "a conflict"
    )
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "NamespaceConflict"
    operator_client.delete(ENVIRONMENTS, "pr-5", PROJECT_NAMESPACE)
    wait_until(
        lambda: operator_client.get_or_none(ENVIRONMENTS, "pr-5", PROJECT_NAMESPACE) is None,
        "the Environment gone",
    )
    assert operator_client.get_or_none(NAMESPACES, "team-a-shop-pr-5") is not None


def test_missing_labels_are_reported_and_fixed_labels_recover(
    catalyst_apiserver: ApiServer, operator_client: KubeClient, start_operator: OperatorFactory
) -> None:
    start_operator()
    manifest = environment_manifest("pr-6")
    del manifest["metadata"]["labels"][naming.TEAM_LABEL]
    catalyst_apiserver.apply(manifest)
    status = wait_until(
        lambda: (s := env_status(operator_client, "pr-6")).get("conditions") and s, "a status"
    )
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert naming.TEAM_LABEL in ready["message"]
    operator_client.merge_patch(
        ENVIRONMENTS, "pr-6", {"metadata": {"labels": {naming.TEAM_LABEL: "team-a"}}}, PROJECT_NAMESPACE
    )
    wait_ready(operator_client, "pr-6")


def test_an_expired_ttl_deletes_the_environment_and_its_namespace(
    catalyst_apiserver: ApiServer, operator_client: KubeClient, start_operator: OperatorFactory
) -> None:
    start_operator(Settings(resync_seconds=1.0))
    create(catalyst_apiserver, "pr-7", ttl="1s")
    wait_until(
        lambda: operator_client.get_or_none(ENVIRONMENTS, "pr-7", PROJECT_NAMESPACE) is None,
        "the expired Environment to be deleted",
    )
    assert operator_client.get_or_none(NAMESPACES, "team-a-shop-pr-7") is None


def test_a_project_change_reaches_its_environments(
    catalyst_apiserver: ApiServer, operator_client: KubeClient, start_operator: OperatorFactory
) -> None:
    start_operator()
    create(catalyst_apiserver, "pr-11")
    wait_ready(operator_client, "pr-11")
    catalyst_apiserver.apply(project_manifest("12"))
    wait_until(
        lambda: (
            operator_client.get(QUOTAS, "default-quota", "team-a-shop-pr-11")["spec"]["hard"]["pods"] == "12"
        ),
        "the quota to follow the Project's defaultQuota",
    )


def test_an_environment_waits_for_its_project(
    apiserver: ApiServer, operator_client: KubeClient, start_operator: OperatorFactory
) -> None:
    projects = apiserver.store.type_for(naming.API_VERSION, "Project")
    assert projects is not None
    apiserver.store.delete(projects, PROJECT_NAMESPACE, "shop")
    start_operator()
    create(apiserver, "pr-12")
    status = wait_until(
        lambda: (s := env_status(operator_client, "pr-12")).get("conditions") and s, "a status"
    )
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "ProjectNotFound" and status["phase"] == "Provisioning"
    apiserver.apply(project_manifest("30"))
    wait_ready(operator_client, "pr-12")


def test_new_labels_move_the_environment_to_a_new_namespace(
    catalyst_apiserver: ApiServer, operator_client: KubeClient, start_operator: OperatorFactory
) -> None:
    start_operator()
    create(catalyst_apiserver, "pr-13")
    wait_ready(operator_client, "pr-13")
    operator_client.merge_patch(
        ENVIRONMENTS,
        "pr-13",
        {"metadata": {"labels": {naming.ENVIRONMENT_LABEL: "renamed"}}},
        PROJECT_NAMESPACE,
    )
    wait_until(
        lambda: (
            env_status(operator_client, "pr-13").get("namespace") == "team-a-shop-renamed"
            and env_status(operator_client, "pr-13").get("phase") == "Ready"
        ),
        "Ready in the new namespace",
    )
    wait_until(
        lambda: operator_client.get_or_none(NAMESPACES, "team-a-shop-pr-13") is None, "the old namespace gone"
    )


# -- faults ----------------------------------------------------------------------------------


def test_after_an_api_server_restart_new_environments_are_noticed(tmp_path: Path) -> None:
    # Without the simulated deployment controller, whose thread cannot start twice.
    server = install_catalyst(ApiServer(deployment_controller=False))
    server.start()
    try:
        client = KubeClient(server.write_kubeconfig(tmp_path / "kubeconfig"))
        with OperatorThread(client, timeouts=TEST_WATCH_TIMEOUTS) as operator:
            create(server, "before")
            wait_ready(client, "before")
            server.stop()
            time.sleep(0.5)  # the operator's watches fail to reconnect meanwhile
            server.start()  # same port, same store: a restarted server over the same etcd
            create(server, "after")
            wait_ready(client, "after", timeout=TEST_WATCH_TIMEOUTS.client + 15)
        assert operator.error is None
    finally:
        server.stop()


def test_a_silently_stalled_watch_is_renewed_within_the_watch_timeout(
    catalyst_apiserver: ApiServer, operator_client: KubeClient, start_operator: OperatorFactory
) -> None:
    start_operator()
    catalyst_apiserver.stall_watches()  # connections stay open, nothing arrives: kopf #585-style
    create(catalyst_apiserver, "stalled")
    wait_ready(operator_client, "stalled", timeout=TEST_WATCH_TIMEOUTS.client + 10)


def test_the_emulator_stall_really_withholds_events(
    catalyst_apiserver: ApiServer, operator_client: KubeClient
) -> None:
    """The stall is real: a stalled watch delivers nothing until its timeout ends it."""
    stream = operator_client.watch(
        ENVIRONMENTS,
        PROJECT_NAMESPACE,
        resource_version=catalyst_apiserver.store.resource_version,
        timeout_seconds=1,
    )
    environments = catalyst_apiserver.store.type_for(naming.API_VERSION, "Environment")
    assert environments is not None
    wait_until(lambda: catalyst_apiserver.store.watch_count(environments) == 1, "the watch")
    catalyst_apiserver.stall_watches()
    create(catalyst_apiserver, "unseen")
    assert [event["type"] for event in stream] == []


def test_an_operator_stopped_between_steps_converges_on_restart(
    catalyst_apiserver: ApiServer, operator_client: KubeClient, start_operator: OperatorFactory
) -> None:
    # Step one done by hand, as if the operator had died right after it: namespace and status
    # written, no quota, no limits, no policy.
    create(catalyst_apiserver, "pr-8")
    service = EnvironmentService(operator_client)
    env = operator_client.get(ENVIRONMENTS, "pr-8", PROJECT_NAMESPACE)
    first = reconcile(env, service.observe(env))
    (namespace,) = first.apply
    operator_client.apply(namespace)
    operator_client.merge_patch(
        ENVIRONMENTS, "pr-8", {"status": first.status}, PROJECT_NAMESPACE, subresource="status"
    )
    assert env_status(operator_client, "pr-8")["phase"] == "Provisioning"

    operator = start_operator()
    wait_ready(operator_client, "pr-8")
    operator.stop()

    # Stopped for good this time: work arrives meanwhile, a deletion waits on the finalizer.
    create(catalyst_apiserver, "pr-9")
    operator_client.delete(ENVIRONMENTS, "pr-8", PROJECT_NAMESPACE)
    time.sleep(0.5)
    deleting = operator_client.get(ENVIRONMENTS, "pr-8", PROJECT_NAMESPACE)
    assert deleting["metadata"]["deletionTimestamp"]
    assert env_status(operator_client, "pr-9") == {}

    start_operator()
    wait_ready(operator_client, "pr-9")
    wait_until(
        lambda: operator_client.get_or_none(ENVIRONMENTS, "pr-8", PROJECT_NAMESPACE) is None, "pr-8 gone"
    )
    assert operator_client.get_or_none(NAMESPACES, "team-a-shop-pr-8") is None


def test_observed_state_reaches_the_pure_reconcile_unchanged(
    catalyst_apiserver: ApiServer, operator_client: KubeClient, start_operator: OperatorFactory
) -> None:
    """A converged Environment, observed from the server, plans nothing: the operator's view of
    the emulator's objects (defaults included) matches what it asked for."""
    start_operator()
    create(catalyst_apiserver, "pr-10")
    wait_ready(operator_client, "pr-10")
    service = EnvironmentService(operator_client)
    env = operator_client.get(ENVIRONMENTS, "pr-10", PROJECT_NAMESPACE)
    observed = service.observe(env)
    assert isinstance(observed, Observed)
    plan = reconcile(env, observed)
    assert plan.converged and plan.status == env["status"]


def test_the_emulator_refuses_a_fractional_watch_timeout_as_the_real_server_does(
    operator_client: KubeClient,
) -> None:
    with pytest.raises(ApiError) as refused:
        operator_client.request(
            "GET", ENVIRONMENTS.path(PROJECT_NAMESPACE), query={"watch": "true", "timeoutSeconds": "2.0"}
        )
    assert refused.value.status == 400 and "ParseInt" in refused.value.api_message
