"""The top line: which cluster, which Flux, which registry, which config file, and SIMULATED."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.widgets import Static

from ksail_tui.ui.dashboard_state import DashboardModel
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

    def show(self, model: DashboardModel, config_path: Path | None, *, failing: int = 0) -> None:
        """``failing``: Flux objects that failed while the user looked elsewhere."""
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
