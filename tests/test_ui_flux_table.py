"""The Flux table's rows as it adds, updates and removes them in place (ui/widgets/flux_table.py).

It adds rows in bulk, removes them in bulk, orders them by keys computed once per row and redraws
only the row of a changed cell, instead of going through DataTable's per-row methods and its
every-row redraw; these tests hold it to what the screen shows, drawn afresh.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.segment import Segment
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import DataTable

from ksail_tui.live import ControllerUpdate, NodeUpdate
from ksail_tui.models import OCI_REPOSITORY_KIND, ObjectRef
from ksail_tui.ui.widgets.artifacts_pane import ArtifactsPane
from ksail_tui.ui.widgets.cluster_pane import ClusterPane
from ksail_tui.ui.widgets.details import DetailsPanel
from ksail_tui.ui.widgets.flux_table import FluxPane, FluxTable, _width
from ksail_tui.ui.widgets.header import DashboardHeader
from ksail_tui.ui.widgets.registry_pane import RegistryPane
from tests.fixtures.ui import (
    BUILD_FAILED,
    CONTROLLERS,
    NODE,
    ScriptedServices,
    cell,
    failing_scene,
    kustomization,
    oci_repository,
    run,
    scene_app,
    scene_config,
    wait_until,
)

pytestmark = pytest.mark.anyio
SIZE = (160, 48)
APP = "Kustomization/flux-system/app"
BROKEN = "Kustomization/flux-system/broken"


def drawn(table: DataTable[Any]) -> list[list[tuple[str, Any]]]:
    """What the table shows now, line by line, as (text, style) runs: what the screen gets."""
    strips = table.render_lines(Region(0, 0, table.size.width, table.size.height))
    return [[(segment.text, segment.style) for segment in Segment.simplify(list(strip))] for strip in strips]


async def drawn_anew(pilot: Pilot[None], table: DataTable[Any]) -> None:
    """Draw every line again now, so that the table's render caches hold the current lines."""
    await pilot.pause()
    table.refresh()
    await pilot.pause()


def texts(lines: list[list[tuple[str, Any]]]) -> list[str]:
    return ["".join(text for text, _ in line).rstrip() for line in lines]


def ordered_keys(table: DataTable[Any]) -> list[str]:
    return [str(row.key.value) for row in table.ordered_rows]


def sorted_as_shown(keys: list[str]) -> list[str]:
    """Namespace, name, the source above its Kustomization, then kind (flux_table._order)."""

    def order(key: str) -> tuple[str, str, bool, str]:
        kind, namespace, name = key.split("/")
        return (namespace, name, kind != OCI_REPOSITORY_KIND, kind)

    return sorted(keys, key=order)


def services() -> tuple[Any, ScriptedServices]:
    scene = failing_scene()
    scripted = ScriptedServices(scene_config(), scene)
    return scene_app(scene, services=scripted), scripted


async def test_a_changed_cell_is_drawn_as_a_fresh_redraw_draws_it_and_the_other_rows_stay() -> None:
    app, scripted = services()
    async with run(app, SIZE) as pilot:
        table = app.query_one(FluxTable)
        await wait_until(pilot, lambda: table.row_count == 6, "the rows")
        await drawn_anew(pilot, table)
        before = drawn(table)
        widths = [column.width for column in table.ordered_columns]
        assert scripted.live_source is not None
        # As wide as the reason before: no column changes width, only the row is drawn again.
        failure = ("ApplyFailed", BUILD_FAILED[1])
        broken = kustomization("broken", None, attempted_tag="0.1.0", failure=failure, minutes=19)
        scripted.live_source.send(broken)
        await wait_until(pilot, lambda: cell(app, BROKEN, "reason") == "ApplyFailed", "the update")
        await pilot.pause()
        assert [column.width for column in table.ordered_columns] == widths
        after = drawn(table)
        line = table.header_height + table.get_row_index(BROKEN) - round(table.scroll_y)
        assert "ApplyFailed" in texts(after)[line] and "BuildFailed" in texts(before)[line]
        others = [index for index in range(len(after)) if index != line]
        assert [after[index] for index in others] == [before[index] for index in others]
        table.refresh_widths()  # forget every cached line: draw everything again
        await pilot.pause()
        assert drawn(table) == after


async def test_the_cursor_row_is_drawn_afresh_when_its_cells_change() -> None:
    app, scripted = services()
    async with run(app, SIZE) as pilot:
        table = app.query_one(FluxTable)
        await wait_until(pilot, lambda: APP in table.rows, "the rows")
        table.move_cursor(row=table.get_row_index(APP))
        await drawn_anew(pilot, table)
        assert scripted.live_source is not None
        scripted.live_source.send(kustomization("app", "0.1.0", minutes=1))
        await wait_until(pilot, lambda: cell(app, APP, "revision").startswith("0.1.0@"), "the update")
        await pilot.pause()
        after = drawn(table)
        table.refresh_widths()
        await pilot.pause()
        assert drawn(table) == after
        assert "0.1.0@sha256:1a2b3c4d ≠ source" in texts(after)[table.header_height + table.cursor_row]


async def test_rows_filtered_out_and_back_keep_their_order_and_the_cursor_its_object() -> None:
    app, _ = services()
    async with run(app, SIZE) as pilot:
        table = app.query_one(FluxTable)
        await wait_until(pilot, lambda: table.row_count == 6, "the rows")
        original = ordered_keys(table)
        assert original == sorted_as_shown(original)
        table.move_cursor(row=table.get_row_index(BROKEN))
        await pilot.pause()
        await pilot.press("slash", *"fail")
        assert ordered_keys(table) == [BROKEN]
        await pilot.press("escape")
        assert ordered_keys(table) == original
        assert str(app.dashboard.selected) == BROKEN and table.cursor_row == original.index(BROKEN)
        assert app.query_one(FluxPane).border_subtitle == "6 objects"


async def test_a_new_object_takes_its_place_and_the_cursor_stays_on_the_selected_one() -> None:
    app, scripted = services()
    async with run(app, SIZE) as pilot:
        table = app.query_one(FluxTable)
        await wait_until(pilot, lambda: table.row_count == 6, "the rows")
        table.move_cursor(row=table.get_row_index(BROKEN))
        await pilot.pause()
        row_before = table.cursor_row
        assert scripted.live_source is not None
        source = oci_repository("app", "0.1.0")
        source["metadata"] = {**source["metadata"], "name": "aaa"}
        scripted.live_source.send(source)  # sorts above every row
        await wait_until(pilot, lambda: table.row_count == 7, "the new row")
        await pilot.pause()
        keys = ordered_keys(table)
        assert keys == sorted_as_shown(keys) and keys[0] == "OCIRepository/flux-system/aaa"
        assert table.cursor_row == row_before + 1 and str(app.dashboard.selected) == BROKEN
        after = drawn(table)
        table.refresh_widths()
        await pilot.pause()
        assert drawn(table) == after


async def test_each_pane_draws_only_the_batches_that_change_what_it_shows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, scripted = services()
    async with run(app, SIZE) as pilot:
        table = app.query_one(FluxTable)
        await wait_until(pilot, lambda: table.row_count == 6, "the rows")
        flux, cluster = app.query_one(FluxPane), app.query_one(ClusterPane)
        drawn_by: list[str] = []
        sync, refresh = flux.sync, cluster.refresh_from
        monkeypatch.setattr(flux, "sync", lambda *args: (drawn_by.append("flux"), sync(*args)))
        monkeypatch.setattr(
            cluster, "refresh_from", lambda *args: (drawn_by.append("cluster"), refresh(*args))
        )
        assert scripted.live_source is not None
        scripted.live_source.on_updates([NodeUpdate("worker", replace(NODE, name="worker"))])
        await wait_until(pilot, lambda: "worker" in app.dashboard.model.nodes, "the node")
        await pilot.pause()
        assert drawn_by == ["cluster"]
        drawn_by.clear()
        scripted.live_source.send(kustomization("app", "0.1.0", minutes=1))
        await wait_until(pilot, lambda: cell(app, APP, "revision").startswith("0.1.0@"), "the update")
        assert drawn_by == ["flux"]


async def test_the_header_details_artifacts_and_registry_draw_only_what_concerns_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, scripted = services()
    async with run(app, SIZE) as pilot:
        table = app.query_one(FluxTable)
        await wait_until(pilot, lambda: table.row_count == 6, "the rows")
        screen = app.dashboard
        table.move_cursor(row=table.get_row_index(APP))
        await wait_until(pilot, lambda: str(screen.selected) == APP, "app's Kustomization selected")
        await wait_until(pilot, lambda: "app" in screen.model.artifacts, "app's versions listed")
        await wait_until(pilot, lambda: screen.model.registry is not None, "the registry's status")
        await pilot.pause()
        drawn_by: list[str] = []
        for name, pane, method in (
            ("header", app.query_one(DashboardHeader), "show"),
            ("details", app.query_one(DetailsPanel), "refresh_from"),
            ("artifacts", app.query_one(ArtifactsPane), "refresh_from"),
            ("registry", app.query_one(RegistryPane), "refresh_from"),
        ):
            original = getattr(pane, method)

            def counted(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
                drawn_by.append(_name)
                return _original(*args, **kwargs)

            monkeypatch.setattr(pane, method, counted)
        assert scripted.live_source is not None
        scripted.live_source.on_updates([NodeUpdate("worker", replace(NODE, name="worker"))])
        await wait_until(pilot, lambda: "worker" in screen.model.nodes, "the node")
        await pilot.pause()
        assert drawn_by == []  # the nodes are the Cluster pane's
        broken = screen.model.flux[
            ObjectRef(kind=OCI_REPOSITORY_KIND, namespace="flux-system", name="broken")
        ]
        scripted.live_source.send(oci_repository("broken", "0.1.0", minutes=5))
        await wait_until(
            pilot,
            lambda: broken.ref not in screen.model.flux or screen.model.flux[broken.ref] != broken,
            "broken's source",
        )
        await pilot.pause()
        assert drawn_by == []  # another workload's object
        scripted.live_source.send(kustomization("app", "0.1.0", minutes=1))
        await wait_until(pilot, lambda: cell(app, APP, "revision").startswith("0.1.0@"), "the update")
        await pilot.pause()
        assert sorted(drawn_by) == ["artifacts", "details"]
        drawn_by.clear()
        stopped = replace(CONTROLLERS[0], available=False, message="scaled to zero")
        scripted.live_source.on_updates([ControllerUpdate(stopped.key, stopped)])
        await wait_until(pilot, lambda: not screen.model.controllers[stopped.key].available, "the controller")
        await pilot.pause()
        assert drawn_by == ["header"]
        drawn_by.clear()
        screen.refresh_artifacts("broken")  # a listing for a workload not selected
        await wait_until(pilot, lambda: "broken" in screen.model.artifacts, "broken's versions")
        await pilot.pause()
        assert drawn_by == []
        screen.refresh_registry()
        await wait_until(pilot, lambda: drawn_by == ["registry"], "the registry pane drawn alone")
        drawn_by.clear()
        screen.refresh_artifacts("app")
        await wait_until(pilot, lambda: drawn_by == ["artifacts"], "the artifacts pane drawn alone")


async def test_a_row_changed_off_screen_shows_its_new_cells_when_it_scrolls_back_into_view() -> None:
    objects = []
    for index in range(60):
        obj = kustomization("app", "0.2.0", minutes=11)
        obj["metadata"] = {**obj["metadata"], "name": f"k-{index:02}"}
        objects.append(obj)
    scene = failing_scene()
    scene.objects = objects
    scripted = ScriptedServices(scene_config(), scene)
    app = scene_app(scene, services=scripted)
    last = "Kustomization/flux-system/k-59"
    async with run(app, SIZE) as pilot:
        table = app.query_one(FluxTable)
        await wait_until(pilot, lambda: table.row_count == 60, "the rows")
        table.move_cursor(row=59)  # draw the last rows (their lines are cached now) and back
        await drawn_anew(pilot, table)
        table.move_cursor(row=0)
        await drawn_anew(pilot, table)
        assert last not in table.visible_row_keys()
        widths = [column.width for column in table.ordered_columns]
        changed = kustomization("app", "0.1.0", minutes=11)  # another revision, as wide
        changed["metadata"] = {**changed["metadata"], "name": "k-59"}
        assert scripted.live_source is not None
        scripted.live_source.send(changed)
        await wait_until(pilot, lambda: cell(app, last, "revision").startswith("0.1.0@"), "the update")
        assert [column.width for column in table.ordered_columns] == widths
        table.move_cursor(row=59)
        await pilot.pause()
        shown = drawn(table)
        assert sum("0.1.0@sha256:1a2b3c4d" in line for line in texts(shown)) == 1
        table.refresh_widths()
        await pilot.pause()
        assert drawn(table) == shown


@given(st.text())
def test_cells_are_measured_as_rich_measures_them(text: str) -> None:
    # The quick count for printable ASCII must agree with Rich, which draws the cells.
    assert _width(text) == cell_len(text)
