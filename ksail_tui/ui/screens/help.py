"""Help: every key (as remapped by the user), what the colours mean, and where settings live."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ksail_tui.flux.status import Health
from ksail_tui.ui.actions import ACTIONS
from ksail_tui.ui.settings import settings_path
from ksail_tui.ui.styled import DIM, health_text

if TYPE_CHECKING:
    from ksail_tui.ui.app import KsailApp

HEALTH_MEANING = {
    Health.READY: "applied and current",
    Health.PROGRESSING: "working on it, or the cluster does not run the newest artifact yet",
    Health.FAILING: "Ready=False with a failure reason; Flux retries, but look now",
    Health.STALLED: "terminal error: Flux will not retry until the object changes",
    Health.SUSPENDED: "Flux does not reconcile it until resumed (s)",
    Health.UNKNOWN: "not reconciled yet, or missing",
}


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        app = cast("KsailApp", self.app)
        keys = Table(box=None, show_header=True, header_style=DIM, pad_edge=False)
        keys.add_column("key", no_wrap=True, style="bold")
        keys.add_column("action", no_wrap=True)
        keys.add_column("id (for the keymap)", no_wrap=True, style=DIM)
        keys.add_column("what it does")
        for spec in ACTIONS:
            keys.add_row(app.keys_of(spec), spec.title, spec.id, spec.help)
        keys.add_row("tab / shift+tab", "Next / previous pane", "", "move the focus")
        keys.add_row("esc", "Back", "", "close a dialog, clear the filter")
        colours = Table(box=None, show_header=False, pad_edge=False)
        colours.add_column(no_wrap=True)
        colours.add_column()
        for health, meaning in HEALTH_MEANING.items():
            colours.add_row(health_text(health), meaning)
        settings = Text.assemble(
            ("Settings file: ", DIM),
            (str(settings_path()), "bold"),
            ("\nRemap keys with a ", DIM),
            ("keymap:", "bold"),
            (" section (binding id: keys), e.g. ", DIM),
            ("keymap: {reconcile: f5}", "bold"),
            (". Also: registry_refresh_seconds, clusters_refresh_seconds, prune_keep.", DIM),
        )
        with VerticalScroll(id="help-dialog", classes="dialog") as dialog:
            dialog.border_title = "help"
            dialog.border_subtitle = "esc close"
            yield Static(Group(Text("Keys", style="bold"), keys), id="help-keys")
            yield Static(Group(Text("Colours", style="bold"), colours), id="help-colours")
            yield Static(settings, id="help-settings")
