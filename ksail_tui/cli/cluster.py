"""``ksail-tui cluster create|delete|status``: the Kind or K3d cluster with its registry and Flux."""

from __future__ import annotations

import argparse
from functools import partial
from typing import TYPE_CHECKING

from ksail_tui.cli.common import add_command, add_group, confirm_deletion, emit, load_config, progress
from ksail_tui.errors import Unavailable

if TYPE_CHECKING:
    from ksail_tui.cluster.reports import ClusterCreated, ClusterInfo, DiscoveredCluster


def register(subparsers: argparse._SubParsersAction) -> None:
    commands = add_group(subparsers, "cluster", "the Kind or K3d cluster, with its registry and Flux")
    create = add_command(
        commands,
        "create",
        _create,
        "create the cluster (or reuse it), start the registry on its network, install Flux and "
        "apply the workloads' sources",
    )
    create.add_argument("--manifests", metavar="FILE|URL", help="Flux's install manifests (offline installs)")
    delete = add_command(
        commands,
        "delete",
        _delete,
        "delete the cluster and the registry container; the registry's data stays unless --purge",
    )
    delete.add_argument("--purge", action="store_true", help="also delete the registry's data")
    delete.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    add_command(
        commands,
        "status",
        _status,
        "list the Kind and K3d clusters Docker runs (exit 4 when the configured one does not exist)",
    )


def _create(args: argparse.Namespace) -> int:
    from ksail_tui.cluster.service import ClusterService

    created = ClusterService(load_config(args)).create(partial(progress, args), flux_manifests=args.manifests)
    emit(args, created.model_dump(mode="json"), partial(_describe_created, created))
    return 0


def _describe_created(created: ClusterCreated) -> str:
    lines = [
        f"{created.distribution.value} cluster {created.name}: "
        + ("reused (it existed already)" if created.reused else "created"),
        f"  context:  {created.context}",
    ]
    if created.registry is not None:
        lines.append(
            f"  registry: {created.registry.name}, push to {created.registry.endpoint}, pods pull from "
            f"{created.registry.cluster_endpoint} (network {created.registry_network})"
        )
    if created.flux is not None:
        lines.append(f"  flux:     {created.flux.summary}")
    lines += [f"  applied:  {ref}" for ref in created.sources]
    return "\n".join(lines)


def _delete(args: argparse.Namespace) -> int:
    from ksail_tui.cluster.service import ClusterService

    config = load_config(args)
    service = ClusterService(config)
    service.provisioner.require_program()  # before asking: a yes must not end in "not installed"
    what = f"the {config.spec.cluster.distribution.value} cluster {config.name}"
    if args.purge and config.registry.enabled:
        what += f" and the registry {config.registry_name} with all its data"
    if not args.yes:
        confirm_deletion(what)
    deleted = service.delete(purge=args.purge, on_progress=partial(progress, args))
    verb = "deleted" if deleted.existed else "did not exist"
    emit(args, deleted.model_dump(mode="json"), f"{deleted.distribution.value} cluster {deleted.name} {verb}")
    return 0


def _status(args: argparse.Namespace) -> int:
    from ksail_tui.cluster.discovery import discover_clusters
    from ksail_tui.cluster.service import ClusterService

    service = ClusterService(load_config(args))
    clusters = discover_clusters(service.kubeconfig)
    configured = service.status(clusters)
    emit(
        args,
        {
            "configured": configured.model_dump(mode="json"),
            "clusters": [cluster.model_dump(mode="json") for cluster in clusters],
        },
        partial(_describe_status, configured, clusters),
    )
    return 0 if configured.exists or configured.simulated else Unavailable.exit_code


def _describe_status(configured: ClusterInfo, clusters: list[DiscoveredCluster]) -> str:
    rows = [("", "NAME", "DISTRIBUTION", "STATE", "CONTAINERS", "CONTEXT", "REGISTRY")]
    for cluster in clusters:
        ours = cluster.name == configured.name and cluster.distribution is configured.distribution
        rows.append(
            (
                "*" if ours else "",
                cluster.name,
                cluster.distribution.value,
                cluster.state,
                ", ".join(f"{c.name} ({c.role or '?'}: {c.state})" for c in cluster.containers),
                cluster.context + ("" if cluster.context_exists else " (missing)"),
                cluster.registry or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1]
        for row in rows
    ]
    if len(rows) == 1:
        lines = ["no Kind or K3d clusters found in Docker"]
    kind = configured.distribution.value
    if configured.exists:
        lines.append(f"* the configured {kind} cluster {configured.name} (context {configured.context})")
    elif configured.simulated:
        lines.append(
            f"the configured cluster {configured.name} is simulated by the ksail-tui demo "
            f"(context {configured.context}): it runs in the Kubernetes API emulator, not in Docker"
        )
    else:
        lines.append(
            f"the configured {kind} cluster {configured.name} does not exist: run `ksail-tui cluster create`"
        )
    if not configured.context_exists:
        lines.append(f"context {configured.context} is not in the kubeconfig")
    if configured.registry is not None:
        registry = configured.registry
        lines.append(
            f"registry {registry.name}: {registry.status.value}"
            + (f" ({registry.last_error})" if registry.last_error else "")
        )
    return "\n".join(line.rstrip() for line in lines)
