"""Start-up: a command imports what it uses, and `workload build` never loads the HTTP stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.fixtures.registry import free_port, write_ksail_config

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\n"


def modules_after(code: str) -> set[str]:
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))\n"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_workload_build_loads_no_http_stack(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "cm.yaml").write_text(CONFIGMAP)
    config = write_ksail_config(tmp_path, port=free_port(), workloads={"app": "app"})
    loaded = modules_after(
        "from ksail_tui.cli.main import main\n"
        f"assert main(['-c', {str(config)!r}, 'workload', 'build', '-O', {str(tmp_path / 'l.tgz')!r}]) == 0"
    )
    assert "ksail_tui.oci.build" in loaded
    assert not {name for name in loaded if name.split(".")[0] in ("requests", "urllib3", "http")}
    assert "ksail_tui.oci.registry_client" not in loaded
    assert "pathspec" not in loaded  # Flux's defaults are plain patterns: no glob engine
    # pydantic's plugin lookup (importlib.metadata, ~30 ms) is skipped: the product has no plugin.
    assert "importlib.metadata" not in loaded


def test_workload_list_loads_neither_requests_nor_the_build(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    config = write_ksail_config(tmp_path, port=free_port(), workloads={"app": "app"})
    loaded = modules_after(
        "from ksail_tui.cli.main import main\n"
        f"assert main(['-c', {str(config)!r}, 'workload', 'list', '--timeout', '5s']) != 0"
    )
    assert "ksail_tui.oci.registry_client" in loaded
    assert not {name for name in loaded if name.split(".")[0] in ("requests", "urllib3")}
    assert not {"ksail_tui.oci.build", "ksail_tui.oci.manifests", "pathspec"} & loaded


def test_a_command_builds_only_its_group_and_help_lists_them_all() -> None:
    loaded = modules_after(
        "from ksail_tui.cli.main import build_parser\nbuild_parser(['-c', 'x', 'workload'])"
    )
    assert "ksail_tui.cli.workload" in loaded
    assert not {"ksail_tui.cli.cluster", "ksail_tui.cli.operator", "ksail_tui.cli.sim"} & loaded
    result = subprocess.run(
        [sys.executable, "-m", "ksail_tui.cli.main", "--help"], capture_output=True, text=True, check=True
    )
    for group in ("workload", "registry", "flux", "cluster", "dashboard", "operator"):
        assert group in result.stdout
