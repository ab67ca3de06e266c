"""The Environments table: one row per Environment, updated in place from the watch.

Rows: name, project, branch@commit, phase with a progress bar (``status.progress``), URL, age;
the phase in the same colours as the Flux table's health.
"""

from __future__ import annotations

from datetime import datetime

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable

from ksail_tui.flux.status import Health
from ksail_tui.operator.environments import EnvironmentView
from ksail_tui.ui.styled import DIM, HEALTH_STYLE, age, health_text
from ksail_tui.ui.widgets.table_sync import (
    Cell,
    Row,
    cursor_key,
    fitted_widths,
    remove_row,
    set_widths,
    upsert_row,
)

BAR_WIDTH = 6
COLUMNS = ("Name", "Project", "Revision", "Phase", "Age", "URL")
# When the row does not fit the pane, these columns give way in this order, each down to its width
# here (cut with …): the phase and its bar, and the age, stay in view. The line under the table
# shows the selected Environment's URL whole, and o opens it.
GIVE_WAY = ((5, 12), (2, 12), (1, 8), (0, 12), (5, 0), (2, 0))


def phase_health(phase: str) -> Health:
    if phase == "Ready":
        return Health.READY
    if phase == "Failed":
        return Health.FAILING
    return Health.PROGRESSING


def progress_bar(view: EnvironmentView) -> Text:
    """``▰▰▰▱▱▱ 3/6 Building`` in the phase's colour."""
    style = HEALTH_STYLE[phase_health(view.phase)]
    filled = round(BAR_WIDTH * view.done / view.total) if view.total else 0
    bar = Text("▰" * filled, style=style)
    bar.append("▱" * (BAR_WIDTH - filled), style=DIM)
    bar.append(f" {view.done}/{view.total} " if view.total else " ", style=DIM)
    bar.append(view.phase, style=style)
    return bar


def environment_row(view: EnvironmentView, now: datetime) -> Row:
    cells = (
        Text(view.name, style="bold"),
        Text(view.project),
        Text(view.revision or "-"),
        progress_bar(view),
        Text(age(view.created, now)),
        Text(view.url, style="underline") if view.url else Text("-", style=DIM),
    )
    for cell in cells:  # cut with … to the width fit_columns gives the column
        cell.no_wrap, cell.overflow = True, "ellipsis"
    return cells


def step_health(state: str) -> Health:
    return {"Succeeded": Health.READY, "Failed": Health.FAILING, "Running": Health.PROGRESSING}.get(
        state, Health.UNKNOWN
    )


def step_lines(view: EnvironmentView, now: datetime) -> list[Text]:
    """Every step with its state, duration and message, as the details show them."""
    lines = []
    for step in view.steps:
        line = health_text(step_health(step.state), f"{step.state:<9}")
        line.append(f" {step.name:<15}")
        took = step.duration(now)
        line.append(f"{took:6.1f}s" if took is not None else "       ", style=DIM)
        if step.message:
            line.append(f"  {step.message}", style=DIM)
        lines.append(line)
    return lines


class EnvironmentsTable(DataTable[Cell]):
    def __init__(self) -> None:
        super().__init__(id="environments-table", cursor_type="row", zebra_stripes=False)
        self.views: dict[str, EnvironmentView] = {}

    def on_mount(self) -> None:
        for column in COLUMNS:
            self.add_column(column, key=column.lower())

    def show(self, view: EnvironmentView, now: datetime) -> None:
        self._put(view, now)
        self.fit_columns()

    def forget(self, name: str) -> None:
        self._drop(name)
        self.fit_columns()

    def replace_all(self, views: list[EnvironmentView], now: datetime) -> None:
        for name in [n for n in self.views if n not in {v.name for v in views}]:
            self._drop(name)
        for view in views:
            self._put(view, now)
        self.fit_columns()  # once for the whole listing

    def _put(self, view: EnvironmentView, now: datetime) -> None:
        self.views[view.name] = view
        upsert_row(self, view.name, environment_row(view, now))

    def _drop(self, name: str) -> None:
        self.views.pop(name, None)
        remove_row(self, name)

    def on_resize(self) -> None:
        self.fit_columns()

    def fit_columns(self) -> None:
        """Each column as wide as its widest cell (or label), then narrower in the order of GIVE_WAY
        until the row fits the pane (a handful of rows: measured afresh each time)."""
        if not self.columns:
            return
        rows = [self.get_row(name) for name in self.views if name in self.rows]
        widths = [
            max([cell_len(str(column.label)), *(cell_len(str(row[at])) for row in rows)])
            for at, column in enumerate(self.ordered_columns)
        ]
        room = self.scrollable_content_region.width
        set_widths(self, fitted_widths(widths, room, GIVE_WAY, padding=2 * self.cell_padding))

    def refresh_ages(self, now: datetime) -> None:
        for view in self.views.values():
            self.update_cell(view.name, "age", age(view.created, now))

    @property
    def selected(self) -> EnvironmentView | None:
        key = cursor_key(self)
        return self.views.get(key) if key is not None else None
