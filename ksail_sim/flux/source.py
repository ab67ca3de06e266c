"""A simulated source-controller for OCIRepositories (not Flux: it only writes what Flux would).

Part of the simulated Flux controllers (``ksail_sim.flux``). It resolves ``spec.ref`` against
the real registry, pulls and checks the content layer, and reports with source-controller's
condition types, reasons and messages. It keeps no storage: the Kustomization side pulls the
layer from the registry again, by the digest in the revision.
"""

from __future__ import annotations

import copy
from typing import Any

from ksail_sim.apiserver.store import now_rfc3339
from ksail_sim.flux.artifact import ArtifactError, extract
from ksail_sim.flux.registry import (
    RegistryError,
    RegistryReader,
    Repository,
    UrlInvalid,
    parse_oci_url,
)
from ksail_sim.flux.runtime import (
    PROGRESSING,
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
from ksail_tui.flux.semver_range import SemverRangeError, highest_matching
from ksail_tui.kube.client import OCI_REPOSITORIES, KubeClient
from ksail_tui.oci.artifact_format import sha256_digest

ARTIFACT_IN_STORAGE = "ArtifactInStorage"
ARTIFACT_OUTDATED = "ArtifactOutdated"
FETCH_FAILED = "FetchFailed"
STORAGE_OPERATION_FAILED = "StorageOperationFailed"

SUCCEEDED = "Succeeded"
URL_INVALID = "URLInvalid"
PULL_FAILED = "OCIArtifactPullFailed"
LAYER_FAILED = "OCIArtifactLayerOperationFailed"
READ_FAILED = "ReadOperationFailed"
GENERIC_FAILED = "Failed"

STORAGE_HOST = "source-controller.flux-system.svc.cluster.local."
REVISION_ANNOTATION = "source.toolkit.fluxcd.io/revision"


def artifact_layer(manifest: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """The layer Flux takes: the first one, or the first of ``spec.layerSelector.mediaType``."""
    layers = manifest.get("layers") or []
    media_type = (spec.get("layerSelector") or {}).get("mediaType")
    if media_type:
        chosen = next((layer for layer in layers if layer.get("mediaType") == media_type), None)
        if chosen is None:
            raise Failure(LAYER_FAILED, f"failed to find layer with media type '{media_type}' in artifact")
        return chosen
    if not layers:
        raise Failure(LAYER_FAILED, "no layers found in artifact")
    return layers[0]


class SourceController(Controller):
    """Reconciles OCIRepositories like source-controller (simulated)."""

    resource = OCI_REPOSITORIES
    component = "source-controller"

    def __init__(self, kube: KubeClient, registry: RegistryReader, *, retry_interval: float) -> None:
        super().__init__(kube, retry_interval=retry_interval)
        self.registry = registry

    def reconcile(self, key: Key) -> float | None:
        obj = self.fetch(key)
        if obj is None or obj["metadata"].get("deletionTimestamp") or self.skip_suspended(obj):
            return None
        spec = obj.get("spec") or {}
        status = copy.deepcopy(obj.get("status") or {})
        generation = int(obj["metadata"].get("generation") or 0)
        conditions = Conditions(status.get("conditions"), generation)
        interval = interval_of(spec)
        url = str(spec.get("url", ""))
        try:
            repository = parse_oci_url(url, insecure=bool(spec.get("insecure")))
        except UrlInvalid as error:
            self._stall(obj, status, conditions, f"URL validation failed for '{url}': {error}")
            return None  # stalled: no retry until the object changes
        conditions.delete(STALLED)
        observed = int(status.get("observedGeneration") or 0)
        if observed != generation:
            conditions.set(
                RECONCILING,
                "True",
                PROGRESSING,
                f"processing object: new generation {observed} -> {generation}",
            )
        revision: str | None = None
        try:
            revision, digest = self._resolve(repository, url, spec)
            artifact = status.get("artifact") or {}
            if artifact.get("revision") != revision or not conditions.is_true(ARTIFACT_IN_STORAGE):
                self._report_progress(obj, status, conditions, revision, url, had_artifact=bool(artifact))
                status["artifact"] = self._pull(repository, url, spec, obj, revision, digest)
        except Failure as failure:
            return self._fail(obj, status, conditions, failure, revision)
        except Exception as error:  # keep the worker alive and say what happened
            return self._fail(obj, status, conditions, Failure(GENERIC_FAILED, str(error)), revision)
        message = f"stored artifact for digest '{revision}'"
        conditions.set(ARTIFACT_IN_STORAGE, "True", SUCCEEDED, message)
        conditions.set(READY, "True", SUCCEEDED, message)
        conditions.delete(RECONCILING, FETCH_FAILED, ARTIFACT_OUTDATED, STORAGE_OPERATION_FAILED)
        status["conditions"] = conditions.as_list()
        status["observedGeneration"] = generation
        previous = ((obj.get("status") or {}).get("artifact") or {}).get("revision")
        write_status(self.kube, OCI_REPOSITORIES, obj, with_handled_request(obj, status))
        if previous != revision:
            self.events.record(
                obj,
                "Normal",
                "NewArtifact",
                f"stored artifact with revision '{revision}' from '{url}'",
                {REVISION_ANNOTATION: revision},
            )
        return interval

    def _resolve(self, repository: Repository, url: str, spec: dict[str, Any]) -> tuple[str, str]:
        """The revision to store and its manifest digest: digest > semver > tag > latest."""
        ref = spec.get("ref") or {}
        if ref.get("digest"):
            return str(ref["digest"]), str(ref["digest"])
        if ref.get("semver"):
            tag = self._tag_by_semver(repository, url, str(ref["semver"]), ref.get("semverFilter"))
        else:
            tag = str(ref.get("tag") or "latest")
        try:
            digest = self.registry.resolve_digest(repository, tag)
        except RegistryError as error:
            raise Failure(PULL_FAILED, f"failed to determine artifact digest: {error}") from None
        return f"{tag}@{digest}", digest

    def _tag_by_semver(
        self, repository: Repository, url: str, constraint: str, tag_filter: str | None
    ) -> str:
        prefix = f"failed to determine the artifact tag for '{url}'"
        try:
            tags = self.registry.tags(repository)
        except RegistryError as error:
            raise Failure(READ_FAILED, f"{prefix}: {error}") from None
        try:
            tag = highest_matching(tags, constraint, tag_filter)
        except SemverRangeError as error:
            raise Failure(READ_FAILED, f"{prefix}: semver parse error: {error}") from None
        if tag is None:
            raise Failure(READ_FAILED, f"{prefix}: no match found for semver: {constraint}")
        return tag

    def _pull(
        self,
        repository: Repository,
        url: str,
        spec: dict[str, Any],
        obj: dict[str, Any],
        revision: str,
        digest: str,
    ) -> dict[str, Any]:
        try:
            manifest = self.registry.manifest(repository, digest)
        except RegistryError as error:
            raise Failure(PULL_FAILED, f"failed to pull artifact from '{url}': {error}") from None
        layer = artifact_layer(manifest, spec)
        try:
            blob = self.registry.blob(repository, str(layer.get("digest", "")))
        except RegistryError as error:
            raise Failure(LAYER_FAILED, f"failed to extract the first layer from artifact: {error}") from None
        try:
            extract(blob)
        except ArtifactError as error:
            raise Failure(LAYER_FAILED, f"failed to extract layer contents from artifact: {error}") from None
        metadata = obj["metadata"]
        path = f"ocirepository/{metadata.get('namespace')}/{metadata['name']}/{digest.split(':')[-1]}.tar.gz"
        return {
            "revision": revision,
            "digest": sha256_digest(blob),
            "size": len(blob),
            "metadata": dict(manifest.get("annotations") or {}),
            "lastUpdateTime": now_rfc3339(),
            "path": path,
            "url": f"http://{STORAGE_HOST}/{path}",
        }

    def _report_progress(
        self,
        obj: dict[str, Any],
        status: dict[str, Any],
        conditions: Conditions,
        revision: str,
        url: str,
        *,
        had_artifact: bool,
    ) -> None:
        message = f"building artifact: new revision '{revision}' for '{url}'"
        conditions.set(RECONCILING, "True", PROGRESSING, message)
        conditions.set(READY, "Unknown", PROGRESSING, message)
        if had_artifact:
            conditions.set(ARTIFACT_OUTDATED, "True", "NewRevision", f"new revision '{revision}' for '{url}'")
        status["conditions"] = conditions.as_list()
        write_status(self.kube, OCI_REPOSITORIES, obj, status)

    def _fail(
        self,
        obj: dict[str, Any],
        status: dict[str, Any],
        conditions: Conditions,
        failure: Failure,
        revision: str | None,
    ) -> float:
        conditions.set(FETCH_FAILED, "True", failure.reason, failure.message)
        conditions.set(READY, "False", failure.reason, failure.message)
        conditions.mark_retrying(failure.message)
        status["conditions"] = conditions.as_list()
        write_status(self.kube, OCI_REPOSITORIES, obj, with_handled_request(obj, status))
        self.events.record(
            obj,
            "Warning",
            failure.reason,
            failure.message,
            {REVISION_ANNOTATION: revision} if revision else None,
        )
        return min(interval_of(obj.get("spec") or {}), self.retry_interval)

    def _stall(
        self, obj: dict[str, Any], status: dict[str, Any], conditions: Conditions, message: str
    ) -> None:
        """A configuration error: no retries until the object changes."""
        conditions.set(STALLED, "True", URL_INVALID, message)
        conditions.set(FETCH_FAILED, "True", URL_INVALID, message)
        conditions.set(READY, "False", URL_INVALID, message)
        conditions.delete(RECONCILING)
        status["conditions"] = conditions.as_list()
        status["observedGeneration"] = conditions.generation
        write_status(self.kube, OCI_REPOSITORIES, obj, with_handled_request(obj, status))
        self.events.record(obj, "Warning", URL_INVALID, message)
        return None
