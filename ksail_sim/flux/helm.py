"""Simulated source-controller for HelmRepositories and HelmCharts, and helm-controller for
HelmReleases (not Flux and not Helm; see :mod:`ksail_sim.flux.git` for what they reach).

A HelmRepository's index is read from a ``file://`` folder (its ``index.yaml``) or fetched from a
server on the loopback; its revision is the index's digest, and the parsed index is kept in
:class:`IndexStorage`, as source-controller keeps it in its storage for the HelmCharts it builds.
A HelmChart resolves ``spec.version`` against that index (``status.artifact.revision`` = the
chart version). A HelmRelease gets its HelmChart (``<namespace>-<name>`` in the source's
namespace, as helm-controller makes it) and is "installed" at the version the chart resolved:
nothing is downloaded or installed, only the status helm-controller would write.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import yaml

from ksail_sim.apiserver.store import now_rfc3339
from ksail_sim.flux.git import (
    BUILD_FAILED,
    URL_INVALID,
    StatusController,
    artifact,
    digest_of,
    local_path,
)
from ksail_sim.flux.runtime import READY, Failure, Key, log
from ksail_sim.flux.source import STORAGE_HOST
from ksail_tui.flux.kinds import BY_KIND
from ksail_tui.flux.semver_range import SemverRangeError, parse_range, parse_version
from ksail_tui.kube.client import ApiError, KubeClient

HELM_REPOSITORIES = BY_KIND["HelmRepository"].resource
HELM_CHARTS = BY_KIND["HelmChart"].resource
HELM_RELEASES = BY_KIND["HelmRelease"].resource
INDEXATION_FAILED = "IndexationFailed"
MAX_INDEX_BYTES = 16 * 1024 * 1024
FETCH_TIMEOUT = 5.0
OWNER_NAME_LABEL = "helm.toolkit.fluxcd.io/name"
OWNER_NAMESPACE_LABEL = "helm.toolkit.fluxcd.io/namespace"
FIELD_MANAGER = "helm-controller"


class IndexStorage:
    """The indexes the HelmRepository controller stored, by (namespace, name), with their revision."""

    def __init__(self) -> None:
        self._indexes: dict[Key, tuple[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def put(self, key: Key, revision: str, index: dict[str, Any]) -> None:
        with self._lock:
            self._indexes[key] = (revision, index)

    def get(self, key: Key, revision: str) -> dict[str, Any] | None:
        with self._lock:
            stored = self._indexes.get(key)
        return stored[1] if stored and stored[0] == revision else None


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def fetch_index(url: str) -> bytes:
    """The bytes of the repository's index.yaml; Failure when it cannot be had from here."""
    path = local_path(url)
    prefix = "failed to fetch Helm repository index"
    if path is not None:
        index = path / "index.yaml" if path.is_dir() else path
        try:
            with index.open("rb") as file:
                data = file.read(MAX_INDEX_BYTES + 1)
        except OSError as error:
            raise Failure(INDEXATION_FAILED, f"{prefix}: {error.strerror or error}: {index}") from None
    elif url.startswith(("http://", "https://")) and _loopback(url):
        target = url.rstrip("/") + "/index.yaml"
        try:
            with urllib.request.urlopen(target, timeout=FETCH_TIMEOUT) as response:
                data = response.read(MAX_INDEX_BYTES + 1)
        except (urllib.error.URLError, OSError) as error:
            raise Failure(INDEXATION_FAILED, f"{prefix}: failed to fetch {target} : {error}") from None
    elif url.startswith(("http://", "https://", "oci://")):
        raise Failure(INDEXATION_FAILED, f"{prefix}: cannot reach {url} from the simulated source-controller")
    else:
        raise Failure(
            URL_INVALID, f"invalid Helm repository URL '{url}': the scheme must be http, https or oci"
        )
    if len(data) > MAX_INDEX_BYTES:
        raise Failure(INDEXATION_FAILED, f"{prefix}: the index is larger than {MAX_INDEX_BYTES} bytes")
    return data


def parse_index(data: bytes) -> dict[str, Any]:
    try:
        index = yaml.safe_load(data)
    except yaml.YAMLError as error:
        raise Failure(INDEXATION_FAILED, f"failed to load Helm repository index: {error}") from None
    if not isinstance(index, dict) or not isinstance(index.get("entries"), dict):
        raise Failure(INDEXATION_FAILED, "failed to load Helm repository index: no API version specified")
    return index


class HelmRepositoryController(StatusController):
    component = "source-controller"

    def __init__(self, kube: KubeClient, storage: IndexStorage, *, retry_interval: float) -> None:
        self.storage = storage
        super().__init__(kube, HELM_REPOSITORIES, retry_interval=retry_interval)

    def settle(self, obj: dict[str, Any], status: dict[str, Any]) -> tuple[str, str]:
        url = str((obj.get("spec") or {}).get("url", ""))
        data = fetch_index(url)
        index = parse_index(data)
        revision = digest_of(data)
        metadata = obj["metadata"]
        self.storage.put((str(metadata.get("namespace") or ""), metadata["name"]), revision, index)
        status["artifact"] = artifact("helmrepository", obj, revision, revision, status.get("artifact") or {})
        where = f"helmrepository/{metadata.get('namespace')}/{metadata['name']}/index.yaml"
        status["url"] = f"http://{STORAGE_HOST}/{where}"
        return f"stored artifact: revision '{revision}'", "NewArtifact"


def _ready(obj: dict[str, Any]) -> dict[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions") or () if c.get("type") == READY), {})


def resolve_chart_version(index: dict[str, Any], chart: str, constraint: str) -> str:
    """The highest version of ``chart`` in the index inside ``constraint`` (Helm's GetChartVersion)."""
    prefix = "invalid chart reference: failed to get chart version for remote reference"
    entries = index["entries"].get(chart)
    if not isinstance(entries, list) or not entries:
        raise Failure("InvalidChartReference", f"{prefix}: no chart name found")
    versions = [str(e.get("version")) for e in entries if isinstance(e, dict) and e.get("version")]
    try:
        alternatives = parse_range(constraint or "*")
    except SemverRangeError as error:
        raise Failure("InvalidChartReference", f"{prefix}: improper constraint: {error}") from None
    best: tuple[Any, str] | None = None
    for text in versions:
        version = parse_version(text)
        if version is None or not any(all(b.admits(version) for b in bounds) for bounds in alternatives):
            continue
        if best is None or version.compare(best[0]) > 0:
            best = (version, text)
    if best is None:
        raise Failure(
            "InvalidChartReference",
            f"{prefix}: no '{chart}' chart with version matching '{constraint}' found",
        )
    return best[1]


class HelmChartController(StatusController):
    """source-controller for HelmCharts (simulated): the version the HelmRepository's index has."""

    component = "source-controller"

    def __init__(self, kube: KubeClient, storage: IndexStorage, *, retry_interval: float) -> None:
        self.storage = storage
        super().__init__(kube, HELM_CHARTS, retry_interval=retry_interval)
        self._sources: dict[Key, Key] = {}  # chart -> its HelmRepository

    def consider(self, obj: dict[str, Any]) -> None:
        source = (obj.get("spec") or {}).get("sourceRef") or {}
        namespace = str(obj.get("metadata", {}).get("namespace") or "")
        with self._lock:
            self._sources[(namespace, str(obj["metadata"]["name"]))] = (
                namespace,
                str(source.get("name", "")),
            )
        super().consider(obj)

    def forget(self, key: Key) -> None:
        with self._lock:
            self._sources.pop(key, None)
        super().forget(key)

    def source_changed(self, repository: dict[str, Any]) -> None:
        """A HelmRepository changed (a new index): build the charts made from it again."""
        metadata = repository.get("metadata") or {}
        source = (str(metadata.get("namespace") or ""), str(metadata.get("name") or ""))
        with self._lock:
            charts = [chart for chart, of in self._sources.items() if of == source]
        for chart in charts:
            self.queue.add(chart)

    def settle(self, obj: dict[str, Any], status: dict[str, Any]) -> tuple[str, str]:
        spec = obj.get("spec") or {}
        namespace = str(obj["metadata"].get("namespace") or "")
        source = spec.get("sourceRef") or {}
        kind, name = str(source.get("kind", "")), str(source.get("name", ""))
        chart = str(spec.get("chart", ""))
        if kind != "HelmRepository":
            raise Failure(
                "ChartPackageFailed",
                "the simulated source-controller builds charts from HelmRepositories only, "
                f"not from {kind or '?'}",
                condition=BUILD_FAILED,
            )
        repository = self.kube.get_or_none(HELM_REPOSITORIES, name, namespace)
        if repository is None:
            raise Failure(
                "SourceUnavailable", f"failed to get source: HelmRepository '{namespace}/{name}' not found"
            )
        revision = str(((repository.get("status") or {}).get("artifact") or {}).get("revision") or "")
        index = (
            self.storage.get((namespace, name), revision)
            if revision and _ready(repository).get("status") == "True"
            else None
        )
        if index is None:
            raise Failure(
                "NoSourceArtifact", f"no artifact available for HelmRepository source '{name}'", event=False
            )
        version = resolve_chart_version(index, chart, str(spec.get("version") or "*"))
        digest = digest_of(f"{revision}\0{chart}\0{version}".encode())
        status["artifact"] = artifact("helmchart", obj, version, digest, status.get("artifact") or {})
        status["observedChartName"] = chart
        status["observedSourceArtifactRevision"] = revision
        return f"pulled '{chart}' chart with version '{version}'", "ChartPullSucceeded"


class HelmReleaseController(StatusController):
    """helm-controller (simulated): its HelmChart made and Ready; a history of what it "installed"."""

    component = "helm-controller"
    ready_reason = ""
    stores_artifact = False

    def __init__(self, kube: KubeClient, *, retry_interval: float) -> None:
        super().__init__(kube, HELM_RELEASES, retry_interval=retry_interval)
        self._charts: dict[Key, tuple[str, str]] = {}  # release -> (namespace, name) of its HelmChart

    def forget(self, key: Key) -> None:
        """The HelmRelease is gone: so is its HelmChart, as helm-controller's finalizer deletes it."""
        super().forget(key)
        chart = self._charts.pop(key, None)
        if chart is not None:
            try:
                self.kube.delete(HELM_CHARTS, chart[1], chart[0])
            except Exception as error:  # best effort: the API server may be gone too
                log.debug("HelmChart %s/%s not deleted: %s", *chart, error)

    def _chart(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create or update the release's HelmChart from spec.chart.spec; the chart as it is now."""
        metadata = obj["metadata"]
        namespace = str(metadata.get("namespace") or "")
        spec = obj.get("spec") or {}
        template = (spec.get("chart") or {}).get("spec") or {}
        source = template.get("sourceRef") or {}
        source_namespace = str(source.get("namespace") or namespace)
        name = f"{namespace}-{metadata['name']}"
        self._charts[(namespace, metadata["name"])] = (source_namespace, name)
        chart_spec: dict[str, Any] = {
            "chart": template.get("chart", ""),
            "version": template.get("version") or "*",
            "sourceRef": {"kind": source.get("kind", ""), "name": source.get("name", "")},
            "interval": template.get("interval") or spec.get("interval") or "10m",
            "reconcileStrategy": template.get("reconcileStrategy") or "ChartVersion",
        }
        try:
            return self.kube.apply(
                {
                    "apiVersion": HELM_CHARTS.api_version,
                    "kind": "HelmChart",
                    "metadata": {
                        "name": name,
                        "namespace": source_namespace,
                        "labels": {OWNER_NAME_LABEL: metadata["name"], OWNER_NAMESPACE_LABEL: namespace},
                    },
                    "spec": chart_spec,
                },
                field_manager=FIELD_MANAGER,
            )
        except ApiError as error:
            raise Failure(
                "ArtifactFailed",
                f"HelmChart '{source_namespace}/{name}' cannot be written: {error.api_message}",
            ) from None

    def settle(self, obj: dict[str, Any], status: dict[str, Any]) -> tuple[str, str]:
        metadata = obj["metadata"]
        namespace = str(metadata.get("namespace") or "")
        chart_obj = self._chart(obj)
        chart_ref = f"{chart_obj['metadata'].get('namespace')}/{chart_obj['metadata']['name']}"
        status["helmChart"] = chart_ref
        ready = _ready(chart_obj)
        chart_generation = int(chart_obj["metadata"].get("generation") or 0)
        if (
            ready.get("status") != "True"
            or (chart_obj.get("status") or {}).get("observedGeneration") != chart_generation
        ):
            detail = (
                f": {ready['message']}" if ready.get("status") == "False" and ready.get("message") else ""
            )
            raise Failure("ArtifactFailed", f"HelmChart '{chart_ref}' is not ready{detail}")
        version = str(chart_obj["status"]["artifact"]["revision"])
        chart = str(chart_obj["spec"].get("chart", ""))
        values = json.dumps((obj.get("spec") or {}).get("values") or {}, sort_keys=True)
        config_digest = digest_of(values.encode())
        history = status.get("history") or []
        latest = history[0] if history else {}
        if latest.get("chartVersion") == version and latest.get("configDigest") == config_digest:
            release = int(latest.get("version") or 1)
        else:
            release = int(latest.get("version") or 0) + 1
            now = now_rfc3339()
            snapshot = {
                "chartName": chart,
                "chartVersion": version,
                "configDigest": config_digest,
                "name": metadata["name"],
                "namespace": namespace,
                "status": "deployed",
                "version": release,
                "firstDeployed": latest.get("firstDeployed") or now,
                "lastDeployed": now,
            }
            # Helm's release digest covers the release as stored; here, what makes this one.
            snapshot["digest"] = digest_of(json.dumps(snapshot, sort_keys=True).encode())
            status["history"] = [snapshot, *history[:4]]
        verb = "upgrade" if release > 1 else "install"
        status["lastAttemptedRevision"] = version
        status["lastAttemptedReleaseAction"] = verb
        release_name = f"{namespace}/{metadata['name']}.v{release}"
        message = f"Helm {verb} succeeded for release {release_name} with chart {chart}@{version}"
        return message, "UpgradeSucceeded" if verb == "upgrade" else "InstallSucceeded"

    def chart_changed(self, chart: dict[str, Any]) -> None:
        """A HelmChart this controller made changed (e.g. became Ready): look at its release again."""
        labels = chart.get("metadata", {}).get("labels") or {}
        if OWNER_NAME_LABEL in labels and OWNER_NAMESPACE_LABEL in labels:
            self.queue.add((str(labels[OWNER_NAMESPACE_LABEL]), str(labels[OWNER_NAME_LABEL])))
