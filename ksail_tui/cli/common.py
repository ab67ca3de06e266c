"""Flags, output and config loading shared by every command."""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from ksail_tui.config import ClusterConfig

Handler = Callable[[argparse.Namespace], int]

DEFAULT_CONFIG_NAME = "ksail.yaml"


class UsageError(Exception):
    """argparse refused the command line; ``main`` reports it as text or as JSON."""

    def __init__(self, parser: argparse.ArgumentParser, message: str, hint: str | None) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message
        self.hint = hint


class Parser(argparse.ArgumentParser):
    """Raises ``UsageError`` instead of printing, so ``-o json`` gets its errors as JSON too.

    Subparsers are made of the parent's class, so every command's parser is one of these.
    """

    def error(self, message: str) -> NoReturn:
        raise UsageError(self, message, hint=_did_you_mean(message) or f"see {self.prog} --help")


def _did_you_mean(message: str) -> str | None:
    """For argparse's "invalid choice: 'x' (choose from 'a', 'b')", the closest choice."""
    import difflib
    import re

    found = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if found is None:
        return None
    choices = re.findall(r"'([^']*)'", found.group(2))
    close = difflib.get_close_matches(found.group(1), choices, n=1)
    return f"did you mean {close[0]!r}?" if close else None


def report_error(message: str, hint: str | None, exit_code: int, *, as_json: bool) -> int:
    """An error as ``{"error", "hint", "exit"}`` on stdout with ``-o json``, else on stderr."""
    if as_json:
        json.dump({"error": message, "hint": hint, "exit": exit_code}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        sys.stdout.flush()
    else:
        print(f"error: {message}" + (f"\n  hint: {hint}" if hint else ""), file=sys.stderr)
    return exit_code


def common_options() -> argparse.ArgumentParser:
    """Flags accepted both before and after the subcommand (``-o json`` anywhere)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "-c",
        "--config",
        default=argparse.SUPPRESS,
        help=f"path to ksail.yaml (default: $KSAIL_CONFIG or ./{DEFAULT_CONFIG_NAME})",
    )
    parent.add_argument(
        "-o",
        "--output",
        choices=["text", "json"],
        default=argparse.SUPPRESS,
        help="output format (default: text)",
    )
    return parent


def add_command(
    subparsers: argparse._SubParsersAction,
    name: str,
    handler: Handler,
    help_text: str,
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(name, help=help_text, description=help_text, parents=[common_options()])
    parser.set_defaults(func=handler)
    return parser


def add_group(
    subparsers: argparse._SubParsersAction, name: str, help_text: str
) -> argparse._SubParsersAction:
    """A command group such as ``workload``; alone it prints its usage and exits 2."""
    parser = subparsers.add_parser(name, help=help_text, description=help_text, parents=[common_options()])

    def usage(_: argparse.Namespace) -> int:
        raise UsageError(parser, "a subcommand is required", f"see {parser.prog} --help")

    parser.set_defaults(func=usage)
    return parser.add_subparsers(dest=f"{name}_command", metavar="SUBCOMMAND")


def duration(text: str) -> float:
    """An argparse type: seconds of a duration such as ``30s``, ``2m`` or ``1m30s``."""
    from ksail_tui.config import parse_duration

    try:
        seconds = parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than zero")
    return seconds


def wait_for_ctrl_c() -> None:
    """Block the main thread until a signal handler raises (KeyboardInterrupt on Ctrl-C).

    The OS hands SIGINT to any thread of the process; when a worker thread takes it, a main
    thread blocked on a lock (``Event().wait()``) never wakes to run Python's handler and Ctrl-C
    does nothing. Python writes every signal to the wakeup fd, whichever thread took it, so
    waiting on that fd always returns to the interpreter, which then raises.
    """
    import socket  # only here: most commands never wait for a signal

    reader, writer = socket.socketpair()
    writer.setblocking(False)
    previous = signal.set_wakeup_fd(writer.fileno())
    try:
        while True:
            select.select([reader], [], [])
            reader.recv(64)  # drained; the handler runs as soon as this frame executes again
    finally:
        signal.set_wakeup_fd(previous)
        reader.close()
        writer.close()


def confirm_deletion(what: str) -> None:
    """Ask on the terminal before deleting ``what``; without a terminal, refuse (use --yes)."""
    from ksail_tui.errors import InvalidInput, OperationFailed

    if not sys.stdin.isatty():
        raise InvalidInput(
            f"refusing to delete {what} without confirmation", hint="pass --yes to delete without asking"
        )
    print(f"Delete {what}? [y/N] ", end="", file=sys.stderr, flush=True)
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise OperationFailed("not confirmed: nothing was deleted")


def add_timeout(parser: argparse.ArgumentParser, default: str, what: str) -> None:
    parser.add_argument("--timeout", type=duration, default=default, help=f"{what} (default: {default})")


def within_registry_timeout(handler: Handler) -> Handler:
    """Run a command with its ``--timeout`` as the one deadline of every registry request it makes."""

    def bounded(args: argparse.Namespace) -> int:
        from ksail_tui.oci.registry_client import registry_deadline

        with registry_deadline(args.timeout):
            return handler(args)

    return bounded


def config_path(args: argparse.Namespace) -> Path:
    explicit = getattr(args, "config", None) or os.environ.get("KSAIL_CONFIG")
    return Path(explicit or DEFAULT_CONFIG_NAME).expanduser()


def load_config(args: argparse.Namespace) -> ClusterConfig:
    from ksail_tui.config import load_config as load

    return load(config_path(args))


def wants_json(args: argparse.Namespace) -> bool:
    return getattr(args, "output", "text") == "json"


def argv_wants_json(argv: list[str]) -> bool:
    """``-o json`` anywhere on a command line argparse may have refused."""
    for index, word in enumerate(argv):
        if word in ("-o", "--output") and argv[index + 1 : index + 2] == ["json"]:
            return True
        if word in ("-ojson", "--output=json"):
            return True
    return False


def emit(args: argparse.Namespace, data: Any, text: str | Callable[[], str]) -> None:
    """Print ``data`` as JSON with ``-o json``, else the human text."""
    if wants_json(args):
        json.dump(data, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        sys.stdout.write((text() if callable(text) else text).rstrip("\n") + "\n")
    sys.stdout.flush()


def progress(args: argparse.Namespace, message: str) -> None:
    """Progress goes to stderr so that stdout stays machine-readable."""
    if not wants_json(args):
        print(message, file=sys.stderr, flush=True)
