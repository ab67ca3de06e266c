"""One registry status for `registry status` and the dashboard, whichever way the registry runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ksail_tui.cli.main import main
from ksail_tui.config import load_config
from ksail_tui.demo import start_demo
from ksail_tui.ui.services import ClusterServices
from tests.fixtures.registry import RegistryProcess, write_ksail_config

pytestmark = pytest.mark.needs_registry


def _cli_status(config_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["-c", str(config_path), "registry", "status", "-o", "json", *extra])
    return code, json.loads(capsys.readouterr().out)


def test_a_registry_started_elsewhere_is_the_same_for_the_cli_and_the_dashboard(
    tmp_path: Path, registry_process: RegistryProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "app").mkdir()
    config_path = write_ksail_config(tmp_path, port=registry_process.port, workloads={"app": "app"})
    data_dir = str(tmp_path / "unused")

    code, shown = _cli_status(config_path, capsys, "--backend", "process", "--data-dir", data_dir)
    view = ClusterServices(
        load_config(config_path), registry_backend="process", registry_data_dir=Path(data_dir)
    ).registry()

    assert code == 0
    assert (shown["status"], shown["backend"]) == ("Running", "external")
    assert view.registry.model_dump(mode="json") == shown


def test_the_demos_process_registry_is_found_by_status_gc_and_the_dashboard(
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = start_demo(registry_backend="process", wait=False)
    try:
        assert env.config.path is not None
        code, shown = _cli_status(env.config.path, capsys)
        assert code == 0
        assert (shown["status"], shown["backend"]) == ("Running", "process")
        assert shown["volume"] == str(env.registry_data_dir)

        assert main(["-c", str(env.config.path), "registry", "gc"]) == 0
        assert "NotProvisioned" not in capsys.readouterr().out
        assert _cli_status(env.config.path, capsys)[1]["status"] == "Running"  # started again

        view = ClusterServices(env.config).registry()
        assert view.registry.model_dump(mode="json") == _cli_status(env.config.path, capsys)[1]
        assert [(info.workload, info.tags) for info in view.repositories] == [("app", 1), ("broken", 1)]
        assert view.disk_bytes
    finally:
        env.stop()
