"""Commands not implemented yet: see issue 2."""

from __future__ import annotations

import argparse

from ksail_tui.cli.common import add_command, not_implemented


def register(subparsers: argparse._SubParsersAction) -> None:
    add_command(subparsers, "init", not_implemented(2), "init (issue 2)")
