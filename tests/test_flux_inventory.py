"""The inventory tree's rules, without a terminal: entries parsed, objects judged, reasons kept."""

from __future__ import annotations

from typing import Any

from ksail_tui.flux.inventory import inventory_tree, parse_entry
from ksail_tui.flux.status import Health
from tests.fixtures.ui import applied_objects


def tree_of(entries: list[str], objects: list[dict[str, Any]]) -> list[Any]:
    by_key = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in objects}
    owner = {"status": {"inventory": {"entries": [{"id": e, "v": "v1"} for e in entries]}}}
    return inventory_tree(
        owner,
        lambda api_version, kind, namespace, name: by_key.get((kind, namespace, name)),
        lambda namespace, selector: [o for o in objects if o["kind"] == "Pod"],
    )


def test_entries_name_namespace_group_and_kind() -> None:
    assert parse_entry({"id": "apps_web_apps_Deployment", "v": "v1"}) == (
        "apps/v1",
        "Deployment",
        "apps",
        "web",
        "apps",
    )
    assert parse_entry({"id": "_demo__Namespace", "v": "v1"}) == ("v1", "Namespace", "", "demo", "")
    assert parse_entry({"id": "a_with_underscore__ConfigMap"})[3] == "with_underscore"  # type: ignore[index]
    assert parse_entry({"id": "nonsense"}) is None


def test_a_failing_deployment_says_why_and_a_missing_object_is_failing() -> None:
    nodes = tree_of(["apps_web_apps_Deployment", "apps_gone__Secret", "apps_web__Service"], applied_objects())
    deployment, missing, service = nodes
    assert deployment.health is Health.FAILING and deployment.summary == "1/2 ready, 2 updated"
    assert any("ProgressDeadlineExceeded" in d for d in deployment.details)
    waiting = [p for p in deployment.children if p.health is not Health.READY]
    assert [p.details for p in waiting] == [('web: ImagePullBackOff Back-off pulling image "web:0.2.1"',)]
    assert missing.health is Health.FAILING and missing.summary == "missing from the cluster"
    assert service.health is Health.READY


def test_jobs_are_judged_by_their_conditions() -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "migrate", "namespace": "apps"},
        "status": {
            "failed": 3,
            "conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}],
        },
    }
    [node] = tree_of(["apps_migrate_batch_Job"], [job])
    assert node.health is Health.FAILING and node.details == ("BackoffLimitExceeded",)
    assert node.summary == "0 succeeded, 3 failed, 0 active"
