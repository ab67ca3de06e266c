"""Commands not implemented yet: see issue 5."""

from __future__ import annotations

import argparse

from ksail_tui.cli.common import add_command, not_implemented


def register(subparsers: argparse._SubParsersAction) -> None:
    add_command(subparsers, "gen", not_implemented(5), "gen (issue 5)")
    add_command(subparsers, "apply", not_implemented(5), "apply (issue 5)")
    add_command(subparsers, "status", not_implemented(5), "status (issue 5)")
    add_command(subparsers, "reconcile", not_implemented(5), "reconcile (issue 5)")
    add_command(subparsers, "suspend", not_implemented(5), "suspend (issue 5)")
    add_command(subparsers, "resume", not_implemented(5), "resume (issue 5)")
