"""``ksail-tui env``: Environments of the operator, from this machine."""

from __future__ import annotations

import argparse

from ksail_tui.cli.common import add_group
from ksail_tui.cli.env_lifecycle import add_lifecycle_commands


def register(subparsers: argparse._SubParsersAction) -> None:
    commands = add_group(subparsers, "env", "Environments: previews of a Project, one namespace each")
    add_lifecycle_commands(commands)
