"""Commands not implemented yet: see issue 5."""

from __future__ import annotations

import argparse

from ksail_tui.cli.common import add_command, add_group, not_implemented


def register(subparsers: argparse._SubParsersAction) -> None:
    commands = add_group(subparsers, "flux", "flux commands (issue 5)")
    add_command(commands, "install", not_implemented(5), "install (issue 5)")
    add_command(commands, "status", not_implemented(5), "status (issue 5)")
