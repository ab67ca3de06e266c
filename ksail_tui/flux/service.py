"""Flux operations on workloads: apply sources, judge status, reconcile now, suspend and resume."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from ksail_tui.config import ClusterConfig, Workload
from ksail_tui.deadline import Deadline
from ksail_tui.errors import KsailError, OperationFailed, Unavailable
from ksail_tui.flux.sources import workload_sources
from ksail_tui.flux.status import Health, ObjectHealth, WorkloadStatus, classify, workload_status
from ksail_tui.kube.client import (
    EVENTS,
    KUSTOMIZATIONS,
    NAMESPACES,
    OCI_REPOSITORIES,
    ApiError,
    KubeClient,
    Resource,
)
from ksail_tui.kube.wait import ObjectFeed, Verdict, wait_for
from ksail_tui.models import (
    RECONCILE_ANNOTATION,
    FluxKustomization,
    FluxOCIRepository,
    ObjectRef,
    ReconcileMode,
    ReconciliationRequest,
    parse_outside,
)

Progress = Callable[[str], None]
# The status's look at the registry is a bonus: it never waits long for it.
_REGISTRY_READ_SECONDS = 3.0


def open_kube(
    config: ClusterConfig, request_timeout: float = 10.0, deadline: Deadline | None = None
) -> KubeClient:
    connection = config.spec.cluster.connection
    return KubeClient(
        connection.kubeconfig, connection.context, request_timeout=request_timeout, deadline=deadline
    )


def new_token() -> tuple[datetime, str]:
    """A fresh requestedAt token: RFC 3339 with nanoseconds, like the flux CLI."""
    nanoseconds = time.time_ns()
    now = datetime.fromtimestamp(nanoseconds / 1e9, UTC)
    return now, now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{nanoseconds % 1_000_000_000:09d}Z"


class ReconcileOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    workload: str
    ok: bool
    source_revision: str | None = None
    applied_revision: str | None = None
    message: str = ""
    seconds: float = 0.0
    exit_code: int = 0


class FluxEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: str
    reason: str
    message: str
    object: str
    component: str
    timestamp: str | None
    count: int = 1


def _suspended_error(ref: ObjectRef, workload: str) -> OperationFailed:
    return OperationFailed(
        f"{ref} is suspended, so Flux will not reconcile it",
        hint=f"run `ksail-tui workload resume {workload}` or pass --resume",
        remedy_action="suspend",
    )


class FluxService:
    def __init__(self, config: ClusterConfig, kube: KubeClient) -> None:
        self.config = config
        self.kube = kube

    @classmethod
    def open(
        cls, config: ClusterConfig, request_timeout: float = 10.0, deadline: Deadline | None = None
    ) -> FluxService:
        """A service whose every request ends by ``deadline`` (a CLI command's --timeout)."""
        return cls(config, open_kube(config, request_timeout, deadline))

    @property
    def namespace(self) -> str:
        return self.config.flux_namespace

    def _workloads(self, names: list[str] | None) -> list[Workload]:
        return [self.config.workload(n) for n in names] if names else list(self.config.workloads)

    def _require_flux_crds(self) -> None:
        for resource in (OCI_REPOSITORIES, KUSTOMIZATIONS):
            try:
                self.kube.request("GET", resource.path(self.namespace), query={"limit": 1})
            except ApiError as error:
                if error.status == 404:
                    raise Unavailable(
                        f"Flux is not installed in the cluster ({resource.kind} is not served)",
                        hint="run `ksail-tui flux install`",
                    ) from None
                raise

    # --- apply ----------------------------------------------------------------------------

    def apply_sources(
        self, names: list[str] | None = None, tags: dict[str, str] | None = None
    ) -> list[ObjectRef]:
        """Server-side apply each workload's OCIRepository and Kustomization (idempotent).

        The Flux namespace must exist: it is Flux's own, made by `flux install`, and a real API
        server refuses objects in a missing namespace. A workload's target namespace is created
        here, because kustomize-controller would not create it and its apply would fail.
        """
        self._require_flux_crds()
        self._require_flux_namespace()
        applied: list[ObjectRef] = []
        for workload in self._workloads(names):
            if workload.target_namespace:
                self.kube.apply(
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": workload.target_namespace}}
                )
            for obj in workload_sources(self.config, workload, tag=(tags or {}).get(workload.name)):
                self.kube.apply(obj)
                applied.append(ObjectRef(kind=obj["kind"], name=workload.name, namespace=self.namespace))
        return applied

    def _require_flux_namespace(self) -> None:
        if self.kube.get_or_none(NAMESPACES, self.namespace) is None:
            raise Unavailable(
                f"the Flux namespace {self.namespace} does not exist in the cluster",
                hint="run `ksail-tui flux install`, or set spec.cluster.flux.namespace to where Flux runs",
            )

    def ensure_namespace(self) -> None:
        self.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}})

    # --- status ---------------------------------------------------------------------------

    def statuses(
        self,
        names: list[str] | None = None,
        pushed: dict[str, str] | None = None,
        *,
        check_registry: bool = False,
    ) -> list[WorkloadStatus]:
        """Each workload's status; ``pushed`` maps a workload to its newest pushed revision.

        With ``check_registry`` the pushed revision is what the registry holds now under the tag
        each OCIRepository references, so a push that Flux has not fetched yet shows as such.
        """
        self._require_flux_crds()
        sources = {
            o["metadata"]["name"]: FluxOCIRepository.from_object(o)
            for o in self.kube.list(OCI_REPOSITORIES, self.namespace)["items"]
        }
        kustomizations = {
            o["metadata"]["name"]: FluxKustomization.from_object(o)
            for o in self.kube.list(KUSTOMIZATIONS, self.namespace)["items"]
        }
        workloads = self._workloads(names)
        revisions = dict(pushed or {})
        if check_registry:
            wanted = [sources[w.name] for w in workloads if w.name in sources]
            revisions = registry_revisions(self.config, wanted, self.kube.deadline) | revisions
        return [
            workload_status(
                w.name, self.namespace, sources.get(w.name), kustomizations.get(w.name), revisions.get(w.name)
            )
            for w in workloads
        ]

    # --- suspend / resume -----------------------------------------------------------------

    def set_suspended(self, names: list[str] | None, suspended: bool) -> list[ObjectRef]:
        changed = []
        for workload in self._workloads(names):
            for resource in (OCI_REPOSITORIES, KUSTOMIZATIONS):
                self._patch(resource, workload, {"spec": {"suspend": suspended}})
                changed.append(ObjectRef(kind=resource.kind, name=workload.name, namespace=self.namespace))
        return changed

    # --- reconcile ------------------------------------------------------------------------

    def request_reconcile(self, names: list[str] | None = None) -> ReconciliationRequest:
        """Only ask: annotate both objects of each workload with a new token."""
        requested_at, token = new_token()
        targets = []
        for workload in self._workloads(names):
            for resource in (OCI_REPOSITORIES, KUSTOMIZATIONS):
                self._annotate(resource, workload, token)
                targets.append(ObjectRef(kind=resource.kind, name=workload.name, namespace=self.namespace))
        return ReconciliationRequest(
            targets=tuple(targets), mode=ReconcileMode.MANUAL, requested_at=requested_at, token=token
        )

    def _annotate(self, resource: Resource, workload: Workload, token: str) -> dict[str, Any]:
        return self._patch(resource, workload, {"metadata": {"annotations": {RECONCILE_ANNOTATION: token}}})

    def _patch(self, resource: Resource, workload: Workload, patch: dict[str, Any]) -> dict[str, Any]:
        """Merge-patch one of the workload's Flux objects; a missing one says to apply it."""
        try:
            return self.kube.merge_patch(resource, workload.name, patch, self.namespace)
        except ApiError as error:
            if error.status == 404:
                raise self._not_applied(resource, workload) from None
            raise

    def _not_applied(self, resource: Resource, workload: Workload) -> OperationFailed:
        return OperationFailed(
            f"{resource.kind} {self.namespace}/{workload.name} does not exist",
            hint=f"run `ksail-tui workload apply {workload.name}`",
        )

    def reconcile(
        self,
        names: list[str] | None = None,
        *,
        timeout: float | None = None,
        resume: bool = False,
        on_progress: Progress | None = None,
        cancel: threading.Event | None = None,
        feed: ObjectFeed | None = None,
    ) -> list[ReconcileOutcome]:
        """Reconcile each workload now, source first, and wait for the revision-aware outcome.

        Once ``cancel`` is set the waits stop: the outcomes not known by then are failures. With a
        ``feed`` (the dashboard's live store) the waits judge its events instead of watching."""
        limit = timeout if timeout is not None else self.config.spec.cluster.connection.timeout_seconds
        # One deadline for everything below, requests included: a frozen API server cannot make
        # a request outlast it.
        deadline = Deadline.after(limit).earliest(self.kube.deadline)
        bounded = FluxService(self.config, self.kube.within(deadline))
        bounded._require_flux_crds()
        workloads = self._workloads(names)
        with ThreadPoolExecutor(max_workers=min(8, max(1, len(workloads)))) as pool:
            futures = [
                pool.submit(bounded._reconcile_one, w, deadline, resume, on_progress, cancel, feed)
                for w in workloads
            ]
            return [future.result() for future in futures]

    def _reconcile_one(
        self,
        workload: Workload,
        deadline: Deadline,
        resume: bool,
        on_progress: Progress | None,
        cancel: threading.Event | None = None,
        feed: ObjectFeed | None = None,
    ) -> ReconcileOutcome:
        started = time.monotonic()

        def report(message: str) -> None:
            if on_progress:
                on_progress(f"{workload.name}: {message}")

        try:
            source_revision = self._reconcile_source(workload, deadline, resume, report, cancel, feed)
            applied = self._reconcile_kustomization(
                workload, source_revision, deadline, resume, report, cancel, feed
            )
        except KsailError as error:
            return ReconcileOutcome(
                workload=workload.name,
                ok=False,
                message=str(error),
                seconds=time.monotonic() - started,
                exit_code=error.exit_code,
            )
        return ReconcileOutcome(
            workload=workload.name,
            ok=True,
            source_revision=source_revision,
            applied_revision=applied,
            message=f"applied revision {applied}",
            seconds=time.monotonic() - started,
        )

    def _prepare(self, resource: Resource, workload: Workload, resume: bool) -> None:
        current = self.kube.get_or_none(resource, workload.name, self.namespace)
        if current is None:
            raise self._not_applied(resource, workload)
        if (current.get("spec") or {}).get("suspend"):
            ref = ObjectRef(kind=resource.kind, name=workload.name, namespace=self.namespace)
            if not resume:
                raise _suspended_error(ref, workload.name)
            self._patch(resource, workload, {"spec": {"suspend": False}})

    def _request_and_wait(
        self,
        resource: Resource,
        workload: Workload,
        parse: Callable[[dict[str, Any]], Any],
        controller: str,
        settled: Callable[[Any, ObjectHealth], Verdict],
        *,
        what: str,
        deadline: Deadline,
        resume: bool,
        report: Progress,
        cancel: threading.Event | None,
        feed: ObjectFeed | None,
    ) -> None:
        """Annotate with a fresh token and watch until the controller has handled it and either
        failed (final) or ``settled`` says done."""
        self._prepare(resource, workload, resume)
        _, token = new_token()

        def judge(obj: dict[str, Any] | None) -> Verdict:
            if obj is None:
                return Verdict.failed(f"{resource.kind} {self.namespace}/{workload.name} was deleted")
            parsed = parse(obj)
            if parsed.last_handled_reconcile_at != token:
                return Verdict.pending(f"waiting for {controller} to pick up the request")
            health = classify(parsed)
            if health.health in (Health.FAILING, Health.STALLED):
                return Verdict.failed(f"{resource.kind} {health.reason}: {health.message}")
            return settled(parsed, health)

        patched = self._annotate(resource, workload, token)
        report(f"{resource.kind} reconciliation requested")
        verdict, _ = wait_for(
            self.kube,
            resource,
            workload.name,
            self.namespace,
            judge,
            timeout=deadline,
            what=what,
            initial=patched,
            on_progress=report,
            cancel=cancel,
            feed=feed,
        )
        if verdict.state == "failed":
            raise OperationFailed(verdict.message)

    def _reconcile_source(
        self,
        workload: Workload,
        deadline: Deadline,
        resume: bool,
        report: Progress,
        cancel: threading.Event | None,
        feed: ObjectFeed | None,
    ) -> str:
        revision: list[str] = []

        def settled(source: FluxOCIRepository, health: ObjectHealth) -> Verdict:
            if health.health is Health.READY and source.artifact_revision:
                revision.append(source.artifact_revision)
                return Verdict.done(health.message)
            return Verdict.pending(f"source {health.health.value.lower()}: {health.message}")

        self._request_and_wait(
            OCI_REPOSITORIES,
            workload,
            FluxOCIRepository.from_object,
            "source-controller",
            settled,
            what=f"OCIRepository {self.namespace}/{workload.name}",
            deadline=deadline,
            resume=resume,
            report=report,
            cancel=cancel,
            feed=feed,
        )
        report(f"source ready at {revision[0]}")
        return revision[0]

    def _reconcile_kustomization(
        self,
        workload: Workload,
        revision: str,
        deadline: Deadline,
        resume: bool,
        report: Progress,
        cancel: threading.Event | None,
        feed: ObjectFeed | None,
    ) -> str:
        def settled(kustomization: FluxKustomization, health: ObjectHealth) -> Verdict:
            if health.health is not Health.READY:
                return Verdict.pending(f"applying: {health.message}")
            if kustomization.last_applied_revision == revision:
                return Verdict.done(health.message)
            return Verdict.pending(f"applied {kustomization.last_applied_revision}, waiting for {revision}")

        self._request_and_wait(
            KUSTOMIZATIONS,
            workload,
            FluxKustomization.from_object,
            "kustomize-controller",
            settled,
            what=f"Kustomization {self.namespace}/{workload.name} to apply {revision}",
            deadline=deadline,
            resume=resume,
            report=report,
            cancel=cancel,
            feed=feed,
        )
        return revision

    # --- events ---------------------------------------------------------------------------

    def events(self, ref: ObjectRef, limit: int = 50) -> list[FluxEvent]:
        listing = self.kube.list(
            EVENTS,
            ref.namespace,
            field_selector=f"involvedObject.kind={ref.kind},involvedObject.name={ref.name}",
        )
        return sorted((event_of(item) for item in listing["items"]), key=lambda e: e.timestamp or "")[-limit:]


def registry_revisions(
    config: ClusterConfig, sources: list[FluxOCIRepository], deadline: Deadline | None = None
) -> dict[str, str]:
    """``<tag>@<digest>`` in the registry now for each source that references a tag.

    Sources following a semver range are left out, and so is everything when the registry cannot
    be reached: the status then judges by the cluster alone.
    """
    from ksail_tui.oci.registry_client import RegistryClient

    prefix = f"oci://{config.registry_cluster_endpoint}/"
    revisions: dict[str, str] = {}
    try:
        read_timeout = deadline.cap(_REGISTRY_READ_SECONDS) if deadline else _REGISTRY_READ_SECONDS
        if read_timeout <= 0:
            return {}
        with RegistryClient(config.registry_endpoint, retries=0, read_timeout=read_timeout) as client:
            for source in sources:
                if source.ref_tag and source.url.startswith(prefix):
                    manifest = client.get_manifest(source.url.removeprefix(prefix), source.ref_tag)
                    if manifest is not None:
                        revisions[source.name] = f"{source.ref_tag}@{manifest.digest}"
    except KsailError:
        return {}
    return revisions


def event_of(item: dict[str, Any]) -> FluxEvent:
    return parse_outside(_event_of, item)


def _event_of(item: dict[str, Any]) -> FluxEvent:
    involved = item.get("involvedObject") or {}
    source = item.get("source") or {}
    return FluxEvent(
        type=item.get("type", "Normal"),
        reason=item.get("reason", ""),
        message=item.get("message", ""),
        object=f"{involved.get('kind', '')}/{involved.get('namespace', '')}/{involved.get('name', '')}",
        component=source.get("component")
        or item.get("reportingComponent")
        or item.get("reportingController")
        or "",
        timestamp=item.get("lastTimestamp")
        or item.get("eventTime")
        or (item.get("metadata") or {}).get("creationTimestamp"),
        count=int(item.get("count") or 1),
    )
