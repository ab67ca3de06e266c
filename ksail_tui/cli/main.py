"""Entry point of the ``ksail-tui`` command."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from ksail_tui import __version__
from ksail_tui.cli.common import common_options
from ksail_tui.errors import KsailError

# Command groups, each a module of ksail_tui.cli with register(subparsers).
COMMAND_MODULES = ("init", "workload", "registry", "flux", "cluster", "demo", "sim", "dashboard", "operator")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ksail-tui",
        description="Dashboard and CLI for the local Flux + OCI GitOps loop. "
        "Without a command it opens the dashboard.",
        parents=[common_options()],
        epilog="exit codes: 0 ok, 1 operation or reconciliation failed, 2 bad input or usage, "
        "3 timed out, 4 cluster, registry or Flux unavailable",
    )
    parser.add_argument("--version", action="version", version=f"ksail-tui {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"ksail_tui.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            args = parser.parse_args([*(argv if argv is not None else sys.argv[1:]), "dashboard"])
    except SystemExit as done:  # --help, --version, or a usage error argparse has printed (exit 2)
        return done.code if isinstance(done.code, int) else 2
    try:
        return int(args.func(args) or 0)
    except KsailError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except Exception as error:  # a bug: say so plainly, keep the traceback behind a switch
        if os.environ.get("KSAIL_TUI_DEBUG"):
            raise
        print(
            f"internal error: {type(error).__name__}: {error}\n"
            "  hint: rerun with KSAIL_TUI_DEBUG=1 for the traceback and report it",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
