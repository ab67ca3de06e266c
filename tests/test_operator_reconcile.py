"""The operator's pure decision: names, quota, golden objects, steps, conditions and phase."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ksail_tui.operator import conditions as cond
from ksail_tui.operator import naming, objects
from ksail_tui.operator.quota import DEFAULT_QUOTA, QuotaError, effective_quota
from ksail_tui.operator.reconcile import (
    FAILED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    Observed,
    Plan,
    contains,
    finalize,
    object_key,
    reconcile,
)
from ksail_tui.operator.settings import Settings

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
UID = "0b5f3a2e-1111-2222-3333-444455556666"
LABELS = {naming.TEAM_LABEL: "team-a", naming.PROJECT_LABEL: "shop", naming.ENVIRONMENT_LABEL: "pr-7"}
PROJECT: dict[str, Any] = {"metadata": {"name": "shop", "namespace": "team-a"}, "spec": {}}
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def environment(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": naming.API_VERSION,
        "kind": "Environment",
        "metadata": {
            "name": "pr-7",
            "namespace": "team-a",
            "uid": UID,
            "generation": 1,
            "creationTimestamp": "2026-01-02T00:00:00Z",
            "labels": dict(LABELS),
        },
        "spec": {"projectRef": {"name": "shop"}, **spec},
    }


def condition(plan: Plan, type_: str) -> dict[str, Any]:
    return next(c for c in plan.status["conditions"] if c["type"] == type_)


def states(plan: Plan) -> dict[str, str]:
    return {step["name"]: step["state"] for step in plan.status["steps"]}


def run_until_converged(env: dict[str, Any], project: dict[str, Any] | None = PROJECT) -> list[Plan]:
    """What the shell does, with a perfect cluster: apply the plan, observe again."""
    namespaces: dict[str, Any] = {}
    owned: dict[tuple[str, str], Any] = {}
    plans = []
    for _ in range(10):
        plan = reconcile(env, Observed(now=NOW, project=project, namespaces=namespaces, objects=owned))
        plans.append(plan)
        env = env | {"status": plan.status}
        if plan.converged:
            return plans
        for obj in plan.apply:
            if obj["kind"] == "Namespace":
                namespaces[obj["metadata"]["name"]] = obj | {"status": {"phase": "Active"}}
            else:
                owned[object_key(obj)] = obj
    raise AssertionError("did not converge")


# -- names -----------------------------------------------------------------------------------


def test_namespace_name_joins_sanitised_parts() -> None:
    assert naming.namespace_name("Team_A", "My Shop!", "PR/7") == "team-a-my-shop-pr-7"
    assert naming.namespace_name("a", "--b--", "c") == "a-b-c"


def test_a_long_namespace_name_is_cut_to_57_characters_and_a_hash() -> None:
    team, project, env = "t" * 30, "p" * 30, "feature-branch-with-a-long-name"
    full = f"{team}-{project}-{env}"
    name = naming.namespace_name(team, project, env)
    assert len(name) == 63
    assert name == full[:57] + "-" + hashlib.sha256(full.encode()).hexdigest()[:5]
    assert DNS_LABEL.match(name)
    # Two long names that share the first 57 characters still differ.
    assert naming.namespace_name(team, project, env + "-2") != name


def test_a_name_of_exactly_63_characters_is_kept() -> None:
    name = naming.namespace_name("a" * 21, "b" * 20, "c" * 20)
    assert len(name) == 63 and name == "a" * 21 + "-" + "b" * 20 + "-" + "c" * 20


# -- quota -----------------------------------------------------------------------------------


def test_quota_defaults_without_project_or_environment_quota() -> None:
    assert effective_quota(None, None) == {
        "requests.cpu": "2",
        "limits.cpu": "4",
        "requests.memory": "4Gi",
        "limits.memory": "8Gi",
        "pods": "20",
    }


def test_environment_quota_wins_over_project_default_over_built_in() -> None:
    hard = effective_quota({"limits.cpu": "6", "pods": 5}, {"limits.cpu": "3", "limits.memory": "2Gi"})
    assert hard == DEFAULT_QUOTA | {"limits.cpu": "6", "pods": "5", "limits.memory": "2Gi"}


def test_cpu_and_memory_are_the_requests_aliases_kubernetes_gives_them() -> None:
    hard = effective_quota({"cpu": "1"}, {"memory": "1Gi"})
    assert hard["requests.cpu"] == "1" and hard["requests.memory"] == "1Gi"
    assert "cpu" not in hard and "memory" not in hard


def test_a_quota_that_is_not_a_quantity_names_its_field() -> None:
    with pytest.raises(QuotaError, match=r"spec\.quota\.limits\.cpu: 'lots'"):
        effective_quota({"limits.cpu": "lots"}, None)


# -- golden objects --------------------------------------------------------------------------


def test_golden_objects_of_one_environment() -> None:
    plans = run_until_converged(environment(quota={"pods": "10"}))
    applied = [obj for plan in plans for obj in plan.apply]
    meta = {
        "labels": LABELS | {naming.MANAGED_BY_LABEL: naming.MANAGED_BY, naming.OWNER_UID_LABEL: UID},
        "annotations": {naming.OWNER_ANNOTATION: "team-a/pr-7"},
    }
    ns = "team-a-shop-pr-7"
    assert applied == [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, **meta}},
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "default-quota", **meta, "namespace": ns},
            "spec": {"hard": dict(DEFAULT_QUOTA) | {"pods": "10"}},
        },
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": {"name": "default-limits", **meta, "namespace": ns},
            "spec": {
                "limits": [
                    {
                        "type": "Container",
                        "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
                        "default": {"cpu": "500m", "memory": "512Mi"},
                    }
                ]
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "default-policy", **meta, "namespace": ns},
            "spec": {
                "podSelector": {},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [
                    {
                        "from": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}
                                }
                            },
                            {"podSelector": {}},
                        ]
                    }
                ],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                                },
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                            }
                        ],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    },
                    {"ports": [{"protocol": "TCP", "port": 5000}]},
                ],
            },
        },
    ]


def test_no_egress_rule_allows_every_port() -> None:
    identity = objects.Identity("e", "ns", UID, "t", "p", "e")
    policy = objects.network_policy(identity, Settings(registry_port=5050))
    assert all(rule.get("ports") for rule in policy["spec"]["egress"])
    assert policy["spec"]["egress"][1] == {"ports": [{"protocol": "TCP", "port": 5050}]}


# -- steps, conditions, phase ----------------------------------------------------------------


def test_the_namespace_comes_first_then_the_policies_then_ready() -> None:
    # A Project without templates: nothing to build or deploy, the later steps pass at once.
    first, second, third = run_until_converged(environment())
    assert [o["kind"] for o in first.apply] == ["Namespace"]
    assert states(first) == {
        "namespace": RUNNING,
        "quota": PENDING,
        "limits": PENDING,
        "network-policy": PENDING,
        "image": PENDING,
        "source": PENDING,
        "deploy": PENDING,
        "ingress": PENDING,
        "reachable": PENDING,
    }
    assert first.status["phase"] == "Provisioning"
    assert condition(first, cond.RECONCILING)["status"] == cond.TRUE

    assert [o["kind"] for o in second.apply] == ["ResourceQuota", "LimitRange", "NetworkPolicy"]
    assert condition(second, cond.NAMESPACE_READY)["status"] == cond.TRUE
    assert condition(second, cond.POLICIES_READY)["status"] == cond.FALSE
    assert second.status["progress"] == {"done": 3, "total": 9}  # namespace, source, ingress

    assert third.converged
    assert set(states(third).values()) == {SUCCEEDED}
    assert third.status["phase"] == "Ready"
    assert third.status["namespace"] == "team-a-shop-pr-7"
    assert third.status["observedGeneration"] == 1
    assert {c["type"]: c["status"] for c in third.status["conditions"]} == {
        cond.NAMESPACE_READY: cond.TRUE,
        cond.POLICIES_READY: cond.TRUE,
        cond.IMAGE_READY: cond.TRUE,
        cond.SOURCE_READY: cond.TRUE,
        cond.DEPLOY_READY: cond.TRUE,
        cond.REACHABLE: cond.TRUE,
        cond.READY: cond.TRUE,
        cond.RECONCILING: cond.FALSE,
        cond.STALLED: cond.FALSE,
    }
    assert "url" not in third.status  # nothing is served
    assert [e.reason for e in third.events] == [
        "QuotaReady",
        "LimitsReady",
        "NetworkPolicyReady",
        "ImageReady",
        "DeployReady",
        "Reachable",
    ]


def test_steps_record_when_they_started_and_finished() -> None:
    plans = run_until_converged(environment())
    namespace_step = plans[-1].status["steps"][0]
    assert namespace_step["startedAt"] == namespace_step["finishedAt"] == "2026-01-02T03:04:05Z"
    # The namespace deleted by hand: the step runs again, from a new start.
    later = NOW + timedelta(minutes=5)
    again = reconcile(environment() | {"status": plans[-1].status}, Observed(now=later, project=PROJECT))
    rerun = again.status["steps"][0]
    assert (rerun["state"], rerun["startedAt"]) == (RUNNING, "2026-01-02T03:09:05Z")
    assert "finishedAt" not in rerun
    assert [e.reason for e in again.events] == ["Progressing"]


def test_a_converged_environment_plans_nothing_and_keeps_its_status() -> None:
    plans = run_until_converged(environment())
    env = environment() | {"status": plans[-1].status}
    ns_name = "team-a-shop-pr-7"
    namespaces = {ns_name: plans[0].apply[0] | {"status": {"phase": "Active"}}}
    owned = {object_key(o): o for o in plans[1].apply}
    later = reconcile(
        env, Observed(now=NOW + timedelta(hours=1), project=PROJECT, namespaces=namespaces, objects=owned)
    )
    assert later.converged and later.events == ()
    assert later.status == plans[-1].status


def test_a_spec_change_reapplies_the_quota_and_moves_observed_generation() -> None:
    plans = run_until_converged(environment())
    namespaces = {"team-a-shop-pr-7": plans[0].apply[0] | {"status": {"phase": "Active"}}}
    owned = {object_key(o): o for o in plans[1].apply}
    changed = environment(quota={"limits.memory": "16Gi"}) | {"status": plans[-1].status}
    changed["metadata"]["generation"] = 2
    plan = reconcile(changed, Observed(now=NOW, project=PROJECT, namespaces=namespaces, objects=owned))
    assert [o["kind"] for o in plan.apply] == ["ResourceQuota"]
    assert plan.apply[0]["spec"]["hard"]["limits.memory"] == "16Gi"
    assert plan.status["observedGeneration"] == 2
    assert states(plan)["quota"] == RUNNING and plan.status["phase"] == "Provisioning"


def test_a_quantity_spelled_differently_by_the_server_counts_as_applied() -> None:
    assert contains({"spec": {"hard": {"requests.cpu": "2000m"}}}, {"spec": {"hard": {"requests.cpu": "2"}}})
    assert not contains({"spec": {"hard": {"requests.cpu": "3"}}}, {"spec": {"hard": {"requests.cpu": "2"}}})
    assert not contains({"ports": [{"protocol": "TCP"}]}, {"ports": [{"protocol": "UDP"}]})


@pytest.mark.parametrize("missing", naming.REQUIRED_LABELS)
def test_a_missing_label_is_invalid_spec_not_a_crash(missing: str) -> None:
    env = environment()
    del env["metadata"]["labels"][missing]
    plan = reconcile(env, Observed(now=NOW, project=PROJECT))
    ready = condition(plan, cond.READY)
    assert ready["status"] == cond.FALSE and ready["reason"] == cond.INVALID_SPEC
    assert missing in ready["message"]
    assert condition(plan, cond.STALLED)["status"] == cond.TRUE
    assert plan.apply == () and plan.namespace is None
    assert plan.status["phase"] == "Failed"


def test_an_invalid_quota_or_ttl_is_invalid_spec() -> None:
    bad_quota = reconcile(environment(quota={"pods": "many"}), Observed(now=NOW, project=PROJECT))
    assert condition(bad_quota, cond.READY)["reason"] == cond.INVALID_SPEC
    assert "spec.quota.pods" in condition(bad_quota, cond.READY)["message"]
    bad_ttl = reconcile(environment(ttl="soon"), Observed(now=NOW, project=PROJECT))
    assert condition(bad_ttl, cond.READY)["reason"] == cond.INVALID_SPEC


def test_a_missing_project_waits_and_retries() -> None:
    plan = reconcile(environment(), Observed(now=NOW, project=None))
    ready = condition(plan, cond.READY)
    assert (ready["status"], ready["reason"]) == (cond.FALSE, "ProjectNotFound")
    assert condition(plan, cond.STALLED)["status"] == cond.FALSE
    assert plan.requeue_after is not None and plan.apply == ()


def test_the_project_default_quota_is_used() -> None:
    project = PROJECT | {"spec": {"resources": {"defaultQuota": {"limits.cpu": "8"}}}}
    plans = run_until_converged(environment(), project)
    quota = next(o for p in plans for o in p.apply if o["kind"] == "ResourceQuota")
    assert quota["spec"]["hard"]["limits.cpu"] == "8"


def test_a_namespace_of_someone_else_is_a_conflict_and_left_alone() -> None:
    foreign = {"metadata": {"name": "team-a-shop-pr-7", "labels": {}}, "status": {"phase": "Active"}}
    plan = reconcile(
        environment(), Observed(now=NOW, project=PROJECT, namespaces={"team-a-shop-pr-7": foreign})
    )
    assert plan.apply == ()
    assert states(plan)["namespace"] == FAILED
    assert condition(plan, cond.READY)["reason"] == "NamespaceConflict"
    assert plan.status["phase"] == "Failed"


def test_a_terminating_namespace_is_waited_for() -> None:
    plans = run_until_converged(environment())
    terminating = plans[0].apply[0] | {"status": {"phase": "Terminating"}}
    plan = reconcile(
        environment(), Observed(now=NOW, project=PROJECT, namespaces={"team-a-shop-pr-7": terminating})
    )
    assert plan.apply == () and plan.requeue_after is not None
    assert states(plan)["namespace"] == RUNNING


def test_ttl_expires_an_environment_unless_kept() -> None:
    expired = environment(ttl="2h")  # created at 00:00, now is 03:04
    assert reconcile(expired, Observed(now=NOW, project=PROJECT)).expired
    kept = environment(ttl="2h")
    kept["metadata"]["annotations"] = {naming.KEEP_ANNOTATION: "true"}
    assert not reconcile(kept, Observed(now=NOW, project=PROJECT)).expired
    young = reconcile(environment(ttl="4h"), Observed(now=NOW, project=PROJECT))
    assert not young.expired and young.requeue_after == pytest.approx(4 * 3600 - (3 * 3600 + 245))


def test_a_suspended_environment_is_left_alone() -> None:
    env = environment(suspend=True) | {"status": {"phase": "Ready", "observedGeneration": 1}}
    plan = reconcile(env, Observed(now=NOW, project=PROJECT))
    assert plan.apply == () and plan.status == env["status"]


@pytest.mark.parametrize(
    ("conditions", "phase"),
    [
        ([], "Pending"),
        ([("Ready", "False", "Progressing"), ("NamespaceReady", "False", "Progressing")], "Provisioning"),
        ([("Ready", "False", "Progressing"), ("NamespaceReady", "True", "x")], "Provisioning"),
        ([("Ready", "False", "InvalidSpec"), ("Stalled", "True", "InvalidSpec")], "Failed"),
        ([("Ready", "False", "Deleting")], "Deleting"),
        ([("Ready", "True", "Succeeded"), ("Stalled", "False", "Succeeded")], "Ready"),
    ],
)
def test_phase_is_derived_from_conditions(conditions: list[tuple[str, str, str]], phase: str) -> None:
    listed = [{"type": t, "status": s, "reason": r} for t, s, r in conditions]
    assert cond.phase(listed) == phase


def test_last_transition_time_moves_only_when_the_status_changes() -> None:
    first = cond.merge_conditions([], [cond.Condition("Ready", "False", "A", "a")], 1, "t1")
    same = cond.merge_conditions(first, [cond.Condition("Ready", "False", "B", "b")], 2, "t2")
    flipped = cond.merge_conditions(same, [cond.Condition("Ready", "True", "C", "c")], 2, "t3")
    assert [c["lastTransitionTime"] for c in (*first, *same, *flipped)] == ["t1", "t1", "t3"]


# -- cleanup ---------------------------------------------------------------------------------


def test_finalize_deletes_only_a_namespace_that_is_provably_ours() -> None:
    ours = objects.namespace(objects.Identity("pr-7", "team-a", UID, "team-a", "shop", "pr-7"))
    cleanup = finalize(environment(), Observed(now=NOW, namespaces={"team-a-shop-pr-7": ours}))
    assert [ns["metadata"]["name"] for ns in cleanup.delete] == ["team-a-shop-pr-7"] and not cleanup.done
    assert cleanup.status["phase"] == "Deleting"

    foreign = {"metadata": {"name": "team-a-shop-pr-7", "labels": {naming.OWNER_UID_LABEL: "another"}}}
    assert finalize(environment(), Observed(now=NOW, namespaces={"team-a-shop-pr-7": foreign})).done

    terminating = ours | {"metadata": ours["metadata"] | {"deletionTimestamp": "2026-01-02T03:04:00Z"}}
    waiting = finalize(environment(), Observed(now=NOW, namespaces={"team-a-shop-pr-7": terminating}))
    assert waiting.delete == () and not waiting.done

    assert finalize(environment(), Observed(now=NOW)).done


def test_a_renamed_environment_deletes_the_namespace_it_no_longer_names() -> None:
    plans = run_until_converged(environment())
    old = plans[0].apply[0] | {"status": {"phase": "Active"}}
    renamed = environment() | {"status": plans[-1].status}
    renamed["metadata"]["labels"][naming.ENVIRONMENT_LABEL] = "pr-8"
    plan = reconcile(renamed, Observed(now=NOW, project=PROJECT, namespaces={"team-a-shop-pr-7": old}))
    assert plan.namespace == "team-a-shop-pr-8"
    assert [ns["metadata"]["name"] for ns in plan.delete] == ["team-a-shop-pr-7"]
    assert [o["metadata"]["name"] for o in plan.apply] == ["team-a-shop-pr-8"]
    # Never a namespace that is not ours, even when the status names it.
    foreign = {"metadata": {"name": "team-a-shop-pr-7", "labels": {}}}
    assert (
        reconcile(
            renamed, Observed(now=NOW, project=PROJECT, namespaces={"team-a-shop-pr-7": foreign})
        ).delete
        == ()
    )
