"""The Environments view (key 7): every Environment, live from a watch, with its progress; the
selected one's steps below. Its keys (n, r, ctrl+d, o, enter, i) come from the actions table and
act in :mod:`ksail_tui.ui.environment_actions`."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, cast

from rich.console import Group
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, OptionList, Static

from ksail_tui.kube.watch import DELETED, SYNC, Watcher, WatchEvent, WatchState
from ksail_tui.operator.environments import EnvironmentView, operator_silent
from ksail_tui.ui.actions import bindings
from ksail_tui.ui.environment_services import ClusterEnvironments
from ksail_tui.ui.format import DIM
from ksail_tui.ui.paths import stylesheet
from ksail_tui.ui.widgets.environments_table import EnvironmentsTable, step_lines

if TYPE_CHECKING:
    from ksail_tui.ui.app import KsailApp

AGE_REFRESH_SECONDS = 5.0
OPERATOR_HINT = (
    "No operator is running against this cluster: Environments get no status. "
    "Start it: ksail-tui operator run"
)
NO_CRDS_HINT = "The Environment CRDs are not installed on this cluster. Press i to install them."


class EnvironmentsChanged(Message):
    def __init__(self, event: WatchEvent) -> None:
        super().__init__()
        self.event = event


class WatchStateChanged(Message):
    def __init__(self, state: WatchState) -> None:
        super().__init__()
        self.state = state


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


class EnvironmentsBase(Screen[None]):
    BINDINGS = bindings("environments")
    CSS_PATH = stylesheet("environments.tcss")

    def __init__(self, services: ClusterEnvironments) -> None:
        super().__init__(id="environments")
        self.services = services
        self._watcher: Watcher | None = None
        self.crds_missing = False
        self.projects: list[str] = []

    @property
    def ksail(self) -> KsailApp:
        return cast("KsailApp", self.app)

    def now(self) -> datetime:
        return self.ksail.now()

    def compose(self) -> ComposeResult:
        yield Static(Text("Environments", style="bold"), id="environments-title")
        yield Static("", id="environments-banner")
        yield EnvironmentsTable()
        yield Static("", id="environment-steps")
        yield Static("", id="environment-activity")
        yield Footer(show_command_palette=False)

    @property
    def table(self) -> EnvironmentsTable:
        return self.query_one(EnvironmentsTable)

    def on_mount(self) -> None:
        self.table.focus()
        self.set_interval(AGE_REFRESH_SECONDS, self._tick)
        self.check_cluster()

    def on_unmount(self) -> None:
        self.stop_watch()

    def stop_watch(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None

    def start_watch(self) -> None:
        self.stop_watch()
        self._watcher = self.services.watch(self._on_watch_event, self._on_watch_state)

    def _on_watch_event(self, event: WatchEvent) -> None:  # on the watcher's thread
        self.post_message(EnvironmentsChanged(event))

    def _on_watch_state(self, state: WatchState) -> None:
        self.post_message(WatchStateChanged(state))

    def check_cluster(self) -> None:
        raise NotImplementedError  # in EnvironmentActions

    def banner(self, text: str) -> None:
        banner = self.query_one("#environments-banner", Static)
        banner.update(text)
        banner.set_class(bool(text), "-shown")

    def _tick(self) -> None:
        now = self.now()
        self.table.refresh_ages(now)
        self._check_operator(now)

    def _check_operator(self, now: datetime) -> None:
        if not self.crds_missing:
            self.banner(OPERATOR_HINT if operator_silent(list(self.table.views.values()), now) else "")

    @on(EnvironmentsChanged)
    def _environments_changed(self, message: EnvironmentsChanged) -> None:
        event, now = message.event, self.now()
        if event.type == SYNC:
            self.table.replace_all([EnvironmentView.from_object(o) for o in event.objects], now)
        elif event.type == DELETED and event.object is not None:
            self.table.forget(event.object["metadata"]["name"])
        elif event.object is not None:
            self.table.show(EnvironmentView.from_object(event.object), now)
        self._show_selected()
        self._check_operator(now)
        if isinstance(self.app.screen, EnvironmentDetailsScreen) and event.object is not None:
            details = self.app.screen
            if details.view.name == event.object["metadata"]["name"] and event.type != DELETED:
                details.show(EnvironmentView.from_object(event.object))

    @on(WatchStateChanged)
    def _watch_state(self, message: WatchStateChanged) -> None:
        if not message.state.connected:
            self.banner(f"Lost the cluster ({message.state.reason}); reconnecting…")
        else:
            self._check_operator(self.now())

    @on(DataTable.RowHighlighted)
    def _highlighted(self, _: DataTable.RowHighlighted) -> None:
        self._show_selected()

    def _show_selected(self) -> None:
        view = self.table.selected
        steps = self.query_one("#environment-steps", Static)
        steps.update(
            details_content(view, self.now()) if view else Text("no Environments yet: press n", style=DIM)
        )
