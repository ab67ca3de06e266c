"""The dashboard: a live view of the Flux + OCI loop, and every action on it one key away.

Threads: LiveCluster's watchers report on their own threads into a :class:`LiveInbox`, which posts
one message per burst; every service call runs in a thread worker. The UI thread only renders.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from textual import on, work
from textual.app import App
from textual.binding import Binding
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.worker import Worker, WorkerCancelled, WorkerState, get_current_worker

from ksail_tui.cluster.models import ClusterCreated, ClusterDeleted, DiscoveredCluster
from ksail_tui.config import ClusterConfig, load_config
from ksail_tui.devloop.state import LoopState, Phase
from ksail_tui.display import short_digest, short_revision
from ksail_tui.errors import KsailError
from ksail_tui.flux.service import ReconcileOutcome
from ksail_tui.models import KUSTOMIZATION_KIND, OCI_REPOSITORY_KIND, ObjectRef, OCIArtifact
from ksail_tui.oci.service import PruneResult, PushPhase, PushProgress
from ksail_tui.ui.actions import ActionSpec, action_spec, bindings
from ksail_tui.ui.commands import ActionCommands
from ksail_tui.ui.format import human_size
from ksail_tui.ui.inbox import LiveInbox
from ksail_tui.ui.model import DashboardModel
from ksail_tui.ui.paths import stylesheet
from ksail_tui.ui.screens.confirm import ConfirmScreen
from ksail_tui.ui.screens.dashboard import DashboardScreen
from ksail_tui.ui.screens.delete_cluster import ClusterDeletion, DeleteClusterScreen
from ksail_tui.ui.screens.describe import DescribeScreen
from ksail_tui.ui.screens.events import EventsScreen
from ksail_tui.ui.screens.help import HelpScreen
from ksail_tui.ui.services import ClusterServices, DashboardServices, LiveSource, RegistryView, WatchHandle
from ksail_tui.ui.settings import DashboardSettings
from ksail_tui.ui.widgets.activity_log import ActivityLog
from ksail_tui.ui.widgets.artifacts_pane import ArtifactsPane
from ksail_tui.ui.widgets.cluster_pane import ClusterPane
from ksail_tui.ui.widgets.details import DetailsPanel
from ksail_tui.ui.widgets.flux_table import FluxPane
from ksail_tui.ui.widgets.header import DashboardHeader
from ksail_tui.ui.widgets.loop_status import LoopStatus
from ksail_tui.ui.widgets.registry_pane import RegistryPane

Clock = Callable[[], datetime]
T = TypeVar("T")
AGE_REFRESH_SECONDS = 5.0
# How often a worker waiting on a service call checks whether the app is quitting.
CANCEL_CHECK_SECONDS = 0.1
WATCH_STOP_SECONDS = 1.0


class LiveUpdatesReady(Message):
    """Watchers left updates in the inbox."""


class WatchStateChanged(Message):
    """Watch mode (the dev loop) moved on: a new phase, a result or a problem."""

    def __init__(self, state: LoopState) -> None:
        super().__init__()
        self.state = state


class KsailApp(App[None]):
    TITLE = "ksail-tui"
    CSS_PATH = [stylesheet("app.tcss")]
    BINDINGS = bindings()
    COMMANDS = App.COMMANDS | {ActionCommands}

    def __init__(
        self,
        services: DashboardServices,
        *,
        config_path: Path | None = None,
        simulated: bool = False,
        settings: DashboardSettings | None = None,
        clock: Clock | None = None,
        animate: bool = True,
    ) -> None:
        super().__init__()
        self.services = services
        self.settings = settings or DashboardSettings()
        self.model = DashboardModel(services.config, simulated=simulated)
        self.config_path = config_path if config_path is not None else services.config.path
        self._clock = clock or (lambda: datetime.now(UTC))
        if not animate:
            self.animation_level = "none"
        self.selected_key: str | None = None
        self.busy: dict[str, str] = {}  # worker group -> what it does
        self._inbox = LiveInbox(lambda: self.post_message(LiveUpdatesReady()))
        self._live: LiveSource | None = None
        self._stop_watching = threading.Event()
        self._watch: WatchHandle | None = None
        self.watched: str | None = None  # the workload in watch mode
        self._watch_seen: LoopState | None = None  # its last state, to report each result once
        self.dashboard = DashboardScreen(animations_enabled=animate)

    # --- set-up ---------------------------------------------------------------------------

    def get_default_screen(self) -> Screen[None]:
        return self.dashboard

    @property
    def showing(self) -> bool:
        """False once the app is closing: late messages and worker callbacks then change nothing."""
        return self.is_running and self.dashboard.is_attached

    def now(self) -> datetime:
        return self._clock()

    def keys_of(self, spec: ActionSpec) -> str:
        """The keys of an action as the user sees them, after the keymap."""
        keys = self.settings.keymap.get(spec.id, spec.keys)
        return ", ".join(self.get_key_display(Binding(key.strip(), "")) for key in keys.split(","))

    def on_ready(self) -> None:
        """The screen is composed: draw what is known, then start watching."""
        if self.settings.keymap:
            self.update_keymap(self.settings.keymap)
        self._refresh_static_panes()
        self.dashboard.query_one(LoopStatus).show_watch_mode(None, None)
        self._show_loop_status()
        self._start_live()
        self.refresh_registry()
        self.set_interval(self.settings.registry_refresh_seconds, self.refresh_registry)
        self.refresh_clusters()
        self.set_interval(self.settings.clusters_refresh_seconds, self.refresh_clusters)
        self.set_interval(AGE_REFRESH_SECONDS, self._refresh_ages)
        self.dashboard.reveal("flux")
        if self.config_path is not None and self.config_path.is_file():
            kubeconfig = Path(self.model.config.spec.cluster.connection.kubeconfig).expanduser()
            self.watch_config([self.config_path, kubeconfig])

    def on_unmount(self) -> None:
        self._stop_watching.set()
        if self._watch is not None:
            self._watch.stop(WATCH_STOP_SECONDS)
        if self._live is not None:
            self._live.stop()

    def switch_config(self, config: ClusterConfig) -> None:
        """Show another configuration (e.g. a new kube context): forget the old cluster, watch anew."""
        self.services = self.services.with_config(config)
        self._watch_anew(config, "the configuration changed")

    def _watch_anew(self, config: ClusterConfig, why: str) -> None:
        """Forget what the watches reported and start them again, on ``config``'s cluster."""
        if self._live is not None:
            self._live.stop()
        if self.watched is not None:
            self._stop_watch_mode(why)
        old_keys = list(self.model.flux)
        # The clusters in Docker do not depend on the configuration: kept until the next listing.
        self.model = DashboardModel(
            config,
            simulated=self.model.simulated,
            clusters=self.model.clusters,
            clusters_error=self.model.clusters_error,
        )
        self.selected_key = None
        with self.batch_update():
            self.dashboard.query_one(FluxPane).sync(old_keys, self.model, self.now())
            self._refresh_static_panes()
            self._show_loop_status()
        context = config.spec.cluster.connection.context or "(current)"
        self.dashboard.query_one(ActivityLog).action(self.now(), f"{why}: watching context {context}")
        self._start_live()
        self.refresh_registry()

    def _start_live(self) -> None:
        """Watch the cluster; only this watch is heard from now on, not one stopped before."""
        self._live = self.services.live(self._inbox.sender())
        self._live.start()

    @work(thread=True, group="config-watch", exit_on_error=False)
    def watch_config(self, paths: list[Path]) -> None:
        """Reload when ksail.yaml or the kubeconfig changes (inotify, no polling)."""
        from watchfiles import watch

        worker = get_current_worker()
        folders = sorted({str(path.parent) for path in paths if path.parent.is_dir()})
        names = {path.resolve() for path in paths}
        # inotify underneath; watchfiles wakes every `step` ms to check the stop event, so keep it slow.
        for changes in watch(
            *folders, stop_event=self._stop_watching, recursive=False, debounce=1500, step=500
        ):
            if worker.is_cancelled:
                return
            if any(Path(changed).resolve() in names for _, changed in changes):
                self._reload_config()

    def _reload_config(self) -> None:
        """Read ksail.yaml again, here on the watch's thread, and show it (or what is wrong with it)."""
        if self.config_path is None:
            return
        try:
            config = load_config(self.config_path)
        except KsailError as error:
            self.call_from_thread(self.report_error, error, "reloading the configuration")
            return
        self.call_from_thread(self._config_reloaded, config)

    def _config_reloaded(self, config: ClusterConfig) -> None:
        if self.showing:
            self.switch_config(config)

    # --- live updates ---------------------------------------------------------------------

    def on_live_updates_ready(self, _: LiveUpdatesReady) -> None:
        if not self.showing:
            return
        updates = self._inbox.take()
        if not updates:
            return
        was_connected = self.model.connection.connected if self.model.connection else None
        changes = self.model.apply(updates)
        now = self.now()
        with self.batch_update():
            if changes.flux_keys:
                self.dashboard.query_one(FluxPane).sync(changes.flux_keys, self.model, now)
            if changes.nodes or changes.controllers or changes.connection:
                self._refresh_cluster_pane()
                self._refresh_header()
            if changes.connection:
                self.dashboard.query_one(FluxPane).show_state(self.model)
            if self.selected_key in changes.flux_keys or self._selected_source_key() in changes.flux_keys:
                self._refresh_selection(now)
            log = self.dashboard.query_one(ActivityLog)
            for event in changes.events:
                log.flux_event(event)
            connection = self.model.connection
            if changes.connection and connection is not None and connection.connected != was_connected:
                if connection.connected:
                    log.action(now, "cluster connected", "success")
                else:
                    log.action(now, f"cluster unreachable: {connection.reason}; retrying", "error")

    def _selected_source_key(self) -> str | None:
        workload = self.model.workload_of(self.selected_key)
        if workload is None:
            return None
        return f"{OCI_REPOSITORY_KIND}/{self.model.config.flux_namespace}/{workload.name}"

    @on(FluxPane.Selected)
    def _selection_changed(self, event: FluxPane.Selected) -> None:
        if not self.showing:
            return
        previous = self.model.workload_of(self.selected_key)
        self.selected_key = event.key
        workload = self.model.workload_of(event.key)
        self._refresh_selection(self.now())
        if workload is not None and workload != previous and workload.name not in self.model.artifacts:
            self.refresh_artifacts(workload.name)

    @on(FluxPane.FilterChanged)
    def _filter_changed(self) -> None:
        if not self.showing:
            return
        self.dashboard.query_one(FluxPane).sync(self.model.flux.keys(), self.model, self.now())

    def _refresh_selection(self, now: datetime) -> None:
        self.dashboard.query_one(DetailsPanel).refresh_from(self.selected_key, self.model, now)
        self._refresh_artifacts_pane()
        if not self.busy:
            self._show_loop_status()

    def _refresh_artifacts_pane(self) -> None:
        workload = self.model.workload_of(self.selected_key)
        self.dashboard.query_one(ArtifactsPane).refresh_from(
            self.model, workload.name if workload else None, self.now()
        )

    def _show_loop_status(self) -> None:
        workload = self.model.workload_of(self.selected_key)
        status = self.model.status_of(workload.name) if workload else None
        self.dashboard.query_one(LoopStatus).show_idle(status)

    def _refresh_header(self) -> None:
        self.dashboard.query_one(DashboardHeader).show(self.model, self.config_path)

    def _refresh_cluster_pane(self) -> None:
        create_keys = self.keys_of(action_spec("create-cluster"))
        self.dashboard.query_one(ClusterPane).refresh_from(self.model, create_keys)

    def _refresh_static_panes(self) -> None:
        self._refresh_header()
        self.dashboard.query_one(FluxPane).show_state(self.model)
        self._refresh_cluster_pane()
        self.dashboard.query_one(RegistryPane).refresh_from(self.model)
        self.dashboard.query_one(DetailsPanel).refresh_from(self.selected_key, self.model, self.now())
        self._refresh_artifacts_pane()

    def _refresh_ages(self) -> None:
        if not self.showing:
            return
        now = self.now()
        with self.batch_update():
            self.dashboard.query_one(FluxPane).refresh_ages(self.model, now)
            self._refresh_artifacts_pane()

    # --- calling services -----------------------------------------------------------------

    def run_blocking(self, function: Callable[..., T], *args: Any) -> T:
        """Call a blocking service from a thread worker, on a daemon thread of its own.

        A reconcile can wait minutes for Flux; quitting must not. When the app quits, the worker is
        cancelled and stops waiting here at once; the daemon thread is abandoned with the process.
        """
        worker = get_current_worker()
        future: Future[T] = Future()

        def call() -> None:
            try:
                future.set_result(function(*args))
            except BaseException as error:  # handed to the worker, which reports it
                future.set_exception(error)

        threading.Thread(target=call, name=f"ksail-{worker.group}", daemon=True).start()
        while True:
            try:
                return future.result(timeout=CANCEL_CHECK_SECONDS)
            except TimeoutError:
                if worker.is_cancelled:
                    raise WorkerCancelled("the dashboard is closing") from None

    # --- registry and artifacts -----------------------------------------------------------

    @work(thread=True, exclusive=True, group="registry", exit_on_error=False)
    def refresh_registry(self) -> None:
        try:
            view: RegistryView | None = self.run_blocking(self.services.registry)
            error = ""
        except KsailError as failure:
            view, error = None, failure.message
        self.call_from_thread(self._registry_loaded, view, error)

    def _registry_loaded(self, view: RegistryView | None, error: str) -> None:
        if not self.showing:
            return
        self.model.registry = view
        self.model.registry_error = error
        self.dashboard.query_one(RegistryPane).refresh_from(self.model)

    @work(thread=True, exclusive=True, group="artifacts", exit_on_error=False)
    def refresh_artifacts(self, workload: str) -> None:
        try:
            artifacts = self.run_blocking(self.services.artifacts, workload)
            self.call_from_thread(self._artifacts_loaded, workload, artifacts, "")
        except KsailError as failure:
            self.call_from_thread(self._artifacts_loaded, workload, [], failure.message)

    def _artifacts_loaded(self, workload: str, artifacts: list[OCIArtifact], error: str) -> None:
        if not self.showing:
            return
        self.model.artifacts[workload] = artifacts
        if error:
            self.model.artifacts_error[workload] = error
        else:
            self.model.artifacts_error.pop(workload, None)
        self._refresh_artifacts_pane()

    def action_refresh(self) -> None:
        self.refresh_registry()
        self.refresh_clusters()
        workload = self.model.workload_of(self.selected_key)
        if workload is not None:
            self.refresh_artifacts(workload.name)
        self.notify("refreshing the registry, the artifacts and the clusters", timeout=2)

    # --- busy state, errors ---------------------------------------------------------------

    def _begin(self, group: str, label: str) -> bool:
        """Mark an action as running; False (with a notice) when one of its kind already runs."""
        if group in self.busy:
            self.notify(f"already busy: {self.busy[group]}", severity="warning")
            return False
        self.busy[group] = label
        self.dashboard.query_one(LoopStatus).show_busy(label)
        self.dashboard.query_one(ActivityLog).action(self.now(), label)
        return True

    def _progress(self, group: str, message: str) -> None:
        if not self.showing:
            return
        if group in self.busy:
            self.busy[group] = message
            self.dashboard.query_one(LoopStatus).show_busy(message)

    def _finish(self, group: str) -> None:
        if not self.showing:
            return
        self.busy.pop(group, None)
        loop_status = self.dashboard.query_one(LoopStatus)
        if group == "push":
            loop_status.hide_progress()
        if self.busy:
            loop_status.show_busy(next(iter(self.busy.values())))
        else:
            self._show_loop_status()

    def report(self, message: str, severity: SeverityLevel = "information", title: str = "") -> None:
        """A notification and the same line in the activity log."""
        if not self.showing:
            return
        self.notify(message, title=title, severity=severity)
        self.dashboard.query_one(ActivityLog).action(self.now(), message.replace("\n", " "), severity)

    def report_error(self, error: BaseException | None, what: str) -> None:
        if isinstance(error, KsailError):
            message = error.message + (f"\nhint: {error.hint}" if error.hint else "")
        else:
            message = f"internal error: {type(error).__name__}: {error}"
        self.report(message, "error", title=f"{what} failed")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """One place where an unexpected worker failure becomes a notification (never a crash)."""
        if event.state is not WorkerState.ERROR or not self.showing:
            return
        worker = event.worker
        if isinstance(worker.error, WorkerCancelled):  # abandoned because the app is closing
            return
        self._finish(worker.group)
        self.report_error(worker.error, worker.group)

    # --- selection helpers ----------------------------------------------------------------

    def _selected_workload(self, verb: str) -> str | None:
        """The workload of the selected row, or None after telling the user why not.

        With nothing selected (e.g. before the cluster exists, when the table is empty) a config
        with a single workload means that one: building and pushing need no cluster.
        """
        if self.selected_key is None:
            workloads = self.model.config.workloads
            if len(workloads) == 1:
                return workloads[0].name
            self.notify(f"select a row in the Flux table to {verb}", severity="warning")
            return None
        workload = self.model.workload_of(self.selected_key)
        if workload is None:
            kind, namespace, name = self.selected_key.split("/", 2)
            self.notify(
                f"{kind} {namespace}/{name} is not a workload of this ksail.yaml; "
                f"only configured workloads can {verb} here",
                severity="warning",
            )
            return None
        return workload.name

    def _selected_ref(self, verb: str) -> ObjectRef | None:
        if self.selected_key is None or self.selected_key not in self.model.flux:
            self.notify(f"select a row in the Flux table to {verb}", severity="warning")
            return None
        return self.model.flux[self.selected_key].ref

    # --- reconcile ------------------------------------------------------------------------

    def action_reconcile(self) -> None:
        workload = self._selected_workload("reconcile")
        if workload is not None and self._begin("reconcile", f"reconciling {workload}…"):
            self.reconcile_workloads([workload])

    def action_reconcile_all(self) -> None:
        names = [w.name for w in self.model.config.workloads]
        if self._begin("reconcile", f"reconciling {', '.join(names)}…"):
            self.reconcile_workloads(None)

    @work(thread=True, group="reconcile", exit_on_error=False)
    def reconcile_workloads(self, names: list[str] | None) -> None:
        outcomes = self.run_blocking(
            self.services.reconcile,
            names,
            lambda message: self.call_from_thread(self._progress, "reconcile", message),
        )
        self.call_from_thread(self._reconciled, outcomes)

    def _reconciled(self, outcomes: list[ReconcileOutcome]) -> None:
        self._finish("reconcile")
        for outcome in outcomes:
            if outcome.ok:
                self.report(
                    f"{outcome.workload} applied {short_revision(outcome.applied_revision)}"
                    f" in {outcome.seconds:.1f}s",
                    "information",
                    title="reconciled",
                )
            else:
                self.report(f"{outcome.workload}: {outcome.message}", "error", title="reconcile failed")

    # --- build and push -------------------------------------------------------------------

    def action_build(self) -> None:
        workload = self._selected_workload("build")
        if workload is not None and self._begin("build", f"building {workload}…"):
            self.build_workload(workload)

    @work(thread=True, group="build", exit_on_error=False)
    def build_workload(self, workload: str) -> None:
        built = self.run_blocking(self.services.build, workload)
        message = (
            f"{workload} {built.version}: {len(built.files)} files, {human_size(built.size)}, "
            f"layer {short_digest(built.layer_digest)}"
        )
        if built.skipped_symlinks:
            message += f"; skipped symlinks: {', '.join(built.skipped_symlinks)}"
        self.call_from_thread(self._done, "build", message, "built")

    def _done(self, group: str, message: str, title: str, severity: SeverityLevel = "information") -> None:
        self._finish(group)
        self.report(message, severity, title=title)

    def action_push(self) -> None:
        workload = self._selected_workload("push")
        if workload is not None and self._begin("push", f"pushing {workload}…"):
            self.push_workload(workload)

    @work(thread=True, group="push", exit_on_error=False)
    def push_workload(self, workload: str) -> None:
        def progress(step: PushProgress) -> None:
            self.call_from_thread(self._push_progress, workload, step)

        result = self.run_blocking(self.services.push, workload, progress)
        artifact = result.artifact
        self.call_from_thread(self._pushed, workload, artifact.flux_revision, result.pushed)
        # The OCIRepository must ask for this version (a bumped version is a new tag) before reconciling.
        self.call_from_thread(self._progress, "push", f"{workload}: applying its Flux objects")
        self.run_blocking(self.services.apply, workload)
        outcomes = self.run_blocking(
            self.services.reconcile,
            [workload],
            lambda message: self.call_from_thread(self._progress, "push", message),
        )
        self.call_from_thread(self._push_reconciled, outcomes)

    def _push_progress(self, workload: str, step: PushProgress) -> None:
        if not self.showing:
            return
        loop_status = self.dashboard.query_one(LoopStatus)
        self._progress("push", f"push {workload}: {step.message or step.phase.value}")
        if step.phase is PushPhase.UPLOADING and step.bytes_total:
            loop_status.show_progress(step.bytes_done, step.bytes_total)

    def _pushed(self, workload: str, revision: str | None, pushed: bool) -> None:
        if not self.showing:
            return
        if revision:
            self.model.pushed[workload] = revision
        self.dashboard.query_one(LoopStatus).hide_progress()
        verb = "pushed" if pushed else "already in the registry:"
        self.report(f"{workload} {verb} {short_revision(revision)}; reconciling", title="pushed")
        self.refresh_registry()
        self.refresh_artifacts(workload)

    def _push_reconciled(self, outcomes: list[ReconcileOutcome]) -> None:
        self._finish("push")
        self._reconciled(outcomes)

    # --- suspend, delete, prune -----------------------------------------------------------

    def action_toggle_suspend(self) -> None:
        workload = self._selected_workload("suspend or resume")
        if workload is None:
            return
        suspended = self.model.status_of(workload).suspended
        verb = "resume" if suspended else "suspend"
        message = (
            f"Resume {workload}? Flux reconciles its OCIRepository and Kustomization again."
            if suspended
            else f"Suspend {workload}? Flux stops pulling and applying it until you resume it."
        )

        def answered(yes: bool | None) -> None:
            if yes and self._begin("suspend", f"{verb.rstrip('e')}ing {workload}…"):
                self.set_suspended(workload, not suspended)

        self.push_screen(ConfirmScreen(f"{verb} {workload}", message, confirm=verb.capitalize()), answered)

    @work(thread=True, group="suspend", exit_on_error=False)
    def set_suspended(self, workload: str, suspended: bool) -> None:
        self.run_blocking(self.services.set_suspended, [workload], suspended)
        self.call_from_thread(
            self._done, "suspend", f"{workload} {'suspended' if suspended else 'resumed'}", "done"
        )

    def action_delete(self) -> None:
        ref = self._selected_ref("delete")
        if ref is None:
            return
        consequence = (
            "With prune enabled, Flux deletes everything it applied from it."
            if ref.kind == KUSTOMIZATION_KIND
            else "Kustomizations that use it stop getting new revisions."
        )

        def answered(yes: bool | None) -> None:
            if yes and self._begin("delete", f"deleting {ref}…"):
                self.delete_object(ref)

        self.push_screen(
            ConfirmScreen(
                f"delete {ref.kind}", f"Delete {ref}?\n{consequence}", confirm="Delete", destructive=True
            ),
            answered,
        )

    @work(thread=True, group="delete", exit_on_error=False)
    def delete_object(self, ref: ObjectRef) -> None:
        self.run_blocking(self.services.delete, ref)
        self.call_from_thread(self._done, "delete", f"deleted {ref}", "deleted", "warning")

    def action_prune(self) -> None:
        workload = self._selected_workload("prune versions")
        if workload is not None and self._begin("prune", f"finding old versions of {workload}…"):
            self.plan_prune(workload)

    @work(thread=True, group="prune", exit_on_error=False)
    def plan_prune(self, workload: str) -> None:
        plan = self.run_blocking(self.services.prune, workload, self.settings.prune_keep, True)
        self.call_from_thread(self._confirm_prune, workload, plan)

    def _confirm_prune(self, workload: str, plan: PruneResult) -> None:
        if not self.showing:
            return
        self._finish("prune")
        tags = [artifact.tag for artifact in plan.deleted]
        if not tags:
            self.report(f"{workload}: nothing to prune (keeping {self.settings.prune_keep})", title="prune")
            return

        def answered(yes: bool | None) -> None:
            if yes and self._begin("prune", f"pruning {workload}…"):
                self.prune(workload, plan.deleted_digests)

        message = (
            f"Delete {len(tags)} version{'s' if len(tags) != 1 else ''} of {workload}: {', '.join(tags)}?\n"
            f"Keeps the {self.settings.prune_keep} newest and every version the cluster can resolve to; "
            f"frees about {human_size(plan.reclaimable_bytes)} after garbage collection."
        )
        self.push_screen(
            ConfirmScreen(f"prune {workload}", message, confirm="Prune", destructive=True), answered
        )

    @work(thread=True, group="prune", exit_on_error=False)
    def prune(self, workload: str, confirmed_digests: tuple[str, ...]) -> None:
        # Only what the user was shown: a version pushed or unpinned meanwhile is not deleted unasked.
        result = self.run_blocking(
            self.services.prune, workload, self.settings.prune_keep, False, confirmed_digests
        )
        tags = ", ".join(artifact.tag for artifact in result.deleted) or "nothing"
        self.call_from_thread(self._done, "prune", f"{workload}: deleted {tags}", "pruned")
        self.call_from_thread(self.refresh_artifacts, workload)
        self.call_from_thread(self.refresh_registry)

    # --- the cluster's lifecycle ----------------------------------------------------------

    @work(thread=True, exclusive=True, group="clusters", exit_on_error=False)
    def refresh_clusters(self) -> None:
        try:
            clusters: list[DiscoveredCluster] | None = self.run_blocking(self.services.clusters)
            error = ""
        except KsailError as failure:  # Docker is not answering
            clusters, error = None, failure.message
        self.call_from_thread(self._clusters_loaded, clusters, error)

    def _clusters_loaded(self, clusters: list[DiscoveredCluster] | None, error: str) -> None:
        if not self.showing:
            return
        self.model.clusters = clusters
        self.model.clusters_error = error
        self._refresh_cluster_pane()

    def _cluster_label(self) -> str:
        config = self.model.config
        return f"{config.spec.cluster.distribution.value} cluster {config.name}"

    def _refuse_in_demo(self, what: str) -> bool:
        """The demo's cluster is simulated: kind or k3d must not run against its config."""
        if self.model.simulated:
            self.report(
                f"the demo's cluster is simulated, so it cannot be {what} here; "
                "run `ksail-tui cluster create` with your own ksail.yaml",
                "warning",
                title="not in the demo",
            )
        return self.model.simulated

    def action_create_cluster(self) -> None:
        if self._refuse_in_demo("created"):
            return
        if self._begin("cluster", f"creating the {self._cluster_label()}…"):
            self.create_configured_cluster()

    @work(thread=True, group="cluster", exit_on_error=False)
    def create_configured_cluster(self) -> None:
        self._run_lifecycle("create cluster", self._cluster_created, self.services.create_cluster)

    def _run_lifecycle(
        self, what: str, done: Callable[[T], None], function: Callable[..., T], *args: Any
    ) -> None:
        """Create or delete the cluster (from its worker), its progress streamed to the screen."""
        try:
            result = self.run_blocking(
                function, *args, lambda message: self.call_from_thread(self._cluster_progress, message)
            )
        except KsailError as error:
            self.call_from_thread(self._cluster_failed, what, error)
            return
        self.call_from_thread(done, result)

    def _cluster_progress(self, message: str) -> None:
        """A step of create or delete, or a line of kind's or k3d's output: logged and in the status line."""
        if not self.showing:
            return
        self._progress("cluster", message)
        self.dashboard.query_one(ActivityLog).action(self.now(), message)

    def _cluster_created(self, created: ClusterCreated) -> None:
        if not self.showing:
            return
        self._finish("cluster")
        verb = "already existed: reused it" if created.reused else "created"
        parts = [f"{created.distribution.value} cluster {created.name} {verb} (context {created.context})"]
        if created.registry is not None:
            parts.append(f"registry {created.registry.name} on network {created.registry_network}")
        if created.flux is not None:
            parts.append(created.flux.summary)
        self.report("; ".join(parts), "information", title="cluster ready")
        self.refresh_clusters()
        connection = self.model.connection
        if created.reused and connection is not None and connection.connected:
            self.refresh_registry()
        else:
            # A running watch never rereads the kubeconfig, where a new cluster (or a new current
            # context) has a new API server address: watch again.
            self._watch_anew(self.model.config, "cluster created")

    def _cluster_failed(self, what: str, error: KsailError) -> None:
        if not self.showing:
            return
        self._finish("cluster")
        self.report_error(error, what)
        self.refresh_clusters()  # a half-made or half-deleted cluster shows as it is

    def action_delete_cluster(self) -> None:
        if self._refuse_in_demo("deleted"):
            return
        label = self._cluster_label()

        def answered(choice: ClusterDeletion | None) -> None:
            if choice is None:
                return
            doing = f"deleting the {label}" + (" and the registry's data…" if choice.purge else "…")
            if self._begin("cluster", doing):
                if self.watched is not None:
                    self._stop_watch_mode("the cluster is being deleted")
                self.delete_configured_cluster(choice.purge)

        self.push_screen(DeleteClusterScreen(self.model.config), answered)

    @work(thread=True, group="cluster", exit_on_error=False)
    def delete_configured_cluster(self, purge: bool) -> None:
        self._run_lifecycle("delete cluster", self._cluster_deleted, self.services.delete_cluster, purge)

    def _cluster_deleted(self, deleted: ClusterDeleted) -> None:
        if not self.showing:
            return
        self._finish("cluster")
        label = f"{deleted.distribution.value} cluster {deleted.name}"
        parts = [f"{label} deleted" if deleted.existed else f"there was no {label} to delete"]
        if deleted.purged:
            parts.append("the registry's data is deleted too")
        elif deleted.registry_data_kept:
            parts.append(f"the registry's data is kept in {deleted.registry_data_kept}")
        self.report("; ".join(parts), "warning", title="cluster deleted")
        self.refresh_clusters()
        self.refresh_registry()

    # --- views ----------------------------------------------------------------------------

    def action_describe(self) -> None:
        if self.selected_key is None or self._live is None:
            self.notify("select a row in the Flux table to describe", severity="warning")
            return
        raw = self._live.raw(self.selected_key)
        self.push_screen(DescribeScreen(self.selected_key, raw, self.model, self.now()))

    def action_events(self) -> None:
        ref = self._selected_ref("see its events")
        if ref is not None:
            self.push_screen(EventsScreen(ref, self.services.events))

    def action_filter(self) -> None:
        if self.dashboard.compact:
            self.dashboard.reveal("flux")
        self.dashboard.query_one(FluxPane).open_filter()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    # --- watch mode ---------------------------------------------------------------------------

    def action_toggle_watch(self) -> None:
        if self.watched is not None:
            self._stop_watch_mode("stopped")
            return
        workload = self._selected_workload("watch")
        if workload is not None and self._begin("watch", f"starting watch mode for {workload}…"):
            self.start_watch_mode(workload)

    @work(thread=True, group="watch", exit_on_error=False)
    def start_watch_mode(self, workload: str) -> None:
        handle = self.run_blocking(
            self.services.watch, workload, lambda state: self.post_message(WatchStateChanged(state))
        )
        self.call_from_thread(self._watch_started, workload, handle)

    def _watch_started(self, workload: str, handle: WatchHandle) -> None:
        if not self.showing:  # closed while starting: nobody would stop it later
            threading.Thread(target=handle.stop, name="ksail-watch-stop", daemon=True).start()
            return
        self._finish("watch")
        self._watch, self.watched, self._watch_seen = handle, workload, None
        self.dashboard.query_one(LoopStatus).show_watch_mode(workload, None)
        self.report(f"{workload}: every save is now built, pushed and reconciled", title="watch mode on")

    def _stop_watch_mode(self, why: str) -> None:
        handle, workload = self._watch, self.watched
        self._watch, self.watched = None, None
        if handle is not None:
            # Stopping joins the loop's threads: not on the UI thread.
            threading.Thread(target=handle.stop, name="ksail-watch-stop", daemon=True).start()
        self.dashboard.query_one(LoopStatus).show_watch_mode(None, None)
        self.report(f"watch mode off for {workload}: {why}", title="watch mode")

    def on_watch_state_changed(self, message: WatchStateChanged) -> None:
        state = message.state
        if state.workload != self.watched or not self.showing:
            return  # a late report of a loop already stopped
        self.dashboard.query_one(LoopStatus).show_watch_mode(state.workload, state)
        seen, self._watch_seen = self._watch_seen, state
        # The loop republishes its state on every change (a pending save, a retry): report news only.
        result = state.last_result if seen is None or state.last_result != seen.last_result else None
        problem = state.last_error if seen is None or state.last_error != seen.last_error else None
        if state.phase is Phase.IDLE and result is not None and result.ok and result.revision:
            self.model.pushed[state.workload] = result.revision
            took = f" in {result.save_to_ready:.1f}s from the save" if result.save_to_ready else ""
            self.dashboard.query_one(ActivityLog).action(
                self.now(), f"watch: {state.workload} runs {short_revision(result.revision)}{took}", "success"
            )
            if result.pushed:
                self.refresh_artifacts(state.workload)
                self.refresh_registry()
        elif state.phase is Phase.ERROR and problem is not None:
            hint = f"\nhint: {problem.hint}" if problem.hint else ""
            self.report(f"{state.workload}: {problem}{hint}", "error", title="watch: not applied")
        self._show_loop_status()

    def action_focus_pane(self, pane: str) -> None:
        self.dashboard.reveal(pane)


def make_app(
    config: ClusterConfig,
    *,
    services: DashboardServices | None = None,
    config_path: Path | None = None,
    simulated: bool = False,
    settings: DashboardSettings | None = None,
    clock: Clock | None = None,
    animate: bool = True,
) -> KsailApp:
    """The dashboard of ``config``; the CLI and the tests both build it here.

    ``services`` defaults to the real cluster, registry and OCI services; tests pass scripted ones.
    ``clock`` and ``animate=False`` make the screen deterministic (fixed ages, no spinner, no blink).
    """
    return KsailApp(
        services or ClusterServices(config),
        config_path=config_path,
        simulated=simulated,
        settings=settings,
        clock=clock,
        animate=animate,
    )
