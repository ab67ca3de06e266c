"""Finding Kind and K3d clusters through the labels their CLIs put on every container.

Kind labels its node containers ``io.x-k8s.kind.cluster=<name>`` (role in
``io.x-k8s.kind.role``); K3d labels nodes, load balancer and tools ``k3d.cluster=<name>`` (role
in ``k3d.role``). Created and stopped containers carry their labels too, so a stopped cluster is
found as well.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from pathlib import Path
from typing import Any

import docker
import yaml
from docker.errors import DockerException

from ksail_tui.cluster.provisioner import default_context
from ksail_tui.cluster.reports import ClusterContainer, DiscoveredCluster
from ksail_tui.config import Distribution
from ksail_tui.docker_engine import connect_to_docker
from ksail_tui.errors import Unavailable
from ksail_tui.registry.docker_backend import CLUSTER_LABEL as REGISTRY_CLUSTER_LABEL
from ksail_tui.registry.docker_backend import MANAGED_LABEL as REGISTRY_MANAGED_LABEL

KIND_CLUSTER_LABEL = "io.x-k8s.kind.cluster"
KIND_ROLE_LABEL = "io.x-k8s.kind.role"
K3D_CLUSTER_LABEL = "k3d.cluster"
K3D_ROLE_LABEL = "k3d.role"
LABELS = {
    Distribution.KIND: (KIND_CLUSTER_LABEL, KIND_ROLE_LABEL),
    Distribution.K3D: (K3D_CLUSTER_LABEL, K3D_ROLE_LABEL),
}
DOCKER_TIMEOUT_SECONDS = 10


def kube_contexts(kubeconfig: str | Path) -> set[str]:
    """The context names in a kubeconfig file; none when it is missing or unreadable."""
    path = Path(kubeconfig).expanduser()
    if not path.is_file():  # a FIFO would block the read, /dev/zero would never end it
        return set()
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return set()
    contexts = document.get("contexts") if isinstance(document, dict) else None
    return {c["name"] for c in contexts or () if isinstance(c, dict) and isinstance(c.get("name"), str)}


def _docker_client() -> docker.DockerClient:
    return connect_to_docker(
        DOCKER_TIMEOUT_SECONDS,
        needed_for="Kind and K3d clusters cannot be listed",
        hint="start Docker (Kind and K3d run their nodes in it)",
    )


def _summary(container: Any) -> dict[str, Any]:
    """The fields of a sparse container listing that discovery reads."""
    attrs = container.attrs
    names = [name.lstrip("/") for name in attrs.get("Names") or ()]
    return {
        "name": names[0] if names else container.id[:12],
        "labels": attrs.get("Labels") or {},
        "state": attrs.get("State") or "unknown",
        "status": attrs.get("Status") or "",
        "networks": set(((attrs.get("NetworkSettings") or {}).get("Networks") or {}).keys()),
    }


def discover_clusters(
    kubeconfig: str | Path = "~/.kube/config", client: docker.DockerClient | None = None
) -> list[DiscoveredCluster]:
    """Every Kind and K3d cluster on this Docker engine, sorted by distribution and name.

    ``kubeconfig`` is where to look for each cluster's context. Raises :class:`Unavailable` when
    Docker does not answer.
    """
    own_client = client is None
    docker_client = client if client is not None else _docker_client()
    try:
        found: dict[tuple[Distribution, str], list[dict[str, Any]]] = defaultdict(list)
        for distribution, (cluster_label, _) in LABELS.items():
            listed = docker_client.containers.list(all=True, sparse=True, filters={"label": cluster_label})
            for container in listed:
                summary = _summary(container)
                found[(distribution, summary["labels"][cluster_label])].append(summary)
        registries = sorted(
            (
                _summary(c)
                for c in docker_client.containers.list(
                    all=True, sparse=True, filters={"label": f"{REGISTRY_MANAGED_LABEL}=true"}
                )
            ),
            key=lambda r: r["name"],
        )
    except DockerException as error:
        raise Unavailable(
            f"cannot list Docker containers: {error}", hint="check that Docker is running"
        ) from None
    finally:
        if own_client:
            with contextlib.suppress(DockerException):
                docker_client.close()
    contexts = kube_contexts(kubeconfig)
    clusters = []
    for (distribution, name), members in sorted(found.items()):
        role_label = LABELS[distribution][1]
        networks = set().union(*(member["networks"] for member in members))
        registry = next(
            (
                r["name"]
                for r in registries
                if r["labels"].get(REGISTRY_CLUSTER_LABEL) == name and r["networks"] & networks
            ),
            None,
        )
        context = default_context(distribution, name)
        clusters.append(
            DiscoveredCluster(
                name=name,
                distribution=distribution,
                context=context,
                context_exists=context in contexts,
                containers=tuple(
                    ClusterContainer(
                        name=m["name"],
                        role=m["labels"].get(role_label, ""),
                        state=m["state"],
                        status=m["status"],
                    )
                    for m in sorted(members, key=lambda m: m["name"])
                ),
                networks=tuple(sorted(networks)),
                registry=registry,
            )
        )
    return clusters
