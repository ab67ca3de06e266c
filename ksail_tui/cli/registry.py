"""``ksail-tui registry up|down|status|rm|gc``: the local OCI registry's lifecycle."""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from ksail_tui.cli.common import (
    add_command,
    add_group,
    add_timeout,
    confirm_deletion,
    emit,
    load_config,
    progress,
    within_registry_timeout,
)
from ksail_tui.errors import Unavailable
from ksail_tui.registry import BACKEND_NAMES

if TYPE_CHECKING:
    from ksail_tui.models import OCIRegistry
    from ksail_tui.registry.service import RegistryService


def register(subparsers: argparse._SubParsersAction) -> None:
    commands = add_group(subparsers, "registry", "the local OCI registry that Flux pulls from")
    up = add_command(
        commands, "up", _up, "start the registry (or adopt the running one) and wait until it answers"
    )
    add_timeout(up, "60s", "how long to wait for the registry to answer")
    down = add_command(commands, "down", _down, "stop the registry; its data stays")
    status = add_command(
        commands,
        "status",
        within_registry_timeout(_status),
        "show the registry's state and endpoints (exit 4 when it is in error)",
    )
    add_timeout(status, "10s", "how long to wait for the registry to answer")
    remove = add_command(commands, "rm", _remove, "remove the registry; --purge also deletes its data")
    remove.add_argument("--purge", action="store_true", help="also delete the stored artifacts (asks first)")
    remove.add_argument("--yes", action="store_true", help="with --purge: delete the data without asking")
    collect = add_command(
        commands, "gc", _garbage_collect, "reclaim the space of deleted artifacts (registry garbage-collect)"
    )
    for parser in (up, down, status, remove, collect):
        parser.add_argument(
            "--backend",
            choices=BACKEND_NAMES,
            default="auto",
            help="docker: a container on the cluster's network; process: the registry binary on "
            "127.0.0.1, for machines without Docker; auto (default): the one already running this "
            "registry, else docker when Docker answers, else process",
        )
        parser.add_argument(
            "--data-dir",
            type=Path,
            default=None,
            metavar="DIR",
            help="process backend: where the registry keeps its files "
            "(default: $XDG_DATA_HOME/ksail-tui/registries/<name>)",
        )


def _service(args: argparse.Namespace) -> RegistryService:
    from ksail_tui.registry.service import DEFAULT_HEALTH_TIMEOUT_SECONDS, open_registry_service

    return open_registry_service(
        load_config(args),
        args.backend,
        data_dir=args.data_dir,
        on_progress=partial(progress, args),
        health_timeout=getattr(args, "timeout", DEFAULT_HEALTH_TIMEOUT_SECONDS),
    )


def _describe(registry: OCIRegistry) -> str:
    storage = f"volume {registry.volume}" if registry.backend == "docker" else registry.volume
    lines = [
        f"registry {registry.name}: {registry.status.value} ({registry.backend} backend)",
        f"  push to:        {registry.endpoint}",
        f"  pods pull from: {registry.cluster_endpoint}"
        + ("" if registry.backend == "docker" else " (not reachable: the process backend is loopback only)"),
        f"  data:           {storage}",
    ]
    if registry.image:
        lines.append(f"  image:          {registry.image}")
    if registry.last_error:
        lines.append(f"  last error:     {registry.last_error}")
    return "\n".join(lines)


def _show(args: argparse.Namespace, registry: OCIRegistry) -> None:
    emit(args, registry.model_dump(mode="json"), partial(_describe, registry))


def _up(args: argparse.Namespace) -> int:
    _show(args, _service(args).up())
    return 0


def _down(args: argparse.Namespace) -> int:
    _show(args, _service(args).down())
    return 0


def _status(args: argparse.Namespace) -> int:
    from ksail_tui.models import RegistryStatus

    registry = _service(args).status()
    _show(args, registry)
    return Unavailable.exit_code if registry.status is RegistryStatus.ERROR else 0


def _remove(args: argparse.Namespace) -> int:
    service = _service(args)
    if args.purge and not args.yes:
        storage = service.backend.storage
        confirm_deletion(f"the registry {service.config.registry_name} and all its data ({storage})")
    _show(args, service.remove(purge=args.purge))
    return 0


def _garbage_collect(args: argparse.Namespace) -> int:
    report = _service(args).garbage_collect()
    emit(args, {"report": report}, report)
    return 0
