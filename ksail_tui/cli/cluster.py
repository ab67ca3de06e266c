"""Commands not implemented yet: see issue 8."""

from __future__ import annotations

import argparse

from ksail_tui.cli.common import add_command, add_group, not_implemented


def register(subparsers: argparse._SubParsersAction) -> None:
    commands = add_group(subparsers, "cluster", "cluster commands (issue 8)")
    add_command(commands, "create", not_implemented(8), "create (issue 8)")
    add_command(commands, "delete", not_implemented(8), "delete (issue 8)")
    add_command(commands, "status", not_implemented(8), "status (issue 8)")
