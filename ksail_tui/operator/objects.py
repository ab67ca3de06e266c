"""The objects one Environment owns, built from its identity and settings (golden-tested)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ksail_tui.operator import naming, quota
from ksail_tui.operator.settings import Settings

Obj = dict[str, Any]

QUOTA_NAME = "default-quota"
LIMITS_NAME = "default-limits"
POLICY_NAME = "default-policy"


@dataclass(frozen=True)
class Identity:
    """Who an Environment is: its own name and uid and Catalyst's three labels."""

    name: str
    namespace: str  # the Environment object's namespace, not the one it gets
    uid: str
    team: str
    project: str
    environment: str

    @property
    def target_namespace(self) -> str:
        return naming.namespace_name(self.team, self.project, self.environment)

    def labels(self) -> dict[str, str]:
        return {
            naming.TEAM_LABEL: self.team,
            naming.PROJECT_LABEL: self.project,
            naming.ENVIRONMENT_LABEL: self.environment,
            naming.MANAGED_BY_LABEL: naming.MANAGED_BY,
            naming.OWNER_UID_LABEL: self.uid,
        }

    def metadata(self, name: str, namespace: str | None = None) -> Obj:
        meta: Obj = {
            "name": name,
            "labels": self.labels(),
            "annotations": {naming.OWNER_ANNOTATION: f"{self.namespace}/{self.name}"},
        }
        if namespace is not None:
            meta["namespace"] = namespace
        return meta


def namespace(identity: Identity) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": identity.metadata(identity.target_namespace)}


def resource_quota(identity: Identity, hard: Mapping[str, str]) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": identity.metadata(QUOTA_NAME, identity.target_namespace),
        "spec": {"hard": dict(hard)},
    }


def limit_range(identity: Identity) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": identity.metadata(LIMITS_NAME, identity.target_namespace),
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "defaultRequest": dict(quota.DEFAULT_REQUESTS),
                    "default": dict(quota.DEFAULT_LIMITS),
                }
            ]
        },
    }


def _namespace_selector(name: str) -> Obj:
    return {"matchLabels": {"kubernetes.io/metadata.name": name}}


def network_policy(identity: Identity, settings: Settings) -> Obj:
    """Deny all but: ingress from the ingress controller and the namespace itself; egress to
    cluster DNS and to the registry's port (no catch-all egress rule, unlike Catalyst's)."""
    dns_ports = [{"protocol": protocol, "port": 53} for protocol in ("UDP", "TCP")]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": identity.metadata(POLICY_NAME, identity.target_namespace),
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": [
                        {"namespaceSelector": _namespace_selector(settings.ingress_namespace)},
                        {"podSelector": {}},
                    ]
                }
            ],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": _namespace_selector(settings.dns_namespace),
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": dns_ports,
                },
                {"ports": [{"protocol": "TCP", "port": settings.registry_port}]},
            ],
        },
    }
