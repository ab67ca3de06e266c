"""The top line: which cluster, which Flux, which registry, which config file, and SIMULATED."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.signal import Signal
from textual.widgets import Static

from ksail_tui.ui.dashboard_state import DashboardModel, LiveChanged
from ksail_tui.ui.styled import DIM


def _shown_path(path: Path | None) -> str:
    if path is None:
        return "(none)"
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class DashboardHeader(Static):
    """Two lines: where (context, cluster) and what runs (Flux); then the registry and the config."""

    def __init__(self, *, id: str) -> None:
        super().__init__(id=id)
        self._shown: tuple[DashboardModel, Path | None, int] | None = None

    def follow(self, live: Signal[LiveChanged], failing: Signal[int]) -> None:
        """Draw again when a batch that ``live`` publishes changed what the Flux part says (the
        controllers, the connection), or when ``failing`` publishes another count of failures."""

        def changed(batch: LiveChanged) -> None:
            if self._shown is not None and (batch.changes.controllers or batch.changes.connection):
                _, config_path, count = self._shown
                self.show(batch.model, config_path, failing=count)

        def counted(count: int) -> None:
            if self._shown is not None and count != self._shown[2]:
                model, config_path, _ = self._shown
                self.show(model, config_path, failing=count)

        live.subscribe(self, changed, immediate=True)
        failing.subscribe(self, counted, immediate=True)

    def show(self, model: DashboardModel, config_path: Path | None, *, failing: int = 0) -> None:
        """``failing``: Flux objects that failed while the user looked elsewhere."""
        self._shown = (model, config_path, failing)
        config = model.config
        connection = config.spec.cluster.connection
        flux = model.flux_summary()
        text = Text(no_wrap=True, overflow="ellipsis")
        if model.simulated or model.flux_simulated:
            text.append(" SIMULATED ", style="bold #1e1e1e on #e5c07b")
            text.append(" ")
        text.append("ksail-tui", style="bold")
        for label, value, style in (
            ("context", connection.context or "(current)", "bold"),
            ("cluster", config.name, "bold"),
            ("flux", flux, "bold #f14c4c" if flux == "not installed" else "bold"),
        ):
            text.append(f"  {label} ", style=DIM)
            text.append(value, style=style)
        if failing:
            text.append(f"  ⚠ {failing} failing", style="bold #1e1e1e on #f14c4c")
            text.append(" (4: Flux, 6: Activity)", style=DIM)
        text.append("\n")
        text.append("registry ", style=DIM)
        text.append(config.registry_endpoint, style="bold")
        text.append(" (push)  ", style=DIM)
        text.append(config.registry_cluster_endpoint, style="bold")
        text.append(" (in-cluster)  config ", style=DIM)
        text.append(_shown_path(config_path), style="bold")
        self.update(text)
