"""The decision of the Environment operator, as a pure function of (Environment, observed state).

:func:`reconcile` says which objects to apply and what the status is; :func:`finalize` says
what to delete while the Environment is being deleted. Neither talks to a cluster: the shell
(:mod:`ksail_tui.operator.kopf_app`) observes, calls them, acts, and calls them again until a
pass has nothing left to apply. So the operator converges from any state (a crash between two
steps, an object deleted or edited by hand), not only from a create event.

The work is a sequence of :class:`Step` objects; a step runs once the steps it comes after
have succeeded. Issue 14 appends its steps (image, source, deploy, ingress) to :data:`STEPS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ksail_tui.config import parse_duration
from ksail_tui.operator import conditions as cond
from ksail_tui.operator import naming, objects
from ksail_tui.operator.objects import Identity, Obj
from ksail_tui.operator.quota import QuotaError, effective_quota, parse_quantity
from ksail_tui.operator.settings import Settings

PENDING, RUNNING, SUCCEEDED, FAILED = "Pending", "Running", "Succeeded", "Failed"
PROJECT_RETRY_SECONDS = 10.0
NAMESPACE_WAIT_SECONDS = 2.0

ObjectKey = tuple[str, str]  # (kind, name) inside the Environment's namespace


def object_key(obj: Mapping[str, Any]) -> ObjectKey:
    return (obj["kind"], obj["metadata"]["name"])


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Observed:
    """What the shell saw just before calling: the Project, the namespaces named by the
    Environment (its target and the one its status records) and the objects in its target."""

    now: datetime
    project: Obj | None = None
    namespaces: Mapping[str, Obj] = field(default_factory=dict)
    objects: Mapping[ObjectKey, Obj] = field(default_factory=dict)


@dataclass(frozen=True)
class StepEvent:
    """A Kubernetes Event the shell posts on the Environment."""

    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass(frozen=True)
class Plan:
    namespace: str | None  # the target namespace, when the Environment can be placed
    apply: tuple[Obj, ...]  # desired objects that are missing or differ, in order
    status: Obj
    events: tuple[StepEvent, ...] = ()
    expired: bool = False  # spec.ttl has passed: delete the Environment
    requeue_after: float | None = None  # look again this soon even if nothing changes
    # Namespaces of ours that the Environment no longer names (its labels changed).
    delete: tuple[Obj, ...] = ()

    @property
    def converged(self) -> bool:
        return not self.apply and not self.delete


@dataclass(frozen=True)
class Cleanup:
    delete: tuple[Obj, ...]  # namespaces to delete now
    done: bool  # nothing of ours is left: the finalizer may go
    status: Obj


@dataclass(frozen=True)
class Context:
    environment: Obj
    identity: Identity
    settings: Settings
    quota: Mapping[str, str]


@dataclass(frozen=True)
class Outcome:
    state: str
    message: str
    apply: tuple[Obj, ...] = ()
    reason: str = ""  # for FAILED: the condition reason


@dataclass(frozen=True)
class Step:
    name: str
    condition: str  # the condition that reports it (several steps may share one)
    done_reason: str
    evaluate: Callable[[Context, Observed], Outcome]
    after: tuple[str, ...] = ()


# -- comparing desired with observed ---------------------------------------------------------


def _same_scalar(observed: Any, desired: Any) -> bool:
    if observed == desired:
        return True
    if isinstance(observed, str | int) and isinstance(desired, str | int):
        # The API server may store a quantity in another spelling ("1000m" for "1").
        try:
            return parse_quantity(observed) == parse_quantity(desired)
        except (ValueError, ArithmeticError):
            return False
    return False


def contains(observed: Any, desired: Any) -> bool:
    """Whether ``observed`` has everything ``desired`` sets (the server may add defaults)."""
    if isinstance(desired, Mapping):
        return isinstance(observed, Mapping) and all(
            key in observed and contains(observed[key], value) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(observed, list)
            and len(observed) == len(desired)
            and all(contains(o, d) for o, d in zip(observed, desired, strict=True))
        )
    return _same_scalar(observed, desired)


def _owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return bool(uid) and labels.get(naming.OWNER_UID_LABEL) == uid


def _converge(desired: Sequence[Obj], observed: Observed, what: str) -> Outcome:
    stale = tuple(obj for obj in desired if not contains(observed.objects.get(object_key(obj)), obj))
    if not stale:
        return Outcome(SUCCEEDED, f"{what} in place")
    names = ", ".join(f"{obj['kind']} {obj['metadata']['name']}" for obj in stale)
    return Outcome(RUNNING, f"applying {names}", stale)


# -- the steps -------------------------------------------------------------------------------


def _namespace_step(ctx: Context, observed: Observed) -> Outcome:
    name = ctx.identity.target_namespace
    desired = objects.namespace(ctx.identity)
    current = observed.namespaces.get(name)
    if current is None:
        return Outcome(RUNNING, f"creating namespace {name}", (desired,))
    if not _owned_by(current, ctx.identity.uid):
        return Outcome(
            FAILED,
            f"namespace {name} exists and belongs to something else; "
            "rename the Environment or remove that namespace",
            reason="NamespaceConflict",
        )
    if (
        current.get("metadata", {}).get("deletionTimestamp")
        or current.get("status", {}).get("phase") == "Terminating"
    ):
        return Outcome(RUNNING, f"namespace {name} is terminating; it is created again once gone")
    if not contains(current, desired):
        return Outcome(RUNNING, f"labelling namespace {name}", (desired,))
    return Outcome(SUCCEEDED, f"namespace {name} is active")


def _quota_step(ctx: Context, observed: Observed) -> Outcome:
    return _converge([objects.resource_quota(ctx.identity, ctx.quota)], observed, "ResourceQuota")


def _limits_step(ctx: Context, observed: Observed) -> Outcome:
    return _converge([objects.limit_range(ctx.identity)], observed, "LimitRange")


def _network_policy_step(ctx: Context, observed: Observed) -> Outcome:
    return _converge([objects.network_policy(ctx.identity, ctx.settings)], observed, "NetworkPolicy")


STEPS: tuple[Step, ...] = (
    Step("namespace", cond.NAMESPACE_READY, "NamespaceReady", _namespace_step),
    Step("quota", cond.POLICIES_READY, "QuotaReady", _quota_step, after=("namespace",)),
    Step("limits", cond.POLICIES_READY, "LimitsReady", _limits_step, after=("namespace",)),
    Step(
        "network-policy",
        cond.POLICIES_READY,
        "NetworkPolicyReady",
        _network_policy_step,
        after=("namespace",),
    ),
)


# -- reconcile -------------------------------------------------------------------------------


def _identity(environment: Obj) -> Identity | list[str]:
    """The Environment's identity, or the required labels it lacks."""
    meta = environment.get("metadata") or {}
    labels = meta.get("labels") or {}
    missing = [label for label in naming.REQUIRED_LABELS if not naming.sanitize(labels.get(label) or "")]
    if missing:
        return missing
    return Identity(
        name=meta.get("name", ""),
        namespace=meta.get("namespace", ""),
        uid=meta.get("uid", ""),
        team=labels[naming.TEAM_LABEL],
        project=labels[naming.PROJECT_LABEL],
        environment=labels[naming.ENVIRONMENT_LABEL],
    )


def target_namespace(environment: Obj) -> str | None:
    """The namespace an Environment gets; None while it lacks a required label."""
    identity = _identity(environment)
    return identity.target_namespace if isinstance(identity, Identity) else None


def _previous(environment: Obj) -> Obj:
    return environment.get("status") or {}


def _status(environment: Obj, now: datetime, conditions: list[cond.Condition], **fields: Any) -> Obj:
    generation = int((environment.get("metadata") or {}).get("generation") or 0)
    merged = cond.merge_conditions(
        _previous(environment).get("conditions") or [], conditions, generation, stamp(now)
    )
    return {"observedGeneration": generation, **fields, "conditions": merged, "phase": cond.phase(merged)}


def _summary(
    reason: str, message: str, *, ready: bool = False, reconciling: bool = False, stalled: bool = False
) -> list[cond.Condition]:
    """Ready, Reconciling and Stalled, as kstatus has them: at most one of them True."""

    def flag(value: bool) -> str:
        return cond.TRUE if value else cond.FALSE

    return [
        cond.Condition(cond.READY, flag(ready), reason, message),
        cond.Condition(cond.RECONCILING, flag(reconciling), reason, message),
        cond.Condition(cond.STALLED, flag(stalled), reason, message),
    ]


def _blocked(environment: Obj, now: datetime, reason: str, message: str, *, stalled: bool) -> Obj:
    """The status of an Environment that cannot proceed: Stalled when only a change of its spec
    can help, Reconciling when waiting for something that may still come."""
    previous = _previous(environment)
    return _status(
        environment,
        now,
        _summary(reason, message, reconciling=not stalled, stalled=stalled),
        namespace=previous.get("namespace", ""),
        steps=previous.get("steps") or [],
        progress=previous.get("progress") or {"done": 0, "total": len(STEPS)},
    )


def _ttl_left(environment: Obj, now: datetime) -> float | None:
    """Seconds until spec.ttl expires the Environment; None without a TTL or when kept."""
    meta = environment.get("metadata") or {}
    ttl = (environment.get("spec") or {}).get("ttl")
    if not ttl or (meta.get("annotations") or {}).get(naming.KEEP_ANNOTATION) == "true":
        return None
    created = datetime.strptime(meta["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return (created + timedelta(seconds=parse_duration(ttl)) - now).total_seconds()


def _step_record(step: Step, outcome: Outcome, previous: Mapping[str, Any] | None, now: str) -> Obj:
    """One entry of status.steps; times carry over while the state holds."""
    before = previous or {}
    record: Obj = {"name": step.name, "state": outcome.state, "message": outcome.message}
    if outcome.state == PENDING:
        return record
    carried = before.get("state") in (RUNNING, outcome.state)
    started = before.get("startedAt") if carried else None
    record["startedAt"] = started or now
    if outcome.state in (SUCCEEDED, FAILED):
        finished = before.get("finishedAt") if before.get("state") == outcome.state else None
        record["finishedAt"] = finished or now
    return record


def _step_event(step: Step, outcome: Outcome, previous: Mapping[str, Any] | None) -> StepEvent | None:
    if previous is not None and previous.get("state") == outcome.state:
        return None
    if outcome.state == RUNNING:
        return StepEvent("Normal", "Progressing", f"{step.name}: {outcome.message}")
    if outcome.state == SUCCEEDED:
        return StepEvent("Normal", step.done_reason, f"{step.name}: {outcome.message}")
    if outcome.state == FAILED:
        return StepEvent("Warning", outcome.reason, f"{step.name}: {outcome.message}")
    return None


def _aggregate(condition: str, parts: list[tuple[Step, Outcome]]) -> cond.Condition:
    """One condition over its steps: the first failed one, else the first unfinished one."""
    failed = next((o for _, o in parts if o.state == FAILED), None)
    if failed is not None:
        return cond.Condition(condition, cond.FALSE, failed.reason, failed.message)
    unfinished = next(((s, o) for s, o in parts if o.state != SUCCEEDED), None)
    if unfinished is not None:
        step, outcome = unfinished
        reason = "Progressing" if outcome.state == RUNNING else "DependencyNotReady"
        return cond.Condition(condition, cond.FALSE, reason, f"{step.name}: {outcome.message}")
    return cond.Condition(condition, cond.TRUE, "Succeeded", "; ".join(o.message for _, o in parts))


def reconcile(environment: Obj, observed: Observed, settings: Settings | None = None) -> Plan:
    """What to apply and what to report for an Environment that is not being deleted."""
    settings = settings or Settings()
    now = observed.now
    spec = environment.get("spec") or {}
    if spec.get("suspend"):
        # As Flux does: a suspended object is left alone and its status keeps the last word.
        previous = _previous(environment)
        return Plan(previous.get("namespace") or None, (), previous)
    identity = _identity(environment)
    if isinstance(identity, list):
        message = "missing required labels: " + ", ".join(identity) + "; add them to the Environment"
        return Plan(None, (), _blocked(environment, now, cond.INVALID_SPEC, message, stalled=True))
    try:
        ttl_left = _ttl_left(environment, now)
    except ValueError as error:
        return Plan(
            None, (), _blocked(environment, now, cond.INVALID_SPEC, f"spec.ttl: {error}", stalled=True)
        )
    if ttl_left is not None and ttl_left <= 0:
        return Plan(identity.target_namespace, (), _previous(environment), expired=True)
    project_name = (spec.get("projectRef") or {}).get("name", "")
    if observed.project is None:
        message = f"Project {project_name!r} not found in namespace {identity.namespace}"
        status = _blocked(environment, now, "ProjectNotFound", message, stalled=False)
        return Plan(identity.target_namespace, (), status, requeue_after=PROJECT_RETRY_SECONDS)
    project_quota = ((observed.project.get("spec") or {}).get("resources") or {}).get("defaultQuota")
    try:
        hard = effective_quota(spec.get("quota"), project_quota)
    except QuotaError as error:
        return Plan(None, (), _blocked(environment, now, cond.INVALID_SPEC, str(error), stalled=True))

    ctx = Context(environment, identity, settings, hard)
    previous_steps = {s.get("name"): s for s in _previous(environment).get("steps") or []}
    outcomes: dict[str, Outcome] = {}
    for step in STEPS:
        waiting = [name for name in step.after if outcomes[name].state != SUCCEEDED]
        outcomes[step.name] = (
            Outcome(PENDING, f"waiting for {', '.join(waiting)}") if waiting else step.evaluate(ctx, observed)
        )
    now_text = stamp(now)
    records = [_step_record(s, outcomes[s.name], previous_steps.get(s.name), now_text) for s in STEPS]
    events = [e for s in STEPS if (e := _step_event(s, outcomes[s.name], previous_steps.get(s.name)))]

    by_condition: dict[str, list[tuple[Step, Outcome]]] = {}
    for step in STEPS:
        by_condition.setdefault(step.condition, []).append((step, outcomes[step.name]))
    step_conditions = [_aggregate(name, parts) for name, parts in by_condition.items()]
    failed = next((o for o in outcomes.values() if o.state == FAILED), None)
    done = sum(o.state == SUCCEEDED for o in outcomes.values())
    if failed is not None:
        summary = _summary(failed.reason, failed.message, stalled=True)
    elif done == len(STEPS):
        message = f"Environment is ready in namespace {identity.target_namespace}"
        summary = _summary("Succeeded", message, ready=True)
    else:
        running = next(c for c in step_conditions if c.status != cond.TRUE)
        summary = _summary("Progressing", running.message, reconciling=True)
    status = _status(
        environment,
        now,
        [*step_conditions, *summary],
        namespace=identity.target_namespace,
        steps=records,
        progress={"done": done, "total": len(STEPS)},
    )
    apply = tuple(obj for step in STEPS for obj in outcomes[step.name].apply)
    waiting_namespace = outcomes["namespace"].state == RUNNING and not outcomes["namespace"].apply
    requeue = NAMESPACE_WAIT_SECONDS if waiting_namespace else None
    if ttl_left is not None:
        requeue = min(requeue or ttl_left, ttl_left)
    abandoned = tuple(
        ns
        for name, ns in sorted(observed.namespaces.items())
        if name != identity.target_namespace
        and _owned_by(ns, identity.uid)
        and not (ns.get("metadata") or {}).get("deletionTimestamp")
    )
    return Plan(
        identity.target_namespace, apply, status, tuple(events), requeue_after=requeue, delete=abandoned
    )


def finalize(environment: Obj, observed: Observed) -> Cleanup:
    """While an Environment is deleted: delete its namespace (only if provably ours) and wait
    until it is gone. Issue 14 deletes the Flux objects before the namespace."""
    identity = _identity(environment)
    recorded = _previous(environment).get("namespace")
    names = {recorded} if recorded else set()
    if isinstance(identity, Identity):
        names.add(identity.target_namespace)
    uid = (environment.get("metadata") or {}).get("uid", "")
    ours = [
        ns
        for name in sorted(names)
        if (ns := observed.namespaces.get(name)) is not None and _owned_by(ns, uid)
    ]
    delete = tuple(ns for ns in ours if not (ns.get("metadata") or {}).get("deletionTimestamp"))
    if ours:
        message = (
            "waiting for namespace " + ", ".join(ns["metadata"]["name"] for ns in ours) + " to be deleted"
        )
    else:
        message = "everything of this Environment is gone"
    status = _blocked(environment, observed.now, cond.DELETING, message, stalled=False)
    return Cleanup(delete, not ours, status)
