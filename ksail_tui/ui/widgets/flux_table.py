"""Flux pane: every OCIRepository and Kustomization, live, coloured by Health, with a filter."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual import on
from textual._two_way_dict import TwoWayDict
from textual.app import ComposeResult
from textual.binding import Binding
from textual.cache import LRUCache
from textual.containers import Vertical
from textual.message import Message
from textual.signal import Signal
from textual.widgets import DataTable, Input, Static
from textual.widgets.data_table import CellKey, ColumnKey, DuplicateKey, Row, RowKey

from ksail_tui.flux.objects import revision_of
from ksail_tui.flux.status import FluxObject, Health, classify
from ksail_tui.humanize import parse_time, short_revision
from ksail_tui.models import OCI_REPOSITORY_KIND, FluxKustomization, ObjectRef
from ksail_tui.ui.dashboard_state import DashboardModel, LiveChanged
from ksail_tui.ui.styled import DIM, HEALTH_STYLE, age, age_changes_at, health_text
from ksail_tui.ui.widgets.table_sync import Cell, cursor_key, fitted_widths, redraw, same_cell, set_widths

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
COLUMN_KEYS = [key for key, _ in COLUMNS]
NAME_COLUMN, KIND_COLUMN, AGE_COLUMN, NAMESPACE_COLUMN = (
    COLUMN_KEYS.index(key) for key in ("name", "kind", "age", "namespace")
)
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


def row_of(obj: FluxObject, model: DashboardModel, now: datetime, since: datetime | None) -> list[Text]:
    """The row's cells, all Text: a name or a message is shown as it is, never read as markup.
    ``since``: what the Age counts from (:func:`age_since`)."""
    health = classify(obj)
    message = " ".join((health.message or "").split())
    if len(message) > MESSAGE_WIDTH:
        message = message[: MESSAGE_WIDTH - 1] + "…"
    name = _cell(obj.name)
    if obj.environment:
        name = Text.assemble(
            (f"{ENVIRONMENT_MARK}{obj.environment} ", ENVIRONMENT_STYLE),
            obj.name,
            no_wrap=True,
            overflow="ellipsis",
        )
    revision = revision_cell(obj, model)
    revision.no_wrap, revision.overflow = True, "ellipsis"
    return [
        name,
        _shared(obj.kind, ""),
        _shared_health(health.health),
        revision,
        _cell(health.reason, HEALTH_STYLE[health.health] if health.health is not Health.READY else ""),
        _cell(age(since, now)),
        _shared("yes", HEALTH_STYLE[Health.SUSPENDED]) if obj.suspended else _shared("no", DIM),
        _shared(obj.namespace, ""),
        _cell(message),
    ]


def _width(text: str) -> int:
    # The usual cell is printable ASCII: one column a character.
    return len(text) if text.isascii() and text.isprintable() else cell_len(text)


def _cell(text: str, style: str = "") -> Text:
    """One line, cut with … to the width fit_columns gives the column."""
    return Text(text, style=style, no_wrap=True, overflow="ellipsis")


# Cells whose few values repeat in every row (kind, Ready, Susp, namespace) are one Text each,
# built once: nothing changes a cell's Text once it is in the table (a change is a new cell).
_SHARED: dict[tuple[str, str], Text] = {}
_SHARED_LIMIT = 4096  # kinds and namespaces: a few hundred at most; bounded all the same


def _shared(text: str, style: str) -> Text:
    cell = _SHARED.get((text, style))
    if cell is None:
        cell = _cell(text, style)
        if len(_SHARED) < _SHARED_LIMIT:
            _SHARED[text, style] = cell
    return cell


_HEALTH_CELLS: dict[Health, Text] = {}


def _shared_health(health: Health) -> Text:
    cell = _HEALTH_CELLS.get(health)
    if cell is None:
        cell = _HEALTH_CELLS[health] = health_text(health)
        cell.no_wrap, cell.overflow = True, "ellipsis"
    return cell


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


def _discard(cache: LRUCache[Any, Any], stale: Callable[[Any], bool]) -> None:
    for key in [key for key in cache.keys() if stale(key)]:  # noqa: SIM118 (an LRUCache, not a dict)
        cache.discard(key)


def _order(row: Sequence[Text]) -> tuple[bool, str, str, bool, str]:
    namespace, name, kind = row[NAMESPACE_COLUMN].plain, row[NAME_COLUMN].plain, row[KIND_COLUMN].plain
    # The workloads' rows first, then the Environments'; the source above its Kustomization; then
    # by kind, so that a HelmRelease and a HelmRepository of one name keep one order (the rows
    # arrive in no fixed order).
    return (
        name.startswith(ENVIRONMENT_MARK),  # a Kubernetes name has no colon
        namespace,
        name,
        kind != OCI_REPOSITORY_KIND,
        kind,
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

    def add_keyed_rows(
        self, rows: Sequence[tuple[str, Sequence[Cell]]], widths: Sequence[Sequence[int]]
    ) -> None:
        """Add rows at the bottom, each with its cells' widths (every cell is one line of Text,
        so its length is its width): what ``add_row`` does for each row (check the cursor, count an
        update, measure every cell by rendering it through the console), done once for them all,
        which was most of a first render of 10,000 objects."""
        if not rows:
            return
        was_empty = not self.rows
        columns = self.ordered_columns
        column_keys = [column.key for column in columns]
        locations, data, table_rows = self._row_locations, self._data, self.rows
        for key, cells in rows:
            row_key = RowKey(key)
            if row_key in locations:
                raise DuplicateKey(f"The row key {row_key!r} already exists.")
            locations[row_key] = len(table_rows)
            data[row_key] = dict(zip(column_keys, cells, strict=True))
            table_rows[row_key] = Row(row_key, 1)
        for column, column_widths in zip(columns, zip(*widths, strict=True), strict=True):
            column.content_width = max(column.content_width, *column_widths)
        self._require_update_dimensions = True  # the virtual size; no row is left to measure
        self.cursor_coordinate = self.cursor_coordinate
        if was_empty and self.columns and self.show_cursor and self.cursor_type != "none":
            self._highlight_cursor()
        self._update_count += 1
        self.check_idle()

    def remove_keyed_rows(self, keys: Iterable[str]) -> None:
        """Remove rows: ``remove_row`` renumbers every row for each one, quadratic for many."""
        gone = {RowKey(key) for key in keys} & self.rows.keys()
        if not gone:
            return
        kept = [row.key for row in self.ordered_rows if row.key not in gone]
        for row_key in gone:
            for column_key in self._data[row_key]:
                self._updated_cells.discard(CellKey(row_key, column_key))
            del self.rows[row_key], self._data[row_key]
        self._row_locations = TwoWayDict({row_key: index for index, row_key in enumerate(kept)})
        self._require_update_dimensions = True
        self.check_idle()
        self.cursor_coordinate = self.cursor_coordinate
        self.hover_coordinate = self.hover_coordinate
        self._update_count += 1
        self.refresh(layout=True)

    def update_rows(self, rows: Mapping[str, Sequence[Cell]]) -> None:
        """Write the cells of these existing rows that differ from ``rows`` (see :meth:`write_cells`)."""
        column_keys = [column.key for column in self.ordered_columns]
        changed: dict[str, list[tuple[ColumnKey, Cell]]] = {}
        for key, cells in rows.items():
            data = self._data[RowKey(key)]
            for column_key, value in zip(column_keys, cells, strict=True):
                if not same_cell(data[column_key], value):
                    changed.setdefault(key, []).append((column_key, value))
        self.write_cells(changed)

    def write_cells(self, cells: Mapping[str, Sequence[tuple[ColumnKey | str, Cell]]]) -> None:
        """Write cells (row key -> column key and value) and draw again only their rows.

        DataTable's ``update_cell`` counts an update, which every one of its render caches is keyed
        on: one changed cell drew every row on screen again and re-indexed all rows (20-40 ms at
        5,000 rows, most of a watch event's latency). Here the changed rows' cached lines are
        dropped, in one pass over each cache for the whole batch. A value wider than its column is
        measured as DataTable does it (only that cell), and then every line is drawn again."""
        if not cells:
            return
        columns = self.columns
        stale: set[RowKey] = set()
        widened = False
        for key, values in cells.items():
            row_key = RowKey(key)
            data = self._data[row_key]
            stale.add(row_key)
            for column, value in values:
                column_key = ColumnKey(column) if isinstance(column, str) else column
                data[column_key] = value
                width = value.cell_len if isinstance(value, Text) else cell_len(value)
                if width > columns[column_key].content_width:
                    self._updated_cells.add(CellKey(row_key, column_key))
                    widened = True
        if widened:
            self._require_update_dimensions = True
            self._update_count += 1
            self.refresh()
            return
        locations = self._row_locations
        indexes = [index for row_key in stale if (index := locations.get(row_key)) is not None]
        header = self.header_height if self.show_header else 0
        lines = {index + header for index in indexes}  # every row is one line
        for index in indexes:
            self._row_renderable_cache.discard((self._update_count, index))
        _discard(self._cell_render_cache, lambda key: key[0] in stale)
        _discard(self._row_render_cache, lambda key: key[0] in stale)
        _discard(self._line_cache, lambda key: key[0] in lines)
        top, height = round(self.scroll_y), self.scrollable_content_region.height
        for index in indexes:
            if top - 1 <= index <= top + height:  # only the rows on screen are drawn
                self.refresh_row(index)

    def order_rows(self, order: Mapping[str, Any]) -> None:
        """Put the rows in the order of ``order[key]``, as ``sort`` would with a key function, but
        from keys computed once per row instead of from every row's cells at every sort."""
        ordered = sorted(self._row_locations, key=lambda row_key: order[row_key.value])
        self._row_locations = TwoWayDict({row_key: index for index, row_key in enumerate(ordered)})
        self._update_count += 1
        self.refresh()

    def refresh_widths(self) -> None:
        """Draw again after the columns' widths were set."""
        redraw(self)

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
        self._order: dict[str, tuple[bool, str, str, bool, str]] = {}  # row key -> where the row goes
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

    def follow(self, live: Signal[LiveChanged]) -> None:
        """Draw the Flux objects that each batch ``live`` publishes changed (and only those)."""
        live.subscribe(self, self._live_changed, immediate=True)

    def _live_changed(self, changed: LiveChanged) -> None:
        if changed.changes.flux_refs:
            self.sync(changed.changes.flux_refs, changed.model, changed.now)
        elif changed.changes.connection:
            self.show_state(changed.model)  # why the table is empty

    def sync(self, refs: Iterable[ObjectRef], model: DashboardModel, now: datetime) -> None:
        """Redraw the rows of ``refs``: add, update only the changed cells, or remove."""
        table = self.table
        gone: list[str] = []
        added: dict[str, list[Text]] = {}
        added_widths: list[list[int]] = []
        updated: dict[str, list[Text]] = {}
        for ref in refs:
            key = str(ref)
            obj = model.flux.get(ref)
            if obj is None or not matches(obj, self.filter_text):
                if key in self._refs:
                    gone.append(key)
                continue
            since = age_since(obj)
            row = row_of(obj, model, now, since)
            widths = self._measure(key, row)
            if key in table.rows:
                updated[key] = row
            elif key not in added:
                added[key] = row
                added_widths.append(widths)
                self._order[key] = _order(row)
            self._refs[key] = ref
            self._ages[key] = (since, age_changes_at(since, now))
        self._now = now
        table.update_rows(updated)
        if gone:
            table.remove_keyed_rows(gone)
            for key in gone:
                del self._refs[key], self._ages[key], self._order[key]
                self._measure(key, None)
        if added:
            selected = self._selected
            table.add_keyed_rows(list(added.items()), added_widths)
            table.order_rows(self._order)
            if selected is not None and str(selected) in table.rows:
                table.move_cursor(row=table.get_row_index(str(selected)), animate=False)
        self.fit_columns()
        self._announce_selection()
        self.show_state(model)

    def _measure(self, key: str, row: list[Text] | None) -> list[int]:
        """Count the row's cell widths (none: the row is gone); its widths."""
        old = self._row_widths.pop(key, None)
        new = [_width(cell.plain) for cell in row] if row is not None else []
        if row is not None:
            self._row_widths[key] = new
        if old != new:  # one pass per side, not a call per cell: 10,000 rows arrive at once
            if old:
                for counts, width in zip(self._width_counts, old, strict=True):
                    counts[width] -= 1
                    if not counts[width]:
                        del counts[width]
            if new:
                for counts, width in zip(self._width_counts, new, strict=True):
                    counts[width] += 1
        return new

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
        give_way = [(index[key], narrowest) for key, narrowest in GIVE_WAY]
        room = table.scrollable_content_region.width
        set_widths(table, fitted_widths(widths, room, give_way, padding=padding, min_shown=MIN_SHOWN))

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
        due_now: dict[str, list[tuple[str, Cell]]] = {}
        for key in table.visible_row_keys():
            since, due = self._ages[key]
            if due <= now:
                text = Text(age(since, now))
                due_now[key] = [("age", text)]
                self._measure_age(key, text.cell_len)
                self._ages[key] = (since, age_changes_at(since, now))
        table.write_cells(due_now)

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
