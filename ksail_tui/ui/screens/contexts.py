"""Contexts (``:ctx``): the kubeconfig's contexts; picking one watches that cluster instead."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from ksail_tui.kube.contexts import KubeContext
from ksail_tui.ui.styled import DIM


class ContextsScreen(ModalScreen[str | None]):
    """Returns the chosen context's name (None on esc)."""

    BINDINGS = [
        Binding("escape,q", "dismiss(None)", "Close"),
        Binding("j", "move(1)", "Down", show=False),
        Binding("k", "move(-1)", "Up", show=False),
    ]

    def __init__(self, contexts: list[KubeContext], watched: str) -> None:
        super().__init__()
        self._contexts = contexts
        self._watched = watched

    def compose(self) -> ComposeResult:
        with Vertical(id="contexts-dialog", classes="dialog") as dialog:
            dialog.border_title = "contexts"
            dialog.border_subtitle = "enter switch · esc close"
            yield Static(
                Text(
                    f"watching {self._watched or '(current)'}; the watches restart on the one you pick",
                    style=DIM,
                )
            )
            table: DataTable[Text] = DataTable(id="contexts-table", cursor_type="row")
            table.add_column("", key="mark")
            table.add_column("Context", key="name")
            table.add_column("Cluster", key="cluster")
            for context in self._contexts:
                mark = "●" if context.name == self._watched else ("*" if context.current else "")
                table.add_row(Text(mark), Text(context.name), Text(context.cluster), key=context.name)
            yield table

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        names = [c.name for c in self._contexts]
        if self._watched in names:
            table.move_cursor(row=names.index(self._watched))
        table.focus()

    def action_move(self, step: int) -> None:
        table = self.query_one(DataTable)
        table.move_cursor(row=table.cursor_row + step)

    @on(DataTable.RowSelected, "#contexts-table")
    def _picked(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.dismiss(str(event.row_key.value))
