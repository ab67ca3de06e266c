"""Commands not implemented yet: see issue 6."""

from __future__ import annotations

import argparse

from ksail_tui.cli.common import add_command, not_implemented


def register(subparsers: argparse._SubParsersAction) -> None:
    add_command(subparsers, "dashboard", not_implemented(6), "dashboard (issue 6)")
