"""``ksail-tui init``: write a commented starter ksail.yaml."""

from __future__ import annotations

import argparse
from pathlib import Path

from ksail_tui.cli.common import add_command, config_path, emit
from ksail_tui.errors import InvalidInput


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "init", run_init, "write a commented starter ksail.yaml")
    parser.add_argument("--name", default="local", help="cluster name (default: local)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")


def run_init(args: argparse.Namespace) -> int:
    from ksail_tui.config import parse_config, starter_file

    path: Path = config_path(args)
    try:
        text = starter_file(args.name)
    except ValueError as error:
        raise InvalidInput(f"--name: {error}") from None
    if path.exists() and not args.force:
        raise InvalidInput(f"{path} already exists; nothing was written", hint="pass --force to overwrite it")
    parse_config(text, path=path)  # the starter file must always load
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    emit(args, {"path": str(path)}, f"wrote {path}")
    return 0
