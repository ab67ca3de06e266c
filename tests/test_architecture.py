"""The core (outside ksail_tui/ui/) never imports Textual; the emulator never imports a front end."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ksail_tui"
UI = PACKAGE / "ui"
EMULATOR = PACKAGE.parent / "ksail_sim"


def core_modules() -> list[Path]:
    return [path for path in PACKAGE.rglob("*.py") if UI not in path.parents]


def imported_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_core_module_names_textual_or_the_ui_package() -> None:
    offenders = {
        str(path.relative_to(PACKAGE.parent)): sorted(
            name
            for name in imported_names(path)
            if name.split(".")[0] == "textual" or name.startswith("ksail_tui.ui")
        )
        for path in core_modules()
    }
    # The CLI's dashboard and demo commands start the UI, lazily, inside their handlers only.
    allowed = {"ksail_tui/cli/dashboard.py", "ksail_tui/cli/demo.py"}
    assert {path: names for path, names in offenders.items() if names and path not in allowed} == {}


def test_the_emulator_is_a_separate_system() -> None:
    """ksail_sim stands in for a cluster: were it to use what it tests, the tests would test themselves."""
    front_ends = ("ksail_tui.ui", "ksail_tui.cli", "ksail_tui.operator", "ksail_tui.demo", "ksail_tui.live")
    offenders = {
        str(path.relative_to(EMULATOR.parent)): sorted(
            name
            for name in imported_names(path)
            if name.split(".")[0] == "textual" or name.startswith(front_ends)
        )
        for path in EMULATOR.rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_importing_every_core_module_loads_no_textual() -> None:
    modules = sorted(
        ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        for path in core_modules()
        if path.name != "__main__.py"
    )
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_cli_entry_point_stays_light() -> None:
    """Fast commands must not pay for Textual, the kubernetes client or the Docker SDK at start-up."""
    code = (
        "import sys\n"
        "from ksail_tui.cli.main import build_parser\n"
        "build_parser()\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'textual', 'kubernetes', 'docker'}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
