"""``workload watch``: the dev loop without the dashboard, until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import TYPE_CHECKING, TextIO

from ksail_tui.cli.common import add_command, duration, load_config, wait_for_ctrl_c, wants_json

if TYPE_CHECKING:
    from ksail_tui.devloop import LoopState

# The exit code of a command ended by SIGINT, as shells report it.
INTERRUPTED_EXIT_CODE = 130


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "watch",
        run_watch,
        "push a new dev version on every save and reconcile it, until Ctrl-C",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="workloads to watch (default: all)")
    parser.add_argument(
        "--debounce",
        type=duration,
        default="300ms",
        help="how long the folder must be quiet before a build, e.g. 300ms or 1s (default: 300ms)",
    )
    parser.add_argument(
        "--keep", type=int, default=5, help="dev versions to keep in the registry, at least 1 (default: 5)"
    )


def run_watch(args: argparse.Namespace) -> int:
    from ksail_tui.devloop import DevLoop

    debounce = args.debounce
    config = load_config(args)
    printer = StatePrinter(as_json=wants_json(args))
    loop = DevLoop(config, args.names or None, on_state=printer, debounce=debounce, keep=args.keep)
    loop.start()
    if not printer.as_json:
        for name in loop.workloads:
            source = config.source_path(config.workload(name))
            print(f"watching {name}: {source}", file=sys.stderr)
        print(
            f"debounce {debounce * 1000:g}ms, keeping {args.keep} dev versions; Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
    try:
        wait_for_ctrl_c()  # the loop's threads do the work
    except KeyboardInterrupt:
        loop.stop()
        versions = ", ".join(
            f"{name} at {state.dev_version or 'none'}" for name, state in loop.states.items()
        )
        print(f"stopped watching ({versions})", file=sys.stderr)
    return INTERRUPTED_EXIT_CODE


class StatePrinter:
    """Prints what changed between two states of a workload: results on stdout, progress on stderr."""

    def __init__(self, *, as_json: bool, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.as_json = as_json
        self._out = out or sys.stdout
        self._err = err or sys.stderr
        self._previous: dict[str, LoopState] = {}
        self._lock = threading.Lock()  # workloads report from their own threads

    def __call__(self, state: LoopState) -> None:
        with self._lock:
            previous = self._previous.get(state.workload)
            self._previous[state.workload] = state
            if self.as_json:
                self._write(self._out, json.dumps(state.to_json()))
                return
            for to_stdout, line in describe(previous, state):
                self._write(self._out if to_stdout else self._err, line)

    @staticmethod
    def _write(stream: TextIO, line: str) -> None:
        stream.write(line + "\n")
        stream.flush()


def describe(previous: LoopState | None, state: LoopState) -> list[tuple[bool, str]]:
    """Lines for what is new in ``state``: (to stdout?, text)."""
    from ksail_tui.devloop import Phase

    name = state.workload
    lines: list[tuple[bool, str]] = []
    phase_changed = previous is None or (previous.phase, previous.message) != (state.phase, state.message)
    if state.warning and (previous is None or previous.warning != state.warning):
        lines.append((False, f"{name}: warning: {state.warning}"))
    if phase_changed:
        if state.phase is Phase.IDLE and state.last_result and state.message == state.last_result.message:
            result = state.last_result
            timings = [f"save→ready {result.save_to_ready:.2f}s"] if result.save_to_ready is not None else []
            if result.save_to_pushed is not None:
                timings.insert(0, f"save→pushed {result.save_to_pushed:.2f}s")
            text = f"✔ {name} {result.version}: {result.message}"
            text += f" ({', '.join(timings)})" if timings else ""
            lines.append((True, text))
            if result.pruned:
                lines.append((False, f"{name}: pruned {', '.join(result.pruned)}"))
        elif state.phase is Phase.ERROR and state.last_error is not None:
            lines.append((True, f"✗ {name}: {state.last_error}"))
            if state.last_error.hint:
                lines.append((False, f"  hint: {state.last_error.hint}"))
        elif state.message:
            lines.append((False, f"{name}: {state.message}"))
    if state.retry_in is not None and (previous is None or previous.retry_in != state.retry_in):
        lines.append((False, f"{name}: retrying in {state.retry_in:g}s"))
    return lines
