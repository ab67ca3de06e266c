"""The dev loop: save a manifest, see it reconciled.

Per workload, a watcher thread notes changes to the source folder and a worker thread runs cycles:
wait until the folder has been quiet for the debounce, build and validate it, push a new dev version
when the layer digest changed, point the OCIRepository at that version, ask Flux to reconcile and
wait for the Kustomization to apply exactly that revision. Everything the dashboard shows arrives
through ``on_state`` as an immutable :class:`LoopState`, always from the worker thread, in order.

Failures never end the loop: invalid manifests and Flux failures are shown until the next save;
an unreachable registry or cluster pauses the loop, which retries with backoff and keeps the
change, so it is pushed as soon as both are back.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from types import TracebackType
from typing import Any

from ksail_tui.config import ClusterConfig
from ksail_tui.devloop.problems import problem_of
from ksail_tui.devloop.state import CycleResult, LoopProblem, LoopState, Phase
from ksail_tui.devloop.versions import DevSeries, plan_dev_prune
from ksail_tui.devloop.watcher import Changes, FolderWatcher
from ksail_tui.errors import InvalidInput, KsailError, Unavailable
from ksail_tui.flux.service import FluxService, ReconcileOutcome
from ksail_tui.models import OCIArtifact
from ksail_tui.oci.build import build_workload
from ksail_tui.oci.registry_client import RegistryClient
from ksail_tui.oci.service import list_versions, prune_versions, push_workload

log = logging.getLogger(__name__)

StateCallback = Callable[[LoopState], None]
FluxServiceFactory = Callable[[], FluxService]

DEFAULT_DEBOUNCE_SECONDS = 0.3
DEFAULT_KEEP = 5
# Waits between attempts while the registry or the cluster is unreachable; the last one repeats.
DEFAULT_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)
_STOP_TIMEOUT_SECONDS = 5.0


class DevLoop:
    """Watch mode for one or more workloads (the ``w`` key of the dashboard, ``workload watch``).

    ``on_state`` is called from the loop's worker threads, one state at a time per workload and in
    order; it must not block (in Textual, post a message rather than ``call_from_thread``).
    ``flux_service_factory`` returns the FluxService to apply and reconcile with; by default one is
    opened from the configuration's connection.
    """

    def __init__(
        self,
        config: ClusterConfig,
        workload_names: Sequence[str] | None = None,
        flux_service_factory: FluxServiceFactory | None = None,
        on_state: StateCallback | None = None,
        *,
        debounce: float = DEFAULT_DEBOUNCE_SECONDS,
        keep: int = DEFAULT_KEEP,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        reconcile_timeout: float | None = None,
    ) -> None:
        if debounce < 0:
            raise InvalidInput(f"the debounce must be 0 or more seconds, not {debounce:g}")
        if keep < 1:
            # The newest dev version must stay: it is how a restart finds the next number.
            raise InvalidInput(f"--keep must be at least 1 in watch mode, not {keep}")
        if not retry_delays or min(retry_delays) <= 0:
            raise InvalidInput("retry delays must be positive seconds")
        names = list(workload_names or [workload.name for workload in config.workloads])
        self._loops = {
            name: WorkloadLoop(
                config,
                config.workload(name).name,
                flux_service_factory or (lambda: FluxService.open(config)),
                on_state,
                debounce=debounce,
                keep=keep,
                retry_delays=tuple(retry_delays),
                reconcile_timeout=reconcile_timeout,
            )
            for name in names
        }

    @property
    def workloads(self) -> tuple[str, ...]:
        return tuple(self._loops)

    @property
    def states(self) -> dict[str, LoopState]:
        return {name: loop.state for name, loop in self._loops.items()}

    def state(self, name: str | None = None) -> LoopState:
        """The state of ``name``, or of the only workload."""
        if name is None:
            if len(self._loops) != 1:
                raise InvalidInput("several workloads are watched; name one")
            return next(iter(self._loops.values())).state
        return self._loops[name].state

    def start(self) -> DevLoop:
        """Start watching every workload; returns once their folders are watched."""
        started: list[WorkloadLoop] = []
        try:
            for loop in self._loops.values():
                loop.start()
                started.append(loop)
        except BaseException:
            for loop in started:
                loop.stop()
            raise
        return self

    def stop(self, timeout: float = _STOP_TIMEOUT_SECONDS) -> None:
        """Stop watching; a cycle under way is abandoned (what it pushed stays pushed)."""
        for loop in self._loops.values():
            loop.request_stop()
        deadline = time.monotonic() + timeout
        for loop in self._loops.values():
            loop.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> DevLoop:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class WorkloadLoop:
    """The loop of one workload; see the module docstring."""

    def __init__(
        self,
        config: ClusterConfig,
        name: str,
        flux_service_factory: FluxServiceFactory,
        on_state: StateCallback | None,
        *,
        debounce: float,
        keep: int,
        retry_delays: tuple[float, ...],
        reconcile_timeout: float | None,
    ) -> None:
        self.config = config
        self.workload = config.workload(name)
        self.name = self.workload.name
        self._series = DevSeries(self.workload.version)
        self._source = config.source_path(self.workload)
        self._new_flux_service = flux_service_factory
        self._on_state = on_state
        self._debounce = debounce
        self._keep = keep
        self._retry_delays = retry_delays
        self._reconcile_timeout = reconcile_timeout

        # Shared with the watcher thread, under _wake.
        self._wake = threading.Condition()
        self._pending = False
        self._changed_at = 0.0  # monotonic time the latest change was seen
        self._watch_error: str | None = None
        self._stopping = False

        # The worker thread's own view of the registry and the cluster.
        self._flux: FluxService | None = None
        self._next_number = 1  # of the next dev version; kept in step with the registry
        self._current: OCIArtifact | None = None  # the registry's newest dev version
        self._applied: str | None = None  # the revision last seen applied

        self._state = LoopState(workload=self.name)
        self._state_lock = threading.Lock()
        self._watcher = FolderWatcher(
            self._source, self._on_change, ignore=self.workload.ignore, on_error=self._on_watch_error
        )
        self._worker = threading.Thread(target=self._run, name=f"devloop-{self.name}", daemon=True)

    # --- control, from any thread ---------------------------------------------------------------

    @property
    def state(self) -> LoopState:
        with self._state_lock:
            return self._state

    def start(self) -> None:
        if not self._source.is_dir():
            raise InvalidInput(
                f"the source folder {self._source} of workload {self.name!r} does not exist",
                hint="create it, or fix sourceDirectory in ksail.yaml (relative to the file's folder)",
            )
        self._watcher.start()
        with self._wake:
            # The first cycle, at once, brings the cluster in line with the folder as it is now.
            self._pending = True
            self._changed_at = time.monotonic() - self._debounce
        self._worker.start()

    def request_stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        self._watcher.stop(timeout)
        if self._worker.is_alive():
            self._worker.join(max(0.0, deadline - time.monotonic()))

    def stop(self, timeout: float = _STOP_TIMEOUT_SECONDS) -> None:
        self.request_stop()
        self.join(timeout)

    # --- the watcher thread ---------------------------------------------------------------------

    def _on_change(self, _: Changes) -> None:
        with self._wake:
            self._pending = True
            self._changed_at = time.monotonic()
            self._wake.notify_all()

    def _on_watch_error(self, message: str) -> None:
        with self._wake:
            self._watch_error = message
            self._wake.notify_all()

    # --- the worker thread ----------------------------------------------------------------------

    def _publish(self, **changes: Any) -> None:
        # Only the worker thread publishes, so the listener hears the states in order without the
        # lock; holding it there would make every reader of ``state`` wait for a slow listener.
        with self._state_lock:
            self._state = dataclasses.replace(self._state, **changes)
            state = self._state
        if self._on_state is None:
            return
        try:
            self._on_state(state)
        except Exception:  # a broken listener must not stop the loop
            log.exception("devloop: the state listener failed")

    def _run(self) -> None:
        failures = 0
        while self._wait_for_quiet_change():
            if not self._cycle():
                failures = 0
                continue
            delay = self._retry_delays[min(failures, len(self._retry_delays) - 1)]
            failures += 1
            self._publish(retry_in=delay, pending=True)
            with self._wake:
                if self._wake.wait_for(lambda: self._stopping, timeout=delay):
                    return
                self._pending = True  # try the kept change again, without waiting for a save

    def _change_ready_in(self) -> float | None:
        """Under ``_wake``: seconds until the pending change has been quiet for the debounce (0: it
        has), or None when no change is pending."""
        if not self._pending:
            return None
        return max(0.0, self._debounce - (time.monotonic() - self._changed_at))

    def _wait_for_quiet_change(self) -> bool:
        """Block until a change has been quiet for the debounce; False once stopping."""
        announced = False
        while True:
            with self._wake:
                if self._stopping:
                    return False
                watch_error, self._watch_error = self._watch_error, None
                if watch_error is None:
                    ready_in = self._change_ready_in()
                    if ready_in == 0:
                        return True
                    if announced or ready_in is None:
                        self._wake.wait(ready_in)
                        continue
            # Published outside the lock, so that a slow listener never holds up the watcher.
            if watch_error is not None:
                problem = LoopProblem("unavailable", watch_error)
                self._publish(phase=Phase.PAUSED, message=f"paused: {watch_error}", last_error=problem)
            else:
                announced = True
                self._publish(pending=True)

    def _cycle(self) -> bool:
        """One build → push → reconcile; True when it must be retried after a pause."""
        with self._wake:
            self._pending = False
            changed_at = self._changed_at
        self._publish(phase=Phase.BUILDING, message=f"building {self._source}", pending=False, retry_in=None)
        try:
            return self._build_push_reconcile(changed_at)
        except KsailError as error:
            problem = problem_of(error, self.config, self.name)
            if problem.kind == "unavailable":
                self._publish(phase=Phase.PAUSED, message=f"paused: {problem.message}", last_error=problem)
                return True
            self._publish(phase=Phase.ERROR, message=str(problem), last_error=problem)
            return False
        except Exception as error:  # a bug: show it, keep watching
            log.exception("devloop: cycle of %s failed", self.name)
            problem = LoopProblem("failed", f"internal error: {type(error).__name__}: {error}")
            self._publish(phase=Phase.ERROR, message=str(problem), last_error=problem)
            return False

    def _build_push_reconcile(self, changed_at: float) -> bool:
        built = build_workload(self.config, self.name)
        self._sync_with_registry()
        if self._current is None:
            self._adopt_running(built.layer_digest)
        pushed_at: float | None = None
        if self._current is None or built.layer_digest != self._current.layer_digest:
            version = self._series.version(self._next_number)
            self._publish(phase=Phase.PUSHING, message=f"pushing {version}")
            self._current = push_workload(self.config, self.name, version=version).artifact
            self._next_number += 1
            pushed_at = time.monotonic()
            self._publish(dev_version=version, pushes=self.state.pushes + 1)
        if self._current.flux_revision == self._applied:
            # The last result (and its timings) still describes what runs.
            self._publish(phase=Phase.IDLE, message="no change to the artifact", last_error=None)
            return False
        return self._reconcile(self._current, changed_at, pushed_at)

    def _adopt_running(self, layer_digest: str) -> None:
        """Without a dev version yet, take the version the cluster runs as the current one when the
        folder builds to the same layer: turning watch mode on pushes nothing until a change."""
        try:
            if self._flux is None:
                self._flux = self._new_flux_service()
            applied = self._flux.statuses([self.name])[0].applied_revision
            versions = list_versions(self.config, self.name) if applied else []
        except KsailError:  # asked again when the cycle needs the cluster and the registry
            return
        running = next((artifact for artifact in versions if artifact.flux_revision == applied), None)
        if running is not None and running.layer_digest == layer_digest:
            self._current, self._applied = running, applied

    def _sync_with_registry(self) -> None:
        """Continue the registry's dev series, knowing the content of its newest version.

        One tag listing per cycle; manifests are fetched only at the start and when the series moved
        without this loop (another writer, a wiped registry), so a number is never used twice.
        """
        repository = self.config.repository_of(self.workload)
        with RegistryClient(self.config.registry_endpoint) as client:
            tags = client.list_tags(repository)
        next_number = self._series.next_number(tags)
        if self._current is not None and self._current.tag in tags and next_number == self._next_number:
            return
        newest = self._series.version(next_number - 1)
        versions = list_versions(self.config, self.name) if newest in tags else []
        self._current = next((artifact for artifact in versions if artifact.tag == newest), None)
        self._next_number = next_number
        if self._current is not None:
            self._publish(dev_version=newest)

    def _reconcile(self, artifact: OCIArtifact, changed_at: float, pushed_at: float | None) -> bool:
        """Point the OCIRepository at ``artifact`` and wait for Flux; True when it must be retried."""
        version = artifact.tag
        self._publish(phase=Phase.RECONCILING, message=f"reconciling {version}")
        if self._flux is None:
            self._flux = self._new_flux_service()
        flux = self._flux
        # An exact tag rather than a semver range: the revision to wait for is known before Flux
        # looks, and a range would make Flux list tags and might pick another writer's version.
        flux.apply_sources([self.name], tags={self.name: version})
        outcome: Future[tuple[ReconcileOutcome, float]] = Future()

        def reconcile() -> None:
            try:
                result = flux.reconcile([self.name], timeout=self._reconcile_timeout)[0]
                outcome.set_result((result, time.monotonic()))
            except BaseException as error:
                outcome.set_exception(error)
            with self._wake:
                self._wake.notify_all()

        # A thread of its own, so that a newer save can supersede a reconcile that hangs (e.g. a
        # health check that will time out): the abandoned wait ends on its own timeout.
        threading.Thread(target=reconcile, name=f"devloop-reconcile-{self.name}", daemon=True).start()
        pruned, warning = self._prune(version) if pushed_at is not None else ((), None)
        if warning != self.state.warning:
            self._publish(warning=warning)
        if not self._wait_for_outcome(outcome):
            return False  # stopping, or a newer change takes over
        result, ended_at = outcome.result()
        applied = result.ok and result.applied_revision == artifact.flux_revision
        cycle = CycleResult(
            version,
            artifact.flux_revision,
            pushed=pushed_at is not None,
            ok=applied,
            message=result.message,
            save_to_pushed=pushed_at - changed_at if pushed_at is not None else None,
            save_to_ready=ended_at - changed_at if applied else None,
            pruned=pruned,
        )
        return self._report(cycle, result)

    def _report(self, cycle: CycleResult, result: ReconcileOutcome) -> bool:
        """Publish how Flux took the change; True when it must be retried."""
        if cycle.ok:
            self._applied = cycle.revision
            self._publish(
                phase=Phase.IDLE,
                message=cycle.message,
                last_result=cycle,
                last_error=None,
                applied_revision=cycle.revision,
            )
            return False
        if result.exit_code == Unavailable.exit_code:
            problem = LoopProblem("unavailable", result.message)
            self._publish(phase=Phase.PAUSED, message=f"paused: {result.message}", last_error=problem)
            return True
        hint = None
        if result.ok:  # Flux applied something, but not this version
            cycle = dataclasses.replace(
                cycle, message=f"Flux applied {result.applied_revision}, not {cycle.revision}"
            )
            if self.workload.follow:
                hint = (
                    f"the workload follows {self.workload.follow!r}: the range must admit pre-releases, "
                    f"e.g. '>={self._series.base}-0'"
                )
        problem = LoopProblem("failed", cycle.message, hint=hint)
        self._publish(phase=Phase.ERROR, message=str(problem), last_result=cycle, last_error=problem)
        return False

    def _wait_for_outcome(self, outcome: Future[tuple[ReconcileOutcome, float]]) -> bool:
        """True when the reconcile ended; False when stopping or a newer change is ready to go."""
        with self._wake:
            while not outcome.done():
                if self._stopping:
                    return False
                ready_in = self._change_ready_in()
                if ready_in == 0:
                    return False
                self._wake.wait(ready_in)
        return True

    def _prune(self, in_use: str) -> tuple[tuple[str, ...], str | None]:
        """Delete dev versions beyond the newest ``keep``, sparing every tag the cluster references.

        Returns the deleted tags and a warning when pruning was skipped or failed.
        """
        try:
            with RegistryClient(self.config.registry_endpoint) as client:
                tags = client.list_tags(self.config.repository_of(self.workload))
            # prune_versions also spares every version the cluster can resolve to.
            plan = plan_dev_prune(tags, keep=self._keep, in_use={in_use})
            if plan is None:
                return (), None
            result = prune_versions(self.config, self.name, keep=plan.keep, protected_tags=plan.protected)
        except KsailError as error:
            return (), f"old dev versions were not pruned: {error.message}"
        return tuple(artifact.tag for artifact in result.deleted), None
