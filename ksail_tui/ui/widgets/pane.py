"""The bordered, focusable, scrollable box every text pane is drawn in."""

from __future__ import annotations

from rich.console import RenderableType
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static


class Pane(VerticalScroll):
    """A pane whose whole content is one renderable; ``[n] Title`` on its border."""

    def __init__(self, title: str, number: int, *, id: str) -> None:
        super().__init__(id=id, classes="pane")
        self.border_title = f"[{number}] {title}"
        self._body = Static(id=f"{id}-body", classes="pane-body")

    def compose(self) -> ComposeResult:
        yield self._body

    def show(self, content: RenderableType) -> None:
        self._body.update(content)
