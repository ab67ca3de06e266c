"""``ksail-tui flux install|status``."""

from __future__ import annotations

import argparse

from ksail_tui.cli.common import add_command, add_group, duration, emit, load_config, progress


def register(subparsers: argparse._SubParsersAction) -> None:
    commands = add_group(subparsers, "flux", "install Flux or show whether it is installed")
    install = add_command(commands, "install", run_install, "install Flux's source- and kustomize-controller")
    install.add_argument("--manifests", metavar="FILE|URL", help="Flux install manifests (offline installs)")
    install.add_argument(
        "--timeout", type=duration, default="5m", help="deadline of the whole install (default 5m)"
    )
    add_command(commands, "status", run_status, "show Flux's CRDs, controllers and version")


def run_install(args: argparse.Namespace) -> int:
    from ksail_tui.deadline import Deadline
    from ksail_tui.errors import InvalidInput
    from ksail_tui.flux.install import install
    from ksail_tui.flux.service import open_kube

    config = load_config(args)
    if not config.flux_enabled:
        raise InvalidInput(
            "spec.cluster.gitOpsEngine is not Flux, so Flux is not installed",
            hint="set gitOpsEngine: Flux in ksail.yaml",
        )
    result = install(
        open_kube(config, deadline=Deadline.after(args.timeout)),
        manifests=args.manifests,
        timeout=args.timeout,
        on_progress=lambda message: progress(args, message),
    )
    emit(args, result.model_dump(mode="json"), result.summary)
    return 0


def run_status(args: argparse.Namespace) -> int:
    from ksail_tui.deadline import Deadline
    from ksail_tui.flux.install import detect
    from ksail_tui.flux.service import open_kube

    config = load_config(args)
    result = detect(
        open_kube(config, deadline=Deadline.after(config.spec.cluster.connection.timeout_seconds))
    )

    def text() -> str:
        lines = [result.summary]
        lines += [f"  CRD {name}: {'present' if ok else 'missing'}" for name, ok in result.crds.items()]
        lines += [
            f"  Deployment {name}: {'available' if ok else 'not available'}"
            for name, ok in result.controllers.items()
        ]
        return "\n".join(lines)

    emit(args, result.model_dump(mode="json"), text)
    return 0 if result.installed else 4
