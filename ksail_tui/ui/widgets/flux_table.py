"""Flux pane: every OCIRepository and Kustomization, live, coloured by Health, with a filter."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from rich.cells import cell_len
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, Static
from textual.widgets.data_table import RowKey

from ksail_tui.display import parse_time, short_revision
from ksail_tui.flux.objects import revision_of
from ksail_tui.flux.status import FluxObject, Health, classify
from ksail_tui.models import OCI_REPOSITORY_KIND, FluxKustomization, ObjectRef
from ksail_tui.ui.format import DIM, HEALTH_STYLE, age, age_changes_at, health_text
from ksail_tui.ui.model import DashboardModel
from ksail_tui.ui.widgets.table_sync import Cell, cursor_key, remove_row, upsert_row

# Most telling first, so that 80 columns show name, kind, health, revision and reason; objects are
# usually all in the Flux namespace, so the namespace can wait.
COLUMNS = (
    ("name", "Name"),
    ("kind", "Kind"),
    ("ready", "Ready"),
    ("revision", "Revision"),
    ("reason", "Reason"),
    ("age", "Age"),
    ("suspended", "Susp"),
    ("namespace", "Namespace"),
    ("message", "Message"),
)
AGE_COLUMN = [key for key, _ in COLUMNS].index("age")
MESSAGE_WIDTH = 90  # the details panel shows the whole message
DIGEST_SHOWN = 8
# When the columns do not fit the pane, these give way in this order, each down to its width here
# (cut with …), so that Ready, Reason and Age stay in view; the details panel shows every field.
GIVE_WAY = (
    ("message", 0),
    ("namespace", 0),
    ("suspended", 0),
    ("revision", 12),
    ("name", 12),
    ("kind", 8),
    ("reason", 12),
    ("revision", 0),
    ("name", 6),
)
MIN_SHOWN = 4
# An Environment's objects are marked in the Name column, and sort after the workloads'.
ENVIRONMENT_MARK = "env:"
ENVIRONMENT_STYLE = "#c678dd"


def revision_cell(obj: FluxObject, model: DashboardModel) -> Text:
    """The artifact a source stored, or the revision a Kustomization applied, marked when behind."""
    if not isinstance(obj, FluxKustomization):
        return Text(short_revision(revision_of(obj), DIGEST_SHOWN))
    if obj.last_applied_revision is None:
        return Text("nothing applied", style=DIM)
    text = Text(short_revision(obj.last_applied_revision, DIGEST_SHOWN))
    source = model.source_of(obj)
    if (
        source is not None
        and source.artifact_revision
        and source.artifact_revision != obj.last_applied_revision
    ):
        text.append(" ≠ source", style=HEALTH_STYLE[Health.PROGRESSING])
    return text


def age_since(obj: FluxObject) -> datetime | None:
    """When the Ready condition last changed (or the object was created): what the Age counts from."""
    ready = obj.condition("Ready")
    return parse_time(ready.last_transition_time if ready else obj.creation_timestamp)


def row_of(obj: FluxObject, model: DashboardModel, now: datetime) -> list[Text]:
    """The row's cells, all Text: a name or a message is shown as it is, never read as markup."""
    health = classify(obj)
    message = " ".join((health.message or "").split())
    if len(message) > MESSAGE_WIDTH:
        message = message[: MESSAGE_WIDTH - 1] + "…"
    name = Text(obj.name)
    if obj.environment:
        name = Text.assemble((f"{ENVIRONMENT_MARK}{obj.environment} ", ENVIRONMENT_STYLE), obj.name)
    cells = [
        name,
        Text(obj.kind),
        health_text(health.health),
        revision_cell(obj, model),
        Text(health.reason, style=HEALTH_STYLE[health.health] if health.health is not Health.READY else ""),
        Text(age(age_since(obj), now)),
        Text("yes", style=HEALTH_STYLE[Health.SUSPENDED]) if obj.suspended else Text("no", style=DIM),
        Text(obj.namespace),
        Text(message),
    ]
    for cell in cells:  # cut with … to the width fit_columns gives the column
        cell.no_wrap, cell.overflow = True, "ellipsis"
    return cells


def matches(obj: FluxObject, needle: str) -> bool:
    if not needle:
        return True
    health = classify(obj)
    marked = f"{ENVIRONMENT_MARK}{obj.environment}" if obj.environment else ""  # /env: shows them
    haystack = " ".join(
        (marked, obj.name, obj.namespace, obj.kind, health.health.value, health.reason, health.message)
    )
    return needle.lower() in haystack.lower()


def empty_reason(model: DashboardModel, filter_text: str) -> str:
    connection = model.connection
    if filter_text and model.flux:
        return f"nothing matches /{filter_text} (esc clears the filter)"
    if connection is None:
        return "connecting to the cluster…"
    if not connection.connected:
        return "the cluster is unreachable; the table fills in when it answers"
    if connection.flux_api is None:
        return "asking the cluster for Flux objects…"
    if not connection.flux_api:
        return "Flux is not installed: run `ksail-tui flux install`"
    return "no OCIRepository or Kustomization yet: run `ksail-tui workload apply`, or push with p"


def _order(values: tuple[Text, Text, Text]) -> tuple[bool, str, str, bool, str]:
    namespace, name, kind = values
    # The workloads' rows first, then the Environments'; the source above its Kustomization; then
    # by kind, so that a HelmRelease and a HelmRepository of one name keep one order (the rows
    # arrive in no fixed order).
    return (
        name.plain.startswith(ENVIRONMENT_MARK),  # a Kubernetes name has no colon
        namespace.plain,
        name.plain,
        kind.plain != OCI_REPOSITORY_KIND,
        kind.plain,
    )


class FluxTable(DataTable[Cell]):
    class Scrolled(Message):
        """Other rows came into view (their ages may be due)."""

    class Resized(Message):
        """The table's width changed: the message column gets what is left."""

    def __init__(self) -> None:
        super().__init__(id="flux-table", cursor_type="row", zebra_stripes=True)
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        """Measure new rows by their cells' length: every cell is one line of Text, so that is its
        width. DataTable renders every cell of every new row through the console to measure it,
        which is most of a first render of 10,000 objects."""
        columns = self.ordered_columns
        for row_key in new_rows:
            cells = self._data.get(row_key)
            if cells is None:  # removed before the table was idle
                continue
            for column in columns:
                value = cells.get(column.key)
                if isinstance(value, Text):
                    column.content_width = max(column.content_width, value.cell_len)
                elif value is not None:
                    column.content_width = max(column.content_width, cell_len(str(value)))
        super()._update_dimensions(())

    def refresh_widths(self) -> None:
        """Draw again after the columns' widths were set."""
        self._clear_caches()
        self._require_update_dimensions = True
        self.refresh()

    def on_resize(self) -> None:
        self.post_message(self.Resized())

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if round(old_value) != round(new_value):
            self.post_message(self.Scrolled())

    def visible_row_keys(self) -> list[str]:
        """The keys of the rows on screen now (every row is one line high)."""
        first = int(self.scroll_y)
        rows = self.ordered_rows[first : first + self.scrollable_content_region.height]
        return [row.key.value for row in rows if row.key.value is not None]


class FluxPane(Vertical):
    """The table and its filter line; the app calls :meth:`sync` with the keys that changed."""

    BINDINGS = [Binding("escape", "clear_filter", "Clear filter", show=False)]

    class Selected(Message):
        """The row under the cursor now shows another object (or none)."""

        def __init__(self, ref: ObjectRef | None) -> None:
            super().__init__()
            self.ref = ref

    def __init__(self, *, cursor_blink: bool = True) -> None:
        super().__init__(id="flux", classes="pane")
        self.border_title = "[4] Flux"
        self.filter_text = ""
        self._cursor_blink = cursor_blink
        self._selected: ObjectRef | None = None
        self._refs: dict[str, ObjectRef] = {}  # row key -> the object it shows
        # row key -> when its Age counts from, and when the Age's text next changes.
        self._ages: dict[str, tuple[datetime | None, datetime]] = {}
        self._now: datetime | None = None  # the clock at the last redraw
        # Each row's cell widths, and per column how many rows have each width: columns shrink
        # back when their widest cell goes, without measuring every row again.
        self._row_widths: dict[str, list[int]] = {}
        self._width_counts: list[Counter[int]] = [Counter() for _ in COLUMNS]

    def compose(self) -> ComposeResult:
        yield FluxTable()
        yield Static(id="flux-empty")
        yield Input(
            placeholder="filter: name, namespace, kind, health, reason…  (enter keeps, esc clears)",
            id="flux-filter",
            classes="-hidden",
        )

    @property
    def table(self) -> FluxTable:
        return self.query_one(FluxTable)

    @property
    def selected(self) -> ObjectRef | None:
        key = cursor_key(self.table)
        return self._refs.get(key) if key is not None else None

    def on_mount(self) -> None:
        self.query_one("#flux-filter", Input).cursor_blink = self._cursor_blink

    def sync(self, refs: Iterable[ObjectRef], model: DashboardModel, now: datetime) -> None:
        """Redraw the rows of ``refs``: add, update only the changed cells, or remove."""
        table = self.table
        added = False
        for ref in refs:
            key = str(ref)
            obj = model.flux.get(ref)
            if obj is None or not matches(obj, self.filter_text):
                if remove_row(table, key):
                    del self._refs[key], self._ages[key]
                    self._measure(key, None)
                continue
            row = row_of(obj, model, now)
            added = upsert_row(table, key, row) or added
            self._measure(key, row)
            self._refs[key] = ref
            since = age_since(obj)
            self._ages[key] = (since, age_changes_at(since, now))
        self._now = now
        if added:
            selected = self._selected
            table.sort("namespace", "name", "kind", key=_order)
            if selected is not None and str(selected) in table.rows:
                table.move_cursor(row=table.get_row_index(str(selected)), animate=False)
        self.fit_columns()
        self._announce_selection()
        self.show_state(model)

    def _measure(self, key: str, row: list[Text] | None) -> None:
        old = self._row_widths.pop(key, None)
        new = [cell.cell_len for cell in row] if row is not None else None
        if new is not None:
            self._row_widths[key] = new
        for index in range(len(COLUMNS)):
            self._recount(index, old[index] if old else None, new[index] if new else None)

    def _recount(self, index: int, old: int | None, new: int | None) -> None:
        counts = self._width_counts[index]
        if old is not None:
            counts[old] -= 1
            if not counts[old]:
                del counts[old]
        if new is not None:
            counts[new] += 1

    def fit_columns(self) -> None:
        """Each column as wide as its widest cell now (or its label), then narrower in the order
        of GIVE_WAY until the row fits the pane: a long message or name never pushes the state,
        the reason or the age off screen."""
        table = self.table
        columns = table.ordered_columns
        padding = 2 * table.cell_padding
        widths = [
            max(cell_len(str(column.label)), max(counts, default=0))
            for column, counts in zip(columns, self._width_counts, strict=True)
        ]
        index = {str(column.key.value): n for n, column in enumerate(columns)}
        room = table.scrollable_content_region.width
        over = sum(widths) + padding * len(widths) - room if room > 0 else 0  # 0: not laid out yet
        for key, narrowest in GIVE_WAY:
            if over <= 0:
                break
            at = index[key]
            given = max(0, min(over, widths[at] - narrowest))
            if widths[at] - given < MIN_SHOWN:  # a sliver would show only "…"
                given = widths[at]
            widths[at] -= given
            over -= given
        if [column.width for column in columns] == widths and not columns[0].auto_width:
            return
        for column, width in zip(columns, widths, strict=True):
            column.auto_width = False
            column.width = column.content_width = width
        table.refresh_widths()

    @on(FluxTable.Resized)
    def _resized(self, event: FluxTable.Resized) -> None:
        event.stop()
        self.fit_columns()

    def refresh_ages(self, now: datetime) -> None:
        """Only the Age cells move with the clock, only those on screen (others when they scroll
        into view), and each only when its text changes (12m stays 12m for a minute, 5d for a day):
        a tick touches a few cells, not every row."""
        self._now = now
        table = self.table
        for key in table.visible_row_keys():
            since, due = self._ages[key]
            if due <= now:
                text = Text(age(since, now))
                table.update_cell(key, "age", text)
                self._measure_age(key, text.cell_len)
                self._ages[key] = (since, age_changes_at(since, now))

    def _measure_age(self, key: str, width: int) -> None:
        widths = self._row_widths[key]
        self._recount(AGE_COLUMN, widths[AGE_COLUMN], width)
        widths[AGE_COLUMN] = width

    @on(FluxTable.Scrolled)
    def _scrolled(self, event: FluxTable.Scrolled) -> None:
        event.stop()
        if self._now is not None:
            self.refresh_ages(self._now)

    def show_state(self, model: DashboardModel) -> None:
        """The row count on the border, and why the table is empty when it is."""
        self._update_subtitle(model)
        empty = self.query_one("#flux-empty", Static)
        empty.display = self.table.row_count == 0
        self.set_class(empty.display, "-empty")
        if empty.display:
            empty.update(Text(empty_reason(model, self.filter_text), style=DIM))

    def _update_subtitle(self, model: DashboardModel) -> None:
        shown, total = self.table.row_count, len(model.flux)
        noun = "object" if total == 1 else "objects"
        self.border_subtitle = (
            f"{shown} of {total} {noun} · /{self.filter_text}" if self.filter_text else f"{total} {noun}"
        )

    def _announce_selection(self) -> None:
        ref = self.selected
        if ref != self._selected:
            self._selected = ref
            self.post_message(self.Selected(ref))

    @on(DataTable.RowHighlighted, "#flux-table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._announce_selection()

    # --- filter ---------------------------------------------------------------------------

    def open_filter(self) -> None:
        field = self.query_one("#flux-filter", Input)
        field.remove_class("-hidden")
        field.focus()

    @on(Input.Changed, "#flux-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.filter_text = event.value.strip()
        self.post_message(self.FilterChanged())

    @on(Input.Submitted, "#flux-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not self.filter_text:
            event.input.add_class("-hidden")
        self.table.focus()

    def action_clear_filter(self) -> None:
        if self.filter_text or self.query_one("#flux-filter", Input).has_focus:
            self.clear_filter()

    def clear_filter(self) -> None:
        field = self.query_one("#flux-filter", Input)
        field.value = ""
        field.add_class("-hidden")
        self.filter_text = ""
        self.table.focus()
        self.post_message(self.FilterChanged())

    class FilterChanged(Message):
        """The filter text changed: every row must be judged again."""
