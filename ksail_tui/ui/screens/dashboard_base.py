"""The main screen's state: its layout, the live pump, the selection and what each pane shows.

Everything the screen shows comes from :attr:`DashboardBase.model`. Watch events reach it one way:
LiveCluster's watcher threads -> :class:`~ksail_tui.ui.inbox.LiveInbox` (coalesced) ->
:class:`LiveUpdatesReady` -> :meth:`DashboardBase.apply_live_updates` -> the model -> the rows and
panes that changed. Service calls run as jobs (:mod:`ksail_tui.ui.jobs`) whose outcome comes back
as a message handled here or in the action modules (workload, cluster and devloop actions).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, cast

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.signal import Signal
from textual.widgets import Footer

from ksail_tui.cluster.reports import DiscoveredCluster
from ksail_tui.collector import bulk_load
from ksail_tui.config import ClusterConfig
from ksail_tui.errors import KsailError
from ksail_tui.live import LiveUpdate
from ksail_tui.models import KUSTOMIZATION_KIND, OCI_REPOSITORY_KIND, ObjectRef, OCIArtifact
from ksail_tui.ui.actions import action_spec
from ksail_tui.ui.dashboard_state import (
    ArtifactsChanged,
    Changes,
    DashboardModel,
    LiveChanged,
    SelectionChanged,
)
from ksail_tui.ui.failures import UnseenFailures
from ksail_tui.ui.inbox import LiveInbox
from ksail_tui.ui.jobs import Job, JobFailed, JobProgress
from ksail_tui.ui.screens.describe import DescribeScreen
from ksail_tui.ui.screens.events import EventsScreen
from ksail_tui.ui.screens.help import HelpScreen
from ksail_tui.ui.services import DashboardServices, DevloopHandle, LiveSource, RegistryView
from ksail_tui.ui.widgets.activity_log import ActivityLog
from ksail_tui.ui.widgets.artifacts_pane import ArtifactsPane
from ksail_tui.ui.widgets.cluster_pane import ClusterPane
from ksail_tui.ui.widgets.details import DetailsPanel
from ksail_tui.ui.widgets.environments_pane import EnvironmentsPane
from ksail_tui.ui.widgets.flux_table import FluxPane
from ksail_tui.ui.widgets.header import DashboardHeader
from ksail_tui.ui.widgets.loop_status import LoopStatus
from ksail_tui.ui.widgets.registry_pane import RegistryPane

if TYPE_CHECKING:
    from ksail_tui.ui.app import KsailApp

# Below this size the top panes, the activity log and the Environments are shown one at a time,
# on demand (1-7).
COMPACT_WIDTH = 120
COMPACT_HEIGHT = 32
PANES = ("cluster", "registry", "artifacts", "flux", "details", "activity", "environments")
# The widget inside a pane that takes the focus.
FOCUS_TARGET = {"artifacts": "#artifacts-table", "flux": "#flux-table", "environments": "#environments-table"}
AGE_REFRESH_SECONDS = 5.0
DEVLOOP_STOP_SECONDS = 1.0


class LiveUpdatesReady(Message):
    """Watchers left updates in the inbox."""


class RegistryLoaded(Message):
    def __init__(self, services: DashboardServices, view: RegistryView | None, error: str) -> None:
        super().__init__()
        self.services, self.view, self.error = services, view, error


class ArtifactsLoaded(Message):
    def __init__(
        self, services: DashboardServices, workload: str, artifacts: list[OCIArtifact], error: str
    ) -> None:
        super().__init__()
        self.services, self.workload, self.artifacts, self.error = services, workload, artifacts, error


class ClustersLoaded(Message):
    def __init__(self, clusters: list[DiscoveredCluster] | None, error: str) -> None:
        super().__init__()
        self.clusters, self.error = clusters, error


class DashboardBase(Screen[None]):
    # The Flux table has the focus from the start (as reveal("flux") gives it), instead of the
    # first focusable widget first: every change of focus rebuilds the footer's keys.
    AUTO_FOCUS = "#flux-table"

    def __init__(self, model: DashboardModel, *, animations_enabled: bool = True) -> None:
        super().__init__(id="dashboard")
        self.model = model
        self.animations_enabled = animations_enabled
        self.selected: ObjectRef | None = None
        self._inbox = LiveInbox(self._live_updates_waiting)
        self._live: LiveSource | None = None
        self.failures = UnseenFailures()
        self.devloop: DevloopHandle | None = None
        self.devloop_workload: str | None = None  # the workload the dev loop runs for
        # Each batch of live updates, published to the panes that show live state (they subscribe
        # and draw only their part of it).
        self.live_changed: Signal[LiveChanged] = Signal(self, "live-changed")
        # The same for the selection, the count of unseen failures and the jobs' results.
        self.selection_changed: Signal[SelectionChanged] = Signal(self, "selection-changed")
        self.failing_changed: Signal[int] = Signal(self, "failing-changed")
        self.registry_changed: Signal[DashboardModel] = Signal(self, "registry-changed")
        self.artifacts_changed: Signal[ArtifactsChanged] = Signal(self, "artifacts-changed")

    def _live_updates_waiting(self) -> None:
        """Called by the inbox, on a watcher's thread."""
        self.post_message(LiveUpdatesReady())

    def post_from_job(self, message: Message) -> None:
        """For a job's callbacks: post ``message`` to this screen (thread-safe)."""
        self.post_message(message)

    # --- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield DashboardHeader(id="header")
        with Horizontal(id="top-row"):
            yield ClusterPane()
            yield RegistryPane()
            yield ArtifactsPane()
        with Horizontal(id="middle-row"):
            yield FluxPane(cursor_blink=self.animations_enabled)
            yield DetailsPanel()
        with Horizontal(id="bottom-row"):
            yield ActivityLog()
            yield EnvironmentsPane()
        yield LoopStatus(animations_enabled=self.animations_enabled)
        yield Footer(show_command_palette=False)  # ": Commands" is one of the bindings

    def on_resize(self, event: events.Resize) -> None:
        compact = event.size.width < COMPACT_WIDTH or event.size.height < COMPACT_HEIGHT
        self.set_class(compact, "-compact")
        self.query_one(Footer).compact = compact

    @property
    def compact(self) -> bool:
        return self.has_class("-compact")

    def reveal(self, pane: str) -> None:
        """Show ``pane`` (in the compact layout only one extra pane shows at a time) and focus it."""
        for name in PANES:
            self.set_class(name == pane, f"-show-{name}")
        self.query_one(FOCUS_TARGET.get(pane, f"#{pane}")).focus()

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def ksail(self) -> KsailApp:
        return cast("KsailApp", self.app)

    @property
    def services(self) -> DashboardServices:
        return self.ksail.services

    @property
    def showing(self) -> bool:
        """False once the app is closing: late messages change nothing."""
        return self.ksail.is_running and self.is_attached

    def now(self) -> datetime:
        return self.ksail.now()

    def start(self) -> None:
        """Draw what is known, then start watching and the refresh timers."""
        settings = self.ksail.settings
        self.query_one(FluxPane).follow(self.live_changed)
        self.query_one(ClusterPane).follow(self.live_changed, self._create_keys)
        self.query_one(DashboardHeader).follow(self.live_changed, self.failing_changed)
        self.query_one(DetailsPanel).follow(self.live_changed, self.selection_changed)
        self.query_one(ArtifactsPane).follow(
            self.live_changed, self.selection_changed, self.artifacts_changed
        )
        self.query_one(RegistryPane).follow(self.registry_changed)
        self._refresh_static_panes()
        self.query_one(LoopStatus).show_devloop(None, None)
        self._show_loop_status()
        self._start_live()
        self.refresh_registry()
        self.set_interval(settings.registry_refresh_seconds, self.refresh_registry)
        self.refresh_clusters()
        self.set_interval(settings.clusters_refresh_seconds, self.refresh_clusters)
        self.set_interval(AGE_REFRESH_SECONDS, self._refresh_ages)
        self.reveal("flux")

    def stop(self) -> None:
        """Stop the watches and the dev loop (the app is closing)."""
        if self.devloop is not None:
            self.devloop.stop(DEVLOOP_STOP_SECONDS)
            self.devloop = None
        if self._live is not None:
            self._live.stop()

    def restart_live(self, config: ClusterConfig, why: str) -> None:
        """Forget what the watches reported and start them again, on ``config``'s cluster."""
        if self._live is not None:
            self._live.stop()
        if self.devloop_workload is not None:
            self.stop_devloop(why)
        old_refs = list(self.model.flux)
        # The clusters in Docker do not depend on the configuration: kept until the next listing.
        self.model = DashboardModel(
            config,
            simulated=self.model.simulated,
            clusters=self.model.clusters,
            clusters_error=self.model.clusters_error,
        )
        self.selected = None
        self.failures.forget()
        with self.app.batch_update():
            # The old cluster's rows go: what the watches held is reported as gone.
            self.live_changed.publish(LiveChanged(self.model, Changes(flux_refs=set(old_refs)), self.now()))
            self._refresh_static_panes()
            self._show_loop_status()
        context = config.spec.cluster.connection.context or "(current)"
        self.query_one(ActivityLog).action(self.now(), f"{why}: watching context {context}")
        self._start_live()
        self.refresh_registry()

    def _start_live(self) -> None:
        """Watch the cluster; only this watch is heard from now on, not one stopped before."""
        self._live = self.services.live(self._inbox.sender())
        self._live.start()

    def stop_devloop(self, why: str) -> None:
        handle, workload = self.devloop, self.devloop_workload
        self.devloop, self.devloop_workload = None, None
        if handle is not None:
            # Stopping joins the loop's threads: not on the UI thread.
            threading.Thread(target=handle.stop, name="ksail-devloop-stop", daemon=True).start()
        self.query_one(LoopStatus).show_devloop(None, None)
        self.report(f"watch mode off for {workload}: {why}", title="watch mode")

    # --- live updates ---------------------------------------------------------------------

    @on(LiveUpdatesReady)
    def apply_live_updates(self) -> None:
        if not self.showing:
            return
        updates = self._inbox.take()
        if not updates:
            return
        with bulk_load(len(updates)):  # the first lists: thousands of rows that stay
            self._apply(updates)

    def _apply(self, updates: list[LiveUpdate]) -> None:
        was_connected = self.model.connection.connected if self.model.connection else None
        changes = self.model.apply(updates)
        now = self.now()
        with self.app.batch_update():
            self._note_failures(changes.flux_refs)
            self.live_changed.publish(LiveChanged(self.model, changes, now))
            if not self.ksail.jobs.busy and not self._selected_workload_refs().isdisjoint(changes.flux_refs):
                self._show_loop_status()
            log = self.query_one(ActivityLog)
            for event in changes.events:
                log.flux_event(event)
            connection = self.model.connection
            if changes.connection and connection is not None and connection.connected != was_connected:
                if connection.connected:
                    log.action(now, "cluster connected", "success")
                else:
                    log.action(now, f"cluster unreachable: {connection.reason}; retrying", "error")

    # --- failures while the user looks elsewhere ------------------------------------------

    def _looking_at_failures(self) -> bool:
        """The Flux table or the Activity log has the focus, on top."""
        focused = self.focused
        return self.app.screen is self and any(
            node.id in ("flux", "activity") for node in (focused.ancestors_with_self if focused else ())
        )

    def _note_failures(self, refs: Iterable[ObjectRef]) -> None:
        looking, before = self._looking_at_failures(), set(self.failures.unseen)
        for ref in refs:
            self.failures.observe(ref, self.model.flux.get(ref), looking=looking)
        if self.failures.unseen != before:  # new ones, or unseen ones recovered
            self._show_failures()

    def _show_failures(self) -> None:
        self.query_one(ActivityLog).alert(len(self.failures.unseen))
        self.failing_changed.publish(len(self.failures.unseen))

    def on_descendant_focus(self, _: events.DescendantFocus) -> None:
        if self._looking_at_failures() and self.failures.seen():
            self._show_failures()

    def _selected_workload_refs(self) -> set[ObjectRef]:
        """Both objects of the selected workload: the status line sums up the two."""
        workload = self.model.workload_of(self.selected)
        if workload is None:
            return set()
        return {
            self.model.workload_ref(kind, workload.name) for kind in (OCI_REPOSITORY_KIND, KUSTOMIZATION_KIND)
        }

    # --- selection and panes --------------------------------------------------------------

    @on(FluxPane.Selected)
    def _selection_changed(self, event: FluxPane.Selected) -> None:
        if not self.showing:
            return
        previous = self.model.workload_of(self.selected)
        self.selected = event.ref
        workload = self.model.workload_of(event.ref)
        self.selection_changed.publish(SelectionChanged(self.model, self.selected, self.now()))
        if not self.ksail.jobs.busy:
            self._show_loop_status()
        if workload is not None and workload != previous and workload.name not in self.model.artifacts:
            self.refresh_artifacts(workload.name)

    @on(FluxPane.FilterChanged)
    def _filter_changed(self) -> None:
        if self.showing:
            self.query_one(FluxPane).sync(self.model.flux.keys(), self.model, self.now())

    def _refresh_artifacts_pane(self) -> None:
        workload = self.model.workload_of(self.selected)
        self.query_one(ArtifactsPane).refresh_from(
            self.model, workload.name if workload else None, self.now()
        )

    def _show_loop_status(self) -> None:
        workload = self.model.workload_of(self.selected)
        status = self.model.status_of(workload.name) if workload else None
        self.query_one(LoopStatus).show_idle(status)

    def _refresh_header(self) -> None:
        self.query_one(DashboardHeader).show(
            self.model, self.ksail.config_path, failing=len(self.failures.unseen)
        )

    def _create_keys(self) -> str:
        return self.ksail.keys_of(action_spec("create-cluster"))

    def _refresh_cluster_pane(self) -> None:
        self.query_one(ClusterPane).refresh_from(self.model, self._create_keys())

    def _refresh_static_panes(self) -> None:
        self._refresh_header()
        self.query_one(FluxPane).show_state(self.model)
        self._refresh_cluster_pane()
        self.query_one(RegistryPane).refresh_from(self.model)
        self.query_one(DetailsPanel).refresh_from(self.selected, self.model, self.now())
        self._refresh_artifacts_pane()

    def _refresh_ages(self) -> None:
        if not self.showing:
            return
        with self.app.batch_update():
            now = self.now()
            self.query_one(FluxPane).refresh_ages(now)
            self.query_one(ArtifactsPane).refresh_ages(self.model, now)

    # --- jobs: busy state and reports -----------------------------------------------------

    def begin(self, group: str, label: str) -> bool:
        """Mark an action as running; False (with a notice) when one of its kind already runs."""
        jobs = self.ksail.jobs
        if not jobs.begin(group, label):
            self.notify(f"already busy: {jobs.busy[group]}", severity="warning")
            return False
        self.query_one(LoopStatus).show_busy(label)
        self.query_one(ActivityLog).action(self.now(), label)
        return True

    def run_job(self, group: str, job: Job) -> None:
        self.ksail.jobs.run(group, job, self)

    def progress(self, group: str, text: str) -> None:
        """Report, from a job's thread, what the running action does now."""
        self.post_message(JobProgress(group, text))

    @on(JobProgress)
    def _job_progress(self, message: JobProgress) -> None:
        if not self.showing:
            return
        if self.ksail.jobs.progress(message.group, message.text):
            self.query_one(LoopStatus).show_busy(message.text)
        if message.logged:
            self.query_one(ActivityLog).action(self.now(), message.text)

    def finish(self, group: str) -> None:
        jobs = self.ksail.jobs
        jobs.finish(group)
        if jobs.busy:
            self.query_one(LoopStatus).show_busy(next(iter(jobs.busy.values())))
        else:
            self._show_loop_status()

    @on(JobFailed)
    def _job_failed(self, message: JobFailed) -> None:
        """One place where an unexpected failure becomes a notification (never a crash)."""
        if not self.showing:
            return
        self.finish(message.group)
        self.report_error(message.error, message.group)

    def report(self, message: str, severity: SeverityLevel = "information", title: str = "") -> None:
        """A notification and the same line in the activity log."""
        if not self.showing:
            return
        self.notify(message, title=title, severity=severity)
        self.query_one(ActivityLog).action(self.now(), message.replace("\n", " "), severity)

    def key_hint(self, action_id: str) -> str:
        spec = action_spec(action_id)
        return f"press {self.ksail.keys_of(spec)} ({spec.title})"

    def report_error(self, error: BaseException | None, what: str) -> None:
        if isinstance(error, KsailError):
            hint = self.key_hint(error.remedy_action) if error.remedy_action else error.hint
            message = error.message + (f"\nhint: {hint}" if hint else "")
        else:
            message = f"internal error: {type(error).__name__}: {error}"
        self.report(message, "error", title=f"{what} failed")

    # --- registry, artifacts and clusters -------------------------------------------------

    def refresh_registry(self) -> None:
        services = self.services

        def load() -> RegistryLoaded:
            try:
                return RegistryLoaded(services, services.registry(), "")
            except KsailError as failure:
                return RegistryLoaded(services, None, failure.message)

        self.run_job("registry", load)

    @on(RegistryLoaded)
    def _registry_loaded(self, message: RegistryLoaded) -> None:
        if not self.showing or message.services is not self.services:
            return  # closing, or the registry of a configuration no longer shown
        self.model.registry = message.view
        self.model.registry_error = message.error
        self.registry_changed.publish(self.model)

    def refresh_artifacts(self, workload: str) -> None:
        services = self.services

        def load() -> ArtifactsLoaded:
            try:
                return ArtifactsLoaded(services, workload, services.artifacts(workload), "")
            except KsailError as failure:
                return ArtifactsLoaded(services, workload, [], failure.message)

        self.run_job(f"artifacts:{workload}", load)

    @on(ArtifactsLoaded)
    def _artifacts_loaded(self, message: ArtifactsLoaded) -> None:
        if not self.showing or message.services is not self.services:
            return
        self.model.artifacts[message.workload] = message.artifacts
        if message.error:
            self.model.artifacts_error[message.workload] = message.error
        else:
            self.model.artifacts_error.pop(message.workload, None)
        self.artifacts_changed.publish(ArtifactsChanged(self.model, message.workload, self.now()))

    def refresh_clusters(self) -> None:
        services = self.services

        def load() -> ClustersLoaded:
            try:
                return ClustersLoaded(services.clusters(), "")
            except KsailError as failure:  # Docker is not answering
                return ClustersLoaded(None, failure.message)

        self.run_job("clusters", load)

    @on(ClustersLoaded)
    def _clusters_loaded(self, message: ClustersLoaded) -> None:
        if not self.showing:
            return
        self.model.clusters = message.clusters
        self.model.clusters_error = message.error
        self._refresh_cluster_pane()

    def action_refresh(self) -> None:
        self.refresh_registry()
        self.refresh_clusters()
        workload = self.model.workload_of(self.selected)
        if workload is not None:
            self.refresh_artifacts(workload.name)
        self.notify("refreshing the registry, the artifacts and the clusters", timeout=2)

    # --- what the actions act on ----------------------------------------------------------

    def selected_workload(self, verb: str) -> str | None:
        """The workload of the selected row, or None after telling the user why not.

        With nothing selected (e.g. before the cluster exists, when the table is empty) a config
        with a single workload means that one: building and pushing need no cluster.
        """
        if self.selected is None:
            workloads = self.model.config.workloads
            if len(workloads) == 1:
                return workloads[0].name
            self.notify(f"select a row in the Flux table to {verb}", severity="warning")
            return None
        workload = self.model.workload_of(self.selected)
        if workload is None:
            ref = self.selected
            self.notify(
                f"{ref.kind} {ref.namespace}/{ref.name} is not a workload of this ksail.yaml; "
                f"only configured workloads can {verb} here",
                severity="warning",
            )
            return None
        return workload.name

    def selected_ref(self, verb: str) -> ObjectRef | None:
        if self.selected is None or self.selected not in self.model.flux:
            self.notify(f"select a row in the Flux table to {verb}", severity="warning")
            return None
        return self.selected

    # --- views ----------------------------------------------------------------------------

    def action_describe(self) -> None:
        if self.selected is None or self._live is None:
            self.notify("select a row in the Flux table to describe", severity="warning")
            return
        raw = self._live.raw(self.selected)
        self.app.push_screen(DescribeScreen(self.selected, raw, self.model, self.now()))

    def action_events(self) -> None:
        ref = self.selected_ref("see its events")
        if ref is not None:
            self.app.push_screen(EventsScreen(ref, self.services.events, self.now()))

    def action_filter(self) -> None:
        if self.compact:
            self.reveal("flux")
        self.query_one(FluxPane).open_filter()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen())

    def action_focus_pane(self, pane: str) -> None:
        self.reveal(pane)
