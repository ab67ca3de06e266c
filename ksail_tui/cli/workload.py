"""``ksail-tui workload ...``: artifacts, Flux sources and the dev loop of each workload."""

from __future__ import annotations

import argparse

from ksail_tui.cli import workload_artifacts, workload_flux, workload_watch
from ksail_tui.cli.common import add_group


def register(subparsers: argparse._SubParsersAction) -> None:
    commands = add_group(subparsers, "workload", "build, push and reconcile workloads")
    workload_artifacts.register(commands)
    workload_flux.register(commands)
    workload_watch.register(commands)
