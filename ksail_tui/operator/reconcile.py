"""The decision of the Environment operator, as a pure function of (Environment, observed state).

:func:`reconcile` says which objects to apply and what the status is; :func:`finalize` says
what to delete while the Environment is being deleted. Neither talks to a cluster: the shell
(:mod:`ksail_tui.operator.kopf_app`) observes, calls them, acts, and calls them again until a
pass has nothing left to apply. So the operator converges from any state (a crash between two
steps, an object deleted or edited by hand), not only from a create event.

The work is a sequence of :class:`Step` objects; a step runs once the steps it comes after
have succeeded: the namespace and its policies, then the image (found in the registry or built
by a Job), the Flux source pinned to an artifact's digest, the deployment (a Flux Kustomization,
or Deployment ``web`` for a template without manifests), the Ingress and, when the config has a
readiness path, the URL answering.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ksail_tui.config import parse_duration
from ksail_tui.flux.status import Health, classify, workload_status
from ksail_tui.models import KUSTOMIZATION_KIND, OCI_REPOSITORY_KIND, FluxKustomization, FluxOCIRepository
from ksail_tui.operator import conditions as cond
from ksail_tui.operator import deploy, naming, objects
from ksail_tui.operator.deploy import SpecError
from ksail_tui.operator.objects import Identity, Obj
from ksail_tui.operator.quota import QuotaError, effective_quota, parse_quantity
from ksail_tui.operator.settings import Settings

PENDING, RUNNING, SUCCEEDED, FAILED = "Pending", "Running", "Succeeded", "Failed"
PROJECT_RETRY_SECONDS = 10.0
NAMESPACE_WAIT_SECONDS = 2.0
REGISTRY_RETRY_SECONDS = 5.0
# A build Pod that cannot start changes no Job, and the Pods are not watched: look again this soon.
STUCK_POD_RETRY_SECONDS = 5.0
PROBE_RETRY_SECONDS = 2.0
# How long deleting an Environment waits for Flux to prune what its Kustomization applied.
PRUNE_WAIT_SECONDS = 60.0

ObjectKey = tuple[str, str]  # (kind, name) inside the Environment's namespace


def object_key(obj: Mapping[str, Any]) -> ObjectKey:
    return (obj["kind"], obj["metadata"]["name"])


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@dataclass(frozen=True)
class Probe:
    """An HTTP GET of the Environment's URL: the status, None when nothing answered."""

    status: int | None
    detail: str = ""


@dataclass(frozen=True)
class Observed:
    """What the shell saw just before calling: the Project, the namespaces named by the
    Environment (its target and the one its status records), the objects in its target, the
    registry's answer for each wanted image and the answers of the probes a plan asked for."""

    now: datetime
    project: Obj | None = None
    namespaces: Mapping[str, Obj] = field(default_factory=dict)
    objects: Mapping[ObjectKey, Obj] = field(default_factory=dict)
    images: Mapping[str, str | None] = field(default_factory=dict)  # reference -> digest; None: absent
    registry_error: str | None = None  # the registry could not be asked
    artifact_digest: str | None = None  # the manifest digest of the artifact the Environment asks for
    artifact_error: str | None = None  # why there is none
    unserved: frozenset[str] = frozenset()  # owned kinds the cluster does not serve (no Flux)
    pods: tuple[Obj, ...] = ()  # the Pods of the build Jobs (for their termination messages)
    probes: Mapping[str, Probe] = field(default_factory=dict)  # URL -> answer


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
    probes: tuple[str, ...] = ()  # URLs to GET before the next pass

    @property
    def converged(self) -> bool:
        return not self.apply and not self.delete and not self.probes


@dataclass(frozen=True)
class Cleanup:
    delete: tuple[Obj, ...]  # objects to delete now: the Kustomization first, later the namespace
    done: bool  # nothing of ours is left: the finalizer may go
    status: Obj
    message: str = ""  # what the cleanup waits for


@dataclass(frozen=True)
class Context:
    environment: Obj
    identity: Identity
    settings: Settings
    quota: Mapping[str, str]
    project: Obj
    template: Obj | None  # the Project's template for the Environment's type

    @property
    def config(self) -> Obj:
        return deploy.config_of(self.environment, self.template or {})

    @property
    def direct(self) -> bool:
        """A template without manifests: Deployment web, no Flux."""
        return (self.template or {}).get("type") == deploy.DEPLOYMENT_TYPE

    def images(self) -> list[deploy.Image]:
        return deploy.wanted_images(self.environment, self.project, self.identity.environment)


@dataclass(frozen=True)
class Outcome:
    state: str
    message: str
    apply: tuple[Obj, ...] = ()
    reason: str = ""  # for FAILED: the condition reason
    probe: str | None = None  # a URL whose answer the step needs
    requeue_after: float | None = None  # waiting for something no event announces


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


NO_TEMPLATE = "the Project has no template for this Environment's type: nothing to build or deploy"


def _job_final(job: Obj) -> tuple[str, str, str] | None:
    """(type, reason, message) of a Job's final condition (Complete or Failed), else None."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == cond.TRUE:
            return condition["type"], condition.get("reason") or "", condition.get("message") or ""
    return None


LOG_LINES = 20


def _job_containers(pods: Sequence[Obj], job_name: str) -> Iterator[Obj]:
    """The container statuses (init containers first) of the Pods of the Job ``job_name``."""
    for pod in pods:
        if ((pod.get("metadata") or {}).get("labels") or {}).get("job-name") != job_name:
            continue
        status = pod.get("status") or {}
        yield from status.get("initContainerStatuses") or []
        yield from status.get("containerStatuses") or []


def _termination_log(pods: Sequence[Obj], job_name: str) -> str:
    """The last lines a failed container of the Job's Pods left (terminationMessagePolicy
    FallbackToLogsOnError makes them the termination message)."""
    lines: list[str] = []
    for container in _job_containers(pods, job_name):
        terminated = (container.get("state") or {}).get("terminated") or {}
        if terminated.get("exitCode") and terminated.get("message"):
            lines += [f"{container.get('name')}: {line}" for line in terminated["message"].splitlines()]
    return "\n".join(lines[-LOG_LINES:])


# Waiting reasons of a container that will not start until someone acts (kubelet keeps retrying).
_STUCK = {"CreateContainerConfigError", "ErrImagePull", "ImagePullBackOff", "InvalidImageName"}


def _stuck_container(pods: Sequence[Obj], job_name: str) -> tuple[str, str, str] | None:
    """(container, reason, message) of a container of the Job's Pods that cannot start."""
    for container in _job_containers(pods, job_name):
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in _STUCK:
            return str(container.get("name")), waiting["reason"], waiting.get("message") or ""
    return None


def _cannot_start(ctx: Context, image: deploy.Image, job_name: str, stuck: tuple[str, str, str]) -> str:
    """What keeps the build Job's Pod from starting, and what to do about it."""
    container, reason, message = stuck
    text = f"build Job {job_name} cannot start: container {container}: {reason}: {message}".rstrip(": ")
    namespace = ctx.identity.target_namespace
    secret = image.checkout.secret
    if reason == "CreateContainerConfigError" and secret and "secret" in message.lower():
        return (
            f"{text}; create the Secret in the Environment's namespace (kubectl -n {namespace} create "
            f"secret generic {secret} --from-literal=username=... --from-literal=password=...): "
            "the build starts once it exists"
        )
    if reason == "CreateContainerConfigError":
        return text
    if container == "clone":  # the operator's git image: a setting of the operator, not of the Project
        return f"{text}; the cluster cannot pull the operator's git image {ctx.settings.git_image}"
    return f"{text}; check the image name, or set the template's builder.image to one the cluster pulls"


def _image_step(ctx: Context, observed: Observed) -> Outcome:
    images = ctx.images()
    if not images:
        return Outcome(SUCCEEDED, "nothing to build")
    if observed.registry_error:
        message = f"cannot look for the images: {observed.registry_error}"
        return Outcome(RUNNING, message, requeue_after=REGISTRY_RETRY_SECONDS)
    found, building, start = [], [], []
    for image in images:
        reference = image.reference(ctx.settings)
        digest = observed.images.get(reference)
        if digest:
            found.append(f"{reference}@{digest}")
            continue
        job = deploy.build_job(ctx.identity, image, ctx.settings, ctx.template or {})
        name = job["metadata"]["name"]
        current = observed.objects.get(object_key(job))
        if current is None:
            start.append(job)
            building.append(f"starting Job {name} to build {reference}")
            continue
        final = _job_final(current)
        if final is None:
            stuck = _stuck_container(observed.pods, name)
            if stuck is not None:
                message = _cannot_start(ctx, image, name, stuck)
                return Outcome(RUNNING, message, tuple(start), requeue_after=STUCK_POD_RETRY_SECONDS)
            building.append(f"Job {name} is building {reference}")
            continue
        kind, reason, message = final
        if kind == "Complete":
            text = f"Job {name} completed, yet the registry has no {reference}"
            return Outcome(FAILED, text, reason="ImageMissing")
        text = f"build Job {name} failed: {reason}: {message}"
        log = _termination_log(observed.pods, name)
        return Outcome(
            FAILED, f"{text}; last lines of its log:\n{log}" if log else text, reason=reason or "BuildFailed"
        )
    if building:
        return Outcome(RUNNING, "; ".join(building), tuple(start))
    return Outcome(SUCCEEDED, "in the registry: " + ", ".join(found))


def _flux_pending(obj: Obj) -> Outcome | None:
    """RUNNING while Flux has not reported on the object's current generation: its status
    (a failure above all) may still be about the spec before."""
    meta = obj.get("metadata") or {}
    ready = cond.status_of((obj.get("status") or {}).get("conditions") or [], cond.READY)
    generation = int(meta.get("generation") or 0)
    if ready is None or int(ready.get("observedGeneration", generation)) != generation:
        return Outcome(RUNNING, f"waiting for Flux to reconcile {obj['kind']} {meta.get('name')}")
    return None


def _source_digest(ctx: Context, observed: Observed, current: Obj | None, pin: str) -> str | None:
    """The artifact digest to deploy: the one the OCIRepository was pinned to, while that was
    for these commits and this spec.artifact, else the one the registry names now."""
    kind, value = deploy.asked_artifact(ctx.environment)
    if kind == "digest":
        return value
    annotation = ((current or {}).get("metadata") or {}).get("annotations") or {}
    pinned_for, _, pinned = str(annotation.get(naming.PIN_ANNOTATION, "")).partition("/")
    if pinned_for == pin and pinned:
        return pinned
    return observed.artifact_digest


def _failed_in_flux(reason: str, message: str) -> Outcome:
    return Outcome(FAILED, message or reason, reason=reason or "FluxFailed")


def _flux_served(kind: str, observed: Observed) -> Outcome | None:
    if kind in observed.unserved:
        message = f"the cluster does not serve Flux's {kind}: install Flux (ksail-tui flux install)"
        return Outcome(FAILED, message, reason="FluxNotInstalled")
    return None


def _source_step(ctx: Context, observed: Observed) -> Outcome:
    if ctx.template is None:
        return Outcome(SUCCEEDED, NO_TEMPLATE)
    if ctx.direct:
        return Outcome(SUCCEEDED, f"no manifests: Deployment {deploy.WEB_NAME} runs the image")
    if (unserved := _flux_served(OCI_REPOSITORY_KIND, observed)) is not None:
        return unserved
    current = observed.objects.get((OCI_REPOSITORY_KIND, deploy.APP_NAME))
    pin = deploy.pin_key(ctx.environment)
    digest = _source_digest(ctx, observed, current, pin)
    repository = deploy.artifact_repository(ctx.template)
    if digest is None:
        message = f"waiting for an artifact in {repository}: {observed.artifact_error or 'none yet'}"
        return Outcome(RUNNING, message, requeue_after=REGISTRY_RETRY_SECONDS)
    desired = deploy.oci_repository(ctx.identity, ctx.template, ctx.settings, digest, pin)
    if current is None or not contains(current, desired):
        return Outcome(RUNNING, f"asking Flux for {repository}@{digest}", (desired,))
    if (pending := _flux_pending(current)) is not None:
        return pending
    health = classify(FluxOCIRepository.from_object(current))
    if health.health in (Health.FAILING, Health.STALLED):
        return _failed_in_flux(health.reason, health.message)
    if health.health is not Health.READY:
        return Outcome(RUNNING, health.message or "Flux is fetching the artifact")
    return Outcome(SUCCEEDED, health.message)


def _web_image(ctx: Context, observed: Observed) -> str:
    image = ctx.config.get("image")
    if image:
        return str(image)
    built = ctx.images()
    if not built:
        raise SpecError(f"a {deploy.DEPLOYMENT_TYPE} template needs config.image or a build")
    reference = built[0].reference(ctx.settings)
    return f"{reference.rpartition(':')[0]}@{observed.images[reference]}"


def _direct_deploy(ctx: Context, observed: Observed) -> Outcome:
    config = ctx.config
    desired = [
        deploy.web_deployment(ctx.identity, config, _web_image(ctx, observed)),
        deploy.web_service(ctx.identity, config),
    ]
    applied = _converge(desired, observed, f"Deployment and Service {deploy.WEB_NAME}")
    if applied.state != SUCCEEDED:
        return applied
    current = observed.objects[object_key(desired[0])]
    status = current.get("status") or {}
    current_generation = int(status.get("observedGeneration") or 0) >= int(
        current["metadata"].get("generation") or 0
    )
    if current_generation and cond.is_true(status.get("conditions") or [], "Available"):
        return Outcome(SUCCEEDED, f"Deployment {deploy.WEB_NAME} is available")
    return Outcome(RUNNING, f"waiting for Deployment {deploy.WEB_NAME} to be available")


def _deploy_step(ctx: Context, observed: Observed) -> Outcome:
    if ctx.template is None:
        return Outcome(SUCCEEDED, NO_TEMPLATE)
    if ctx.direct:
        return _direct_deploy(ctx, observed)
    if (unserved := _flux_served(KUSTOMIZATION_KIND, observed)) is not None:
        return unserved
    digests = {image: str(observed.images[image.reference(ctx.settings)]) for image in ctx.images()}
    desired = deploy.kustomization(ctx.identity, ctx.template, ctx.settings, digests, ctx.config)
    current = observed.objects.get(object_key(desired))
    if current is None or not contains(current, desired):
        return Outcome(RUNNING, f"applying Kustomization {deploy.APP_NAME}", (desired,))
    if (pending := _flux_pending(current)) is not None:
        return pending
    source = observed.objects[(OCI_REPOSITORY_KIND, deploy.APP_NAME)]
    # The revision asked for: the pinned digest, as Flux spells a digest ref's revision.
    asked = ((source.get("spec") or {}).get("ref") or {}).get("digest")
    status = workload_status(
        deploy.APP_NAME,
        ctx.identity.target_namespace,
        FluxOCIRepository.from_object(source),
        FluxKustomization.from_object(current),
        pushed_revision=asked,
    )
    if status.kustomization_health.health in (Health.FAILING, Health.STALLED):
        return _failed_in_flux(status.kustomization_health.reason, status.kustomization_health.message)
    if status.health is Health.READY and status.current:
        return Outcome(SUCCEEDED, status.kustomization_health.message or f"running {status.applied_revision}")
    return Outcome(RUNNING, status.summary)


def _ingress_step(ctx: Context, observed: Observed) -> Outcome:
    if ctx.template is None:
        return Outcome(SUCCEEDED, NO_TEMPLATE)
    return _converge([deploy.ingress(ctx.identity, ctx.settings)], observed, f"Ingress {deploy.WEB_NAME}")


def url_of(identity: Identity, settings: Settings) -> str:
    return f"http://{deploy.host(identity, settings)}"


def _reachable_step(ctx: Context, observed: Observed) -> Outcome:
    if ctx.template is None:
        return Outcome(SUCCEEDED, NO_TEMPLATE)
    url = url_of(ctx.identity, ctx.settings)
    path = deploy.readiness_path(ctx.config)
    if path is None:
        return Outcome(SUCCEEDED, f"{url} (no readiness path to check)")
    target = url + "/" + path.lstrip("/")
    probe = observed.probes.get(target)
    if probe is None:
        return Outcome(RUNNING, f"checking {target}", probe=target)
    if probe.status is not None and 200 <= probe.status < 400:
        return Outcome(SUCCEEDED, f"{target} answered {probe.status}")
    answer = f"answered {probe.status}" if probe.status is not None else "did not answer"
    detail = f": {probe.detail}" if probe.detail else ""
    return Outcome(RUNNING, f"{target} {answer}{detail}", requeue_after=PROBE_RETRY_SECONDS)


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
    # Build Pods come under the quota, so they wait for the LimitRange and the policy.
    Step("image", cond.IMAGE_READY, "ImageReady", _image_step, after=("quota", "limits", "network-policy")),
    Step("source", cond.SOURCE_READY, "SourceReady", _source_step, after=("namespace",)),
    Step("deploy", cond.DEPLOY_READY, "DeployReady", _deploy_step, after=("image", "source")),
    Step("ingress", cond.REACHABLE, "IngressReady", _ingress_step, after=("namespace",)),
    Step("reachable", cond.REACHABLE, "Reachable", _reachable_step, after=("deploy", "ingress")),
)


def _evaluate(step: Step, ctx: Context, observed: Observed) -> Outcome:
    try:
        return step.evaluate(ctx, observed)
    except SpecError as error:  # only a change of the spec (or the Project) helps
        return Outcome(FAILED, str(error), reason=cond.INVALID_SPEC)


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
    created = parse_time(meta["creationTimestamp"])
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

    template = deploy.template_of(environment, observed.project)
    ctx = Context(environment, identity, settings, hard, observed.project, template)
    previous_steps = {s.get("name"): s for s in _previous(environment).get("steps") or []}
    outcomes: dict[str, Outcome] = {}
    for step in STEPS:
        waiting = [name for name in step.after if outcomes[name].state != SUCCEEDED]
        outcomes[step.name] = (
            Outcome(PENDING, f"waiting for {', '.join(waiting)}")
            if waiting
            else _evaluate(step, ctx, observed)
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
    served = template is not None and outcomes["ingress"].state == SUCCEEDED
    status = _status(
        environment,
        now,
        [*step_conditions, *summary],
        namespace=identity.target_namespace,
        **({"url": url_of(identity, settings)} if served else {}),
        steps=records,
        progress={"done": done, "total": len(STEPS)},
    )
    apply = tuple(obj for step in STEPS for obj in outcomes[step.name].apply)
    probes = tuple(o.probe for o in outcomes.values() if o.probe)
    waiting_namespace = outcomes["namespace"].state == RUNNING and not outcomes["namespace"].apply
    waits = [o.requeue_after for o in outcomes.values() if o.requeue_after is not None]
    waits += [NAMESPACE_WAIT_SECONDS] if waiting_namespace else []
    waits += [ttl_left] if ttl_left is not None else []
    requeue = min(waits) if waits else None
    abandoned = tuple(
        ns
        for name, ns in sorted(observed.namespaces.items())
        if name != identity.target_namespace
        and _owned_by(ns, identity.uid)
        and not (ns.get("metadata") or {}).get("deletionTimestamp")
    )
    return Plan(
        identity.target_namespace,
        apply,
        status,
        tuple(events),
        requeue_after=requeue,
        delete=abandoned,
        probes=probes,
    )


def finalize(environment: Obj, observed: Observed) -> Cleanup:
    """While an Environment is deleted: first its Kustomization, waiting (up to
    PRUNE_WAIT_SECONDS) so Flux prunes what it applied; then its OCIRepository and namespace
    (only if provably ours), waiting until they are gone."""
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

    def deleting_since(obj: Obj) -> datetime | None:
        stamp_text = (obj.get("metadata") or {}).get("deletionTimestamp")
        return parse_time(stamp_text) if stamp_text else None

    kustomizations = [o for key, o in observed.objects.items() if key[0] == KUSTOMIZATION_KIND]
    pruning = [
        o
        for o in kustomizations
        if (since := deleting_since(o)) is None or (observed.now - since).total_seconds() < PRUNE_WAIT_SECONDS
    ]
    if pruning:
        delete = tuple(o for o in pruning if deleting_since(o) is None)
        names_text = ", ".join(o["metadata"]["name"] for o in pruning)
        message = f"deleting Kustomization {names_text}; Flux prunes what it applied"
    else:
        sources = [o for key, o in observed.objects.items() if key[0] == OCI_REPOSITORY_KIND]
        delete = tuple(o for o in [*sources, *ours] if deleting_since(o) is None)
        if ours:
            listed = ", ".join(ns["metadata"]["name"] for ns in ours)
            message = f"waiting for namespace {listed} to be deleted"
        else:
            message = "everything of this Environment is gone"
    status = _blocked(environment, observed.now, cond.DELETING, message, stalled=False)
    return Cleanup(delete, not ours and not pruning, status, message)
