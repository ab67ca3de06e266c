"""The operator's heartbeat: a coordination.k8s.io Lease it renews while it runs, so that a
front end can tell "the operator is not running" even when there is no Environment to judge by.

The operator renews ``ksail-tui-operator`` in :data:`NAMESPACE` every :data:`RENEW_SECONDS`
(``leaseDurationSeconds`` :data:`LEASE_SECONDS`) and deletes it when it stops cleanly; a Lease
that is absent, or not renewed within its duration, means no operator runs against this cluster.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime

from ksail_tui.humanize import parse_time
from ksail_tui.kube.client import KubeClient, Resource

LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease")
LEASE_NAME = "ksail-tui-operator"
# A namespace every cluster has, so that the reader need not know where the operator was deployed.
NAMESPACE = "default"
RENEW_SECONDS = 5.0
LEASE_SECONDS = 15
START_HINT = "start it with `ksail-tui operator run`"


@dataclass(frozen=True)
class Heartbeat:
    running: bool
    holder: str = ""
    renewed: datetime | None = None

    @property
    def summary(self) -> str:
        if self.running:
            return f"operator running ({self.holder})"
        if self.renewed is None:
            return f"operator not running — {START_HINT}"
        return f"operator not running (last heard of {self.renewed:%H:%M:%S}) — {START_HINT}"


def holder_identity() -> str:
    return f"{socket.gethostname()}/{os.getpid()}"


def _lease(holder: str, now: datetime) -> dict[str, object]:
    return {
        "apiVersion": LEASES.api_version,
        "kind": LEASES.kind,
        "metadata": {"name": LEASE_NAME, "namespace": NAMESPACE},
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": LEASE_SECONDS,
            "renewTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        },
    }


def renew(client: KubeClient, holder: str, now: datetime) -> None:
    """Say "running" for another :data:`LEASE_SECONDS` (server-side apply: creates it the first time)."""
    client.apply(_lease(holder, now), field_manager=LEASE_NAME)


def release(client: KubeClient, holder: str) -> None:
    """Say "stopped" at once (a clean stop), unless another operator holds the Lease now."""
    lease = client.get_or_none(LEASES, LEASE_NAME, NAMESPACE)
    if lease is not None and (lease.get("spec") or {}).get("holderIdentity") == holder:
        client.delete(LEASES, LEASE_NAME, NAMESPACE)


def read(client: KubeClient, now: datetime) -> Heartbeat:
    """Whether an operator renewed the Lease within its duration. API errors propagate."""
    lease = client.get_or_none(LEASES, LEASE_NAME, NAMESPACE)
    if lease is None:
        return Heartbeat(False)
    spec = lease.get("spec") or {}
    holder = str(spec.get("holderIdentity") or "")
    renewed = parse_time(str(spec.get("renewTime") or ""))
    duration = spec.get("leaseDurationSeconds")
    seconds = duration if isinstance(duration, int) and duration > 0 else LEASE_SECONDS
    alive = renewed is not None and (now - renewed).total_seconds() <= seconds
    return Heartbeat(alive, holder, renewed)
