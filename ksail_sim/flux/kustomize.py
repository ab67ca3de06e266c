"""A simulated kustomize-controller for Kustomizations of OCIRepositories (not Flux).

Part of the simulated Flux controllers (``ksail_sim.flux``). It pulls the source's layer from
the registry, builds it (plain manifests and simple kustomization.yaml files), server-side applies
the objects as ``kustomize-controller``, prunes, waits for health and reports with
kustomize-controller's condition types, reasons and messages. Applied objects carry
``ksail.io/simulated: "true"`` next to Flux's own ownership labels.
"""

from __future__ import annotations

import copy
import threading
import time
import zlib
from dataclasses import dataclass
from typing import Any

from ksail_sim.flux.artifact import ArtifactError, BuildError, PathNotFound, build, build_root, extract
from ksail_sim.flux.registry import RegistryError, RegistryReader, UrlInvalid, parse_oci_url
from ksail_sim.flux.runtime import (
    PROGRESSING,
    READY,
    RECONCILING,
    SIMULATED_LABEL,
    STALLED,
    Conditions,
    Controller,
    Failure,
    Key,
    duration_of,
    go_duration,
    interval_of,
    key_of,
    log,
    with_handled_request,
    write_status,
)
from ksail_sim.flux.source import artifact_layer
from ksail_sim.flux.transform import transform
from ksail_tui.errors import InvalidInput
from ksail_tui.kube.client import (
    APPLY_PATCH,
    KUSTOMIZATIONS,
    OCI_REPOSITORIES,
    ApiError,
    KubeClient,
    Resource,
)
from ksail_tui.oci.artifact_format import sha256_digest

FIELD_MANAGER = "kustomize-controller"
NAME_LABEL = "kustomize.toolkit.fluxcd.io/name"
NAMESPACE_LABEL = "kustomize.toolkit.fluxcd.io/namespace"
PRUNE_ANNOTATION = "kustomize.toolkit.fluxcd.io/prune"
REVISION_ANNOTATION = "kustomize.toolkit.fluxcd.io/revision"
HEALTHY = "Healthy"

ARTIFACT_FAILED = "ArtifactFailed"
BUILD_FAILED = "BuildFailed"
RECONCILIATION_FAILED = "ReconciliationFailed"
PRUNE_FAILED = "PruneFailed"
HEALTH_CHECK_FAILED = "HealthCheckFailed"
DEPENDENCY_NOT_READY = "DependencyNotReady"
SUCCEEDED = "ReconciliationSucceeded"

# Fields whose effect the simulator does not reproduce: refusing them beats applying something else.
UNSUPPORTED_SPEC_FIELDS = (
    "commonMetadata",
    "components",
    "decryption",
    "kubeConfig",
    "namePrefix",
    "nameSuffix",
    "patches",
)
# Applied first, like Flux's staged apply: later objects may need them.
FIRST_STAGE_KINDS = {"CustomResourceDefinition", "Namespace"}
HEALTH_POLL_SECONDS = 0.05


class Stopped(Exception):
    """The simulator is stopping; drop the attempt without writing."""


@dataclass(frozen=True)
class Applied:
    resource: Resource
    namespace: str  # "" for cluster-scoped objects
    name: str

    @property
    def entry(self) -> dict[str, str]:
        return {
            "id": f"{self.namespace}_{self.name}_{self.resource.group}_{self.resource.kind}",
            "v": self.resource.version,
        }

    def __str__(self) -> str:
        middle = f"{self.namespace}/" if self.namespace else ""
        return f"{self.resource.kind}/{middle}{self.name}"


class KustomizeController(Controller):
    """Reconciles Kustomizations like kustomize-controller (simulated)."""

    resource = KUSTOMIZATIONS
    component = "kustomize-controller"

    def __init__(self, kube: KubeClient, registry: RegistryReader, *, retry_interval: float) -> None:
        super().__init__(kube, retry_interval=retry_interval)
        self.registry = registry
        self._source_of: dict[Key, Key] = {}
        self._source_revisions: dict[Key, str | None] = {}
        # (uid, generation, revision) last reported as in progress, so retries do not flicker.
        self._progressed: dict[Key, tuple[str, int, str]] = {}
        self._deleted: dict[Key, dict[str, Any]] = {}  # last state, for garbage collection
        self._index_lock = threading.Lock()

    # --- triggers: the Kustomization itself, and new revisions of its source -------------------

    def consider(self, obj: dict[str, Any]) -> None:
        source = (obj.get("spec") or {}).get("sourceRef") or {}
        key = key_of(obj)
        with self._index_lock:
            self._source_of[key] = (str(source.get("namespace") or key[0]), str(source.get("name", "")))
        super().consider(obj)

    def observe(self, event_type: str, objects: tuple[dict[str, Any], ...]) -> None:
        super().observe(event_type, objects)
        if event_type == "DELETED":
            for obj in objects:
                key = key_of(obj)
                with self._index_lock:
                    self._deleted[key] = obj
                self.queue.add(key)

    def forget(self, key: Key) -> None:
        with self._index_lock:
            self._source_of.pop(key, None)
            self._progressed.pop(key, None)
        super().forget(key)

    def observe_source(self, event_type: str, objects: tuple[dict[str, Any], ...]) -> None:
        """Reconcile the Kustomizations of a source at once when its artifact revision changes."""
        for source in objects:
            key = key_of(source)
            revision = ((source.get("status") or {}).get("artifact") or {}).get("revision")
            with self._index_lock:
                known = key in self._source_revisions
                previous = self._source_revisions.get(key)
                if event_type == "DELETED":
                    self._source_revisions.pop(key, None)
                    continue
                self._source_revisions[key] = revision
                users = [k for k, source_key in self._source_of.items() if source_key == key]
            if known and revision and revision != previous:
                for user in users:
                    self.queue.add(user)

    # --- reconcile ---------------------------------------------------------------------------------

    def reconcile(self, key: Key) -> float | None:
        obj = self.fetch(key)
        with self._index_lock:
            deleted = self._deleted.pop(key, None)
        if obj is None and deleted is not None:
            self._collect_garbage(key, deleted)
        if obj is None or obj["metadata"].get("deletionTimestamp") or self.skip_suspended(obj):
            return None
        spec = obj.get("spec") or {}
        status = copy.deepcopy(obj.get("status") or {})
        conditions = Conditions(status.get("conditions"), int(obj["metadata"].get("generation") or 0))
        interval = interval_of(spec)
        retry = min(duration_of(spec, "retryInterval", interval), self.retry_interval)
        attempt = _Attempt(self, key, obj, status, conditions, interval, retry)
        try:
            attempt.run()
        except Stopped:
            return None
        except Failure as failure:
            attempt.fail(failure)
            return retry
        except Exception as error:  # keep the worker alive and say what happened
            attempt.fail(Failure(RECONCILIATION_FAILED, str(error)))
            return retry
        return interval

    def _collect_garbage(self, key: Key, deleted: dict[str, Any]) -> None:
        """Flux deletes what a deleted Kustomization applied (unless suspended or prune is off)."""
        spec = deleted.get("spec") or {}
        if spec.get("suspend"):
            return
        entries = ((deleted.get("status") or {}).get("inventory") or {}).get("entries") or []
        attempt = _Attempt(self, key, deleted, {}, Conditions([], 0), 0.0, self.retry_interval)
        try:
            attempt.prune(entries, [])
        except Failure as failure:
            log.warning("simulated kustomize-controller: garbage collection of %s/%s: %s", *key, failure)

    def note_progress(self, key: Key, marker: tuple[str, int, str]) -> bool:
        """True the first time this (object, generation, revision) is worked on."""
        with self._index_lock:
            if self._progressed.get(key) == marker:
                return False
            self._progressed[key] = marker
            return True


class _Attempt:
    """One reconcile of one Kustomization, step by step as kustomize-controller does it."""

    def __init__(
        self,
        controller: KustomizeController,
        key: Key,
        obj: dict[str, Any],
        status: dict[str, Any],
        conditions: Conditions,
        interval: float,
        retry: float,
    ) -> None:
        self.controller = controller
        self.kube = controller.kube
        self.key = key
        self.obj = obj
        self.spec: dict[str, Any] = obj.get("spec") or {}
        self.status = status
        self.conditions = conditions
        self.interval = interval
        self.retry = retry
        self.timeout = duration_of(self.spec, "timeout", interval)
        self.started = time.monotonic()
        self.revision: str | None = None
        self.new_work = False

    @property
    def namespace(self) -> str:
        return self.key[0]

    @property
    def name(self) -> str:
        return self.key[1]

    def write(self, *, final: bool = False) -> None:
        """Write the status; the final write of an attempt also marks the request handled."""
        self.status["conditions"] = self.conditions.as_list()
        status = with_handled_request(self.obj, self.status) if final else self.status
        write_status(self.kube, KUSTOMIZATIONS, self.obj, status)

    def event(self, type_: str, reason: str, message: str) -> None:
        annotations = {REVISION_ANNOTATION: self.revision} if self.revision else None
        self.controller.events.record(self.obj, type_, reason, message, annotations)

    def fail(self, failure: Failure) -> None:
        self.conditions.set(READY, "False", failure.reason, failure.message)
        self.conditions.mark_retrying(failure.message)
        self.write(final=True)
        if failure.event:
            self.event("Warning", failure.reason, failure.message)

    def run(self) -> None:
        unsupported = [field for field in UNSUPPORTED_SPEC_FIELDS if self.spec.get(field)]
        if (self.spec.get("postBuild") or {}).get("substituteFrom"):
            unsupported.append("postBuild.substituteFrom")
        if unsupported:
            raise Failure(
                BUILD_FAILED,
                f"the simulated kustomize-controller does not support spec.{', spec.'.join(unsupported)}",
            )
        source = self._source()
        self._check_dependencies()
        artifact = (source.get("status") or {}).get("artifact") or {}
        self.revision = revision = str(artifact["revision"])
        uid = str(self.obj["metadata"].get("uid", ""))
        self.new_work = self.controller.note_progress(self.key, (uid, self.conditions.generation, revision))
        if self.new_work:
            self.conditions.set(
                RECONCILING,
                "True",
                PROGRESSING,
                f"Fetching manifests for revision {revision} with a timeout of {go_duration(self.timeout)}",
            )
            self.conditions.set(READY, "Unknown", PROGRESSING, "Reconciliation in progress")
            self.write()
        objects = self._build(source, artifact)
        applied, changes = self._apply(objects)
        old_entries = (self.status.get("inventory") or {}).get("entries") or []
        self.status["inventory"] = {"entries": [item.entry for item in applied]}
        changes += self.prune(old_entries, applied)
        if changes:
            self.event("Normal", PROGRESSING, "\n".join(changes))
        self._check_health(applied)
        self.conditions.set(READY, "True", SUCCEEDED, f"Applied revision: {revision}")
        self.conditions.delete(RECONCILING, STALLED)
        self.status["observedGeneration"] = self.conditions.generation
        self.status["lastAppliedRevision"] = revision
        self.write(final=True)
        self.event(
            "Normal",
            SUCCEEDED,
            f"Reconciliation finished in {go_duration(time.monotonic() - self.started)}, "
            f"next run in {go_duration(self.interval)}",
        )

    # --- steps -----------------------------------------------------------------------------------

    def _source(self) -> dict[str, Any]:
        ref = self.spec.get("sourceRef") or {}
        kind, name = str(ref.get("kind", "")), str(ref.get("name", ""))
        namespace = str(ref.get("namespace") or self.namespace)
        if kind != OCI_REPOSITORIES.kind:
            raise Failure(
                ARTIFACT_FAILED,
                f"source `{namespace}/{name}` kind '{kind}' is not supported by the simulated "
                "kustomize-controller (only OCIRepository)",
            )
        source = self.kube.get_or_none(OCI_REPOSITORIES, name, namespace)
        if source is None:
            raise Failure(
                ARTIFACT_FAILED,
                f"OCIRepository.source.toolkit.fluxcd.io '{namespace}/{name}' not found",
                event=False,
            )
        if not ((source.get("status") or {}).get("artifact") or {}).get("revision"):
            raise Failure(
                ARTIFACT_FAILED,
                f"Source artifact not found, retrying in {go_duration(self.retry)}",
                event=False,
            )
        return source

    def _check_dependencies(self) -> None:
        for dependency in self.spec.get("dependsOn") or []:
            namespace = str(dependency.get("namespace") or self.namespace)
            name = str(dependency.get("name", ""))
            other = self.kube.get_or_none(KUSTOMIZATIONS, name, namespace)
            other_status = (other or {}).get("status") or {}
            ready = Conditions(other_status.get("conditions"), 0).is_true(READY)
            current = other is not None and other_status.get("observedGeneration") == other["metadata"].get(
                "generation"
            )
            if not (ready and current):
                raise Failure(
                    DEPENDENCY_NOT_READY, f"dependency '{namespace}/{name}' is not ready", event=False
                )

    def _build(self, source: dict[str, Any], artifact: dict[str, Any]) -> list[dict[str, Any]]:
        source_spec = source.get("spec") or {}
        revision = str(artifact["revision"])
        try:
            repository = parse_oci_url(
                str(source_spec.get("url", "")), insecure=bool(source_spec.get("insecure"))
            )
            manifest = self.controller.registry.manifest(repository, revision.rpartition("@")[2])
            layer = artifact_layer(manifest, source_spec)
            blob = self.controller.registry.blob(repository, str(layer.get("digest", "")))
        except (UrlInvalid, RegistryError, Failure) as error:
            raise Failure(ARTIFACT_FAILED, f"failed to download archive: {error}") from None
        expected = artifact.get("digest")
        if expected and sha256_digest(blob) != expected:
            raise Failure(
                ARTIFACT_FAILED, f"failed to verify artifact: computed digest doesn't match '{expected}'"
            )
        try:
            tree = extract(blob)
        except ArtifactError as error:
            raise Failure(ARTIFACT_FAILED, f"failed to untar artifact, error: {error}") from None
        root = build_root(self.spec.get("path"))
        # A fixed fake work dir keeps repeated failure messages identical, so events aggregate.
        workdir = f"/tmp/kustomization-{zlib.crc32('/'.join(self.key).encode())}"
        self.status["lastAttemptedRevision"] = revision
        try:
            return transform(build(tree, root), self.spec)
        except PathNotFound:
            raise Failure(
                ARTIFACT_FAILED,
                f"kustomization path not found: stat {workdir}/{root}: no such file or directory",
            ) from None
        except BuildError as error:
            raise Failure(BUILD_FAILED, str(error)) from None

    def _apply(self, objects: list[dict[str, Any]]) -> tuple[list[Applied], list[str]]:
        """Server-side apply in two stages; returns what was applied and a change log.

        Like Flux's ApplyAll, each stage is dry-run whole before any of it is written, so one
        invalid object (or a missing namespace) leaves every object of its stage unwritten.
        """
        stages = [
            [o for o in objects if o["kind"] in FIRST_STAGE_KINDS],
            [o for o in objects if o["kind"] not in FIRST_STAGE_KINDS],
        ]
        applied: list[Applied] = []
        changes: list[str] = []
        seen: set[str] = set()
        for stage in stages:
            prepared = [self._prepare(obj) for obj in stage]
            for target, _ in prepared:
                entry_id = target.entry["id"]
                if entry_id in seen:
                    raise Failure(
                        BUILD_FAILED,
                        "kustomize build failed: may not add resource with an already registered id: "
                        f"{target}",
                    )
                seen.add(entry_id)
            for target, obj in prepared:
                self._server_apply(target, obj, dry_run=True)
            for target, obj in prepared:
                changes += self._apply_one(target, obj)
                applied.append(target)
        return applied, changes

    def _prepare(self, original: dict[str, Any]) -> tuple[Applied, dict[str, Any]]:
        obj = copy.deepcopy(original)
        metadata = obj.setdefault("metadata", {})
        name = str(metadata["name"])
        try:
            resource = self.kube.resolve(str(obj["apiVersion"]), str(obj["kind"]))
        except InvalidInput:
            # kustomize sets the target namespace on kinds it does not know, so the message has it.
            namespace = self.spec.get("targetNamespace") or metadata.get("namespace")
            shown = f"{obj['kind']}/{namespace + '/' if namespace else ''}{name}"
            raise Failure(
                RECONCILIATION_FAILED,
                f'{shown} dry-run failed: no matches for kind "{obj["kind"]}" '
                f'in version "{obj["apiVersion"]}"',
            ) from None
        if resource.namespaced:
            namespace = str(self.spec.get("targetNamespace") or metadata.get("namespace") or "")
            if not namespace:
                raise Failure(
                    RECONCILIATION_FAILED,
                    f"{obj['kind']}/{name} namespace not specified: "
                    "the server could not find the requested resource",
                )
            metadata["namespace"] = namespace
        else:
            namespace = ""
            metadata.pop("namespace", None)
        labels = metadata.setdefault("labels", {})
        labels.update({NAME_LABEL: self.name, NAMESPACE_LABEL: self.namespace, SIMULATED_LABEL: "true"})
        return Applied(resource, namespace, name), obj

    def _server_apply(self, target: Applied, obj: dict[str, Any], *, dry_run: bool) -> dict[str, Any]:
        try:
            return self.kube.request(
                "PATCH",
                target.resource.path(target.namespace or None, target.name),
                query={"fieldManager": FIELD_MANAGER, "force": "true", "dryRun": "All" if dry_run else None},
                body=obj,
                content_type=APPLY_PATCH,
            )
        except ApiError as error:
            raise Failure(
                RECONCILIATION_FAILED,
                f"{target} dry-run failed ({error.reason or error.status}): {error.api_message}",
            ) from None

    def _apply_one(self, target: Applied, obj: dict[str, Any]) -> list[str]:
        try:
            before = self.kube.get_or_none(target.resource, target.name, target.namespace or None)
        except ApiError as error:
            raise Failure(RECONCILIATION_FAILED, f"{target} get failed: {error}") from None
        after = self._server_apply(target, obj, dry_run=False)
        if before is None:
            return [f"{target} created"]
        if before["metadata"].get("resourceVersion") != after.get("metadata", {}).get("resourceVersion"):
            return [f"{target} configured"]
        return []

    def prune(self, old_entries: list[dict[str, Any]], applied: list[Applied]) -> list[str]:
        """Delete what the previous inventory had and this one has not (when spec.prune)."""
        if not self.spec.get("prune"):
            return []
        current = {item.entry["id"] for item in applied}
        stale = [entry for entry in old_entries if entry.get("id") not in current]
        # Namespaces and CRDs last: deleting them first would take their contents along.
        stale.sort(key=lambda entry: str(entry.get("id", "")).rsplit("_", 1)[-1] in FIRST_STAGE_KINDS)
        deleted: list[str] = []
        for entry in stale:
            parts = str(entry.get("id", "")).split("_")
            if len(parts) != 4:
                continue
            namespace, name, group, kind = parts
            api_version = f"{group}/{entry.get('v', '')}" if group else str(entry.get("v", ""))
            try:
                resource = self.kube.resolve(api_version, kind)
            except InvalidInput:
                continue  # the kind is gone, and its objects with it
            target = Applied(resource, namespace, name)
            try:
                live = self.kube.get_or_none(resource, name, namespace or None)
                if live is None or not self._owns(live):
                    continue
                self.kube.delete(resource, name, namespace or None)
            except ApiError as error:
                raise Failure(PRUNE_FAILED, f"{target} delete failed: {error}") from None
            deleted.append(f"{target} deleted")
        return deleted

    def _owns(self, live: dict[str, Any]) -> bool:
        metadata = live.get("metadata") or {}
        labels = metadata.get("labels") or {}
        if (metadata.get("annotations") or {}).get(PRUNE_ANNOTATION) == "disabled":
            return False
        return labels.get(NAME_LABEL) == self.name and labels.get(NAMESPACE_LABEL) == self.namespace

    def _health_targets(self, applied: list[Applied]) -> list[Applied]:
        if self.spec.get("wait"):
            return applied
        targets = []
        for check in self.spec.get("healthChecks") or []:
            try:
                resource = self.kube.resolve(str(check.get("apiVersion", "")), str(check.get("kind", "")))
            except InvalidInput:
                resource = Resource("", "", "", str(check.get("kind", "")))
            namespace = str(check.get("namespace") or "") if resource.namespaced else ""
            targets.append(Applied(resource, namespace, str(check.get("name", ""))))
        return targets

    def _check_health(self, applied: list[Applied]) -> None:
        targets = self._health_targets(applied)
        if not targets:
            self.conditions.delete(HEALTHY)
            return
        started = time.monotonic()
        pending = self._unhealthy(targets)
        if pending and self.new_work:
            message = (
                f"Running health checks for revision {self.revision} "
                f"with a timeout of {go_duration(self.timeout)}"
            )
            self.conditions.set(RECONCILING, "True", PROGRESSING, message)
            self.conditions.set(HEALTHY, "Unknown", PROGRESSING, message)
            self.write()
        while pending and time.monotonic() - started < self.timeout:
            if self.controller.stopping.wait(HEALTH_POLL_SECONDS):
                raise Stopped()
            pending = self._unhealthy(targets)
        elapsed = time.monotonic() - started
        if pending:
            waiting = ", ".join(f"{target} status: '{state}'" for target, state in pending)
            self.conditions.set(HEALTHY, "False", HEALTH_CHECK_FAILED, f"timeout waiting for: [{waiting}]")
            raise Failure(
                HEALTH_CHECK_FAILED,
                f"health check failed after {go_duration(elapsed)}: timeout waiting for: [{waiting}]",
            )
        self.conditions.set(HEALTHY, "True", "Succeeded", f"Health check passed in {go_duration(elapsed)}")

    def _unhealthy(self, targets: list[Applied]) -> list[tuple[Applied, str]]:
        pending = []
        for target in targets:
            state = self._kstatus(target)
            if state != "Current":
                pending.append((target, state))
        return pending

    def _kstatus(self, target: Applied) -> str:
        """A small kstatus: Current, InProgress, Failed or NotFound."""
        if not target.resource.plural:
            return "NotFound"
        live = self.kube.get_or_none(target.resource, target.name, target.namespace or None)
        if live is None:
            return "NotFound"
        metadata = live.get("metadata") or {}
        status = live.get("status") or {}
        observed = status.get("observedGeneration")
        if observed is not None and int(observed) < int(metadata.get("generation") or 0):
            return "InProgress"
        conditions = Conditions(status.get("conditions"), 0)
        if target.resource.kind == "Deployment":
            progressing = conditions.get("Progressing") or {}
            if progressing.get("reason") == "ProgressDeadlineExceeded":
                return "Failed"
            wanted = int((live.get("spec") or {}).get("replicas", 1))
            available = (
                conditions.is_true("Available") and int(status.get("availableReplicas") or 0) >= wanted
            )
            return "Current" if available else "InProgress"
        if conditions.is_true(STALLED):
            return "Failed"
        ready = conditions.get(READY)
        if ready is not None and ready.get("status") != "True":
            return "InProgress"
        return "Current"
