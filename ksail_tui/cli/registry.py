"""Commands not implemented yet: see issue 4."""

from __future__ import annotations

import argparse

from ksail_tui.cli.common import add_command, add_group, not_implemented


def register(subparsers: argparse._SubParsersAction) -> None:
    commands = add_group(subparsers, "registry", "registry commands (issue 4)")
    add_command(commands, "up", not_implemented(4), "up (issue 4)")
    add_command(commands, "down", not_implemented(4), "down (issue 4)")
    add_command(commands, "status", not_implemented(4), "status (issue 4)")
    add_command(commands, "rm", not_implemented(4), "rm (issue 4)")
