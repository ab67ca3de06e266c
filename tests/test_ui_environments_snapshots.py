"""The Environments pane as SVG snapshots: one building, one Ready, one Failed (200x50 and
80x24), the details, the delete confirmation, and the missing-CRDs offer. Fixed Environments and
a fixed clock (tests/fixtures/ui_environments.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable

from tests.fixtures.ui_environments import StaticEnvironments, environments_app, three_environments

Compare = Callable[..., bool]


def opening(*keys: str, row: str | None = None) -> Callable[[Pilot[None]], Awaitable[None]]:
    async def run_before(pilot: Pilot[None]) -> None:
        await pilot.press("7")
        table = pilot.app.screen.query_one("#environments-table", DataTable)
        for _ in range(100):
            if table.row_count or pilot.app.screen.query_one("#environments-banner").has_class("-shown"):
                break
            await pilot.pause(0.02)
        if row is not None:
            table.move_cursor(row=table.get_row_index(row))
        for key in keys:
            await pilot.press(key)
        await pilot.pause(0.2)

    return run_before


def app() -> object:
    return environments_app(StaticEnvironments(three_environments()))


def test_environments_building_ready_failed(snap_compare: Compare) -> None:
    """pr-7 building (yellow, 4/6), main Ready with its URL, pr-9 Failed with the build's reason."""
    assert snap_compare(app(), terminal_size=(200, 50), run_before=opening(row="pr-9"))


def test_environments_80x24(snap_compare: Compare) -> None:
    assert snap_compare(app(), terminal_size=(80, 24), run_before=opening(row="pr-7"))


def test_environment_details(snap_compare: Compare) -> None:
    """enter: every step with state, duration and message, the conditions, the namespace's objects."""
    assert snap_compare(app(), terminal_size=(120, 36), run_before=opening("enter", row="main"))


def test_environment_delete_confirmation(snap_compare: Compare) -> None:
    assert snap_compare(app(), terminal_size=(80, 24), run_before=opening("ctrl+d", row="pr-9"))


def test_environments_without_crds(snap_compare: Compare) -> None:
    missing = environments_app(StaticEnvironments([], crds=False))
    assert snap_compare(missing, terminal_size=(80, 24), run_before=opening())


def test_environments_without_an_operator(snap_compare: Compare) -> None:
    """No heartbeat Lease and no Environments: the pane says how to start the operator."""
    silent = environments_app(StaticEnvironments([], operator=False))
    assert snap_compare(silent, terminal_size=(80, 24), run_before=opening())


@pytest.mark.anyio
async def test_the_columns_fit_the_pane_with_phase_and_age_in_view() -> None:
    """At 80 and 120 columns nothing scrolls sideways: the URL and the revision are cut with … (at
    120 the pane shares the row with Activity and the URL gives way entirely), the phase, its bar
    and the age stay whole; the line under the table shows the selected URL whole."""
    for size in ((80, 24), (120, 36)):
        dashboard = environments_app(StaticEnvironments(three_environments()))
        async with dashboard.run_test(size=size) as pilot:
            await opening(row="main")(pilot)
            table = pilot.app.screen.query_one("#environments-table", DataTable)
            assert table.virtual_size.width <= table.scrollable_content_region.width, size
            lines = [table.render_line(y).text for y in range(4)]
            assert "Phase" in lines[0] and "Age" in lines[0], lines[0]
            ready = next(line for line in lines if "main" in line)
            assert "6/6" in ready and "Ready" in ready and "5m" in ready, ready
            if size == (80, 24):  # the pane has the whole width: the URL begins, cut with …
                assert "http://team-" in ready and "…" in ready, ready
