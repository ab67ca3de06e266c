"""kstatus-shaped conditions (as Flux writes them) and the phase derived from them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

TRUE, FALSE, UNKNOWN = "True", "False", "Unknown"

READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"
NAMESPACE_READY = "NamespaceReady"
POLICIES_READY = "PoliciesReady"
IMAGE_READY = "ImageReady"
SOURCE_READY = "SourceReady"
DEPLOY_READY = "DeployReady"
REACHABLE = "Reachable"

INVALID_SPEC = "InvalidSpec"
DELETING = "Deleting"

# While the condition is not True, the Environment is in this phase; the first such condition
# in this order wins.
PHASE_BY_CONDITION: tuple[tuple[str, str], ...] = (
    (NAMESPACE_READY, "Provisioning"),
    (POLICIES_READY, "Provisioning"),
    (IMAGE_READY, "Building"),
    (SOURCE_READY, "Deploying"),
    (DEPLOY_READY, "Deploying"),
    (REACHABLE, "Deploying"),
)


@dataclass(frozen=True)
class Condition:
    type: str
    status: str
    reason: str
    message: str


def merge_conditions(
    previous: Iterable[Mapping[str, Any]], current: Iterable[Condition], generation: int, now: str
) -> list[dict[str, Any]]:
    """The conditions to store: ``lastTransitionTime`` moves only when the status changes."""
    before = {c.get("type"): c for c in previous}
    merged = []
    for condition in current:
        old = before.get(condition.type)
        since = old.get("lastTransitionTime") if old and old.get("status") == condition.status else None
        merged.append(
            {
                "type": condition.type,
                "status": condition.status,
                "observedGeneration": generation,
                "lastTransitionTime": since or now,
                "reason": condition.reason,
                "message": condition.message,
            }
        )
    return merged


def status_of(conditions: Iterable[Mapping[str, Any]], type_: str) -> Mapping[str, Any] | None:
    return next((c for c in conditions if c.get("type") == type_), None)


def is_true(conditions: Iterable[Mapping[str, Any]], type_: str) -> bool:
    found = status_of(conditions, type_)
    return found is not None and found.get("status") == TRUE


def phase(conditions: Iterable[Mapping[str, Any]]) -> str:
    """Pending, Provisioning, Building, Deploying, Ready, Failed or Deleting."""
    listed = list(conditions)
    ready = status_of(listed, READY)
    if ready is None:
        return "Pending"
    if ready.get("status") == TRUE:
        return "Ready"
    if ready.get("reason") == DELETING:
        return "Deleting"
    if is_true(listed, STALLED):
        return "Failed"
    for type_, name in PHASE_BY_CONDITION:
        if not is_true(listed, type_):
            return name
    return "Provisioning"
