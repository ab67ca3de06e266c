"""Registry pane: whether the local registry runs, where to push and pull, and what it holds."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.signal import Signal

from ksail_tui.flux.status import Health
from ksail_tui.models import RegistryStatus
from ksail_tui.ui.dashboard_state import DashboardModel
from ksail_tui.ui.styled import DIM, health_text, human_size
from ksail_tui.ui.widgets.pane import Pane

_STATUS_HEALTH = {
    RegistryStatus.RUNNING: Health.READY,
    RegistryStatus.PROVISIONING: Health.PROGRESSING,
    RegistryStatus.NOT_PROVISIONED: Health.UNKNOWN,
    RegistryStatus.ERROR: Health.FAILING,
}


def registry_content(model: DashboardModel) -> Group:
    config = model.config
    view = model.registry
    lines: list[Text] = []
    if not config.registry.enabled:
        lines.append(health_text(Health.UNKNOWN, "disabled in ksail.yaml"))
    elif view is None:
        if model.registry_error:
            lines.append(health_text(Health.FAILING, "cannot be asked"))
            lines.append(Text(model.registry_error, style=DIM))
        else:
            lines.append(health_text(Health.UNKNOWN, "checking…"))
    else:
        registry = view.registry
        status = health_text(_STATUS_HEALTH[registry.status], registry.status.value)
        status.append(f"  {registry.backend} backend", style=DIM)
        lines.append(status)
        if registry.last_error:
            lines.append(Text(registry.last_error, style=DIM))
        if registry.status == RegistryStatus.NOT_PROVISIONED:
            lines.append(Text("run `ksail-tui registry up`", style=DIM))
    push = Text("push ", style=DIM)
    push.append(config.registry_endpoint, style="bold")
    lines.append(push)
    pull = Text("pull ", style=DIM)
    pull.append(config.registry_cluster_endpoint, style="bold")
    pull.append(" (in-cluster)", style=DIM)
    lines.append(pull)
    if view is not None and view.repositories:
        lines.append(Text("Repositories", style="bold"))
        for repository in view.repositories:
            line = Text(f"  {repository.name}")
            if repository.error:
                line.append(f"  {repository.error}", style="#f14c4c")
            else:
                count = repository.tags or 0
                line.append(f"  {count} version{'s' if count != 1 else ''}", style=DIM)
            lines.append(line)
    if view is not None and view.disk_bytes is not None:
        lines.append(Text(f"disk {human_size(view.disk_bytes)}", style=DIM))
    return Group(*lines)


class RegistryPane(Pane):
    def __init__(self) -> None:
        super().__init__("Registry", 2, id="registry")

    def follow(self, loaded: Signal[DashboardModel]) -> None:
        """Draw again when ``loaded`` publishes a registry status (nothing else changes this pane)."""
        loaded.subscribe(self, lambda model: self.refresh_from(model), immediate=True)

    def refresh_from(self, model: DashboardModel) -> None:
        self.show(registry_content(model))
