"""The main screen: its layout, and the compact arrangement for small terminals."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer

from ksail_tui.ui.widgets.activity_log import ActivityLog
from ksail_tui.ui.widgets.artifacts_pane import ArtifactsPane
from ksail_tui.ui.widgets.cluster_pane import ClusterPane
from ksail_tui.ui.widgets.details import DetailsPanel
from ksail_tui.ui.widgets.flux_table import FluxPane
from ksail_tui.ui.widgets.header import DashboardHeader
from ksail_tui.ui.widgets.loop_status import LoopStatus
from ksail_tui.ui.widgets.registry_pane import RegistryPane

# Below this size the top panes and the activity log are shown one at a time, on demand (1-6).
COMPACT_WIDTH = 120
COMPACT_HEIGHT = 32
PANES = ("cluster", "registry", "artifacts", "flux", "details", "activity")
# The widget inside a pane that takes the focus.
FOCUS_TARGET = {"artifacts": "#artifacts-table", "flux": "#flux-table"}


class DashboardScreen(Screen[None]):
    def __init__(self, *, animations_enabled: bool = True) -> None:
        super().__init__(id="dashboard")
        self._animations_enabled = animations_enabled

    def compose(self) -> ComposeResult:
        yield DashboardHeader(id="header")
        with Horizontal(id="top-row"):
            yield ClusterPane()
            yield RegistryPane()
            yield ArtifactsPane()
        with Horizontal(id="middle-row"):
            yield FluxPane(cursor_blink=self._animations_enabled)
            yield DetailsPanel()
        yield ActivityLog()
        yield LoopStatus(animations_enabled=self._animations_enabled)
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
