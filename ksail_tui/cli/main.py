"""Entry point of the ``ksail-tui`` command."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from ksail_tui import __version__
from ksail_tui.cli.common import Parser, UsageError, argv_wants_json, common_options, report_error, wants_json
from ksail_tui.errors import KsailError

# Command groups, each a module of ksail_tui.cli with register(subparsers).
COMMAND_MODULES = (
    "init",
    "workload",
    "registry",
    "flux",
    "cluster",
    "demo",
    "sim",
    "dashboard",
    "operator",
    "env",
    "project",
)


# The options of common_options() that take a value, which is not a command.
_VALUED_OPTIONS = ("-c", "--config", "-o", "--output")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; given the arguments, only of the command group they name (when they name one):
    building the other groups' parsers and importing their modules would cost more than the
    command's own work."""
    named = _command_group(argv)
    parser = Parser(
        prog="ksail-tui",
        description="Dashboard and CLI for the local Flux + OCI GitOps loop. "
        "Without a command it opens the dashboard.",
        parents=[common_options()],
        epilog="exit codes: 0 ok, 1 operation or reconciliation failed, 2 bad input or usage, "
        "3 timed out, 4 cluster, registry or Flux unavailable",
    )
    parser.add_argument("--version", action="version", version=f"ksail-tui {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in (named,) if named else COMMAND_MODULES:
        importlib.import_module(f"ksail_tui.cli.{name}").register(subparsers)
    return parser


def _command_group(argv: list[str] | None) -> str | None:
    tokens = iter(argv or ())
    for token in tokens:
        if token in _VALUED_OPTIONS:
            next(tokens, None)
        elif not token.startswith("-"):
            return token if token in COMMAND_MODULES else None
    return None


def main(argv: list[str] | None = None) -> int:
    words = argv if argv is not None else sys.argv[1:]
    parser = build_parser(words)
    try:
        args = parser.parse_args(words)
        if args.command is None:
            args = parser.parse_args([*words, "dashboard"])
    except SystemExit as done:  # --help or --version
        return done.code if isinstance(done.code, int) else 2
    except UsageError as error:
        if not argv_wants_json(words):
            error.parser.print_usage(sys.stderr)
        return report_error(error.message, error.hint, 2, as_json=argv_wants_json(words))
    as_json = wants_json(args)
    try:
        return int(args.func(args) or 0)
    except UsageError as error:  # a command group run without its subcommand
        return report_error(error.message, error.hint, 2, as_json=as_json)
    except KsailError as error:
        return report_error(error.message, error.hint, error.exit_code, as_json=as_json)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except Exception as error:  # a bug: say so plainly, keep the traceback behind a switch
        if os.environ.get("KSAIL_TUI_DEBUG"):
            raise
        return report_error(
            f"internal error: {type(error).__name__}: {error}",
            "rerun with KSAIL_TUI_DEBUG=1 for the traceback and report it",
            1,
            as_json=as_json,
        )


if __name__ == "__main__":
    raise SystemExit(main())
