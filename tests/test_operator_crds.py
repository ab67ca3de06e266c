"""The Project and Environment CRDs: what the operator reads and writes validates against
their schemas (checked as the Flux CRDs are, with jsonschema), and the schemas are structural."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest

from ksail_sim.apiserver.server import ApiServer, load_manifests
from ksail_sim.apiserver.store import crd_types
from ksail_tui.operator import naming
from ksail_tui.operator.crds import catalyst_crds
from ksail_tui.operator.manifests import all_manifests, to_yaml
from ksail_tui.operator.reconcile import Observed, object_key, reconcile

PROJECT = {
    "apiVersion": naming.API_VERSION,
    "kind": "Project",
    "metadata": {"name": "shop", "namespace": "team-a"},
    "spec": {
        "sources": [{"name": "app", "repositoryUrl": "https://github.com/example/shop", "branch": "main"}],
        "templates": {
            "development": {
                "sourceRef": "app",
                "type": "manifests",
                "path": "deploy",
                "artifact": {"repository": "localhost:5050/shop", "path": "."},
                "builds": [{"name": "web", "sourceRef": "app", "path": ".", "dockerfile": "Dockerfile"}],
                "config": {"anything": ["goes", 1]},
            },
            "deployment": {"type": "deployment"},
        },
        "resources": {"defaultQuota": {"cpu": "2", "memory": "4Gi", "pods": 20}},
    },
}
ENVIRONMENT = {
    "apiVersion": naming.API_VERSION,
    "kind": "Environment",
    "metadata": {
        "name": "pr-7",
        "namespace": "team-a",
        "uid": "u-1",
        "generation": 3,
        "creationTimestamp": "2026-01-02T00:00:00Z",
        "labels": {naming.TEAM_LABEL: "a", naming.PROJECT_LABEL: "shop", naming.ENVIRONMENT_LABEL: "pr-7"},
    },
    "spec": {
        "projectRef": {"name": "shop"},
        "type": "development",
        "sources": [{"name": "app", "commitSha": "0123abc", "branch": "feature", "prNumber": 7}],
        "config": {"image": "web:1", "ports": [8080], "env": [{"name": "A", "value": "b"}]},
        "artifact": {"tag": "1.2.0", "digest": "sha256:" + "a" * 64},
        "quota": {"limits.cpu": "3", "pods": 10},
        "ttl": "72h",
        "suspend": False,
    },
}


def schema(kind: str) -> dict[str, Any]:
    for crd in catalyst_crds():
        if crd["spec"]["names"]["kind"] == kind:
            (version,) = [v for v in crd["spec"]["versions"] if v["storage"]]
            return version["schema"]["openAPIV3Schema"]
    raise KeyError(kind)


def validate(obj: dict[str, Any]) -> None:
    jsonschema.validate(obj, schema(obj["kind"]), cls=jsonschema.Draft7Validator)


def test_catalyst_shaped_objects_validate() -> None:
    validate(PROJECT)
    validate(ENVIRONMENT)


def as_flux_reports(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as the cluster holds it once Flux (or the rollout) reported success on it."""
    if obj["kind"] not in ("OCIRepository", "Kustomization", "Deployment"):
        return obj
    ready = {
        "type": "Ready",
        "status": "True",
        "reason": "Succeeded",
        "message": "ok",
        "observedGeneration": 1,
    }
    status: dict[str, Any] = {"observedGeneration": 1, "conditions": [ready]}
    if obj["kind"] == "OCIRepository":
        status["artifact"] = {"revision": obj["spec"]["ref"]["digest"]}
    if obj["kind"] == "Kustomization":
        status["lastAppliedRevision"] = ENVIRONMENT["spec"]["artifact"]["digest"]
    return obj | {"metadata": obj["metadata"] | {"generation": 1}, "status": status}


def test_every_status_the_operator_writes_validates() -> None:
    namespaces: dict[str, Any] = {}
    owned: dict[tuple[str, str], Any] = {}
    env = ENVIRONMENT
    now = datetime(2026, 1, 2, 1, tzinfo=UTC)
    images = {"local-registry:5000/shop/web-pr-7:0123abc": "sha256:" + "b" * 64}
    for _ in range(6):
        observed = Observed(now=now, project=PROJECT, namespaces=namespaces, objects=owned, images=images)
        plan = reconcile(env, observed)
        env = env | {"status": plan.status}
        validate(env)
        for obj in plan.apply:
            if obj["kind"] == "Namespace":
                namespaces[obj["metadata"]["name"]] = obj | {"status": {"phase": "Active"}}
            else:
                owned[object_key(obj)] = as_flux_reports(obj)
    assert env["status"]["phase"] == "Ready"
    assert env["status"]["url"] == "http://a-shop-pr-7.localhost"


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"type": "production"}, "type"),
        ({"ttl": "three days"}, "ttl"),
        ({"artifact": {"digest": "md5:abc"}}, "digest"),
        ({"projectRef": {}}, "name"),
        ({"quota": {"pods": [1]}}, "pods"),
    ],
)
def test_the_schema_check_is_real(change: dict[str, Any], path: str) -> None:
    with pytest.raises(jsonschema.ValidationError) as caught:
        validate(ENVIRONMENT | {"spec": ENVIRONMENT["spec"] | change})
    assert path in str(caught.value)


def _unstructural(node: dict[str, Any], where: str) -> list[str]:
    """Places where a schema is not structural: a node without a type that is not explicitly
    int-or-string or free-form (what the API server rejects on create)."""
    problems = []
    if "$ref" in node or "definitions" in node:
        problems.append(f"{where}: $ref is not allowed in CRD schemas")
    if (
        "type" not in node
        and not node.get("x-kubernetes-int-or-string")
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        problems.append(f"{where}: no type")
    for name, child in (node.get("properties") or {}).items():
        problems += _unstructural(child, f"{where}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            problems += _unstructural(node[key], f"{where}[{key}]")
    return problems


@pytest.mark.parametrize("kind", ["Project", "Environment"])
def test_schemas_are_structural(kind: str) -> None:
    assert _unstructural(schema(kind), kind) == []


def test_crds_serve_namespaced_types_with_status_and_printer_columns() -> None:
    for crd in catalyst_crds():
        (served,) = crd_types(crd)
        assert served.group == naming.GROUP and served.version == naming.VERSION
        assert served.namespaced and served.status_subresource
    environment_columns = [c.name for c in crd_types(catalyst_crds()[1])[0].printer_columns]
    assert environment_columns == ["Phase", "Ready", "Namespace", "URL", "Age"]


def test_printed_manifests_load_into_the_emulator() -> None:
    documents = load_manifests(to_yaml(all_manifests()))
    kinds = [d["kind"] for d in documents]
    assert kinds == [
        "CustomResourceDefinition",
        "CustomResourceDefinition",
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
    ]
    with ApiServer() as server:
        for crd in documents[:2]:
            server.apply(crd)
        server.apply(PROJECT | {"metadata": {"name": "shop", "namespace": "default"}})


def test_rbac_has_no_wildcards_and_no_secrets() -> None:
    (role,) = [d for d in all_manifests() if d["kind"] == "ClusterRole"]
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"]
        assert "secrets" not in rule["resources"]
    deletable = {r for rule in role["rules"] if "delete" in rule["verbs"] for r in rule["resources"]}
    # leases: its own heartbeat Lease, deleted on a clean stop.
    assert deletable == {"environments", "namespaces", "kustomizations", "ocirepositories", "leases"}
