"""``ksail-tui env create|list|status|wait|reconcile|delete``: thin callers of
:mod:`ksail_tui.operator.environments`."""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ksail_tui.cli.common import (
    add_command,
    add_timeout,
    config_path,
    confirm_deletion,
    emit,
    load_config,
    progress,
)

if TYPE_CHECKING:
    from ksail_tui.operator.environments import Environments, EnvironmentView


def _connection_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", metavar="PATH", help="default: spec.cluster.connection of ksail.yaml")
    parser.add_argument("--context", help="kubeconfig context (default: ksail.yaml's, else the current one)")
    parser.add_argument(
        "--namespace", default=None, help="where the Environments live (default: spec.environments.namespace)"
    )


def add_lifecycle_commands(commands: argparse._SubParsersAction) -> None:
    create = add_command(
        commands, "create", create_environment, "create an Environment for a branch and commit"
    )
    create.add_argument("name", metavar="NAME")
    create.add_argument("--project", default=None, help="default: spec.environments.project of ksail.yaml")
    create.add_argument("--branch", default=None, help="default: the branch checked out here")
    create.add_argument("--commit", default=None, help="default: the commit checked out here")
    create.add_argument(
        "--ttl",
        default=None,
        help="delete it this long after creation, e.g. 2h (default: spec.environments.ttl)",
    )
    list_ = add_command(commands, "list", list_environments, "list the Environments with their phase and URL")
    status = add_command(
        commands, "status", show_status, "an Environment's steps (exit 0 Ready, 1 Failed, 3 in progress)"
    )
    status.add_argument("name", metavar="NAME", nargs="?", help="default: all of them")
    wait = add_command(
        commands, "wait", wait_environment, "wait until Ready, printing each step; fails on Failed"
    )
    wait.add_argument("name", metavar="NAME")
    add_timeout(wait, "5m", "give up after this long (exit 3)")
    reconcile = add_command(
        commands,
        "reconcile",
        reconcile_environment,
        "have the operator and Flux reconcile an Environment now",
    )
    reconcile.add_argument("name", metavar="NAME")
    delete = add_command(commands, "delete", delete_environment, "delete an Environment and its namespace")
    delete.add_argument("name", metavar="NAME")
    delete.add_argument("--wait", action="store_true", help="until the namespace is gone")
    delete.add_argument("--yes", action="store_true", help="do not ask first")
    add_timeout(delete, "2m", "with --wait, give up after this long (exit 3)")
    for parser in (create, list_, status, wait, reconcile, delete):
        _connection_flags(parser)


def environments(args: argparse.Namespace) -> Environments:
    from ksail_tui.kube.client import KubeClient
    from ksail_tui.operator.environments import Environments

    namespace = "default"
    kubeconfig = Path(args.kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config").expanduser()
    context = args.context
    if config_path(args).is_file():
        config = load_config(args)
        namespace = config.spec.environments.namespace
        if not args.kubeconfig:
            connection = config.spec.cluster.connection
            kubeconfig, context = Path(connection.kubeconfig).expanduser(), context or connection.context
    return Environments(KubeClient(kubeconfig, context), args.namespace or namespace)


def _age(view: EnvironmentView, now: datetime) -> str:
    from ksail_tui.humanize import age

    return age(view.created, now)


def _table(views: list[EnvironmentView]) -> str:
    now = datetime.now(UTC)
    rows = [("NAME", "PROJECT", "REVISION", "PHASE", "PROGRESS", "URL", "AGE")]
    rows += [
        (v.name, v.project, v.revision, v.phase, f"{v.done}/{v.total}", v.url or "-", _age(v, now))
        for v in views
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def _steps(view: EnvironmentView) -> str:
    now = datetime.now(UTC)
    lines = [f"{view.name}: {view.phase} ({view.done}/{view.total})" + (f" {view.url}" if view.url else "")]
    if view.message:
        lines.append(f"  {view.message}")
    for step in view.steps:
        took = step.duration(now)
        lines.append(
            f"  {step.state:<9} {step.name}"
            + (f" {took:.1f}s" if took is not None else "")
            + (f"  {step.message}" if step.message else "")
        )
    return "\n".join(lines)


def create_environment(args: argparse.Namespace) -> int:
    from ksail_tui.errors import InvalidInput
    from ksail_tui.operator.environments import git_revision

    envs = environments(args)
    project, ttl = args.project, args.ttl
    if config_path(args).is_file():
        defaults = load_config(args)
        project = project or defaults.spec.environments.project or defaults.name
        ttl = ttl or defaults.spec.environments.ttl
    if project is None:
        raise InvalidInput("which Project? no ksail.yaml here", hint="pass --project NAME")
    branch, commit = args.branch, args.commit
    if branch is None and commit is None:
        revision = git_revision(Path.cwd())
        branch, commit = revision.branch, revision.commit
    view = envs.create(args.name, project, branch=branch or "", commit=commit or "", ttl=ttl)
    emit(args, view.to_json(), f"created Environment {view.name} ({view.revision}) of Project {view.project}")
    return 0


def list_environments(args: argparse.Namespace) -> int:
    views = environments(args).views()
    emit(args, [v.to_json() for v in views], lambda: _table(views) if views else "no Environments")
    return 0


def show_status(args: argparse.Namespace) -> int:
    envs = environments(args)
    views = [envs.get(args.name)] if args.name else envs.views()
    emit(
        args,
        [v.to_json() for v in views] if not args.name else views[0].to_json(),
        lambda: "\n".join(_steps(v) for v in views) or "no Environments",
    )
    # The worst of them: a Failed one fails the command, one on its way makes it 3.
    codes = [v.exit_code for v in views]
    return 1 if 1 in codes else 3 if 3 in codes else 0


def wait_environment(args: argparse.Namespace) -> int:
    view = environments(args).wait(
        args.name,
        args.timeout,
        on_step=lambda step: progress(
            args, f"{step.state:<9} {step.name}" + (f"  {step.message}" if step.message else "")
        ),
    )
    emit(args, view.to_json(), f"Environment {view.name} is Ready" + (f" at {view.url}" if view.url else ""))
    return 0


def reconcile_environment(args: argparse.Namespace) -> int:
    touched = environments(args).reconcile(args.name)
    emit(args, {"requested": touched}, "requested a reconciliation of " + ", ".join(touched))
    return 0


def delete_environment(args: argparse.Namespace) -> int:
    envs = environments(args)
    envs.get(args.name)  # a missing one is bad input before anything is asked
    if not args.yes:
        confirm_deletion(f"Environment {args.name} and its namespace")
    view = envs.delete(
        args.name, wait=args.wait, timeout=args.timeout, on_progress=lambda m: progress(args, m)
    )
    gone = f" and namespace {view.target_namespace}" if args.wait and view.target_namespace else ""
    emit(
        args,
        {"deleted": view.name, "namespace": view.target_namespace or None, "waited": args.wait},
        f"deleted Environment {view.name}{gone}",
    )
    return 0
