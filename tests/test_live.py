"""LiveCluster against the Kubernetes API emulator: what it reports, and how it survives outages."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from ksail_sim.apiserver.server import ApiServer
from ksail_sim.flux import install_simulated_flux
from ksail_sim.flux.crds import flux_crds
from ksail_tui import live as live_module
from ksail_tui.config import ClusterConfig, parse_config
from ksail_tui.kube.client import KUSTOMIZATIONS, OCI_REPOSITORIES, KubeClient, Resource
from ksail_tui.live import (
    ConnectionUpdate,
    ControllerUpdate,
    FluxEventUpdate,
    FluxObjectUpdate,
    LiveCluster,
    LiveUpdate,
    NodeInfo,
    NodeUpdate,
)
from ksail_tui.models import FluxKustomization, ObjectRef

WAIT_SECONDS = 10.0


def ref(kind: str, name: str) -> ObjectRef:
    return ObjectRef(kind=kind, namespace="flux-system", name=name)


class Recorder:
    """Collects update batches from the watcher threads; waits for one that matches."""

    def __init__(self) -> None:
        self.updates: list[LiveUpdate] = []
        self.batches: list[list[LiveUpdate]] = []
        self._changed = threading.Condition()

    def mark(self) -> int:
        """Where the updates so far end: wait_for(since=mark) looks only at later ones."""
        with self._changed:
            return len(self.updates)

    def __call__(self, batch: Sequence[LiveUpdate]) -> None:
        with self._changed:
            self.updates.extend(batch)
            self.batches.append(list(batch))
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[LiveUpdate], bool], what: str, since: int = 0) -> LiveUpdate:
        deadline = time.monotonic() + WAIT_SECONDS
        with self._changed:
            seen = since
            while True:
                for update in self.updates[seen:]:
                    if predicate(update):
                        return update
                seen = len(self.updates)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no update {what} within {WAIT_SECONDS}s; got {self.updates}")
                self._changed.wait(remaining)

    def connection(self, connected: bool, flux_api: bool | None = None, since: int = 0) -> ConnectionUpdate:
        update = self.wait_for(
            lambda u: (
                isinstance(u, ConnectionUpdate)
                and u.connected == connected
                and (flux_api is None or u.flux_api == flux_api)
            ),
            f"connected={connected} flux_api={flux_api}",
            since,
        )
        assert isinstance(update, ConnectionUpdate)
        return update


def source(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "OCIRepository",
        "metadata": {"name": name, "namespace": "flux-system"},
        "spec": {"interval": "1m", "url": f"oci://registry:5000/{name}", "ref": {"tag": "0.1.0"}},
    }


def kustomization(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": "flux-system"},
        "spec": {
            "interval": "1m",
            "prune": True,
            "sourceRef": {"kind": "OCIRepository", "name": name},
        },
    }


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def live(flux_cluster: KubeClient, recorder: Recorder) -> Iterator[LiveCluster]:
    cluster = LiveCluster(flux_cluster, recorder, max_backoff=0.5)
    yield cluster
    cluster.stop()


def test_reports_what_exists_then_each_change_in_place(
    live: LiveCluster, flux_cluster: KubeClient, apiserver: ApiServer, recorder: Recorder
) -> None:
    flux_cluster.apply(source("app"))
    flux_cluster.apply(kustomization("app"))
    apiserver.apply({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"}})
    live.start()

    recorder.connection(True, flux_api=True)
    recorder.wait_for(
        lambda u: isinstance(u, FluxObjectUpdate) and u.ref == ref("Kustomization", "app"), "ks"
    )
    node = recorder.wait_for(lambda u: isinstance(u, NodeUpdate), "node")
    assert node == NodeUpdate("node-1", NodeInfo(name="node-1", ready=False, reason="no Ready"))
    controller = recorder.wait_for(lambda u: isinstance(u, ControllerUpdate), "controller")
    assert isinstance(controller, ControllerUpdate) and controller.controller is not None
    assert controller.controller.simulated and controller.controller.version

    flux_cluster.merge_patch(
        KUSTOMIZATIONS,
        "app",
        {"status": {"lastAppliedRevision": "0.1.0@sha256:abc", "conditions": []}},
        "flux-system",
        subresource="status",
    )
    patched = recorder.wait_for(
        lambda u: (
            isinstance(u, FluxObjectUpdate)
            and isinstance(u.obj, FluxKustomization)
            and u.obj.last_applied_revision == "0.1.0@sha256:abc"
        ),
        "with the patched status",
    )
    assert live.flux_objects()[patched.ref] == patched.obj  # type: ignore[union-attr]
    raw = live.raw(ref("Kustomization", "app"))
    assert raw is not None and raw["status"]["lastAppliedRevision"] == "0.1.0@sha256:abc"

    flux_cluster.delete(OCI_REPOSITORIES, "app", "flux-system")
    recorder.wait_for(
        lambda u: u == FluxObjectUpdate(ref("OCIRepository", "app"), None), "for the deleted source"
    )
    assert ref("OCIRepository", "app") not in live.flux_objects()


def test_the_first_list_is_one_batch(live: LiveCluster, flux_cluster: KubeClient, recorder: Recorder) -> None:
    for index in range(50):
        flux_cluster.apply(source(f"app-{index}"))
    live.start()
    recorder.wait_for(lambda u: isinstance(u, FluxObjectUpdate) and u.ref.name == "app-49", "last")
    sizes = {len([u for u in recorder.updates if isinstance(u, FluxObjectUpdate)])}
    assert sizes == {50}
    assert len(recorder.batches) < 50


class HeldList(KubeClient):
    """A client whose lists of one resource wait until the test lets them go."""

    def __init__(self, kubeconfig: Path, held: Resource) -> None:
        super().__init__(kubeconfig)
        self.held = held
        self.go = threading.Event()

    def list(self, resource: Resource, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if resource == self.held:
            assert self.go.wait(WAIT_SECONDS), "the test never let the list go"
        return super().list(resource, *args, **kwargs)


def flux_refs(batch: Sequence[LiveUpdate]) -> set[ObjectRef]:
    return {update.ref for update in batch if isinstance(update, FluxObjectUpdate)}


def test_the_loops_first_lists_are_one_batch_even_when_kustomizations_list_first(
    flux_cluster: KubeClient, kubeconfig: Path, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Kustomization's row shows its source's revision: drawn before its source, it is drawn twice.
    monkeypatch.setattr(live_module, "FIRST_LISTS_WAIT_SECONDS", 60.0)
    for name in ("a", "b"):
        flux_cluster.apply(source(name))
        flux_cluster.apply(kustomization(name))
    client = HeldList(kubeconfig, OCI_REPOSITORIES)
    live = LiveCluster(client, recorder, max_backoff=0.5)
    live.start()
    try:
        recorder.connection(True)  # the Nodes watch: the Kustomizations have had time to list
        time.sleep(0.2)
        assert not flux_refs(recorder.updates), "Kustomizations were reported before their sources"
        client.go.set()
        recorder.wait_for(
            lambda u: isinstance(u, FluxObjectUpdate) and u.ref.kind == "OCIRepository", "sources"
        )
        first = next(batch for batch in recorder.batches if flux_refs(batch))
        assert flux_refs(first) == {
            ref(kind, name) for kind in ("OCIRepository", "Kustomization") for name in ("a", "b")
        }
    finally:
        live.stop()


def test_a_loop_list_that_is_slow_holds_the_other_back_only_for_a_while(
    flux_cluster: KubeClient, kubeconfig: Path, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_module, "FIRST_LISTS_WAIT_SECONDS", 0.2)
    flux_cluster.apply(source("a"))
    flux_cluster.apply(kustomization("a"))
    client = HeldList(kubeconfig, KUSTOMIZATIONS)
    live = LiveCluster(client, recorder, max_backoff=0.5)
    live.start()
    try:
        recorder.wait_for(
            lambda u: isinstance(u, FluxObjectUpdate) and u.ref.kind == "OCIRepository", "source"
        )
        assert not client.go.is_set()  # shown while the Kustomizations are still listing
        client.go.set()
        recorder.wait_for(lambda u: isinstance(u, FluxObjectUpdate) and u.ref.kind == "Kustomization", "ks")
    finally:
        client.go.set()
        live.stop()


def test_a_loop_kind_the_cluster_does_not_serve_holds_nothing_back(
    apiserver: ApiServer, kubeconfig: Path, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_module, "FIRST_LISTS_WAIT_SECONDS", 60.0)
    for crd in flux_crds():
        if crd["spec"]["names"]["kind"] == "OCIRepository":
            apiserver.apply(crd)
    apiserver.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "flux-system"}})
    apiserver.apply(source("a"))
    live = LiveCluster(KubeClient(kubeconfig), recorder, max_backoff=0.5)
    live.start()
    try:
        recorder.wait_for(
            lambda u: isinstance(u, FluxObjectUpdate) and u.ref == ref("OCIRepository", "a"), "the source"
        )
        assert recorder.connection(True, flux_api=False).flux_reason
    finally:
        live.stop()


def test_only_events_about_flux_objects_are_reported(
    live: LiveCluster, apiserver: ApiServer, recorder: Recorder
) -> None:
    live.start()
    recorder.connection(True)
    for kind, reason in (("Pod", "Scheduled"), ("Kustomization", "ReconciliationSucceeded")):
        apiserver.apply(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": f"e-{kind.lower()}", "namespace": "flux-system"},
                "involvedObject": {"kind": kind, "name": "app", "namespace": "flux-system"},
                "reason": reason,
                "message": "done",
                "type": "Normal",
            }
        )
    event = recorder.wait_for(lambda u: isinstance(u, FluxEventUpdate), "event")
    assert isinstance(event, FluxEventUpdate)
    assert (event.event.object, event.event.reason) == (
        "Kustomization/flux-system/app",
        "ReconciliationSucceeded",
    )
    time.sleep(0.2)
    assert not any(isinstance(u, FluxEventUpdate) and u.event.reason == "Scheduled" for u in recorder.updates)


def test_an_outage_is_reported_and_recovered_from(
    live: LiveCluster, flux_cluster: KubeClient, apiserver: ApiServer, recorder: Recorder
) -> None:
    live.start()
    recorder.connection(True, flux_api=True)
    apiserver.set_unavailable(True)
    recorder.wait_for(
        lambda u: isinstance(u, ConnectionUpdate) and not u.connected and "503" in u.reason, "503 reason"
    )
    outage = recorder.mark()
    apiserver.set_unavailable(False)
    flux_cluster.apply(source("written-after"))
    recorder.wait_for(
        lambda u: isinstance(u, FluxObjectUpdate) and u.ref == ref("OCIRepository", "written-after"),
        "written after the outage",
        outage,
    )
    recorder.connection(True, flux_api=True, since=outage)


def test_a_cluster_without_flux_is_connected_but_serves_no_flux_api(
    apiserver: ApiServer, kubeconfig: Path, recorder: Recorder
) -> None:
    live = LiveCluster(KubeClient(kubeconfig), recorder, max_backoff=0.5)
    live.start()
    try:
        update = recorder.connection(True, flux_api=False)
        assert "404" in update.flux_reason
    finally:
        live.stop()


def _config(kubeconfig: Path) -> ClusterConfig:
    return parse_config(
        "apiVersion: ksail.io/v1alpha1\nkind: Cluster\n"
        f"metadata: {{name: t}}\nspec: {{cluster: {{connection: {{kubeconfig: {kubeconfig}}}}}}}\n",
        base_dir=kubeconfig.parent,
    )


def test_a_missing_kubeconfig_does_not_raise_and_is_retried(
    apiserver: ApiServer, tmp_path: Path, recorder: Recorder
) -> None:
    path = tmp_path / "later" / "kubeconfig"
    live = LiveCluster(_config(path), recorder, max_backoff=0.3)
    live.start()  # must not raise
    try:
        down = recorder.connection(False)
        assert "does not exist" in down.reason
        apiserver.write_kubeconfig(path)
        recorder.connection(True)
    finally:
        live.stop()


def test_restart_on_another_cluster_removes_what_the_old_one_held(
    live: LiveCluster, flux_cluster: KubeClient, recorder: Recorder, tmp_path: Path
) -> None:
    flux_cluster.apply(source("old"))
    live.start()
    recorder.wait_for(lambda u: isinstance(u, FluxObjectUpdate) and u.ref.name == "old", "old object")

    other = ApiServer(port=0)
    other.start()
    try:
        other_kube = KubeClient(other.write_kubeconfig(tmp_path / "other"))
        install_simulated_flux(other_kube)
        other_kube.apply(source("new"))
        live.restart(other_kube)
        recorder.wait_for(lambda u: u == FluxObjectUpdate(ref("OCIRepository", "old"), None), "removal")
        recorder.wait_for(lambda u: isinstance(u, FluxObjectUpdate) and u.ref.name == "new", "new object")
        assert list(live.flux_objects()) == [ref("OCIRepository", "new")]
    finally:
        live.stop()
        other.stop()
