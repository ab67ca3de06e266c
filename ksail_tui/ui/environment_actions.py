"""The Environments view's actions and the dashboard's way into it (key 7).

Each action reads the selected Environment, starts a job calling
:class:`~ksail_tui.ui.environment_services.ClusterEnvironments`, and handles the job's outcome
message with ``@on``. What the rows show comes from the watch, not from these outcomes.
"""

from __future__ import annotations

from collections.abc import Callable

from textual import on
from textual.message import Message
from textual.widgets import DataTable, Input, Static

from ksail_tui.config import ClusterConfig
from ksail_tui.errors import Unavailable
from ksail_tui.ui.environment_services import ClusterEnvironments, Preview
from ksail_tui.ui.jobs import JobFailed, JobProgress
from ksail_tui.ui.screens.confirm import ConfirmScreen
from ksail_tui.ui.screens.dashboard_base import DashboardBase
from ksail_tui.ui.screens.environments import (
    NO_CRDS_HINT,
    EnvironmentDetailsScreen,
    EnvironmentsBase,
    ProjectChoice,
)

JOB = "environments"


class ClusterChecked(Message):
    def __init__(self, projects: list[str] | None, error: str) -> None:
        super().__init__()
        self.projects, self.error = projects, error


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


class EnvironmentActions(EnvironmentsBase):
    def _run(self, group: str, label: str, job: object) -> bool:
        jobs = self.ksail.jobs
        if not jobs.begin(group, label):
            self.notify(f"{jobs.busy[group]} is still running", severity="warning")
            return False
        jobs.run(group, job, self)  # type: ignore[arg-type]
        self.banner_progress(label)
        return True

    def _post_progress(self, group: str, text: str) -> None:  # on the job's thread
        self.post_message(JobProgress(group, text))

    def banner_progress(self, text: str) -> None:
        self.query_one("#environment-activity", Static).update(text)

    def check_cluster(self) -> None:
        def job() -> Message:
            try:
                return ClusterChecked(self.services.check(), "")
            except Unavailable as error:
                return ClusterChecked(None, str(error))

        self.ksail.jobs.run(f"{JOB}-check", job, self)

    @on(ClusterChecked)
    def _checked(self, message: ClusterChecked) -> None:
        self.crds_missing = message.projects is None
        if message.projects is None:
            self.banner(NO_CRDS_HINT if "does not serve" in message.error else message.error)
            return
        self.projects = message.projects
        self.banner("")
        self.start_watch()

    def action_env_install_crds(self) -> None:
        if not self.crds_missing:
            self.notify("the CRDs are installed already")
            return

        def job() -> Message:
            self.services.install_crds()
            return EnvironmentDone(f"{JOB}-crds", "installed the Project and Environment CRDs")

        self._run(f"{JOB}-crds", "installing the CRDs", job)

    # -- n -----------------------------------------------------------------------------------

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
        group = f"{JOB}-new"

        def job() -> Message:
            return PreviewCreated(
                self.services.create_preview(project, lambda text: self._post_progress(group, text))
            )

        self._run(group, f"new preview of Project {project}", job)

    @on(PreviewCreated)
    def _created(self, message: PreviewCreated) -> None:
        self.ksail.jobs.finish(f"{JOB}-new")
        view = message.preview.view
        pushed = "pushed the artifact, " if message.preview.pushed else ""
        self.banner_progress(
            f"{pushed}created {view.name} ({view.revision}); the operator takes it from here"
        )
        if view.name in self.table.rows:
            self.table.move_cursor(row=self.table.get_row_index(view.name))

    # -- r, ctrl+d, o, enter -------------------------------------------------------------------

    def action_env_reconcile(self) -> None:
        view = self.table.selected
        if view is None:
            return
        group = f"{JOB}-reconcile"

        def job() -> Message:
            touched = self.services.reconcile(view.name)
            return EnvironmentDone(group, f"asked for a reconciliation of {', '.join(touched)}")

        self._run(group, f"reconciling {view.name}", job)

    def action_env_delete(self) -> None:
        view = self.table.selected
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
        group = f"{JOB}-delete"

        def job() -> Message:
            self.services.delete(name, lambda text: self._post_progress(group, text), self.ksail.jobs.closing)
            return EnvironmentDone(group, f"deleted {name}: the namespace is gone")

        self._run(group, f"deleting {name}", job)

    def action_env_open(self) -> None:
        view = self.table.selected
        if view is None:
            return
        if not view.url:
            self.notify(f"{view.name} has no URL yet ({view.phase})", severity="warning")
            return
        self.app.copy_to_clipboard(view.url)
        self.notify(f"copied {view.url}")

    def action_env_details(self) -> None:
        view = self.table.selected
        if view is None:
            return
        self.app.push_screen(EnvironmentDetailsScreen(view, self.now()))

        def job() -> Message:
            return NamespaceObjectsLoaded(view.name, self.services.namespace_objects(view))

        self.ksail.jobs.run(f"{JOB}-objects", job, self)

    @on(DataTable.RowSelected)
    def _row_selected(self, _: DataTable.RowSelected) -> None:
        # The table takes enter itself (select_cursor); its selection is the details key.
        self.action_env_details()

    @on(NamespaceObjectsLoaded)
    def _objects(self, message: NamespaceObjectsLoaded) -> None:
        screen = self.app.screen
        if isinstance(screen, EnvironmentDetailsScreen) and screen.view.name == message.name:
            screen.show(objects=message.objects)

    # -- outcomes ------------------------------------------------------------------------------

    @on(JobProgress)
    def _progress(self, message: JobProgress) -> None:
        if self.ksail.jobs.progress(message.group, message.text):
            self.banner_progress(message.text)

    @on(EnvironmentDone)
    def _done(self, message: EnvironmentDone) -> None:
        self.ksail.jobs.finish(message.group)
        self.banner_progress(message.text)
        self.notify(message.text)
        if message.group == f"{JOB}-crds":
            self.check_cluster()

    @on(JobFailed)
    def _failed(self, message: JobFailed) -> None:
        self.ksail.jobs.finish(message.group)
        self.banner_progress(f"failed: {message.error}")
        self.notify(str(message.error), title="Environments", severity="error", timeout=10)


class EnvironmentsScreen(EnvironmentActions):
    """The Environments view: its state and its actions."""


class EnvironmentsEntry(DashboardBase):
    """The dashboard's key 7: open the Environments view."""

    # How the view reaches the cluster; tests and the benchmark replace the artifact push.
    environments_factory: Callable[[ClusterConfig], ClusterEnvironments] = ClusterEnvironments

    def show_flux_rows_of(self, namespace: str) -> None:
        """The Flux table filtered to one namespace (an Environment's Flux objects)."""
        self.action_filter()
        self.query_one("#flux-filter", Input).value = namespace
        self.query_one("#flux-table").focus()

    def action_open_environments(self) -> None:
        self.app.push_screen(EnvironmentsScreen(self.environments_factory(self.services.config)))
