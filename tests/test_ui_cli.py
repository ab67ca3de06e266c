"""``ksail-tui`` / ``ksail-tui dashboard``: settings, bad input before the UI starts, and a real start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from ksail_sim.apiserver.server import ApiServer
from ksail_tui.cli.main import main
from ksail_tui.ui.app import KsailApp
from ksail_tui.ui.settings import DashboardSettings, load_settings


def test_settings_path_follows_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KSAIL_TUI_SETTINGS", str(tmp_path / "mine.yaml"))
    assert main(["dashboard", "--settings-path"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "mine.yaml")


def test_a_missing_config_fails_before_the_ui_starts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["-c", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: no such file" in capsys.readouterr().err


def test_an_unknown_binding_id_in_the_settings_names_the_file_and_the_ids(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "ksail.yaml"
    config.write_text("apiVersion: ksail.io/v1alpha1\nkind: Cluster\nmetadata: {name: t}\n")
    settings = tmp_path / "settings.yaml"
    settings.write_text("keymap: {reconcle: ctrl+r}\n")
    monkeypatch.setenv("KSAIL_TUI_SETTINGS", str(settings))
    assert main(["dashboard", "-c", str(config)]) == 2
    error = capsys.readouterr().err
    assert f"{settings}: keymap: unknown binding id reconcle" in error
    assert "reconcile-all" in error


@pytest.mark.parametrize(
    ("keymap", "both"),
    [
        ("{reconcile: ctrl+r}", "ctrl+r is bound to both reconcile and refresh"),
        ("{push: P}", "P is bound to both push and prune"),
        # Per screen: the Environments pane's own r collides only there.
        ("{env-new: r}", "r is bound to both env-new and env-reconcile"),
    ],
)
def test_a_keymap_binding_a_key_twice_is_refused_naming_both_ids(
    keymap: str,
    both: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    config = tmp_path / "ksail.yaml"
    config.write_text("apiVersion: ksail.io/v1alpha1\nkind: Cluster\nmetadata: {name: t}\n")
    settings = tmp_path / "settings.yaml"
    settings.write_text(f"keymap: {keymap}\n")
    monkeypatch.setenv("KSAIL_TUI_SETTINGS", str(settings))
    assert main(["dashboard", "-c", str(config)]) == 2
    assert both in capsys.readouterr().err


def test_the_same_key_on_two_screens_is_no_collision() -> None:
    # r reconciles a workload on the dashboard and an Environment in the Environments pane.
    assert DashboardSettings(keymap={"env-reconcile": "r", "reconcile": "r"}).keymap


def test_the_readme_keymap_example_is_a_valid_keymap() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    example = readme.split("```yaml\nkeymap:\n", 1)[1].split("```", 1)[0]
    keymap = dict(line.strip().split(": ", 1) for line in example.splitlines() if line.strip())
    assert DashboardSettings(keymap=keymap).keymap == keymap


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("- reconcile\n", "must be a mapping of setting: value"),
        ("keymap: [\n", "cannot read the dashboard settings"),
        ("prune_keep: 0\n", "prune_keep: Input should be greater than or equal to 1"),
    ],
)
def test_a_settings_file_that_is_not_settings_is_bad_input_naming_the_file(
    text: str, says: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "ksail.yaml"
    config.write_text("apiVersion: ksail.io/v1alpha1\nkind: Cluster\nmetadata: {name: t}\n")
    settings = tmp_path / "settings.yaml"
    settings.write_text(text)
    monkeypatch.setenv("KSAIL_TUI_SETTINGS", str(settings))
    assert main(["dashboard", "-c", str(config)]) == 2
    error = capsys.readouterr().err
    assert f"{settings}: " in error and says in error
    assert "Traceback" not in error


def test_the_settings_come_from_the_file_only_not_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text("prune_keep: 5\n")
    monkeypatch.setenv("PRUNE_KEEP", "9")
    assert load_settings(settings).prune_keep == 5
    assert load_settings(tmp_path / "missing.yaml") == DashboardSettings()


def test_ksail_tui_alone_opens_the_dashboard_on_the_config(
    apiserver: ApiServer, kubeconfig: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "ksail.yaml"
    connection = f"{{kubeconfig: {kubeconfig}, context: ksail-sim}}"
    config.write_text(
        "apiVersion: ksail.io/v1alpha1\nkind: Cluster\n"
        f"metadata: {{name: t}}\nspec: {{cluster: {{connection: {connection}}}}}\n"
    )
    monkeypatch.setenv("KSAIL_TUI_SETTINGS", str(tmp_path / "none.yaml"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    seen: dict[str, Any] = {}
    run = KsailApp.run

    async def look_then_quit(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, KsailApp)
        for _ in range(200):
            if app.dashboard.model.connection is not None:
                break
            await pilot.pause(0.02)
        seen["connected"] = (
            app.dashboard.model.connection.connected if app.dashboard.model.connection else None
        )
        seen["config"] = app.config_path
        await pilot.press("q")

    def headless(self: KsailApp, **kwargs: Any) -> Any:
        return run(self, headless=True, size=(120, 40), auto_pilot=look_then_quit)

    monkeypatch.setattr(KsailApp, "run", headless)
    assert main(["-c", str(config)]) == 0
    assert seen == {"connected": True, "config": config}
