"""The operator's hands: observe an Environment's world, ask :mod:`.reconcile` what to do, do
it, write the status, and repeat until a pass has nothing left to apply.

Framework-free (no kopf): the kopf shell calls it from its handlers, tests and the benchmark
may call it directly. ``post_event`` is how Kubernetes Events leave (the shell passes kopf's).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

from ksail_tui.errors import InvalidInput, Unavailable
from ksail_tui.kube.client import NAMESPACES, KubeClient, Resource
from ksail_tui.operator import naming
from ksail_tui.operator.objects import Obj
from ksail_tui.operator.reconcile import (
    STEPS,
    Cleanup,
    Observed,
    Plan,
    StepEvent,
    finalize,
    object_key,
    reconcile,
    target_namespace,
)
from ksail_tui.operator.settings import Settings

ENVIRONMENTS = Resource(naming.GROUP, naming.VERSION, "environments", "Environment")
PROJECTS = Resource(naming.GROUP, naming.VERSION, "projects", "Project")
# What an Environment owns inside its namespace, listed by the owner-uid label.
OWNED = (
    Resource("", "v1", "resourcequotas", "ResourceQuota"),
    Resource("", "v1", "limitranges", "LimitRange"),
    Resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy"),
)
FIELD_MANAGER = "ksail-tui-operator"
# Each pass moves at least one step along; more passes than steps means something fights us.
MAX_PASSES = len(STEPS) + 2

EventPoster = Callable[[Obj, StepEvent], None]


class NotConverged(Exception):
    """Passes ran out with objects still to apply; the caller retries later."""


class EnvironmentService:
    def __init__(
        self,
        client: KubeClient,
        settings: Settings | None = None,
        post_event: EventPoster | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self.settings = settings or Settings()
        self._post_event = post_event
        self._clock = clock
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def _lock(self, namespace: str, name: str) -> threading.Lock:
        # One pass at a time per Environment: its own handler and a child's event may overlap.
        with self._locks_guard:
            return self._locks.setdefault((namespace, name), threading.Lock())

    # -- observing -----------------------------------------------------------------------

    def observe(self, environment: Obj) -> Observed:
        meta = environment["metadata"]
        status = environment.get("status") or {}
        project_name = ((environment.get("spec") or {}).get("projectRef") or {}).get("name")
        project = self.client.get_or_none(PROJECTS, project_name, meta["namespace"]) if project_name else None
        plan_namespace = target_namespace(environment)
        names = {n for n in (plan_namespace, status.get("namespace")) if n}
        namespaces = {
            name: ns for name in names if (ns := self.client.get_or_none(NAMESPACES, name)) is not None
        }
        owned: dict[tuple[str, str], Obj] = {}
        if plan_namespace in namespaces:
            selector = f"{naming.OWNER_UID_LABEL}={meta['uid']}"
            for resource in OWNED:
                for item in (
                    self.client.list(resource, plan_namespace, label_selector=selector).get("items") or []
                ):
                    owned[object_key(item)] = item
        return Observed(now=self._clock(), project=project, namespaces=namespaces, objects=owned)

    # -- acting --------------------------------------------------------------------------

    def _write_status(self, environment: Obj, status: Obj) -> Obj:
        if environment.get("status") == status:
            return environment
        meta = environment["metadata"]
        return self.client.merge_patch(
            ENVIRONMENTS, meta["name"], {"status": status}, meta["namespace"], subresource="status"
        )

    def _events(self, environment: Obj, events: tuple[StepEvent, ...]) -> None:
        if self._post_event is not None:
            for event in events:
                self._post_event(environment, event)

    def converge(self, namespace: str, name: str) -> Plan | None:
        """Pass after pass until nothing is left to apply; None when the Environment is gone
        or being deleted. Raises NotConverged when passes run out."""
        with self._lock(namespace, name):
            for _ in range(MAX_PASSES):
                environment = self.client.get_or_none(ENVIRONMENTS, name, namespace)
                if environment is None or environment["metadata"].get("deletionTimestamp"):
                    return None
                plan = reconcile(environment, self.observe(environment), self.settings)
                if plan.expired:
                    self.client.delete(ENVIRONMENTS, name, namespace)
                    return plan
                environment = self._write_status(environment, plan.status)
                self._events(environment, plan.events)
                if plan.converged:
                    return plan
                for obj in plan.apply:
                    self.client.apply(obj, field_manager=FIELD_MANAGER)
                for ns in plan.delete:
                    self.client.delete(NAMESPACES, ns["metadata"]["name"])
        raise NotConverged(
            f"Environment {namespace}/{name} still has objects to apply after {MAX_PASSES} passes"
        )

    def clean_up(self, environment: Obj) -> Cleanup:
        """One cleanup pass: delete what is ours, report whether anything is left."""
        meta = environment["metadata"]
        with self._lock(meta["namespace"], meta["name"]):
            cleanup = finalize(environment, self.observe(environment))
            for ns in cleanup.delete:
                self.client.delete(NAMESPACES, ns["metadata"]["name"])
            if not cleanup.done:
                self._write_status(environment, cleanup.status)
        if cleanup.done:
            with self._locks_guard:  # the Environment goes away; so does its lock
                self._locks.pop((meta["namespace"], meta["name"]), None)
        return cleanup

    def environments_of(self, project: Obj) -> list[tuple[str, str]]:
        """(namespace, name) of the Environments that reference ``project``."""
        meta = project["metadata"]
        listing = self.client.list(ENVIRONMENTS, meta["namespace"]).get("items") or []
        return [
            (env["metadata"]["namespace"], env["metadata"]["name"])
            for env in listing
            if ((env.get("spec") or {}).get("projectRef") or {}).get("name") == meta["name"]
        ]


def owner_of(child: Obj) -> tuple[str, str] | None:
    """(namespace, name) of the Environment a child object belongs to, from its annotation."""
    ref = ((child.get("metadata") or {}).get("annotations") or {}).get(naming.OWNER_ANNOTATION, "")
    namespace, _, name = ref.partition("/")
    return (namespace, name) if namespace and name else None


def check_crds(client: KubeClient) -> None:
    """Raise Unavailable, saying how to install them, when the cluster lacks the CRDs."""
    for resource in (PROJECTS, ENVIRONMENTS):
        try:
            client.resolve(resource.api_version, resource.kind)
        except InvalidInput:
            raise Unavailable(
                f"the cluster does not serve {resource.kind} ({resource.api_version})",
                hint="install the CRDs: ksail-tui operator manifests --crds-only | kubectl apply -f -",
            ) from None
