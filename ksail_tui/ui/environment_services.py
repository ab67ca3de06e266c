"""What the Environments pane asks of the core: list and watch Environments, create a preview of
the checked-out revision, reconcile, delete, install the CRDs, whether the operator runs. No Textual here.

:class:`ClusterEnvironments` delegates to :mod:`ksail_tui.operator.environments`; tests replace
only how a preview's artifact is pushed (the registry is not part of what they check).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ksail_tui.config import ClusterConfig
from ksail_tui.kube.client import KubeClient, Resource
from ksail_tui.kube.watch import Watcher, WatchEvent, WatchState
from ksail_tui.operator import environments, heartbeat
from ksail_tui.operator.environments import Environments, EnvironmentView
from ksail_tui.operator.service import ENVIRONMENTS

# What the details view lists from an Environment's namespace.
NAMESPACE_OBJECTS = (
    Resource("source.toolkit.fluxcd.io", "v1", "ocirepositories", "OCIRepository"),
    Resource("kustomize.toolkit.fluxcd.io", "v1", "kustomizations", "Kustomization"),
    Resource("apps", "v1", "deployments", "Deployment"),
    Resource("networking.k8s.io", "v1", "ingresses", "Ingress"),
    Resource("", "v1", "resourcequotas", "ResourceQuota"),
    Resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy"),
)

ArtifactPusher = Callable[[ClusterConfig, str], tuple[str, bool]]


@dataclass(frozen=True)
class Preview:
    view: EnvironmentView
    pushed: bool  # the workload's artifact for this commit was not in the registry


class ClusterEnvironments:
    def __init__(self, config: ClusterConfig, push: ArtifactPusher = environments.ensure_artifact) -> None:
        self.config = config
        self._push = push
        connection = config.spec.cluster.connection
        self.client = KubeClient(Path(connection.kubeconfig).expanduser(), connection.context)
        self.envs = Environments(self.client, config.spec.environments.namespace)

    def watch(
        self, on_event: Callable[[WatchEvent], None], on_state: Callable[[WatchState], None]
    ) -> Watcher:
        return Watcher(
            self.client, ENVIRONMENTS, on_event=on_event, on_state=on_state, namespace=self.envs.namespace
        ).start(name="environments")

    def check(self) -> list[str]:
        """The Projects; Unavailable when the CRDs are not installed."""
        return self.envs.projects()

    def operator_heartbeat(self, now: datetime) -> heartbeat.Heartbeat:
        return heartbeat.read(self.client, now)

    def install_crds(self) -> None:
        environments.install_crds(self.client)

    def create_preview(self, project: str, on_progress: Callable[[str], None]) -> Preview:
        """A preview of the checked-out branch and commit, its artifact pushed first if missing."""
        revision = environments.git_revision(self.config.base_dir)
        on_progress(f"pushing the artifact of {revision.commit[:12]} unless the registry has it")
        tag, pushed = self._push(self.config, revision.commit)
        name = environments.preview_name(revision.branch, revision.commit)
        on_progress(f"creating Environment {name}")
        view = self.envs.create(
            name,
            project,
            branch=revision.branch,
            commit=revision.commit,
            ttl=self.config.spec.environments.ttl,
            artifact_tag=tag,
        )
        return Preview(view, pushed)

    def reconcile(self, name: str) -> list[str]:
        return self.envs.reconcile(name)

    def delete(self, name: str, on_progress: Callable[[str], None], cancel: threading.Event) -> None:
        self.envs.delete(name, wait=True, timeout=120.0, on_progress=on_progress, cancel=cancel)

    def namespace_objects(self, view: EnvironmentView) -> list[str]:
        return self.envs.namespace_objects(view, NAMESPACE_OBJECTS)


def view_of(obj: dict[str, Any]) -> EnvironmentView:
    return EnvironmentView.from_object(obj)
