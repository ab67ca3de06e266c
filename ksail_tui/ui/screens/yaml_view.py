"""YAML (``y``): the selected object as the API server holds it, like k9s' YAML view."""

from __future__ import annotations

from typing import Any

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ksail_tui.models import ObjectRef
from ksail_tui.ui.screens.describe import manifest_yaml
from ksail_tui.ui.styled import DIM


class YamlScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,y", "dismiss", "Close"),
        Binding("j", "scroll('down')", "Down", show=False),
        Binding("k", "scroll('up')", "Up", show=False),
    ]

    def __init__(self, ref: ObjectRef, raw: dict[str, Any] | None) -> None:
        super().__init__()
        self._ref = ref
        self._raw = raw

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="yaml-dialog", classes="dialog") as dialog:
            dialog.border_title = f"yaml {self._ref}"
            dialog.border_subtitle = "j/k scroll · esc close"
            if self._raw is None:
                yield Static(Text("the object is gone from the cluster", style=DIM))
            else:
                yield Static(
                    Syntax(manifest_yaml(self._raw), "yaml", theme="ansi_dark", word_wrap=True),
                    id="yaml-text",
                )

    def action_scroll(self, direction: str) -> None:
        scroll = self.query_one("#yaml-dialog", VerticalScroll)
        scroll.scroll_relative(y=1 if direction == "down" else -1, animate=False)
