"""``ksail-tui sim apiserver``: foreground run, kubeconfig, CRDs, errors without tracebacks."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

import ksail_sim.flux.crds
from ksail_tui.cli.main import main

CRDS = Path(ksail_sim.flux.crds.__file__).parent


def _ctrl_c_as_in_a_terminal() -> None:
    """SIGINT as a terminal leaves it, even when this run is a shell's background job (ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_runs_until_ctrl_c_with_kubeconfig_and_crds(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ksail_tui",
            "sim",
            "apiserver",
            "--kubeconfig",
            str(kubeconfig),
            "--crds",
            str(CRDS),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_ctrl_c_as_in_a_terminal,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        config = yaml.safe_load(kubeconfig.read_text())
        assert config["clusters"][0]["cluster"]["server"] == url
        assert config["current-context"] == "ksail-sim"
        with urllib.request.urlopen(f"{url}/apis/kustomize.toolkit.fluxcd.io/v1") as response:
            resources = [r["name"] for r in json.load(response)["resources"]]
        assert resources == ["kustomizations", "kustomizations/status"]
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
        assert process.returncode == 0, stderr
        assert "Traceback" not in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# Sends SIGINT to a thread other than the main one (the OS may pick any thread for a Ctrl-C)
# once the main thread blocks; a main thread asleep on a lock would never see it.
_INTERRUPT_FROM_ANOTHER_THREAD = """
import signal, sys, threading, time
from ksail_tui.cli.main import main

def waiting_caller(frame):
    while frame is not None and frame.f_code.co_name in ("wait", "wait_for_ctrl_c"):
        frame = frame.f_back
    return frame.f_code.co_name if frame is not None else None

def interrupt_once_blocked():
    main_thread = threading.main_thread().ident
    # Until run_apiserver itself waits for Ctrl-C (not, say, Thread.start waiting for a thread).
    while waiting_caller(sys._current_frames().get(main_thread)) != "run_apiserver":
        time.sleep(0.01)
    signal.pthread_kill(threading.get_ident(), signal.SIGINT)

threading.Thread(target=interrupt_once_blocked, daemon=True).start()
sys.exit(main(["sim", "apiserver", "--kubeconfig", sys.argv[1]]))
"""


def test_ctrl_c_taken_by_another_thread_still_stops_it(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", _INTERRUPT_FROM_ANOTHER_THREAD, str(tmp_path / "kubeconfig")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_ctrl_c_as_in_a_terminal,
    )
    try:
        _, stderr = process.communicate(timeout=20)
        assert process.returncode == 0, stderr
        assert "Traceback" not in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_port_in_use_is_an_unavailable_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["sim", "apiserver", "--kubeconfig", str(tmp_path / "kc"), "--port", str(port)])
    assert code == 4
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port}" in err
    assert "Traceback" not in err
    assert not (tmp_path / "kc").exists()


def test_crds_option_refuses_other_objects(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "cm.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    assert main(["sim", "apiserver", "--kubeconfig", str(tmp_path / "kc"), "--crds", str(manifest)]) == 2
    assert "ConfigMap is not a CustomResourceDefinition" in capsys.readouterr().err
    assert (
        main(["sim", "apiserver", "--kubeconfig", str(tmp_path / "kc"), "--crds", str(tmp_path / "no")]) == 2
    )
    assert "no such file or directory" in capsys.readouterr().err
