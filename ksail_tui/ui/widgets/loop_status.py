"""The loop-status line: what the selected workload runs, what is in progress, and watch mode."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static

from ksail_tui.devloop.state import LoopState, Phase
from ksail_tui.flux.status import Health, WorkloadStatus
from ksail_tui.humanize import short_revision
from ksail_tui.ui.styled import DIM, HEALTH_STYLE, health_text
from ksail_tui.ui.widgets.spinner import Spinner

PHASE_HEALTH = {
    Phase.IDLE: Health.READY,
    Phase.BUILDING: Health.PROGRESSING,
    Phase.PUSHING: Health.PROGRESSING,
    Phase.RECONCILING: Health.PROGRESSING,
    Phase.PAUSED: Health.SUSPENDED,
    Phase.ERROR: Health.FAILING,
}
PHASE_LABEL = {
    Phase.IDLE: "watching",
    Phase.BUILDING: "building",
    Phase.PUSHING: "pushing",
    Phase.RECONCILING: "reconciling",
    Phase.PAUSED: "paused, retrying",
    Phase.ERROR: "not applied",
}


def workload_summary(status: WorkloadStatus | None) -> Text:
    if status is None:
        return Text("no workload selected", style=DIM)
    text = Text(f"{status.name} ", style="bold")
    text.append_text(health_text(status.health))
    if status.health is Health.READY:
        # Ready for a workload means the cluster runs what the source holds (and the newest push).
        text.append(f"  running {short_revision(status.applied_revision)}, up to date")
    else:
        text.append(f"  {status.summary}", style=HEALTH_STYLE[status.health])
    return text


class LoopStatus(Horizontal):
    def __init__(self, *, animations_enabled: bool = True) -> None:
        super().__init__(id="loop-status")
        self._animations_enabled = animations_enabled

    def compose(self) -> ComposeResult:
        yield Spinner(animations_enabled=self._animations_enabled)
        yield Static(id="loop-message")
        yield ProgressBar(total=100, show_eta=False, id="push-progress", classes="-hidden")
        yield Static(id="watch-mode")

    def show_idle(self, status: WorkloadStatus | None) -> None:
        self.query_one(Spinner).running = False
        self.query_one("#loop-message", Static).update(workload_summary(status))

    def show_busy(self, message: str) -> None:
        self.query_one(Spinner).running = True
        self.query_one("#loop-message", Static).update(Text(message))

    def show_progress(self, done: int, total: int) -> None:
        bar = self.query_one("#push-progress", ProgressBar)
        bar.remove_class("-hidden")
        bar.update(total=max(total, 1), progress=done)

    def hide_progress(self) -> None:
        self.query_one("#push-progress", ProgressBar).add_class("-hidden")

    def show_devloop(self, workload: str | None, state: LoopState | None) -> None:
        """``watch off``, or the watched workload and what its loop does now."""
        label = Text("watch ", style=DIM)
        if workload is None:
            label.append("off", style=DIM)
        else:
            phase = state.phase if state is not None else Phase.IDLE
            label.append(f"{workload} ", style="bold")
            label.append_text(health_text(PHASE_HEALTH[phase], PHASE_LABEL[phase]))
            if state is not None and state.pending and phase is not Phase.IDLE:
                label.append(" +change", style=DIM)
            if state is not None and state.dev_version:
                label.append(f" {state.dev_version}", style=DIM)
        self.query_one("#watch-mode", Static).update(label)
