"""The dev loop from the dashboard (``w``, "watch mode" to the user): every save is built, pushed
and reconciled; its phases show in the status line, each result once."""

from __future__ import annotations

import threading

from textual import on
from textual.message import Message

from ksail_tui.devloop.state import LoopState, Phase
from ksail_tui.humanize import short_revision
from ksail_tui.ui.screens.dashboard_base import DashboardBase
from ksail_tui.ui.services import DevloopHandle
from ksail_tui.ui.widgets.activity_log import ActivityLog
from ksail_tui.ui.widgets.loop_status import LoopStatus

GROUP = "watch"


class DevloopStarted(Message):
    def __init__(self, workload: str, handle: DevloopHandle) -> None:
        super().__init__()
        self.workload, self.handle = workload, handle


class DevloopStateChanged(Message):
    """The dev loop moved on: a new phase, a result or a problem."""

    def __init__(self, state: LoopState) -> None:
        super().__init__()
        self.state = state


class DevloopActions(DashboardBase):
    _devloop_seen: LoopState | None = None  # the loop's last state, to report each result once

    def action_toggle_devloop(self) -> None:
        if self.devloop_workload is not None:
            self.stop_devloop("stopped")
            return
        workload = self.selected_workload("watch")
        if workload is None or not self.begin(GROUP, f"starting watch mode for {workload}…"):
            return
        services = self.services

        def job() -> DevloopStarted:
            handle = services.start_devloop(
                workload, lambda state: self.post_from_job(DevloopStateChanged(state))
            )
            return DevloopStarted(workload, handle)

        self.run_job(GROUP, job)

    @on(DevloopStarted)
    def _devloop_started(self, message: DevloopStarted) -> None:
        if not self.showing:  # closed while starting: nobody would stop it later
            threading.Thread(target=message.handle.stop, name="ksail-devloop-stop", daemon=True).start()
            return
        self.finish(GROUP)
        self.devloop, self.devloop_workload = message.handle, message.workload
        self._devloop_seen = None
        self.query_one(LoopStatus).show_devloop(message.workload, None)
        self.report(
            f"{message.workload}: every save is now built, pushed and reconciled", title="watch mode on"
        )

    @on(DevloopStateChanged)
    def _devloop_state_changed(self, message: DevloopStateChanged) -> None:
        state = message.state
        if state.workload != self.devloop_workload or not self.showing:
            return  # a late report of a loop already stopped
        self.query_one(LoopStatus).show_devloop(state.workload, state)
        seen, self._devloop_seen = self._devloop_seen, state
        # The loop republishes its state on every change (a pending save, a retry): report news only.
        result = state.last_result if seen is None or state.last_result != seen.last_result else None
        problem = state.last_error if seen is None or state.last_error != seen.last_error else None
        if state.phase is Phase.IDLE and result is not None and result.ok and result.revision:
            self.model.pushed[state.workload] = result.revision
            took = f" in {result.save_to_ready:.1f}s from the save" if result.save_to_ready else ""
            self.query_one(ActivityLog).action(
                self.now(), f"watch: {state.workload} runs {short_revision(result.revision)}{took}", "success"
            )
            if result.pushed:
                self.refresh_artifacts(state.workload)
                self.refresh_registry()
        elif state.phase is Phase.ERROR and problem is not None:
            hint = f"\nhint: {problem.hint}" if problem.hint else ""
            self.report(f"{state.workload}: {problem}{hint}", "error", title="watch: not applied")
        self._show_loop_status()
