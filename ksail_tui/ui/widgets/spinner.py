"""A spinner that turns while something runs, and holds still for snapshots."""

from __future__ import annotations

from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Static

SPINNER_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
FROZEN_SPINNER = "⟳"


class Spinner(Static):
    """Turns while something runs; a fixed glyph when animations are off (snapshots)."""

    running: reactive[bool] = reactive(False)

    def __init__(self, *, animations_enabled: bool = True) -> None:
        super().__init__("", id="spinner")
        self.animations_enabled = animations_enabled
        self._frame = 0
        self._timer: Timer | None = None

    def on_mount(self) -> None:
        if self.animations_enabled:
            self._timer = self.set_interval(0.1, self._advance, pause=not self.running)

    def watch_running(self, running: bool) -> None:
        self.update((SPINNER_FRAMES[0] if self.animations_enabled else FROZEN_SPINNER) if running else "")
        if self._timer is not None:
            if running:
                self._timer.resume()
            else:
                self._timer.pause()

    def _advance(self) -> None:
        self._frame = (self._frame + 1) % len(SPINNER_FRAMES)
        self.update(SPINNER_FRAMES[self._frame])
