"""The Environments pane (key 7): a banner when something is missing (the CRDs, the operator),
the table, the selected Environment's current step and what the last action did.

Its keys are the ``screen="environments"`` rows of :mod:`ksail_tui.ui.actions`, bound here so that
they win over the dashboard's while the pane has the focus; they run the screen's actions
(:mod:`ksail_tui.ui.environment_actions`)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from ksail_tui.operator.environments import EnvironmentView
from ksail_tui.ui.actions import bindings
from ksail_tui.ui.styled import DIM, health_text
from ksail_tui.ui.widgets.environments_table import EnvironmentsTable, step_health


def current_step(view: EnvironmentView) -> Text:
    """One line: the step that runs or failed (with its message), or the URL once all are done."""
    line = Text(f"{view.name}  ", style="bold")
    step = next((s for s in view.steps if s.state != "Succeeded"), None)
    if step is not None:
        line.append_text(health_text(step_health(step.state), f"{step.name} {step.state}"))
        if step.message:
            line.append(f": {step.message}", style=DIM)
    elif view.steps:
        line.append(f"all {len(view.steps)} steps done", style=DIM)
        if view.url:
            line.append(" · ", style=DIM)
            line.append(view.url, style="underline")
    else:
        line.append(f"{view.phase or 'waiting for the operator'} (enter: details)", style=DIM)
    return line


class EnvironmentsPane(Vertical):
    BINDINGS = bindings("environments")

    def __init__(self) -> None:
        super().__init__(id="environments", classes="pane")
        self.border_title = "[7] Environments"
        self._banner = ""

    def compose(self) -> ComposeResult:
        yield Static("", id="environments-banner")
        yield EnvironmentsTable()
        yield Static("", id="environment-steps")
        yield Static("", id="environment-activity")

    @property
    def table(self) -> EnvironmentsTable:
        return self.query_one(EnvironmentsTable)

    def banner(self, text: str) -> None:
        if text == self._banner:
            return  # the same answer again: nothing to lay out or draw
        self._banner = text
        banner = self.query_one("#environments-banner", Static)
        banner.update(text)
        banner.set_class(bool(text), "-shown")

    def activity(self, text: str) -> None:
        self.query_one("#environment-activity", Static).update(text)

    def show_selected(self) -> None:
        view = self.table.selected
        self.query_one("#environment-steps", Static).update(
            current_step(view)
            if view
            else Text("no Environments yet: n makes a preview of this branch", style=DIM)
        )
