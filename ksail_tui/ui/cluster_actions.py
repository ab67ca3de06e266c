"""The cluster's lifecycle from the dashboard: create (or reuse) it and delete it.

Both stream their progress (kind's or k3d's output too) into the status line and the activity log.
"""

from __future__ import annotations

from textual import on
from textual.message import Message

from ksail_tui.cluster.reports import ClusterCreated, ClusterDeleted
from ksail_tui.errors import KsailError
from ksail_tui.ui.jobs import JobProgress
from ksail_tui.ui.screens.dashboard_base import DashboardBase
from ksail_tui.ui.screens.delete_cluster import ClusterDeletion, DeleteClusterScreen

GROUP = "cluster"


class ClusterReady(Message):
    def __init__(self, created: ClusterCreated) -> None:
        super().__init__()
        self.created = created


class ClusterGone(Message):
    def __init__(self, deleted: ClusterDeleted) -> None:
        super().__init__()
        self.deleted = deleted


class ClusterActionFailed(Message):
    def __init__(self, what: str, error: KsailError) -> None:
        super().__init__()
        self.what, self.error = what, error


class ClusterActions(DashboardBase):
    def _cluster_label(self) -> str:
        config = self.model.config
        return f"{config.spec.cluster.distribution.value} cluster {config.name}"

    def _refuse_in_demo(self, what: str, command: str) -> bool:
        """The demo's cluster is simulated: kind or k3d must not run against its config."""
        if self.model.simulated:
            self.report(
                f"the demo's cluster is simulated, so it cannot be {what} here; "
                f"run `ksail-tui cluster {command}` with your own ksail.yaml",
                "warning",
                title="not in the demo",
            )
        return self.model.simulated

    def _step(self, text: str) -> None:
        self.post_message(JobProgress(GROUP, text, logged=True))

    def action_create_cluster(self) -> None:
        if self._refuse_in_demo("created", "create"):
            return
        if not self.begin(GROUP, f"creating the {self._cluster_label()}…"):
            return
        services = self.services

        def job() -> Message:
            try:
                return ClusterReady(services.create_cluster(self._step))
            except KsailError as error:
                return ClusterActionFailed("create cluster", error)

        self.run_job(GROUP, job)

    def action_delete_cluster(self) -> None:
        if self._refuse_in_demo("deleted", "delete"):
            return
        label = self._cluster_label()
        services = self.services

        def job(purge: bool) -> Message:
            try:
                return ClusterGone(services.delete_cluster(purge, self._step))
            except KsailError as error:
                return ClusterActionFailed("delete cluster", error)

        def answered(choice: ClusterDeletion | None) -> None:
            if choice is None:
                return
            doing = f"deleting the {label}" + (" and the registry's data…" if choice.purge else "…")
            if self.begin(GROUP, doing):
                if self.devloop_workload is not None:
                    self.stop_devloop("the cluster is being deleted")
                self.run_job(GROUP, lambda: job(choice.purge))

        self.app.push_screen(DeleteClusterScreen(self.model.config), answered)

    @on(ClusterReady)
    def _cluster_ready(self, message: ClusterReady) -> None:
        if not self.showing:
            return
        self.finish(GROUP)
        created = message.created
        verb = "already existed: reused it" if created.reused else "created"
        parts = [f"{created.distribution.value} cluster {created.name} {verb} (context {created.context})"]
        if created.registry is not None:
            parts.append(f"registry {created.registry.name} on network {created.registry_network}")
        if created.flux is not None:
            parts.append(created.flux.summary)
        self.report("; ".join(parts), "information", title="cluster ready")
        self.refresh_clusters()
        connection = self.model.connection
        if created.reused and connection is not None and connection.connected:
            self.refresh_registry()
        else:
            # A running watch never rereads the kubeconfig, where a new cluster (or a new current
            # context) has a new API server address: watch again.
            self.restart_live(self.model.config, "cluster created")

    @on(ClusterGone)
    def _cluster_gone(self, message: ClusterGone) -> None:
        if not self.showing:
            return
        self.finish(GROUP)
        deleted = message.deleted
        label = f"{deleted.distribution.value} cluster {deleted.name}"
        parts = [f"{label} deleted" if deleted.existed else f"there was no {label} to delete"]
        if deleted.purged:
            parts.append("the registry's data is deleted too")
        elif deleted.registry_data_kept:
            parts.append(f"the registry's data is kept in {deleted.registry_data_kept}")
        self.report("; ".join(parts), "warning", title="cluster deleted")
        self.refresh_clusters()
        self.refresh_registry()

    @on(ClusterActionFailed)
    def _cluster_action_failed(self, message: ClusterActionFailed) -> None:
        if not self.showing:
            return
        self.finish(GROUP)
        self.report_error(message.error, message.what)
        self.refresh_clusters()  # a half-made or half-deleted cluster shows as it is
