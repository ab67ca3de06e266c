"""The command runner: argv without a shell, streamed output, clear failures and deadlines."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ksail_tui.cluster.commands import run_command
from ksail_tui.errors import OperationFailed, TimedOut, Unavailable

PYTHON = sys.executable


def test_output_is_returned_and_stdin_passed_without_a_shell() -> None:
    result = run_command([PYTHON, "-c", "import sys; print(sys.stdin.read().upper())"], stdin="$HOME; `id`")

    assert result.output == "$HOME; `ID`\n"


def test_streaming_forwards_stdout_and_stderr_lines_as_they_come() -> None:
    lines: list[str] = []
    script = (
        "import sys; print('one', flush=True); print('two', file=sys.stderr, flush=True); "
        "print(sys.stdin.read())"
    )

    result = run_command([PYTHON, "-c", script], stdin="three", on_output=lines.append)

    assert lines == ["one", "two", "three"]
    assert result.output == "one\ntwo\nthree\n"


def test_environment_is_added_to_the_callers() -> None:
    result = run_command(
        [PYTHON, "-c", "import os; print(os.environ['KUBECONFIG'], 'PATH' in os.environ)"],
        env={"KUBECONFIG": "/tmp/k"},
    )

    assert result.output == "/tmp/k True\n"


@pytest.mark.parametrize("streaming", [False, True])
def test_a_failure_quotes_the_tail_of_the_output(streaming: bool) -> None:
    script = "import sys\nfor i in range(20): print('line', i, file=sys.stderr)\nsys.exit(3)"

    with pytest.raises(OperationFailed) as raised:
        run_command([PYTHON, "-c", script], on_output=(lambda _: None) if streaming else None)

    message = raised.value.message
    assert "failed with exit code 3" in message
    assert message.endswith("line 14\nline 15\nline 16\nline 17\nline 18\nline 19")
    assert "line 13" not in message


@pytest.mark.parametrize("streaming", [False, True])
def test_a_command_past_its_deadline_is_killed(streaming: bool) -> None:
    with pytest.raises(TimedOut, match=r"did not finish within 0\.3s"):
        run_command(
            [PYTHON, "-c", "import time; time.sleep(30)"],
            on_output=(lambda _: None) if streaming else None,
            timeout=0.3,
        )


def test_a_missing_program_is_unavailable_with_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(Unavailable) as raised:
        run_command(["k3d", "cluster", "list"])

    assert raised.value.exit_code == 4
    assert raised.value.message == "`k3d` is not installed (not found on PATH)"
    assert raised.value.hint is not None and "https://k3d.io/#installation" in raised.value.hint


@pytest.mark.parametrize("streaming", [False, True])
def test_a_program_the_os_cannot_start_is_unavailable_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, streaming: bool
) -> None:
    broken = tmp_path / "kind"  # e.g. a download for another architecture: no valid header
    broken.write_bytes(b"\x7fELF\x02\x01\x01garbage")
    broken.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(Unavailable) as raised:
        run_command(["kind", "get", "clusters"], on_output=(lambda _: None) if streaming else None)

    assert raised.value.message == f"`kind` ({broken}) cannot be run: Exec format error"
    assert raised.value.hint is not None and "reinstall it for this machine" in raised.value.hint
    assert "https://kind.sigs.k8s.io" in raised.value.hint
