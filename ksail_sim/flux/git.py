"""Simulated controllers for the Flux kinds beyond the OCI loop (not Flux: they write what Flux would).

No git server or Helm repository is reachable from the demo, so nothing is fetched: a source is
"stored" at a revision derived from its spec (stable, so a reconcile without a change keeps it),
with source-controller's conditions and events. Everything they write carries the simulated marks
of :mod:`ksail_sim.flux`. This module holds the shared reconcile and the GitRepository rule.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from ksail_sim.apiserver.store import now_rfc3339
from ksail_sim.flux.runtime import (
    READY,
    RECONCILING,
    STALLED,
    Conditions,
    Controller,
    Failure,
    Key,
    interval_of,
    with_handled_request,
    write_status,
)
from ksail_tui.flux.kinds import BY_KIND
from ksail_tui.kube.client import KubeClient, Resource

SUCCEEDED = "Succeeded"
GIT_REPOSITORIES = BY_KIND["GitRepository"].resource


class StatusController(Controller):
    """Reconciles one kind by a rule (:meth:`settle`) that needs no network: Ready or a Failure."""

    ready_reason = SUCCEEDED

    def __init__(self, kube: KubeClient, resource: Resource, *, retry_interval: float) -> None:
        self.resource = resource
        super().__init__(kube, retry_interval=retry_interval)

    def settle(self, obj: dict[str, Any], status: dict[str, Any]) -> tuple[str, str]:
        """Fill ``status`` with what the controller stores; the message and the event reason."""
        raise NotImplementedError

    def reconcile(self, key: Key) -> float | None:
        obj = self.fetch(key)
        if obj is None or obj["metadata"].get("deletionTimestamp") or self.skip_suspended(obj):
            return None
        status = copy.deepcopy(obj.get("status") or {})
        generation = int(obj["metadata"].get("generation") or 0)
        conditions = Conditions(status.get("conditions"), generation)
        before = copy.deepcopy(status)
        try:
            message, event_reason = self.settle(obj, status)
        except Failure as failure:
            conditions.set(READY, "False", failure.reason, failure.message)
            conditions.mark_retrying(failure.message)
            status["conditions"] = conditions.as_list()
            write_status(self.kube, self.resource, obj, with_handled_request(obj, status))
            if failure.event:
                self.events.record(obj, "Warning", failure.reason, failure.message)
            return min(interval_of(obj.get("spec") or {}), self.retry_interval)
        conditions.set(READY, "True", self.ready_reason, message)
        conditions.delete(RECONCILING, STALLED)
        status["conditions"] = conditions.as_list()
        status["observedGeneration"] = generation
        changed = {k: v for k, v in status.items() if k != "conditions"} != {
            k: v for k, v in before.items() if k != "conditions"
        }
        write_status(self.kube, self.resource, obj, with_handled_request(obj, status))
        if changed:
            self.events.record(obj, "Normal", event_reason, message)
        return interval_of(obj.get("spec") or {})


def stable_digest(*parts: str, algorithm: str = "sha256") -> str:
    return hashlib.new(algorithm, "\0".join(parts).encode()).hexdigest()


class GitRepositoryController(StatusController):
    """source-controller for GitRepositories (simulated): ``<branch>@sha1:<hex>`` from the spec."""

    component = "source-controller"

    def __init__(self, kube: KubeClient, *, retry_interval: float) -> None:
        super().__init__(kube, GIT_REPOSITORIES, retry_interval=retry_interval)

    def settle(self, obj: dict[str, Any], status: dict[str, Any]) -> tuple[str, str]:
        spec = obj.get("spec") or {}
        url = str(spec.get("url", ""))
        if not url.startswith(("https://", "http://", "ssh://")):
            raise Failure("URLInvalid", f"invalid URL '{url}': the scheme must be http, https or ssh")
        ref = spec.get("ref") or {}
        name = ref.get("tag") or ref.get("branch") or "main"
        revision = ref.get("commit") or stable_digest(url, str(name), algorithm="sha1")
        full = f"{'refs/tags/' + name if ref.get('tag') else name}@sha1:{revision}"
        metadata = obj["metadata"]
        status["artifact"] = {
            "revision": full,
            "digest": f"sha256:{stable_digest(full)}",
            "lastUpdateTime": (status.get("artifact") or {}).get("lastUpdateTime") or now_rfc3339(),
            "path": f"gitrepository/{metadata.get('namespace')}/{metadata['name']}/{revision}.tar.gz",
        }
        return f"stored artifact for revision '{full}'", "NewArtifact"
