"""Cluster pane: is the API server there, its nodes, and Flux's controllers."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text

from ksail_tui.flux.status import Health
from ksail_tui.ui.format import DIM, health_text, ok_text
from ksail_tui.ui.model import DashboardModel
from ksail_tui.ui.widgets.pane import Pane


def cluster_content(model: DashboardModel) -> Group:
    connection = model.connection
    lines: list[Text] = []
    if connection is None:
        lines.append(health_text(Health.UNKNOWN, "connecting…"))
    elif not connection.connected:
        lines.append(health_text(Health.FAILING, "unreachable"))
        lines.append(Text(connection.reason, style=DIM))
        lines.append(Text("retrying by itself; start the cluster or fix spec.cluster.connection", style=DIM))
        return Group(*lines)
    else:
        lines.append(ok_text(True, "connected"))

    ready = sum(node.ready for node in model.nodes.values())
    lines.append(Text(f"Nodes {ready}/{len(model.nodes)} ready", style="bold"))
    for node in sorted(model.nodes.values(), key=lambda n: n.name):
        line = ok_text(node.ready, node.name)
        details = " ".join(part for part in (",".join(node.roles), node.version) if part)
        if details:
            line.append(f"  {details}", style=DIM)
        if not node.ready:
            line.append(f"  {node.reason}", style=DIM)
        lines.append(line)

    controllers = sorted(model.controllers.values(), key=lambda c: c.name)
    available = sum(c.available for c in controllers)
    heading = Text(f"Flux controllers {available}/{len(controllers)} available", style="bold")
    if any(c.simulated for c in controllers):
        heading.append("  simulated", style="#e5c07b")
    if connection is not None and connection.flux_api is False:
        heading = health_text(Health.FAILING, "Flux is not installed")
        lines.append(heading)
        lines.append(Text("run `ksail-tui flux install`", style=DIM))
        if connection.flux_reason:
            lines.append(Text(connection.flux_reason, style=DIM))
        return Group(*lines)
    lines.append(heading)
    for controller in controllers:
        line = ok_text(controller.available, controller.name)
        line.append(f"  {controller.ready_replicas}/{controller.replicas}", style=DIM)
        if controller.version:
            line.append(f"  {controller.version}", style=DIM)
        if not controller.available:
            line.append(f"  {controller.message}", style=DIM)
        lines.append(line)
    return Group(*lines)


class ClusterPane(Pane):
    def __init__(self) -> None:
        super().__init__("Cluster", 1, id="cluster")

    def refresh_from(self, model: DashboardModel) -> None:
        self.show(cluster_content(model))
