"""What the operator is told about the cluster it runs in."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    # Where the ingress controller runs: the only other namespace allowed to reach a Pod.
    ingress_namespace: str = "ingress-nginx"
    # The registry's port as Pods reach it (the container's port on the cluster network).
    registry_port: int = 5000
    dns_namespace: str = "kube-system"
    # How often every Environment is reconciled even when nothing was seen to change.
    resync_seconds: float = 60.0
