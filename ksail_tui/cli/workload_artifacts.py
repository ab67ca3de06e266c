"""Commands not implemented yet: see issue 3."""

from __future__ import annotations

import argparse

from ksail_tui.cli.common import add_command, not_implemented


def register(subparsers: argparse._SubParsersAction) -> None:
    add_command(subparsers, "build", not_implemented(3), "build (issue 3)")
    add_command(subparsers, "push", not_implemented(3), "push (issue 3)")
    add_command(subparsers, "list", not_implemented(3), "list (issue 3)")
    add_command(subparsers, "prune", not_implemented(3), "prune (issue 3)")
    add_command(subparsers, "diff", not_implemented(3), "diff (issue 3)")
