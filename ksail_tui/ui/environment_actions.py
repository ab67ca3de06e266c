"""The Environments pane's actions and its live state, mixed into the dashboard (key 7).

At start the dashboard asks whether the cluster serves the CRDs, then watches Environments (rows
keyed by name, updated in place) and reads the operator's heartbeat Lease every few seconds.
Each action reads the selected Environment, starts a job calling
:class:`~ksail_tui.ui.environment_services.ClusterEnvironments`, and handles the job's outcome
message with ``@on``. What the rows show comes from the watch, not from these outcomes.
"""

from __future__ import annotations

import webbrowser
from collections.abc import Callable
from time import monotonic
from typing import Any

from textual import on
from textual.message import Message
from textual.widgets import DataTable, Input

from ksail_tui.config import ClusterConfig
from ksail_tui.errors import KsailError, Unavailable
from ksail_tui.kube.watch import DELETED, SYNC, Watcher, WatchEvent, WatchState
from ksail_tui.operator.environments import EnvironmentView
from ksail_tui.operator.heartbeat import Heartbeat
from ksail_tui.ui.command_line import View, register_view
from ksail_tui.ui.environment_services import ClusterEnvironments, Preview
from ksail_tui.ui.jobs import JobFailed, JobProgress
from ksail_tui.ui.screens.confirm import ConfirmScreen
from ksail_tui.ui.screens.dashboard_base import DashboardBase
from ksail_tui.ui.screens.environments import NO_CRDS_HINT, EnvironmentDetailsScreen, ProjectChoice
from ksail_tui.ui.widgets.environments_pane import EnvironmentsPane

JOB = "environments"
HEARTBEAT_SECONDS = 5.0
# A cluster without the CRDs (or no cluster) is asked again after 5 s, then less and less often:
# asking every 5 s was most of an idle dashboard's CPU. Installing them here asks at once.
RECHECK_MAX_SECONDS = 60.0

for _name in ("env", "environments"):
    register_view(View(_name, "focus_pane('environments')", "the preview Environments (key 7)"))


def open_in_browser(url: str) -> bool:
    """Open ``url`` in a graphical browser; False when there is none. A console browser (lynx,
    w3m: what webbrowser falls back to without a display) would take over this terminal."""
    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        return False
    if type(browser) is webbrowser.GenericBrowser:
        return False
    return browser.open(url, new=2)


class EnvironmentsChanged(Message):
    def __init__(self, event: WatchEvent) -> None:
        super().__init__()
        self.event = event


class WatchStateChanged(Message):
    def __init__(self, state: WatchState) -> None:
        super().__init__()
        self.state = state


class ClusterChecked(Message):
    def __init__(
        self,
        config: ClusterConfig,
        source: ClusterEnvironments | None,
        projects: list[str] | None,
        error: str,
    ) -> None:
        super().__init__()
        self.config, self.source, self.projects, self.error = config, source, projects, error


class OperatorChecked(Message):
    def __init__(self, heartbeat: Heartbeat | None, error: str) -> None:
        super().__init__()
        self.heartbeat, self.error = heartbeat, error


class PreviewCreated(Message):
    def __init__(self, preview: Preview) -> None:
        super().__init__()
        self.preview = preview


class EnvironmentDone(Message):
    """An action on one Environment finished; ``text`` says what happened."""

    def __init__(self, group: str, text: str) -> None:
        super().__init__()
        self.group, self.text = group, text


class NamespaceObjectsLoaded(Message):
    def __init__(self, name: str, objects: list[str]) -> None:
        super().__init__()
        self.name, self.objects = name, objects


class EnvironmentActions(DashboardBase):
    # How the pane reaches the cluster; tests and the benchmark replace it.
    environments_factory: Callable[[ClusterConfig], ClusterEnvironments] = ClusterEnvironments

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.env_source: ClusterEnvironments | None = None
        self.crds_missing = False
        self.projects: list[str] = []
        self._env_watcher: Watcher | None = None
        self._heartbeat: Heartbeat | None = None
        self._env_problem = ""  # the cluster check's or the watch's trouble, shown over the heartbeat
        self._recheck_delay = HEARTBEAT_SECONDS  # after a check that found no CRDs (or no cluster)
        self._recheck_at = 0.0  # monotonic() of the next such check

    @property
    def environments_pane(self) -> EnvironmentsPane:
        return self.query_one(EnvironmentsPane)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        super().start()
        self.set_interval(HEARTBEAT_SECONDS, self._environments_tick)
        self.check_environments()

    def stop(self) -> None:
        self._stop_env_watch()
        super().stop()

    def restart_live(self, config: ClusterConfig, why: str) -> None:
        super().restart_live(config, why)
        self._stop_env_watch()
        self.env_source, self._heartbeat = None, None
        self._recheck_delay = HEARTBEAT_SECONDS
        self.environments_pane.table.replace_all([], self.now())
        self.check_environments()

    def _stop_env_watch(self) -> None:
        if self._env_watcher is not None:
            self._env_watcher.stop()
            self._env_watcher = None

    def check_environments(self) -> None:
        """Whether the cluster serves the CRDs (and its Projects); then watch the Environments."""
        factory, config = self.environments_factory, self.services.config

        def job() -> Message:
            try:
                source = factory(config)
                return ClusterChecked(config, source, source.check(), "")
            except Unavailable as error:
                return ClusterChecked(config, None, None, str(error))
            except KsailError as error:  # no kubeconfig yet, no cluster yet
                return ClusterChecked(config, None, None, error.message)

        self.ksail.jobs.run(f"{JOB}-check", job, self)

    @on(ClusterChecked)
    def _checked(self, message: ClusterChecked) -> None:
        if not self.showing or message.config is not self.services.config:
            return  # closing, or the check of a configuration no longer shown
        self.crds_missing = message.projects is None and "does not serve" in message.error
        self.env_source = message.source if message.projects is not None else None
        if message.projects is None:
            self._env_problem = NO_CRDS_HINT if self.crds_missing else message.error
            self._show_banner()
            self._recheck_at = monotonic() + self._recheck_delay
            self._recheck_delay = min(2 * self._recheck_delay, RECHECK_MAX_SECONDS)
            return
        self._recheck_delay = HEARTBEAT_SECONDS
        self.projects = message.projects
        self._env_problem = ""
        self._stop_env_watch()
        source = message.source
        assert source is not None
        self._env_watcher = source.watch(self._on_env_event, self._on_env_state)
        self._check_operator()

    def _on_env_event(self, event: WatchEvent) -> None:  # on the watcher's thread
        self.post_message(EnvironmentsChanged(event))

    def _on_env_state(self, state: WatchState) -> None:  # on the watcher's thread
        self.post_message(WatchStateChanged(state))

    def _environments_tick(self) -> None:
        if not self.showing:
            return
        self.environments_pane.table.refresh_ages(self.now())
        if self.env_source is None:  # no cluster, or no CRDs, yet: ask again, in a while
            due = monotonic() >= self._recheck_at
            if due and not self.ksail.jobs.running(f"{JOB}-check", f"{JOB}-crds"):
                self.check_environments()
            return
        self._check_operator()

    def _check_operator(self) -> None:
        source, now = self.env_source, self.now()
        if source is None or self.ksail.jobs.running(f"{JOB}-heartbeat"):
            return

        def job() -> Message:
            try:
                return OperatorChecked(source.operator_heartbeat(now), "")
            except KsailError as error:
                return OperatorChecked(None, error.message)

        self.ksail.jobs.run(f"{JOB}-heartbeat", job, self)

    @on(OperatorChecked)
    def _operator_checked(self, message: OperatorChecked) -> None:
        if self.showing and message.heartbeat is not None:
            self._heartbeat = message.heartbeat
            self._show_banner()

    def _show_banner(self) -> None:
        beat = self._heartbeat
        operator = beat.summary if beat is not None and not beat.running else ""
        self.environments_pane.banner(self._env_problem or operator)

    # -- the watch -----------------------------------------------------------------------------

    @on(EnvironmentsChanged)
    def _environments_changed(self, message: EnvironmentsChanged) -> None:
        if not self.showing:
            return
        event, now, pane = message.event, self.now(), self.environments_pane
        if event.type == SYNC:
            pane.table.replace_all([EnvironmentView.from_object(o) for o in event.objects], now)
        elif event.type == DELETED and event.object is not None:
            pane.table.forget(event.object["metadata"]["name"])
        elif event.object is not None:
            pane.table.show(EnvironmentView.from_object(event.object), now)
        pane.show_selected()
        details = self.app.screen
        if (
            isinstance(details, EnvironmentDetailsScreen)
            and event.object is not None
            and event.type != DELETED
            and details.view.name == event.object["metadata"]["name"]
        ):
            details.show(EnvironmentView.from_object(event.object))

    @on(WatchStateChanged)
    def _env_watch_state(self, message: WatchStateChanged) -> None:
        if not self.showing:
            return
        state = message.state
        self._env_problem = "" if state.connected else f"Lost the cluster ({state.reason}); reconnecting…"
        self._show_banner()

    @on(DataTable.RowHighlighted, "#environments-table")
    def _env_highlighted(self, _: DataTable.RowHighlighted) -> None:
        self.environments_pane.show_selected()

    # -- the actions -----------------------------------------------------------------------------

    def _env_run(self, group: str, label: str, job: Callable[[], Message]) -> None:
        if self.begin(group, label):
            self.run_job(group, job)
            self.environments_pane.activity(label)

    def _env_progress(self, group: str, text: str) -> None:  # on the job's thread
        self.post_message(JobProgress(group, text))

    def _selected_environment(self) -> EnvironmentView | None:
        view = self.environments_pane.table.selected
        if view is None:
            self.notify("no Environment selected (7 shows them)", severity="warning")
        return view

    def _source(self) -> ClusterEnvironments | None:
        if self.env_source is None:
            self.notify(self._env_problem or "the Environments are not loaded yet", severity="warning")
        return self.env_source

    def action_env_install_crds(self) -> None:
        if not self.crds_missing:
            self.notify("the CRDs are installed already")
            return
        config, factory = self.services.config, self.environments_factory

        def job() -> Message:
            factory(config).install_crds()
            return EnvironmentDone(f"{JOB}-crds", "installed the Project and Environment CRDs")

        self._env_run(f"{JOB}-crds", "installing the CRDs", job)

    def action_env_new(self) -> None:
        if self.crds_missing:
            self.notify(NO_CRDS_HINT, severity="warning")
            return
        if not self.projects:
            self.notify("no Project here yet: ksail-tui project init", severity="warning")
            return
        if len(self.projects) == 1:
            self._create(self.projects[0])
            return
        self.app.push_screen(ProjectChoice(self.projects), self._project_chosen)

    def _project_chosen(self, project: str | None) -> None:
        if project is not None:
            self._create(project)

    def _create(self, project: str) -> None:
        source = self._source()
        if source is None:
            return
        group = f"{JOB}-new"

        def job() -> Message:
            report = lambda text: self._env_progress(group, text)  # noqa: E731
            return PreviewCreated(source.create_preview(project, report))

        self._env_run(group, f"new preview of Project {project}", job)

    @on(PreviewCreated)
    def _created(self, message: PreviewCreated) -> None:
        self.finish(f"{JOB}-new")
        view, table = message.preview.view, self.environments_pane.table
        pushed = "pushed the artifact, " if message.preview.pushed else ""
        self.environments_pane.activity(
            f"{pushed}created {view.name} ({view.revision}); the operator takes it from here"
        )
        if view.name in table.rows:
            table.move_cursor(row=table.get_row_index(view.name))

    def action_env_reconcile(self) -> None:
        view, source = self._selected_environment(), self.env_source
        if view is None or source is None:
            return
        group = f"{JOB}-reconcile"

        def job() -> Message:
            touched = source.reconcile(view.name)
            return EnvironmentDone(group, f"asked for a reconciliation of {', '.join(touched)}")

        self._env_run(group, f"reconciling {view.name}", job)

    def action_env_delete(self) -> None:
        view = self._selected_environment()
        if view is None:
            return
        where = f" and namespace {view.target_namespace}" if view.target_namespace else ""
        question = ConfirmScreen(
            f"Delete Environment {view.name}?",
            f"The operator deletes Environment {view.name}{where} with everything in it.",
            confirm="Delete",
            destructive=True,
        )
        self.app.push_screen(question, lambda yes: self._delete(view.name) if yes else None)

    def _delete(self, name: str) -> None:
        source = self._source()
        if source is None:
            return
        group = f"{JOB}-delete"

        def job() -> Message:
            source.delete(name, lambda text: self._env_progress(group, text), self.ksail.jobs.closing)
            return EnvironmentDone(group, f"deleted {name}: the namespace is gone")

        self._env_run(group, f"deleting {name}", job)

    def action_env_open(self) -> None:
        """Open the URL in a browser and copy it; without a browser, say so (it is copied)."""
        view = self._selected_environment()
        if view is None:
            return
        if not view.url:
            self.notify(f"{view.name} has no URL yet ({view.phase})", severity="warning")
            return
        self.app.copy_to_clipboard(view.url)
        if self.app.is_web:  # textual-serve: the user's own browser opens it
            self.app.open_url(view.url)
            opened = True
        else:
            try:
                opened = open_in_browser(view.url)
            except OSError:  # the browser's command is set but cannot start
                opened = False
        if opened:
            self.notify(f"opened {view.url} (and copied it)")
        else:
            self.notify(f"no browser to open it on this machine; copied {view.url}", severity="warning")

    def action_env_details(self) -> None:
        view, source = self._selected_environment(), self.env_source
        if view is None or source is None:
            return
        self.app.push_screen(EnvironmentDetailsScreen(view, self.now()))

        def job() -> Message:
            return NamespaceObjectsLoaded(view.name, source.namespace_objects(view))

        self.ksail.jobs.run(f"{JOB}-objects", job, self)

    def action_env_flux_rows(self) -> None:
        view = self._selected_environment()
        if view is None:
            return
        if not view.target_namespace:
            self.notify(f"{view.name} has no namespace yet", severity="warning")
            return
        self.show_flux_rows_of(view.target_namespace)

    def show_flux_rows_of(self, namespace: str) -> None:
        """The Flux table filtered to one namespace (an Environment's Flux objects)."""
        self.action_filter()
        self.query_one("#flux-filter", Input).value = namespace
        self.query_one("#flux-table").focus()

    @on(DataTable.RowSelected, "#environments-table")
    def _env_row_selected(self, _: DataTable.RowSelected) -> None:
        # The table takes enter itself (select_cursor); its selection is the details key.
        self.action_env_details()

    @on(NamespaceObjectsLoaded)
    def _objects(self, message: NamespaceObjectsLoaded) -> None:
        screen = self.app.screen
        if isinstance(screen, EnvironmentDetailsScreen) and screen.view.name == message.name:
            screen.show(objects=message.objects)

    # -- outcomes --------------------------------------------------------------------------------

    @on(JobProgress)
    def _env_job_progress(self, message: JobProgress) -> None:
        if self.showing and message.group.startswith(JOB):
            self.environments_pane.activity(message.text)

    @on(EnvironmentDone)
    def _env_done(self, message: EnvironmentDone) -> None:
        if not self.showing:
            return
        self.finish(message.group)
        self.environments_pane.activity(message.text)
        self.report(message.text)
        if message.group == f"{JOB}-crds":
            self.check_environments()

    @on(JobFailed)
    def _env_job_failed(self, message: JobFailed) -> None:
        if self.showing and message.group.startswith(JOB):
            self.environments_pane.activity(f"failed: {message.error}")
