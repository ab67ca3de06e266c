"""Running the ``kind``, ``k3d`` and ``docker`` CLIs: argv lists, never a shell.

A missing program, or one the OS cannot start, is :class:`Unavailable` (exit 4) with an install
hint; a program that fails is :class:`OperationFailed` with the tail of its output; one that runs
past its deadline is :class:`TimedOut`. Long commands can stream their output, line by line, to a
progress callback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from ksail_tui.errors import OperationFailed, TimedOut, Unavailable

Progress = Callable[[str], None]

INSTALL_HINTS = {
    "kind": "install kind (https://kind.sigs.k8s.io/docs/user/quick-start/#installation), "
    "e.g. `go install sigs.k8s.io/kind@latest`, and make sure it is on PATH",
    "k3d": "install k3d (https://k3d.io/#installation), "
    "e.g. `curl -s https://raw.githubusercontent.com/k3d-io/k3d/main/install.sh | bash`",
    "docker": "install Docker (https://docs.docker.com/engine/install/) and make sure it is on PATH",
}
# Lines of a failed command's output quoted in the error.
ERROR_TAIL_LINES = 6


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    output: str  # stdout; with streaming, stdout and stderr interleaved


class CommandRunner(Protocol):
    """Runs one program to completion; raises instead of returning a failure."""

    def __call__(
        self,
        argv: Sequence[str],
        *,
        stdin: str | None = None,
        env: Mapping[str, str] | None = None,
        on_output: Progress | None = None,
        timeout: float | None = None,
    ) -> CommandResult: ...


def require_program(name: str) -> str:
    """The program's path on PATH, or :class:`Unavailable` saying how to install it."""
    path = shutil.which(name)
    if path is None:
        raise Unavailable(
            f"`{name}` is not installed (not found on PATH)",
            hint=INSTALL_HINTS.get(name, f"install {name} and make sure it is on PATH"),
        )
    return path


def _cannot_run(name: str, path: str, error: OSError) -> Unavailable:
    """A program on PATH that the OS refuses to start, e.g. a download for another architecture."""
    return Unavailable(
        f"`{name}` ({path}) cannot be run: {error.strerror or error}",
        hint=f"reinstall it for this machine; {INSTALL_HINTS.get(name, f'install {name}')}",
    )


def _shown(argv: Sequence[str]) -> str:
    return " ".join(argv[:3]) if len(argv) > 3 else " ".join(argv)


def _failure(argv: Sequence[str], returncode: int, output: str) -> OperationFailed:
    tail = "\n".join(output.strip().splitlines()[-ERROR_TAIL_LINES:]) or "(no output)"
    return OperationFailed(f"`{_shown(argv)}` failed with exit code {returncode}:\n{tail}")


def run_command(
    argv: Sequence[str],
    *,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    on_output: Progress | None = None,
    timeout: float | None = None,
) -> CommandResult:
    """The default :class:`CommandRunner`: a subprocess without a shell."""
    command = [require_program(argv[0]), *argv[1:]]
    environment = {**os.environ, **(env or {})}
    if on_output is None:
        try:
            completed = subprocess.run(
                command,
                input=stdin,
                stdin=None if stdin is not None else subprocess.DEVNULL,
                capture_output=True,
                text=True,
                env=environment,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise TimedOut(f"`{_shown(argv)}` did not finish within {timeout:g}s") from None
        except OSError as error:
            raise _cannot_run(argv[0], command[0], error) from None
        if completed.returncode != 0:
            raise _failure(argv, completed.returncode, completed.stderr or completed.stdout)
        return CommandResult(tuple(argv), 0, completed.stdout)
    return _run_streaming(argv, command, stdin, environment, on_output, timeout)


def _run_streaming(
    argv: Sequence[str],
    command: list[str],
    stdin: str | None,
    environment: dict[str, str],
    on_output: Progress,
    timeout: float | None,
) -> CommandResult:
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # kind and k3d report progress on stderr
            text=True,
            env=environment,
        )
    except OSError as error:
        raise _cannot_run(argv[0], command[0], error) from None
    timed_out = threading.Event()

    def kill_at_deadline() -> None:
        timed_out.set()
        process.kill()

    timer = threading.Timer(timeout, kill_at_deadline) if timeout is not None else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    lines: list[str] = []
    try:
        if stdin is not None and process.stdin is not None:
            # Small configs: written whole before reading, the programs read them before printing.
            try:
                process.stdin.write(stdin)
                process.stdin.close()
            except BrokenPipeError:
                pass  # it exited without reading: its output and exit code say why
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.strip():
                on_output(line.rstrip())
        returncode = process.wait()
    finally:
        if timer is not None:
            timer.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    if timed_out.is_set():
        raise TimedOut(f"`{_shown(argv)}` did not finish within {timeout:g}s")
    output = "".join(lines)
    if returncode != 0:
        raise _failure(argv, returncode, output)
    return CommandResult(tuple(argv), 0, output)
