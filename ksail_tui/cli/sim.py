"""Commands not implemented yet: see issue 2."""

from __future__ import annotations

import argparse

from ksail_tui.cli.common import add_command, add_group, not_implemented


def register(subparsers: argparse._SubParsersAction) -> None:
    commands = add_group(subparsers, "sim", "sim commands (issue 2)")
    add_command(commands, "apiserver", not_implemented(2), "apiserver (issue 2)")
