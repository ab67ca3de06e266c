"""The embedded demo: in-process, and the real `ksail-tui demo` in tmux with a keypress."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from ksail_tui.demo import start_demo
from ksail_tui.flux.service import FluxService, open_kube
from ksail_tui.flux.status import Health
from ksail_tui.kube.client import NODES

# A tmux server of this test run's own: another run, or the user's tmux, ending its last session
# would otherwise take the shared default server down under a new-session of ours.
TMUX = ("tmux", "-L", f"ksail-tui-tests-{os.getpid()}")


@pytest.mark.needs_registry
def test_demo_settles_with_one_ready_and_one_failing_workload() -> None:
    env = start_demo(registry_backend="process")
    workdir = env.workdir
    try:
        assert env.simulated
        statuses = {s.name: s for s in FluxService.open(env.config).statuses(check_registry=True)}
        assert statuses["app"].health is Health.READY and statuses["app"].current
        assert statuses["broken"].health is Health.FAILING
        assert "no matches for kind" in statuses["broken"].summary
        (node,) = open_kube(env.config).list(NODES)["items"]
        assert node["metadata"]["labels"]["ksail.io/simulated"] == "true"
    finally:
        env.stop()
    assert not workdir.exists()  # nothing left behind


@pytest.mark.needs_registry
@pytest.mark.needs_docker  # cluster status lists the Kind and K3d clusters in Docker
def test_cluster_status_against_the_demo_says_simulated(capsys: pytest.CaptureFixture[str]) -> None:
    from ksail_tui.cli.main import main

    env = start_demo(registry_backend="process")
    try:
        assert main(["-c", str(env.config.path), "cluster", "status"]) == 0
        assert "the configured cluster demo is simulated by the ksail-tui demo" in capsys.readouterr().out
    finally:
        env.stop()


@pytest.mark.needs_registry
def test_the_headless_demo_says_its_folder_is_deleted_on_quit_unless_workdir(tmp_path: Path) -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "ksail_tui", "demo", "--headless", "--registry-backend", "process"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert demo.stdout is not None and demo.stderr is not None
        config = Path(demo.stdout.readline().strip())  # printed once the demo runs
        demo.send_signal(signal.SIGINT)
        _, err = demo.communicate(timeout=60)
    finally:
        demo.kill()
    assert f"are in {config.parent} and are deleted on quit" in err
    assert "ksail-tui demo --workdir DIR" in err


def _pane(session: str) -> str:
    return subprocess.run(
        [*TMUX, "capture-pane", "-p", "-t", session], capture_output=True, text=True, check=True
    ).stdout


def _wait_for(session: str, text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _pane(session)
        if text in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared on the screen:\n{screen}")


def _wait_for_match(session: str, pattern: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _pane(session)
        if re.search(pattern, screen):
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{pattern!r} never matched the screen:\n{screen}")


def start_demo_session(home: Path) -> str:
    """`ksail-tui demo` in a new 160x48 tmux session; returns the session's name."""
    session = f"ksail-demo-{uuid.uuid4().hex[:8]}"
    binary = Path(sys.executable).with_name("ksail-tui")
    command = f"{binary if binary.exists() else shutil.which('ksail-tui')} demo --registry-backend process"
    env = os.environ | {"TERM": "xterm-256color", "HOME": str(home)}
    # The pane stays after the program exits, so its exit status or a start-up error can be read.
    subprocess.run([*TMUX, "new-session", "-d", "-s", session, "-x", "160", "-y", "48"], check=True, env=env)
    subprocess.run([*TMUX, "set-option", "-t", session, "remain-on-exit", "on"], check=True)
    shown = f"{command}; echo ksail-tui exited with $?"
    subprocess.run([*TMUX, "respawn-pane", "-k", "-t", session, shown], check=True, env=env)
    return session


def quit_demo(session: str) -> None:
    """q, and y to the question: the demo's folder is deleted on quit."""
    subprocess.run([*TMUX, "send-keys", "-t", session, "q"], check=True)
    _wait_for(session, "deleted on quit", timeout=10)
    subprocess.run([*TMUX, "send-keys", "-t", session, "y"], check=True)


@pytest.mark.needs_tmux
@pytest.mark.needs_registry
def test_ksail_tui_demo_in_tmux_reconciles_on_r(tmp_path: Path) -> None:
    session = start_demo_session(tmp_path)
    try:
        _wait_for(session, "ReconciliationSucceeded", timeout=60)
        screen = _wait_for(session, "Failing", timeout=10)  # the broken workload, as the watches fill in
        assert "SIMULATED" in screen
        # The demo's Environments have Flux objects of their own: keep to the workloads' rows.
        for keys in (["/"], ["-l", "flux-system"], ["Enter"]):
            subprocess.run([*TMUX, "send-keys", "-t", session, *keys], check=True)
            time.sleep(0.3)
        subprocess.run([*TMUX, "send-keys", "-t", session, "r"], check=True)
        # The notification's title, then its text; one capture can catch the toast half drawn.
        _wait_for_match(session, r"reconciled[\s\S]*app applied 0\.1\.0@sha256:", timeout=30)
        quit_demo(session)
        screen = _wait_for(session, "ksail-tui exited with", timeout=20)
        assert "ksail-tui exited with 0" in screen, screen
    finally:
        subprocess.run([*TMUX, "kill-session", "-t", session], capture_output=True)


def _processes_of(workdir: Path) -> list[str]:
    """Command lines that name ``workdir``: the demo itself (--workdir) and its registry."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(workdir) in text:
            found.append(text)
    return found


@pytest.mark.needs_tmux
@pytest.mark.needs_registry
def test_closing_the_terminal_ends_the_demo_and_its_registry(tmp_path: Path) -> None:
    session = f"ksail-demo-{uuid.uuid4().hex[:8]}"
    workdir = tmp_path / "demo"
    binary = Path(sys.executable).with_name("ksail-tui")
    command = f"{binary} demo --registry-backend process --workdir {workdir}"
    env = os.environ | {"TERM": "xterm-256color", "HOME": str(tmp_path)}
    subprocess.run(
        [*TMUX, "new-session", "-d", "-s", session, "-x", "120", "-y", "40", command], check=True, env=env
    )
    try:
        _wait_for(session, "SIMULATED", timeout=60)
        assert any("registry" in line for line in _processes_of(workdir))
    finally:
        subprocess.run([*TMUX, "kill-session", "-t", session], capture_output=True)  # the terminal goes: HUP
    deadline = time.monotonic() + 20
    while _processes_of(workdir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _processes_of(workdir)
    assert (workdir / "ksail.yaml").is_file()  # a --workdir is the user's: kept


@pytest.mark.needs_tmux
@pytest.mark.needs_registry
def test_ksail_tui_demo_in_tmux_colon_ks_and_l(tmp_path: Path) -> None:
    session = start_demo_session(tmp_path)
    try:
        # The simulated helm-controller serves the demo's HelmRelease beside the OCI loop.
        _wait_for(session, "InstallSucceeded", timeout=60)
        screen = _wait_for(session, "GitRepository", timeout=10)
        assert "HelmRelease" in screen and "OCIRepository" in screen
        subprocess.run([*TMUX, "send-keys", "-t", session, ":"], check=True)
        _wait_for(session, "ocirepo", timeout=10)  # the line's placeholder lists the aliases
        subprocess.run([*TMUX, "send-keys", "-t", session, "ks", "Enter"], check=True)
        screen = _wait_for(session, "/Kustomization", timeout=10)
        # The Flux pane is left of the Details pane, between its border lines.
        lines = screen.splitlines()
        top = next(n for n, line in enumerate(lines) if "[4] Flux" in line)
        bottom = next(n for n, line in enumerate(lines) if n > top and line.startswith("╰"))
        table = [line.split("││")[0] for line in lines[top + 2 : bottom]]
        rows = [row for row in table if row.strip("│ ") and "▊" not in row]  # not the filter line
        # The demo's Environments add Kustomizations of their own as they deploy (marked env:,
        # after the workloads'): count only the workloads', and that the table is filtered.
        assert re.search(r"\d+ of \d+ objects", screen), screen
        assert all("Kustomization" in row for row in rows), screen
        assert len([row for row in rows if "env:" not in row]) == 2, screen
        # l shows what the simulated kustomize-controller
        # logged about it (JSON lines, filtered by object), streamed.
        # An Environment's Kustomization (its own namespace) may sort first: j until broken's.
        for _ in range(4):
            subprocess.run([*TMUX, "send-keys", "-t", session, "j"], check=True)
            time.sleep(0.5)
            if "broken ✗ Failing" in _pane(session):
                break
        _wait_for(session, "broken ✗ Failing", timeout=10)  # the status line follows the cursor
        subprocess.run([*TMUX, "send-keys", "-t", session, "l"], check=True)
        screen = _wait_for(session, "controller logs of Kustomization/flux-system/broken", timeout=10)
        screen = _wait_for(session, "kustomize-controller error Reconciler error", timeout=20)
        assert "no matches for kind" in screen
        subprocess.run([*TMUX, "send-keys", "-t", session, "f"], check=True)
        _wait_for(session, "follow: off", timeout=10)
        subprocess.run([*TMUX, "send-keys", "-t", session, "Escape"], check=True)
        _wait_for_match(session, r"\d+ of \d+ objects", timeout=10)
        subprocess.run([*TMUX, "send-keys", "-t", session, "Escape"], check=True)  # the filter
        _wait_for_match(session, r"(?<!of )\b\d+ objects ", timeout=10)
        quit_demo(session)
    finally:
        subprocess.run([*TMUX, "kill-session", "-t", session], capture_output=True)
