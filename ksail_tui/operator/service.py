"""The operator's hands: observe an Environment's world, ask :mod:`.reconcile` what to do, do
it, write the status, and repeat until a pass has nothing left to apply.

Framework-free (no kopf): the kopf shell calls it from its handlers, tests and the benchmark
may call it directly. ``post_event`` is how Kubernetes Events leave (the shell passes kopf's).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests

from ksail_tui.errors import InvalidInput, KsailError, Unavailable
from ksail_tui.flux.semver_range import highest_matching
from ksail_tui.kube.client import (
    DEPLOYMENTS,
    KUSTOMIZATIONS,
    NAMESPACES,
    OCI_REPOSITORIES,
    ApiError,
    KubeClient,
    Resource,
)
from ksail_tui.oci.registry_client import RegistryClient
from ksail_tui.operator import deploy, naming
from ksail_tui.operator.deploy import SpecError
from ksail_tui.operator.objects import Obj
from ksail_tui.operator.reconcile import (
    STEPS,
    Cleanup,
    Observed,
    Plan,
    Probe,
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
JOBS = Resource("batch", "v1", "jobs", "Job")
PODS = Resource("", "v1", "pods", "Pod")
OWNED = (
    Resource("", "v1", "resourcequotas", "ResourceQuota"),
    Resource("", "v1", "limitranges", "LimitRange"),
    Resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy"),
    JOBS,
    OCI_REPOSITORIES,
    KUSTOMIZATIONS,
    DEPLOYMENTS,
    Resource("", "v1", "services", "Service"),
    Resource("networking.k8s.io", "v1", "ingresses", "Ingress"),
)
# What the cleanup deletes itself (the namespace takes the rest along).
DELETED_ON_CLEANUP = (KUSTOMIZATIONS, OCI_REPOSITORIES)
_BY_KIND = {resource.kind: resource for resource in (*OWNED, NAMESPACES)}
PROBE_TIMEOUT_SECONDS = 2.0
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
        self._registry = RegistryClient(self.settings.registry_reachable_at, retries=0, read_timeout=5.0)
        self._http = requests.Session()

    def close(self) -> None:
        self._registry.close()
        self._http.close()

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
        unserved: set[str] = set()
        pods: tuple[Obj, ...] = ()
        if plan_namespace in namespaces:
            selector = f"{naming.OWNER_UID_LABEL}={meta['uid']}"
            for resource in OWNED:
                try:
                    listing = self.client.list(resource, plan_namespace, label_selector=selector)
                except ApiError as error:
                    if error.status != 404:
                        raise
                    unserved.add(resource.kind)  # Flux is not installed
                    continue
                for item in listing.get("items") or []:
                    owned[object_key(item)] = item
            if any(kind == JOBS.kind for kind, _ in owned):
                pods = tuple(
                    self.client.list(PODS, plan_namespace, label_selector="job-name").get("items") or []
                )
        images, registry_error = self._look_up_images(environment, project)
        artifact_digest, artifact_error = self._look_up_artifact(environment, project)
        return Observed(
            now=self._clock(),
            project=project,
            namespaces=namespaces,
            objects=owned,
            images=images,
            registry_error=registry_error,
            artifact_digest=artifact_digest,
            artifact_error=artifact_error,
            unserved=frozenset(unserved),
            pods=pods,
        )

    def _look_up_images(
        self, environment: Obj, project: Obj | None
    ) -> tuple[dict[str, str | None], str | None]:
        """HEAD each image the Environment wants: its digest, None when the registry has none."""
        labels = environment["metadata"].get("labels") or {}
        if project is None:
            return {}, None
        try:
            wanted = deploy.wanted_images(environment, project, labels.get(naming.ENVIRONMENT_LABEL, ""))
        except SpecError:
            return {}, None  # the image step says what is wrong
        found: dict[str, str | None] = {}
        for image in wanted:
            try:
                found[image.reference(self.settings)] = self._registry.manifest_digest(
                    image.repository, image.tag
                )
            except KsailError as error:
                return found, error.message
        return found, None

    def _look_up_artifact(self, environment: Obj, project: Obj | None) -> tuple[str | None, str | None]:
        """The manifest digest of the artifact the Environment asks for, or why there is none."""
        template = deploy.template_of(environment, project) if project is not None else None
        kind, value = deploy.asked_artifact(environment)
        if template is None or kind == "digest":
            return value, None
        try:
            repository = deploy.artifact_repository(template)
            if kind == "newest":
                value = highest_matching(self._registry.list_tags(repository), deploy.NEWEST)
                if value is None:
                    return None, f"{repository} has no version tag yet"
            digest = self._registry.manifest_digest(repository, str(value))
        except SpecError:
            return None, None  # the source step says what is wrong
        except KsailError as error:
            return None, error.message
        return digest, None if digest else f"{repository} has no tag {value}"

    def _probe(self, url: str) -> Probe:
        """GET ``url``, through the ingress controller's address when one is set (with the URL's
        host as the Host header, as the ingress routes by it)."""
        parts = urlsplit(url)
        target = url
        headers = {}
        if self.settings.ingress_address:
            target = f"{parts.scheme}://{self.settings.ingress_address}{parts.path or '/'}"
            headers["Host"] = parts.netloc
        try:
            response = self._http.get(
                target, headers=headers, timeout=PROBE_TIMEOUT_SECONDS, allow_redirects=False
            )
        except requests.RequestException as error:
            return Probe(None, type(error).__name__)
        return Probe(response.status_code, response.reason or "")

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
            probes: dict[str, Probe] = {}
            for _ in range(MAX_PASSES):
                environment = self.client.get_or_none(ENVIRONMENTS, name, namespace)
                if environment is None or environment["metadata"].get("deletionTimestamp"):
                    return None
                observed = dataclasses.replace(self.observe(environment), probes=probes)
                plan = reconcile(environment, observed, self.settings)
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
                for url in plan.probes:
                    probes[url] = self._probe(url)
        raise NotConverged(
            f"Environment {namespace}/{name} still has objects to apply after {MAX_PASSES} passes"
        )

    def clean_up(self, environment: Obj) -> Cleanup:
        """One cleanup pass: delete what is ours, report whether anything is left."""
        meta = environment["metadata"]
        with self._lock(meta["namespace"], meta["name"]):
            cleanup = finalize(environment, self.observe(environment))
            for obj in cleanup.delete:
                self.client.delete(
                    _BY_KIND[obj["kind"]], obj["metadata"]["name"], obj["metadata"].get("namespace")
                )
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
