"""The ``:`` line, as in k9s: a resource alias (``:ks``, ``:hr``) or a view (``:ctx``)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class CommandLineScreen(ModalScreen[str | None]):
    """Returns what was typed after the colon (None on esc)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, suggestions: list[str]) -> None:
        super().__init__()
        self._suggestions = suggestions

    def compose(self) -> ComposeResult:
        with Horizontal(id="command-line"):
            yield Static(":", id="command-prompt")
            yield Input(
                placeholder=" ".join(self._suggestions),
                id="command-input",
            )

    @on(Input.Submitted, "#command-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)
