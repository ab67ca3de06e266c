"""The Environments pane as SVG snapshots: one building, one Ready, one Failed (200x50 and
80x24), the details, the delete confirmation, and the missing-CRDs offer. Fixed Environments and
a fixed clock (tests/fixtures/ui_environments.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

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
