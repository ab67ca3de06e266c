"""What ``ksail-tui operator manifests`` prints: the CRDs, least-privilege RBAC and a
Deployment that runs the operator in the cluster."""

from __future__ import annotations

import json
from typing import Any

import yaml

from ksail_tui.operator import naming
from ksail_tui.operator.crds import catalyst_crds
from ksail_tui.operator.service import DELETED_ON_CLEANUP, OWNED, PODS

Obj = dict[str, Any]
NAME = "ksail-tui-operator"
DEFAULT_NAMESPACE = "catalyst-system"
# No image is published yet: build one from this repository and pass --image.
DEFAULT_IMAGE = "ksail-tui:latest"

_READ = ["get", "list", "watch"]
_OWN = [*_READ, "create", "patch", "update"]  # apply is a patch; kopf's finalizer edits update


def _rules() -> list[Obj]:
    """Exactly what the operator and kopf do, nothing more."""
    owned_by_group: dict[str, list[str]] = {}
    for resource in OWNED:
        if resource not in DELETED_ON_CLEANUP:
            owned_by_group.setdefault(resource.group, []).append(resource.plural)
    return [
        {"apiGroups": [naming.GROUP], "resources": ["projects"], "verbs": _READ},
        # delete: an Environment whose spec.ttl has passed.
        {
            "apiGroups": [naming.GROUP],
            "resources": ["environments"],
            "verbs": [*_READ, "patch", "update", "delete"],
        },
        {
            "apiGroups": [naming.GROUP],
            "resources": ["environments/status"],
            "verbs": ["get", "patch", "update"],
        },
        # delete: an Environment's own namespace, when the Environment is deleted.
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": [*_OWN, "delete"]},
        *(
            {"apiGroups": [group], "resources": plurals, "verbs": _OWN}
            for group, plurals in owned_by_group.items()
        ),
        # delete: the Flux objects, first, when the Environment is deleted.
        *(
            {"apiGroups": [resource.group], "resources": [resource.plural], "verbs": [*_OWN, "delete"]}
            for resource in DELETED_ON_CLEANUP
        ),
        # read: a failed build's Pods, for the last lines of its log.
        {"apiGroups": [PODS.group], "resources": [PODS.plural], "verbs": ["get", "list"]},
        # kopf discovers the custom resources through their CRDs and posts step events.
        {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": _READ},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
        # The heartbeat Lease (operator/heartbeat.py): renewed while running, deleted on stop.
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": [*_OWN, "delete"]},
        {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
    ]


def rbac(namespace: str = DEFAULT_NAMESPACE) -> list[Obj]:
    labels = {naming.MANAGED_BY_LABEL: NAME}
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": NAME, "namespace": namespace, "labels": labels},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": NAME, "labels": labels},
            "rules": _rules(),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": NAME, "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME},
            "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": namespace}],
        },
    ]


def deployment(namespace: str = DEFAULT_NAMESPACE, image: str = DEFAULT_IMAGE) -> Obj:
    labels = {"app.kubernetes.io/name": NAME}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": namespace, "labels": labels},
        "spec": {
            # One replica: the operator runs standalone, without kopf's peering between replicas.
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": NAME,
                    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [
                        {
                            "name": "operator",
                            "image": image,
                            "args": [
                                "operator",
                                "run",
                                "--in-cluster",
                                "--liveness",
                                "http://0.0.0.0:8080/healthz",
                            ],
                            "ports": [{"name": "health", "containerPort": 8080}],
                            "livenessProbe": {
                                "httpGet": {"path": "/healthz", "port": "health"},
                                "periodSeconds": 30,
                            },
                            "resources": {
                                "requests": {"cpu": "50m", "memory": "128Mi"},
                                "limits": {"cpu": "500m", "memory": "256Mi"},
                            },
                            # The in-cluster kubeconfig is written here; the root stays read-only.
                            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "runAsUser": 65532,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }


def all_manifests(namespace: str = DEFAULT_NAMESPACE, image: str = DEFAULT_IMAGE) -> list[Obj]:
    """In install order: CRDs, the namespace, RBAC, the Deployment."""
    return [
        *catalyst_crds(),
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        *rbac(namespace),
        deployment(namespace, image),
    ]


def to_yaml(documents: list[Obj]) -> str:
    """Plain multi-document YAML: the JSON round trip unshares repeated parts (the CRD files'
    anchors, shared label dicts), which PyYAML would otherwise write as &id001 aliases."""
    return yaml.safe_dump_all(json.loads(json.dumps(documents)), sort_keys=False)
