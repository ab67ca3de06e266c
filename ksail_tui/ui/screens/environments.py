"""The Environments pane's dialogs: an Environment's details (enter) and which Project a new
preview belongs to (n, when there are several). The pane is
:mod:`ksail_tui.ui.widgets.environments_pane`, its actions :mod:`ksail_tui.ui.environment_actions`."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, cast

from rich.console import Group
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static

from ksail_tui.operator.environments import EnvironmentView
from ksail_tui.ui.styled import DIM
from ksail_tui.ui.widgets.environments_table import step_lines

if TYPE_CHECKING:
    from ksail_tui.ui.app import KsailApp

NO_CRDS_HINT = "The Environment CRDs are not installed on this cluster. Press i to install them."


def details_content(view: EnvironmentView, now: datetime, objects: list[str] | None = None) -> Group:
    """Steps, conditions and (when loaded) the namespace's objects of one Environment."""
    head = Text(f"{view.name}  ", style="bold")
    head.append(f"{view.phase} {view.done}/{view.total}")
    if view.target_namespace:
        head.append(" · namespace ", style=DIM)
        head.append(view.target_namespace)
    if view.url:
        head.append(" · ", style=DIM)
        head.append(view.url, style="underline")
    lines: list[Text] = [head, *step_lines(view, now)]
    if view.conditions:
        lines.append(Text("Conditions", style="bold"))
        for condition in view.conditions:
            line = Text(f"  {condition.get('type', ''):<15} {condition.get('status', ''):<8}")
            line.append(f"{condition.get('reason', '')}: {condition.get('message', '')}", style=DIM)
            lines.append(line)
    if objects is not None:
        lines.append(
            Text("In the namespace (Flux objects are also rows of the Flux table, key 4)", style="bold")
        )
        lines.extend(Text(f"  {item}") for item in objects or ["(nothing yet)"])
    return Group(*lines)


class ProjectChoice(ModalScreen[str | None]):
    """Which Project the new preview belongs to, when there are several."""

    BINDINGS = [("escape", "dismiss_none", "Cancel")]

    def __init__(self, projects: list[str]) -> None:
        super().__init__()
        self._projects = projects

    def compose(self) -> ComposeResult:
        options = OptionList(*self._projects, id="project-choice", classes="dialog")
        options.border_title = "New preview: which Project?"
        yield options

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self._projects[event.option_index])


class EnvironmentDetailsScreen(ModalScreen[None]):
    BINDINGS = [("escape,enter,q", "app.pop_screen", "Close"), ("f", "flux_rows", "Flux rows")]

    def __init__(self, view: EnvironmentView, now: datetime) -> None:
        super().__init__()
        self.view, self._now, self.objects = view, now, cast("list[str] | None", None)

    def compose(self) -> ComposeResult:
        body = Static(details_content(self.view, self._now), id="environment-details-body", classes="dialog")
        body.border_title = f"Environment {self.view.name}"
        yield body

    def action_flux_rows(self) -> None:
        """Back to the dashboard, its Flux table filtered to this Environment's namespace."""
        namespace = self.view.target_namespace
        if not namespace:
            self.notify(f"{self.view.name} has no namespace yet", severity="warning")
            return
        while len(self.app.screen_stack) > 1:
            self.app.pop_screen()
        self.ksail.dashboard.show_flux_rows_of(namespace)

    @property
    def ksail(self) -> KsailApp:
        return cast("KsailApp", self.app)

    def show(self, view: EnvironmentView | None = None, objects: list[str] | None = None) -> None:
        self.view = view or self.view
        self.objects = objects if objects is not None else self.objects
        self.query_one("#environment-details-body", Static).update(
            details_content(self.view, self._now, self.objects)
        )
