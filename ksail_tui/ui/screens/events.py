"""Events: what the Flux controllers reported about one object, fetched on opening."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from ksail_tui.errors import KsailError
from ksail_tui.flux.service import FluxEvent
from ksail_tui.flux.status import Health
from ksail_tui.humanize import parse_time
from ksail_tui.models import ObjectRef
from ksail_tui.ui.styled import DIM, HEALTH_STYLE, age

EventLoader = Callable[[ObjectRef], list[FluxEvent]]


class EventsScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,e", "dismiss", "Close")]

    def __init__(self, ref: ObjectRef, load: EventLoader, now: datetime) -> None:
        super().__init__()
        self._ref = ref
        self._load = load
        self._now = now
        self._events: list[FluxEvent] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="events-dialog", classes="dialog") as dialog:
            dialog.border_title = f"events of {self._ref}"
            dialog.border_subtitle = "esc close"
            yield Static(Text("loading…", style=DIM), id="events-note")
            table: DataTable[str | Text] = DataTable(id="events-table", cursor_type="row")
            for column in ("Last seen", "Type", "Reason", "From", "Count", "Message"):
                table.add_column(column, key=column.lower())
            yield table
            yield Static(id="events-message")

    def on_mount(self) -> None:
        self.fetch()

    @work(thread=True, exit_on_error=False, group="events")
    def fetch(self) -> list[FluxEvent]:
        return self._load(self._ref)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        event.stop()  # this screen reports its own worker's outcome
        note = self.query_one("#events-note", Static)
        if event.state is WorkerState.ERROR:
            error = event.worker.error
            message = error.message if isinstance(error, KsailError) else f"{type(error).__name__}: {error}"
            hint = f"\nhint: {error.hint}" if isinstance(error, KsailError) and error.hint else ""
            note.update(Text(f"cannot list events: {message}{hint}", style=HEALTH_STYLE[Health.FAILING]))
            return
        if event.state is not WorkerState.SUCCESS:
            return
        events: list[FluxEvent] = event.worker.result or []
        note.update(Text(f"{len(events)} event{'s' if len(events) != 1 else ''}, newest last", style=DIM))
        table = self.query_one("#events-table", DataTable)
        for index, item in enumerate(events):
            style = HEALTH_STYLE[Health.FAILING] if item.type == "Warning" else ""
            seen = parse_time(item.timestamp)
            table.add_row(
                f"{age(seen, self._now)} ago" if seen else "-",
                Text(item.type, style=style),
                Text(item.reason, style=style),
                item.component,
                str(item.count),
                # One line, cut to the room left; the whole message shows below the table.
                Text(" ".join(item.message.split()), no_wrap=True, overflow="ellipsis"),
                key=str(index),
            )
        self._events = events
        self.call_after_refresh(self._fit_message)  # once the other columns are measured
        if events:
            table.move_cursor(row=len(events) - 1)
            self._show_message(len(events) - 1)

    def on_resize(self) -> None:
        self._fit_message()

    def _fit_message(self) -> None:
        """The message column takes the table's width left by the others (no sideways scroll)."""
        table = self.query_one("#events-table", DataTable)
        *others, message = table.ordered_columns
        padding = 2 * table.cell_padding
        left = (
            table.scrollable_content_region.width - sum(c.get_render_width(table) for c in others) - padding
        )
        message.auto_width = False
        widest = max((len(" ".join(item.message.split())) for item in self._events), default=0)
        message.width = max(len(str(message.label)), min(widest, left))
        table.refresh()

    @on(DataTable.RowHighlighted, "#events-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_message(event.cursor_row)

    def _show_message(self, row: int) -> None:
        """The whole message of the highlighted event, which its cell cuts short."""
        if 0 <= row < len(self._events):
            self.query_one("#events-message", Static).update(self._events[row].message)
