"""The demo's Environments: in-process (the operator, its Project, one Ready, one failing build), and
`n` pressed in the real `ksail-tui demo` in tmux until the new preview's row is Ready."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from ksail_tui.demo import start_demo
from ksail_tui.flux.service import open_kube
from ksail_tui.operator.environments import Environments
from tests.fixtures.operator import wait_until
from tests.test_demo import TMUX, _wait_for, _wait_for_match, quit_demo, start_demo_session

ENV_ROW = re.compile(r"│ preview-main [^│\n]*")


@pytest.mark.needs_registry
def test_the_demo_runs_the_operator_with_one_ready_and_one_failing_build() -> None:
    env = start_demo(registry_backend="process")
    try:
        envs = Environments(open_kube(env.config))
        ready = wait_until(lambda: (v := envs.get("main")).phase == "Ready" and v, "main Ready", 60)
        assert ready.url.startswith("http://")
        failed = wait_until(lambda: (v := envs.get("broken-build")).phase == "Failed" and v, "Failed", 60)
        assert "Dockerfile" in failed.message, failed.message
        assert envs.projects() == ["demo"]
        assert envs.get("main").branch == "main" and len(envs.get("main").commit) == 40
    finally:
        env.stop()


@pytest.mark.needs_tmux
@pytest.mark.needs_registry
def test_n_in_the_demo_creates_a_preview_that_becomes_ready(tmp_path: Path) -> None:
    session = start_demo_session(tmp_path)
    try:
        _wait_for(session, "ReconciliationSucceeded", timeout=60)
        subprocess.run([*TMUX, "send-keys", "-t", session, "7"], check=True)
        _wait_for(session, "New preview", timeout=20)  # the pane's keys in the footer
        _wait_for(session, "broken-build", timeout=20)  # its row, as the watch lists it
        subprocess.run([*TMUX, "send-keys", "-t", session, "n"], check=True)
        _wait_for(session, "created preview-main", timeout=30)
        deadline_screen = ""
        for _ in range(100):
            deadline_screen = subprocess.run(
                [*TMUX, "capture-pane", "-p", "-t", session], capture_output=True, text=True, check=True
            ).stdout
            # The pane's row (not the Flux table's "env:preview-main" rows), within its border.
            row = next((m.group(0) for m in ENV_ROW.finditer(deadline_screen)), "")
            if "Ready" in row:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"preview-main never became Ready:\n{deadline_screen}")
        subprocess.run([*TMUX, "send-keys", "-t", session, "Escape"], check=True)
        # Back to the Flux table: the pane's keys leave the footer (and a q sent at once after
        # the Escape would read as alt+q).
        _wait_for_match(session, r"(?s)^(?!.*New preview)", timeout=10)
        quit_demo(session)
        screen = _wait_for(session, "ksail-tui exited with", timeout=20)
        assert "ksail-tui exited with 0" in screen, screen
    finally:
        subprocess.run([*TMUX, "kill-session", "-t", session], capture_output=True)
