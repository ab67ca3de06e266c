"""Actions on one Flux object of any kind, by reference: reconcile (``flux reconcile <kind> <name>
--with-source`` semantics), suspend and resume.

Unlike :class:`~ksail_tui.flux.service.FluxService`, which acts on the workloads of ksail.yaml,
these take whatever object the user selected: a HelmRelease from another team, a GitRepository.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict

from ksail_tui.deadline import Deadline
from ksail_tui.errors import KsailError, OperationFailed
from ksail_tui.flux.kinds import BY_KIND, FluxKind
from ksail_tui.flux.service import new_token
from ksail_tui.flux.status import FluxObject, Health, classify
from ksail_tui.kube.client import ApiError, KubeClient
from ksail_tui.kube.wait import ObjectFeed, Verdict, wait_for
from ksail_tui.live import parse_flux_object
from ksail_tui.models import RECONCILE_ANNOTATION, FluxKustomization, FluxResource, ObjectRef

Progress = Callable[[str], None]


class ObjectReconciled(BaseModel):
    model_config = ConfigDict(frozen=True)

    ref: ObjectRef
    ok: bool
    revision: str | None = None
    message: str = ""
    seconds: float = 0.0
    exit_code: int = 0


def flux_kind(ref: ObjectRef) -> FluxKind:
    known = BY_KIND.get(ref.kind)
    if known is None:
        raise OperationFailed(f"{ref.kind} is not a Flux kind ksail-tui knows")
    return known


def source_of(obj: FluxObject, raw: dict[str, Any]) -> ObjectRef | None:
    """What ``--with-source`` reconciles first, as ``flux reconcile`` does: a Kustomization's
    source; a HelmRelease's chart source (the HelmRepository its HelmChart is made from, whose
    index is fetched again, not the HelmChart) or its chartRef."""
    if isinstance(obj, FluxKustomization):
        return obj.source_ref
    if raw.get("kind") == "HelmRelease":
        spec = raw.get("spec") or {}
        ref = ((spec.get("chart") or {}).get("spec") or {}).get("sourceRef") or spec.get("chartRef")
        if isinstance(ref, dict) and ref.get("kind") and ref.get("name"):
            namespace = str(ref.get("namespace") or obj.namespace)
            return ObjectRef(kind=str(ref["kind"]), name=str(ref["name"]), namespace=namespace)
    return obj.source if isinstance(obj, FluxResource) else None


def revision_of(obj: FluxObject) -> str | None:
    """The revision an object is at: a source's artifact, what a Kustomization or HelmRelease applied."""
    if isinstance(obj, FluxKustomization):
        return obj.last_applied_revision
    if isinstance(obj, FluxResource) and obj.applied_revision:
        return obj.applied_revision
    return getattr(obj, "artifact_revision", None)


def set_object_suspended(kube: KubeClient, ref: ObjectRef, suspended: bool) -> None:
    """``flux suspend`` / ``flux resume`` of one object (resume only asks; Flux picks it up)."""
    patch = {"spec": {"suspend": suspended}}
    try:
        kube.merge_patch(flux_kind(ref).resource, ref.name, patch, ref.namespace)
    except ApiError as error:
        if error.status == 404:
            raise OperationFailed(f"{ref.kind} {ref.namespace}/{ref.name} does not exist") from None
        raise


def reconcile_object(
    kube: KubeClient,
    ref: ObjectRef,
    *,
    timeout: float,
    with_source: bool = True,
    on_progress: Progress | None = None,
    cancel: threading.Event | None = None,
    feed: ObjectFeed | None = None,
) -> ObjectReconciled:
    """Reconcile ``ref`` (its source first with ``with_source``) and wait for the honest outcome.

    With a ``feed`` that watches the objects already (the dashboard's live store) the waits judge
    its events instead of opening watches of their own."""
    started = time.monotonic()
    deadline = Deadline.after(timeout).earliest(kube.deadline)
    bounded = kube.within(deadline)

    def report(message: str) -> None:
        if on_progress:
            on_progress(f"{ref.kind} {ref.name}: {message}")

    try:
        obj = _request_and_wait(bounded, ref, deadline, report, cancel, with_source, feed)
    except KsailError as error:
        return ObjectReconciled(
            ref=ref,
            ok=False,
            message=str(error),
            seconds=time.monotonic() - started,
            exit_code=error.exit_code,
        )
    revision = revision_of(obj)
    return ObjectReconciled(
        ref=ref,
        ok=True,
        revision=revision,
        message=f"reconciled at {revision}" if revision else "reconciled",
        seconds=time.monotonic() - started,
    )


def _request_and_wait(
    kube: KubeClient,
    ref: ObjectRef,
    deadline: Deadline,
    report: Progress,
    cancel: threading.Event | None,
    with_source: bool,
    feed: ObjectFeed | None,
) -> FluxObject:
    resource = flux_kind(ref).resource
    current = kube.get_or_none(resource, ref.name, ref.namespace)
    parsed = parse_flux_object(current) if current is not None else None
    if current is None or parsed is None:
        raise OperationFailed(f"{ref.kind} {ref.namespace}/{ref.name} does not exist")
    if parsed.suspended:
        raise OperationFailed(
            f"{ref.kind} {ref.namespace}/{ref.name} is suspended; resume it first (shift+t)"
        )
    wanted: str | None = None
    source = source_of(parsed, current) if with_source else None
    if source is not None and source.kind in BY_KIND:
        report(f"reconciling its source {source.kind} {source.name} first")
        source_obj = _request_and_wait(kube, source, deadline, report, cancel, False, feed)
        # A Kustomization applies exactly its source's artifact: wait for that revision.
        if isinstance(parsed, FluxKustomization):
            wanted = getattr(source_obj, "artifact_revision", None)
    _, token = new_token()

    def judge(raw: dict[str, Any] | None) -> Verdict:
        if raw is None:
            return Verdict.failed(f"{ref.kind} {ref.namespace}/{ref.name} was deleted")
        obj = parse_flux_object(raw)
        if obj is None:
            return Verdict.failed(f"{ref.kind} {ref.namespace}/{ref.name} cannot be read")
        if obj.last_handled_reconcile_at != token:
            return Verdict.pending(f"waiting for {flux_kind(ref).controller} to pick up the request")
        health = classify(obj)
        if health.health in (Health.FAILING, Health.STALLED):
            return Verdict.failed(f"{ref.kind} {health.reason}: {health.message}")
        if health.health is not Health.READY:
            return Verdict.pending(f"{health.health.value.lower()}: {health.message}")
        if wanted and revision_of(obj) != wanted:
            return Verdict.pending(f"applied {revision_of(obj)}, waiting for {wanted}")
        return Verdict.done(health.message)

    patched = kube.merge_patch(
        resource, ref.name, {"metadata": {"annotations": {RECONCILE_ANNOTATION: token}}}, ref.namespace
    )
    report("reconciliation requested")
    verdict, final = wait_for(
        kube,
        resource,
        ref.name,
        ref.namespace,
        judge,
        timeout=deadline,
        what=f"{ref.kind} {ref.namespace}/{ref.name}",
        initial=patched,
        on_progress=report,
        cancel=cancel,
        feed=feed,
    )
    if verdict.state == "failed" or final is None:
        raise OperationFailed(verdict.message)
    done = parse_flux_object(final)
    assert done is not None  # judge said done on this very object
    return done
