"""Simulated source-controller for HelmRepositories and helm-controller for HelmReleases.

Not Flux and not Helm: nothing is downloaded or installed. A HelmRepository is stored at a revision
derived from its URL; a HelmRelease is "installed" once the source of its chart is Ready, with
helm-controller's condition reasons, history and events (see :mod:`ksail_sim.flux.git`).
"""

from __future__ import annotations

from typing import Any

from ksail_sim.flux.git import StatusController, stable_digest
from ksail_sim.flux.runtime import READY, Failure
from ksail_tui.flux.kinds import BY_KIND
from ksail_tui.kube.client import KubeClient

HELM_REPOSITORIES = BY_KIND["HelmRepository"].resource
HELM_RELEASES = BY_KIND["HelmRelease"].resource


class HelmRepositoryController(StatusController):
    component = "source-controller"

    def __init__(self, kube: KubeClient, *, retry_interval: float) -> None:
        super().__init__(kube, HELM_REPOSITORIES, retry_interval=retry_interval)

    def settle(self, obj: dict[str, Any], status: dict[str, Any]) -> tuple[str, str]:
        url = str((obj.get("spec") or {}).get("url", ""))
        if not url.startswith(("https://", "http://", "oci://")):
            raise Failure("URLInvalid", f"invalid Helm repository URL '{url}'")
        revision = f"sha256:{stable_digest(url)}"
        status["artifact"] = {"revision": revision, "digest": revision}
        return f"stored artifact: revision '{revision}'", "NewArtifact"


class HelmReleaseController(StatusController):
    """helm-controller (simulated): Ready once the chart's source is Ready; a history of one."""

    component = "helm-controller"
    ready_reason = "InstallSucceeded"

    def __init__(self, kube: KubeClient, *, retry_interval: float) -> None:
        super().__init__(kube, HELM_RELEASES, retry_interval=retry_interval)

    def settle(self, obj: dict[str, Any], status: dict[str, Any]) -> tuple[str, str]:
        metadata = obj["metadata"]
        namespace = str(metadata.get("namespace") or "")
        chart_spec = ((obj.get("spec") or {}).get("chart") or {}).get("spec") or {}
        source = chart_spec.get("sourceRef") or (obj.get("spec") or {}).get("chartRef") or {}
        kind, name = str(source.get("kind", "")), str(source.get("name", ""))
        source_namespace = str(source.get("namespace") or namespace)
        flux_kind = BY_KIND.get(kind)
        found = (
            self.kube.get_or_none(flux_kind.resource, name, source_namespace) if flux_kind and name else None
        )
        if found is None:
            raise Failure("ArtifactFailed", f"{kind} '{source_namespace}/{name}' not found")
        ready: dict[str, Any] = next(
            (c for c in (found.get("status") or {}).get("conditions") or () if c.get("type") == READY), {}
        )
        if ready.get("status") != "True":
            raise Failure("ArtifactFailed", f"{kind} '{source_namespace}/{name}' is not ready")
        chart = str(chart_spec.get("chart") or name)
        version = str(chart_spec.get("version") or "0.1.0").lstrip("=")
        history = status.get("history") or []
        if history and history[0].get("chartVersion") == version:
            release = int(history[0].get("version") or 1)
            verb = "upgrade" if release > 1 else "install"
        else:
            release = int(history[0].get("version") or 0) + 1 if history else 1
            verb = "upgrade" if release > 1 else "install"
            status["history"] = [
                {
                    "chartName": chart,
                    "chartVersion": version,
                    "name": metadata["name"],
                    "namespace": namespace,
                    "status": "deployed",
                    "version": release,
                }
            ]
        status["lastAttemptedRevision"] = version
        status["lastAttemptedReleaseAction"] = verb
        self.ready_reason = "UpgradeSucceeded" if verb == "upgrade" else "InstallSucceeded"
        release_name = f"{namespace}/{metadata['name']}.v{release}"
        message = f"Helm {verb} succeeded for release {release_name} with chart {chart}@{version}"
        return message, self.ready_reason
