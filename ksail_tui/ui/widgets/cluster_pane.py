"""Cluster pane: is the API server there, its nodes, Flux's controllers, and the clusters in Docker."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Group
from rich.text import Text
from textual.signal import Signal

from ksail_tui.cluster.reports import DiscoveredCluster
from ksail_tui.flux.status import Health
from ksail_tui.ui.dashboard_state import DashboardModel, LiveChanged
from ksail_tui.ui.styled import DIM, HEALTH_STYLE, health_text, ok_text
from ksail_tui.ui.widgets.pane import Pane

# DiscoveredCluster.state: all containers running, some, none.
STATE_HEALTH = {"running": Health.READY, "degraded": Health.PROGRESSING, "stopped": Health.FAILING}
CONFIGURED_MARK = "▸ "


def _connection_lines(model: DashboardModel) -> list[Text]:
    connection = model.connection
    lines: list[Text] = []
    if connection is None:
        lines.append(health_text(Health.UNKNOWN, "connecting…"))
    elif not connection.connected:
        lines.append(health_text(Health.FAILING, "unreachable"))
        lines.append(Text(connection.reason, style=DIM))
        lines.append(Text("retrying by itself; start the cluster or fix spec.cluster.connection", style=DIM))
        return lines
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
        lines.append(health_text(Health.FAILING, "Flux is not installed"))
        lines.append(Text("run `ksail-tui flux install`", style=DIM))
        if connection.flux_reason:
            lines.append(Text(connection.flux_reason, style=DIM))
        return lines
    lines.append(heading)
    for controller in controllers:
        line = ok_text(controller.available, controller.name)
        line.append(f"  {controller.ready_replicas}/{controller.replicas}", style=DIM)
        if controller.version:
            line.append(f"  {controller.version}", style=DIM)
        if not controller.available:
            line.append(f"  {controller.message}", style=DIM)
        lines.append(line)
    return lines


def _cluster_line(cluster: DiscoveredCluster, model: DashboardModel, name_width: int) -> Text:
    ours = model.is_configured(cluster)
    line = Text(CONFIGURED_MARK if ours else " " * len(CONFIGURED_MARK), style="bold")
    line.append(cluster.name.ljust(name_width), style="bold" if ours else "")
    line.append(f"  {cluster.distribution.value:<4}  ", style=DIM)
    line.append_text(health_text(STATE_HEALTH.get(cluster.state, Health.UNKNOWN), cluster.state))
    if cluster.registry_attached:
        line.append("  registry", style=DIM)
    else:
        # Without its registry on the network, the configured cluster's pods cannot pull artifacts.
        missing = ours and model.config.registry.enabled
        line.append("  no registry", style=HEALTH_STYLE[Health.PROGRESSING] if missing else DIM)
    return line


def _clusters_lines(model: DashboardModel, create_keys: str) -> list[Text]:
    lines = [Text("Clusters in Docker", style="bold")]
    if model.clusters is None:
        if not model.clusters_error:
            lines.append(health_text(Health.UNKNOWN, "checking…"))
            return lines
        # One line each: the pane is small, and Docker's own error text is long.
        lines.append(
            Text(
                f"✗ {model.clusters_error}",
                style=HEALTH_STYLE[Health.FAILING],
                no_wrap=True,
                overflow="ellipsis",
            )
        )
        return lines
    name_width = max([len(model.config.name), *(len(c.name) for c in model.clusters)])
    # The configured cluster first, created or not; then the others in discovery's order.
    configured = [c for c in model.clusters if model.is_configured(c)]
    if not configured:
        config = model.config
        line = Text(CONFIGURED_MARK, style="bold")
        line.append(config.name.ljust(name_width), style="bold")
        line.append(f"  {config.spec.cluster.distribution.value:<4}  ", style=DIM)
        if model.simulated:  # the demo's cluster is the API emulator, never a Docker container
            line.append("simulated by the demo", style=HEALTH_STYLE[Health.PROGRESSING])
        else:
            line.append(f"not created: {create_keys} creates it", style=HEALTH_STYLE[Health.UNKNOWN])
        lines.append(line)
    others = [c for c in model.clusters if not model.is_configured(c)]
    lines += [_cluster_line(cluster, model, name_width) for cluster in [*configured, *others]]
    return lines


def cluster_content(model: DashboardModel, create_keys: str) -> Group:
    """``create_keys``: the keys of the create-cluster action, as the user has them."""
    return Group(*_connection_lines(model), *_clusters_lines(model, create_keys))


class ClusterPane(Pane):
    def __init__(self) -> None:
        super().__init__("Cluster", 1, id="cluster")

    def follow(self, live: Signal[LiveChanged], create_keys: Callable[[], str]) -> None:
        """Draw again when a batch that ``live`` publishes changed the nodes, the controllers or
        the connection (not for the Flux objects' batches, most of them)."""

        def changed(batch: LiveChanged) -> None:
            if batch.changes.nodes or batch.changes.controllers or batch.changes.connection:
                self.refresh_from(batch.model, create_keys())

        live.subscribe(self, changed, immediate=True)

    def refresh_from(self, model: DashboardModel, create_keys: str) -> None:
        self.show(cluster_content(model, create_keys))
