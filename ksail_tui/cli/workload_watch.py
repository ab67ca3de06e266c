"""Commands not implemented yet: see issue 7."""

from __future__ import annotations

import argparse

from ksail_tui.cli.common import add_command, not_implemented


def register(subparsers: argparse._SubParsersAction) -> None:
    add_command(subparsers, "watch", not_implemented(7), "watch (issue 7)")
