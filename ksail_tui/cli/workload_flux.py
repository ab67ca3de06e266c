"""``workload gen|apply|status|reconcile|suspend|resume``: the Flux side of each workload."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ksail_tui.cli.common import add_command, duration, emit, load_config, progress, wants_json

if TYPE_CHECKING:
    from ksail_tui.flux.service import FluxService


def register(subparsers: argparse._SubParsersAction) -> None:
    gen = add_command(
        subparsers, "gen", run_gen, "print the OCIRepository and Kustomization of workloads as YAML"
    )
    apply = add_command(subparsers, "apply", run_apply, "server-side apply the workloads' Flux objects")
    status = add_command(subparsers, "status", run_status, "revision-aware Flux status of workloads")
    reconcile = add_command(
        subparsers, "reconcile", run_reconcile, "reconcile workloads now and wait for the outcome"
    )
    suspend = add_command(subparsers, "suspend", run_suspend, "suspend Flux reconciliation of workloads")
    resume = add_command(subparsers, "resume", run_resume, "resume Flux reconciliation of workloads")
    for parser in (gen, apply, status, reconcile, suspend, resume):
        parser.add_argument("names", nargs="*", metavar="NAME", help="workloads (default: all)")
    for parser in (apply, status, reconcile, suspend, resume):
        parser.add_argument(
            "--timeout",
            type=duration,
            help="deadline of the whole command, e.g. 2m (default: connection.timeout)",
        )
    reconcile.add_argument("--resume", action="store_true", help="resume suspended objects first")
    reconcile.add_argument("--no-wait", action="store_true", help="only request reconciliation")


def run_gen(args: argparse.Namespace) -> int:
    from ksail_tui.flux.sources import all_sources, to_yaml

    objects = all_sources(load_config(args), args.names or None)
    emit(args, objects, lambda: to_yaml(objects))
    return 0


def open_service(args: argparse.Namespace) -> FluxService:
    """The Flux service of the config, every request of it bounded by the command's deadline."""
    from ksail_tui.deadline import Deadline
    from ksail_tui.flux.service import FluxService

    config = load_config(args)
    seconds = args.timeout or config.spec.cluster.connection.timeout_seconds
    return FluxService.open(config, deadline=Deadline.after(seconds))


def run_apply(args: argparse.Namespace) -> int:
    service = open_service(args)
    applied = service.apply_sources(args.names or None)
    emit(args, [ref.model_dump() for ref in applied], lambda: "\n".join(f"applied {ref}" for ref in applied))
    return 0


def run_status(args: argparse.Namespace) -> int:
    from ksail_tui.flux.status import exit_code_for
    from ksail_tui.humanize import short_revision

    statuses = open_service(args).statuses(args.names or None, check_registry=True)

    def table() -> str:
        rows = [("WORKLOAD", "HEALTH", "ARTIFACT", "APPLIED", "CURRENT", "MESSAGE")]
        for s in statuses:
            current = "yes" if s.current else "no"
            artifact, applied = short_revision(s.artifact_revision), short_revision(s.applied_revision)
            rows.append((s.name, s.health.value, artifact, applied, current, s.summary))
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        return "\n".join(
            "  ".join(c.ljust(w) for c, w in zip(row[:5], widths, strict=True)) + "  " + row[5]
            for row in rows
        )

    emit(args, [s.model_dump(mode="json") for s in statuses], table)
    return exit_code_for(statuses)


def run_reconcile(args: argparse.Namespace) -> int:
    service = open_service(args)
    if args.no_wait:
        request = service.request_reconcile(args.names or None)
        emit(
            args,
            request.model_dump(mode="json"),
            lambda: "\n".join(f"requested {t}" for t in request.targets),
        )
        return 0
    outcomes = service.reconcile(
        args.names or None,
        timeout=args.timeout,
        resume=args.resume,
        on_progress=None if wants_json(args) else lambda message: progress(args, f"  {message}"),
    )

    def text() -> str:
        return "\n".join(
            f"{'✔' if o.ok else '✗'} {o.workload}: {o.message} ({o.seconds:.2f}s)" for o in outcomes
        )

    emit(args, [o.model_dump(mode="json") for o in outcomes], text)
    return next((o.exit_code for o in outcomes if not o.ok), 0)


def _set_suspended(args: argparse.Namespace, suspended: bool) -> int:
    changed = open_service(args).set_suspended(args.names or None, suspended)
    verb = "suspended" if suspended else "resumed"
    emit(args, [ref.model_dump() for ref in changed], lambda: "\n".join(f"{verb} {ref}" for ref in changed))
    return 0


def run_suspend(args: argparse.Namespace) -> int:
    return _set_suspended(args, True)


def run_resume(args: argparse.Namespace) -> int:
    return _set_suspended(args, False)
