"""The Flux table's columns fit the pane (issue 17, defect 2 left open at 120 columns): Ready,
Reason and Age stay in view, Name and Message are cut with …; an Environment's objects are
marked in the Name column and sort after the workloads' rows (issue 16)."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import DataTable

from ksail_tui.operator import naming
from tests.fixtures.ui import (
    Scene,
    failing_scene,
    kustomization,
    oci_repository,
    run,
    scene_app,
    settle,
)

pytestmark = pytest.mark.anyio


def environment_owned(obj: dict[str, Any], environment: str) -> dict[str, Any]:
    """``obj`` as the Environment operator makes it: in the Environment's namespace, with its labels."""
    obj["metadata"]["namespace"] = f"team-a-shop-{environment}"
    obj["metadata"]["labels"] = {
        naming.ENVIRONMENT_LABEL: environment,
        naming.MANAGED_BY_LABEL: naming.MANAGED_BY,
    }
    return obj


def with_environment(scene: Scene) -> Scene:
    # The Environment's namespace sorts before flux-system: the marker, not the name, puts it last.
    scene.objects += [
        environment_owned(oci_repository("app", "0.2.0", minutes=3), "a-long-preview-name"),
        environment_owned(kustomization("app", "0.2.0", minutes=2), "a-long-preview-name"),
    ]
    return scene


def screen_lines(table: DataTable[Any]) -> list[str]:
    """The table's lines as drawn (header first), at the pane's width."""
    return [table.render_line(y).text for y in range(table.scrollable_content_region.height)]


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_ready_reason_and_age_stay_in_view(size: tuple[int, int]) -> None:
    app = scene_app(with_environment(failing_scene()))
    async with run(app, size=size) as pilot:
        await settle(pilot)
        table = app.query_one("#flux-table", DataTable)
        await pilot.pause(0.1)
        assert table.virtual_size.width <= table.scrollable_content_region.width  # nothing scrolls off
        header, *rows = screen_lines(table)
        assert "Ready" in header and "Reason" in header and "Age" in header
        drawn = [line for line in rows if line.strip()]
        assert len(drawn) == table.row_count == 8
        at = {label: header.index(label) for label in ("Ready", "Reason", "Age")}
        for row, line in enumerate(drawn):
            ready, reason, age = (table.get_cell_at((row, column)).plain for column in (2, 4, 5))
            assert line[at["Ready"] :].startswith(ready), line  # the whole state
            assert line[at["Reason"] :].startswith(reason[:10]), line  # at least its first 10 cells
            assert line[at["Age"] :].startswith(age), line
        assert "BuildFailed" in next(line for line in drawn if "Failing" in line)
        assert any("env:a-long-…" in line or "env:a-lon…" in line for line in drawn)  # cut with …


async def test_an_environments_objects_are_marked_and_sort_after_the_workloads() -> None:
    app = scene_app(with_environment(failing_scene()))
    async with run(app, size=(200, 50)) as pilot:
        await settle(pilot)
        table = app.query_one("#flux-table", DataTable)
        names = [table.get_cell_at((row, 0)).plain for row in range(table.row_count)]
        assert names[-2:] == ["env:a-long-preview-name app", "env:a-long-preview-name app"]
        assert not any(name.startswith("env:") for name in names[:-2])
        kinds = [table.get_cell_at((row, 1)).plain for row in range(table.row_count)][-2:]
        assert kinds == ["OCIRepository", "Kustomization"]  # the source above its Kustomization


async def test_slash_env_shows_only_the_environments_objects() -> None:
    app = scene_app(with_environment(failing_scene()))
    async with run(app, size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"env:", "enter")
        await settle(pilot)
        table = app.query_one("#flux-table", DataTable)
        names = [table.get_cell_at((row, 0)).plain for row in range(table.row_count)]
        assert names == ["env:a-long-preview-name app"] * 2
