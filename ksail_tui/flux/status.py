"""Honest status: judge Flux objects the way kstatus does, but tell retrying failures apart.

kstatus calls a failure that the controller keeps retrying "InProgress", which is why
`flux reconcile` waits for its whole timeout on a broken artifact. Here Ready=False with a
failure reason is Failing at once.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from ksail_tui.models import FluxKustomization, FluxOCIRepository, FluxResource

FluxObject = FluxOCIRepository | FluxKustomization | FluxResource

# Reasons that mean "working on it", not "failed".
PROGRESS_REASONS = frozenset({"Progressing", "ProgressingWithRetry", "DependencyNotReady", ""})


class Health(StrEnum):
    READY = "Ready"
    PROGRESSING = "Progressing"
    FAILING = "Failing"
    STALLED = "Stalled"
    SUSPENDED = "Suspended"
    UNKNOWN = "Unknown"


# Worst first: the health of a workload is the worst of its objects'.
SEVERITY = (
    Health.STALLED,
    Health.FAILING,
    Health.SUSPENDED,
    Health.UNKNOWN,
    Health.PROGRESSING,
    Health.READY,
)


class ObjectHealth(BaseModel):
    model_config = ConfigDict(frozen=True)

    health: Health
    reason: str = ""
    message: str = ""


def classify(obj: FluxObject) -> ObjectHealth:
    ready = obj.condition("Ready")
    stalled = obj.condition("Stalled")
    reconciling = obj.condition("Reconciling")
    if obj.deletion_timestamp:
        return ObjectHealth(health=Health.PROGRESSING, reason="Terminating", message="being deleted")
    if obj.suspended:
        message = ready.message if ready else ""
        return ObjectHealth(health=Health.SUSPENDED, reason="Suspended", message=message)
    if stalled is not None and stalled.status == "True":
        return ObjectHealth(health=Health.STALLED, reason=stalled.reason, message=stalled.message)
    if ready is None:
        if reconciling is not None and reconciling.status == "True":
            return ObjectHealth(
                health=Health.PROGRESSING, reason=reconciling.reason, message=reconciling.message
            )
        return ObjectHealth(health=Health.UNKNOWN, reason="", message="not reconciled yet")
    if ready.status == "False" and ready.reason not in PROGRESS_REASONS:
        return ObjectHealth(health=Health.FAILING, reason=ready.reason, message=ready.message)
    if reconciling is not None and reconciling.status == "True":
        return ObjectHealth(health=Health.PROGRESSING, reason=reconciling.reason, message=reconciling.message)
    if ready.status == "True":
        # observedGeneration only moves on success: a Ready from an older generation is stale.
        if (
            obj.observed_generation is not None
            and obj.generation
            and obj.observed_generation != obj.generation
        ):
            return ObjectHealth(
                health=Health.PROGRESSING,
                reason="NewGeneration",
                message=f"generation {obj.generation} not reconciled yet"
                f" (observed {obj.observed_generation})",
            )
        return ObjectHealth(health=Health.READY, reason=ready.reason, message=ready.message)
    return ObjectHealth(health=Health.PROGRESSING, reason=ready.reason, message=ready.message)


# What a failure is, for the dashboard's "⚠ n failing": Flux tried and could not (it may retry).
FAILED = frozenset({Health.FAILING, Health.STALLED})


def is_failed(obj: FluxObject) -> bool:
    return classify(obj).health in FAILED


def worst(*healths: Health) -> Health:
    return min(healths, key=SEVERITY.index)


class WorkloadStatus(BaseModel):
    """What a workload's two Flux objects say together, revision-aware."""

    model_config = ConfigDict(frozen=True)

    name: str
    namespace: str
    source: FluxOCIRepository | None
    kustomization: FluxKustomization | None
    source_health: ObjectHealth
    kustomization_health: ObjectHealth
    health: Health
    summary: str
    artifact_revision: str | None
    applied_revision: str | None
    pushed_revision: str | None
    current: bool  # the cluster runs the newest pushed version

    @property
    def suspended(self) -> bool:
        return any(obj is not None and obj.suspended for obj in (self.source, self.kustomization))


_MISSING = ObjectHealth(
    health=Health.UNKNOWN, reason="NotFound", message="not applied; run `ksail-tui workload apply`"
)


def workload_status(
    name: str,
    namespace: str,
    source: FluxOCIRepository | None,
    kustomization: FluxKustomization | None,
    pushed_revision: str | None = None,
) -> WorkloadStatus:
    """Judge a workload; ``pushed_revision`` (``<tag>@sha256:<hex>``) is the newest push, if known."""
    source_health = classify(source) if source else _MISSING
    kustomization_health = classify(kustomization) if kustomization else _MISSING
    health = worst(source_health.health, kustomization_health.health)
    artifact = source.artifact_revision if source else None
    applied = kustomization.last_applied_revision if kustomization else None
    current = artifact is not None and applied == artifact and (pushed_revision in (None, artifact))

    if health is Health.READY and not current:
        # Both objects are Ready, yet the cluster does not run the newest artifact.
        health = Health.PROGRESSING
        if pushed_revision and artifact != pushed_revision:
            summary = f"waiting for Flux to fetch {pushed_revision} (next check within its interval)"
        else:
            summary = f"applying {artifact} (running {applied or 'nothing yet'})"
    else:
        failing = next(
            (h for h in (source_health, kustomization_health) if h.health is health),
            kustomization_health,
        )
        summary = f"running {applied}" if health is Health.READY else (failing.message or failing.reason)
    return WorkloadStatus(
        name=name,
        namespace=namespace,
        source=source,
        kustomization=kustomization,
        source_health=source_health,
        kustomization_health=kustomization_health,
        health=health,
        summary=summary,
        artifact_revision=artifact,
        applied_revision=applied,
        pushed_revision=pushed_revision,
        current=current,
    )


def exit_code_for(statuses: list[WorkloadStatus]) -> int:
    """0 all Ready and current, 1 any failed (or suspended or missing), 3 still in progress."""
    healths = {status.health for status in statuses}
    if healths & {Health.FAILING, Health.STALLED, Health.SUSPENDED} or any(
        status.source is None or status.kustomization is None for status in statuses
    ):
        return 1
    if healths - {Health.READY}:
        return 3
    return 0
