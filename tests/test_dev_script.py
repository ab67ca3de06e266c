"""``scripts/dev.sh demo`` on a fresh machine: what the demo needs is installed, and it says how to run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).parent.parent


def _script(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def test_dev_sh_demo_installs_the_registry_and_names_the_installed_command(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"  # a PATH without docker-registry, with apt-get and sudo recording calls
    bin_dir.mkdir()
    for tool in ("dirname", "cat", "id"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    calls = tmp_path / "calls"
    _script(bin_dir / "apt-get", f'echo "apt-get $*" >>{calls}\n')
    _script(bin_dir / "sudo", 'exec "$@"\n')
    venv = tmp_path / "venv"  # an installed venv: its stamp names this checkout, newer than pyproject
    (venv / "bin").mkdir(parents=True)
    _script(venv / "bin" / "python", "exit 0\n")
    _script(venv / "bin" / "ksail-tui", f'echo "ksail-tui $*" >>{calls}\n')
    (venv / ".ksail-tui-installed").write_text(f"{ROOT}\n")
    env = {"PATH": str(bin_dir), "KSAIL_TUI_VENV": str(venv), "HOME": str(tmp_path)}
    done = subprocess.run(
        [shutil.which("bash") or "/bin/bash", str(ROOT / "scripts" / "dev.sh"), "demo", "--headless"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    recorded = calls.read_text().splitlines()
    assert any(line.startswith("apt-get install") and "docker-registry" in line for line in recorded)
    assert "skopeo" not in calls.read_text()  # only what the demo needs
    assert recorded[-1] == "ksail-tui demo --headless"
    assert f"run {venv}/bin/ksail-tui, or `source {venv}/bin/activate` first" in done.stderr
