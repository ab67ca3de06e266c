"""Generate the Flux objects that make a cluster pull a workload from the registry."""

from __future__ import annotations

from typing import Any

import yaml

from ksail_tui.config import ClusterConfig, Workload
from ksail_tui.models import KUSTOMIZATION_KIND, OCI_REPOSITORY_KIND

SOURCE_API_VERSION = "source.toolkit.fluxcd.io/v1"
KUSTOMIZE_API_VERSION = "kustomize.toolkit.fluxcd.io/v1"
MANAGED_BY = "ksail-tui"
WORKLOAD_LABEL = "ksail.io/workload"
CLUSTER_LABEL = "ksail.io/cluster"


def _metadata(config: ClusterConfig, workload: Workload) -> dict[str, Any]:
    return {
        "name": workload.name,
        "namespace": config.flux_namespace,
        "labels": {
            "app.kubernetes.io/managed-by": MANAGED_BY,
            WORKLOAD_LABEL: workload.name,
            CLUSTER_LABEL: config.name,
        },
    }


def oci_repository_object(
    metadata: dict[str, Any], *, url: str, ref: dict[str, str], interval: str, insecure: bool
) -> dict[str, Any]:
    """An OCIRepository of ``url`` (``oci://host/repository``) at ``ref`` (tag, semver or digest)."""
    spec: dict[str, Any] = {"interval": interval, "url": url, "ref": ref}
    if insecure:
        spec["insecure"] = True  # a local registry speaks plain HTTP
    return {"apiVersion": SOURCE_API_VERSION, "kind": OCI_REPOSITORY_KIND, "metadata": metadata, "spec": spec}


def kustomization_object(
    metadata: dict[str, Any],
    *,
    source: dict[str, str],
    interval: str,
    prune: bool,
    wait: bool,
    timeout: str,
    path: str = "./",
    target_namespace: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A Kustomization of the OCIRepository ``source`` (its name, and namespace if another);
    ``extra`` adds further spec fields (images, postBuild)."""
    spec: dict[str, Any] = {
        "interval": interval,
        "sourceRef": {"kind": OCI_REPOSITORY_KIND, **source},
        "path": path,
        "prune": prune,
        "wait": wait,
        "timeout": timeout,
    }
    if target_namespace:
        spec["targetNamespace"] = target_namespace
    spec.update(extra)
    return {
        "apiVersion": KUSTOMIZE_API_VERSION,
        "kind": KUSTOMIZATION_KIND,
        "metadata": metadata,
        "spec": spec,
    }


def oci_repository(config: ClusterConfig, workload: Workload, *, tag: str | None = None) -> dict[str, Any]:
    """The OCIRepository; ``tag`` overrides the configured version (the dev loop's pre-releases)."""
    return oci_repository_object(
        _metadata(config, workload),
        # Pods cannot reach the workstation's localhost: pull by the registry's in-cluster name.
        url=f"oci://{config.registry_cluster_endpoint}/{config.repository_of(workload)}",
        ref={"semver": workload.follow} if workload.follow else {"tag": tag or workload.version},
        interval=config.interval_of(workload),
        insecure=config.registry.enabled,
    )


def kustomization(config: ClusterConfig, workload: Workload) -> dict[str, Any]:
    return kustomization_object(
        _metadata(config, workload),
        source={"name": workload.name, "namespace": config.flux_namespace},
        interval=config.interval_of(workload),
        prune=workload.prune,
        wait=workload.wait,
        timeout=workload.timeout,
        target_namespace=workload.target_namespace,
    )


def workload_sources(
    config: ClusterConfig, workload: Workload, *, tag: str | None = None
) -> list[dict[str, Any]]:
    return [oci_repository(config, workload, tag=tag), kustomization(config, workload)]


def all_sources(config: ClusterConfig, names: list[str] | None = None) -> list[dict[str, Any]]:
    workloads = [config.workload(name) for name in names] if names else list(config.workloads)
    return [obj for workload in workloads for obj in workload_sources(config, workload)]


def to_yaml(objects: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False)
