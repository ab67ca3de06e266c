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


def oci_repository(config: ClusterConfig, workload: Workload, *, tag: str | None = None) -> dict[str, Any]:
    """The OCIRepository; ``tag`` overrides the configured version (the dev loop's pre-releases)."""
    ref = {"semver": workload.follow} if workload.follow else {"tag": tag or workload.version}
    spec: dict[str, Any] = {
        "interval": config.interval_of(workload),
        # Pods cannot reach the workstation's localhost: pull by the registry's in-cluster name.
        "url": f"oci://{config.registry_cluster_endpoint}/{config.repository_of(workload)}",
        "ref": ref,
    }
    if config.registry.enabled:
        spec["insecure"] = True  # the local registry speaks plain HTTP
    return {
        "apiVersion": SOURCE_API_VERSION,
        "kind": OCI_REPOSITORY_KIND,
        "metadata": _metadata(config, workload),
        "spec": spec,
    }


def kustomization(config: ClusterConfig, workload: Workload) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "interval": config.interval_of(workload),
        "sourceRef": {"kind": OCI_REPOSITORY_KIND, "name": workload.name, "namespace": config.flux_namespace},
        "path": "./",
        "prune": workload.prune,
        "wait": workload.wait,
        "timeout": workload.timeout,
    }
    if workload.target_namespace:
        spec["targetNamespace"] = workload.target_namespace
    return {
        "apiVersion": KUSTOMIZE_API_VERSION,
        "kind": KUSTOMIZATION_KIND,
        "metadata": _metadata(config, workload),
        "spec": spec,
    }


def workload_sources(
    config: ClusterConfig, workload: Workload, *, tag: str | None = None
) -> list[dict[str, Any]]:
    return [oci_repository(config, workload, tag=tag), kustomization(config, workload)]


def all_sources(config: ClusterConfig, names: list[str] | None = None) -> list[dict[str, Any]]:
    workloads = [config.workload(name) for name in names] if names else list(config.workloads)
    return [obj for workload in workloads for obj in workload_sources(config, workload)]


def to_yaml(objects: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False)
