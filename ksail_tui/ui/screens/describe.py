"""Describe: the object's conditions and its YAML as the API server holds it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import yaml
from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ksail_tui.models import ObjectRef
from ksail_tui.ui.dashboard_state import DashboardModel
from ksail_tui.ui.styled import DIM
from ksail_tui.ui.widgets.details import details_content


def manifest_yaml(raw: dict[str, Any]) -> str:
    """The YAML a user wants to read: without managedFields, which only the API server needs."""
    shown = dict(raw)
    metadata = dict(shown.get("metadata") or {})
    metadata.pop("managedFields", None)
    shown["metadata"] = metadata
    return yaml.safe_dump(shown, sort_keys=False, allow_unicode=True)


class DescribeScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,d", "dismiss", "Close")]

    def __init__(
        self, ref: ObjectRef, raw: dict[str, Any] | None, model: DashboardModel, now: datetime
    ) -> None:
        super().__init__()
        self._ref = ref
        self._raw = raw
        self._model = model
        self._now = now

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="describe-dialog", classes="dialog") as dialog:
            dialog.border_title = f"describe {self._ref}"
            dialog.border_subtitle = "esc close"
            yield Static(details_content(self._ref, self._model, self._now), id="describe-summary")
            yield Static(Text("YAML", style="bold"))
            if self._raw is None:
                yield Static(Text("the object is gone from the cluster", style=DIM))
            else:
                yield Static(
                    Syntax(manifest_yaml(self._raw), "yaml", theme="ansi_dark", word_wrap=True),
                    id="describe-yaml",
                )
