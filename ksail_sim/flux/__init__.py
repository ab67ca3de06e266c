"""Simulated Flux controllers: source-controller and kustomize-controller, stood in by threads.

Nothing here is Flux. It exists because tests and the demo cannot run a real cluster: it talks to
an API server (the emulator, or any cluster) over HTTP with the product's own KubeClient and
Watcher, pulls artifacts from a real OCI registry, and writes the status, Events and objects that
Flux would, with Flux's condition types, reasons and messages. Everything it writes is marked:
Deployments and applied objects carry ``ksail.io/simulated: "true"`` and Events name a
``ksail-tui.sim/...`` reporting component.

    install_simulated_flux(kube)  # CRDs, the flux-system Namespace, the controller Deployments
    with SimulatedFlux(kube, registry_hosts={"local-registry:5000": "127.0.0.1:5050"}):
        ...
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from ksail_sim.flux.bucket import BucketController
from ksail_sim.flux.crds import all_flux_crds
from ksail_sim.flux.git import GitRepositoryController, StatusController
from ksail_sim.flux.helm import (
    HelmChartController,
    HelmReleaseController,
    HelmRepositoryController,
    IndexStorage,
)
from ksail_sim.flux.kustomize import KustomizeController
from ksail_sim.flux.registry import RegistryReader
from ksail_sim.flux.runtime import SIMULATED_LABEL, log
from ksail_sim.flux.source import SourceController
from ksail_tui.errors import KsailError, TimedOut
from ksail_tui.kube.client import KUSTOMIZATIONS, OCI_REPOSITORIES, KubeClient, Resource
from ksail_tui.kube.watch import SYNC, Watcher, WatchEvent

__all__ = ["SIMULATED_LABEL", "SimulatedFlux", "install_simulated_flux"]

FLUX_NAMESPACE = "flux-system"
INSTALL_FIELD_MANAGER = "flux"
CONTROLLERS = ("source-controller", "kustomize-controller", "helm-controller")
PART_OF_LABEL = "app.kubernetes.io/part-of"
VERSION_LABEL = "app.kubernetes.io/version"
SIMULATED_ANNOTATION = "ksail.io/simulated-by"


def _flux_labels(version: str) -> dict[str, str]:
    return {
        PART_OF_LABEL: "flux",
        VERSION_LABEL: version,
        "app.kubernetes.io/instance": FLUX_NAMESPACE,
        SIMULATED_LABEL: "true",
    }


def _controller_deployment(name: str, version: str) -> dict[str, Any]:
    labels = {**_flux_labels(version), "app.kubernetes.io/component": name, "app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": FLUX_NAMESPACE,
            "labels": labels,
            "annotations": {SIMULATED_ANNOTATION: "ksail-tui (ksail_sim.flux); no Flux code runs here"},
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "manager",
                            # Not a real image: nothing pulls or runs it; the simulator does the work.
                            "image": f"ksail-tui.sim/{name}:{version}",
                        }
                    ]
                },
            },
        },
    }


def install_simulated_flux(
    kube: KubeClient,
    version: str = "v2.9.0",
    *,
    timeout: float = 10.0,
    crds: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Register Flux's CRDs, the flux-system Namespace and the (simulated) controller Deployments.

    Server-side apply, like ``flux install``, so it is idempotent. Returns the applied objects.
    ``crds`` replaces the bundled CRDs (a test tier on an old Kubernetes strips what it rejects).
    """
    applied: list[dict[str, Any]] = []
    for crd in all_flux_crds() if crds is None else crds:
        crd["metadata"].setdefault("labels", {}).update(_flux_labels(version))
        applied.append(kube.apply(crd, field_manager=INSTALL_FIELD_MANAGER))
    applied.append(
        kube.apply(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": FLUX_NAMESPACE, "labels": _flux_labels(version)},
            },
            field_manager=INSTALL_FIELD_MANAGER,
        )
    )
    kube.forget_discovery()
    _wait_until_served(kube, timeout)
    for name in CONTROLLERS:
        applied.append(kube.apply(_controller_deployment(name, version), field_manager=INSTALL_FIELD_MANAGER))
    return applied


def _wait_until_served(kube: KubeClient, timeout: float) -> None:
    """The CRDs' resources answer a list (a real API server takes a moment to establish them)."""
    deadline = time.monotonic() + timeout
    for resource in (OCI_REPOSITORIES, KUSTOMIZATIONS):
        while True:
            try:
                kube.list(resource, FLUX_NAMESPACE)
                break
            except KsailError as error:
                if time.monotonic() > deadline:
                    raise TimedOut(
                        f"the Flux CRDs were applied but {resource.plural} is not served: {error}"
                    ) from None
                time.sleep(0.05)


class SimulatedFlux:
    """Simulated source-controller and kustomize-controller running as background threads.

    ``registry_hosts`` maps the registry host written in OCIRepository URLs (the in-cluster name,
    e.g. ``local-registry:5000``) to the address reachable from this machine; pods would use the
    former, but the simulator runs on the workstation. ``namespace`` limits it to one namespace.
    Failed reconciles are retried after min(interval, ``retry_interval``) seconds.
    """

    def __init__(
        self,
        kube: KubeClient,
        registry_hosts: dict[str, str] | None = None,
        namespace: str | None = None,
        *,
        retry_interval: float = 2.0,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.registry = RegistryReader(registry_hosts)
        self.sources = SourceController(kube, self.registry, retry_interval=retry_interval)
        self.kustomizations = KustomizeController(kube, self.registry, retry_interval=retry_interval)
        self._watchers = [
            Watcher(kube, OCI_REPOSITORIES, self._on_source_event, namespace=namespace),
            Watcher(kube, KUSTOMIZATIONS, self._on_kustomization_event, namespace=namespace),
        ]
        # The other kinds' controllers, started only for the kinds the cluster serves.
        indexes = IndexStorage()  # source-controller's storage, shared by its Helm reconcilers
        self.helm_charts = HelmChartController(kube, indexes, retry_interval=retry_interval)
        self.helm_releases = HelmReleaseController(kube, retry_interval=retry_interval)
        self.others: list[StatusController] = [
            GitRepositoryController(kube, retry_interval=retry_interval),
            HelmRepositoryController(kube, indexes, retry_interval=retry_interval),
            self.helm_charts,
            BucketController(kube, retry_interval=retry_interval),
            self.helm_releases,
        ]
        # What one kind's change means to another's objects (Flux's watches on sources).
        self._follow_ups: dict[str, Callable[[dict[str, Any]], None]] = {
            "HelmRepository": self.helm_charts.source_changed,
            "HelmChart": self.helm_releases.chart_changed,
        }
        self._started = False
        self._lock = threading.Lock()

    @property
    def registry_hosts(self) -> dict[str, str]:
        return self.registry.registry_hosts

    def start(self) -> SimulatedFlux:
        with self._lock:
            if self._started:
                return self
            self._started = True
        self.sources.start()
        self.kustomizations.start()
        for controller in self.others:
            if self._serves(controller.resource):
                controller.start()
                self._watchers.append(
                    Watcher(self.kube, controller.resource, self._feed(controller), namespace=self.namespace)
                )
        for watcher in self._watchers:
            watcher.start(name=f"sim-flux-watch-{watcher.resource.plural}")
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching and reconciling; returns once the threads ended (or ``timeout`` passed)."""
        for watcher in self._watchers:
            watcher.stop()
        self.sources.stop()
        self.kustomizations.stop()
        for controller in self.others:
            controller.stop()
        deadline = time.monotonic() + timeout
        for watcher in self._watchers:
            watcher.join(max(0.0, deadline - time.monotonic()))
        self.sources.join(max(0.0, deadline - time.monotonic()))
        self.kustomizations.join(max(0.0, deadline - time.monotonic()))
        for controller in self.others:
            controller.join(max(0.0, deadline - time.monotonic()))
        self.registry.close()

    def __enter__(self) -> SimulatedFlux:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @staticmethod
    def _objects(event: WatchEvent) -> tuple[dict[str, Any], ...]:
        return event.objects if event.type == SYNC else ((event.object,) if event.object else ())

    def _serves(self, resource: Resource) -> bool:
        try:
            self.kube.resolve(resource.api_version, resource.kind)
        except KsailError:
            return False
        return True

    def _feed(self, controller: StatusController) -> Callable[[WatchEvent], None]:
        follow_up = self._follow_ups.get(controller.resource.kind)

        def on_event(event: WatchEvent) -> None:
            try:
                objects = self._objects(event)
                controller.observe(event.type, objects)
                if follow_up is not None and event.type in ("ADDED", "MODIFIED"):
                    for obj in objects:
                        follow_up(obj)
            except Exception:
                log.exception("simulated %s: cannot handle a %s event", controller.component, event.type)

        return on_event

    def _on_source_event(self, event: WatchEvent) -> None:
        try:
            objects = self._objects(event)
            self.sources.observe(event.type, objects)
            self.kustomizations.observe_source(event.type, objects)
        except Exception:  # never let a bad object end the watch thread
            log.exception("simulated source-controller: cannot handle a %s event", event.type)

    def _on_kustomization_event(self, event: WatchEvent) -> None:
        try:
            self.kustomizations.observe(event.type, self._objects(event))
        except Exception:
            log.exception("simulated kustomize-controller: cannot handle a %s event", event.type)
