"""Reconcile now: revision-aware, watch-based, failing fast — against the emulator and a scripted controller.

The scripted controller below plays Flux's part with exact condition semantics, so each outcome
(success, retrying failure, stall, silence) can be forced; the end-to-end tests with the simulated
controllers and a real registry live in test_flux_e2e.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ksail_tui.cli.main import main
from ksail_tui.config import ClusterConfig
from ksail_tui.flux.service import FluxService
from ksail_tui.kube.client import KUSTOMIZATIONS, NAMESPACES, OCI_REPOSITORIES, KubeClient, Resource
from ksail_tui.kube.watch import SYNC, Watcher, WatchEvent
from ksail_tui.live import LiveCluster
from ksail_tui.models import RECONCILE_ANNOTATION, ObjectRef

REVISION = "0.1.0@sha256:" + "ab" * 32


def condition(type_: str, status: str, reason: str, message: str) -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": message}


class ScriptedController:
    """Answers each requestedAt like Flux would, with the outcome the test chose per kind."""

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self.outcome = {"OCIRepository": "ok", "Kustomization": "ok"}
        self.handled: dict[str, str] = {}
        self.watchers = [
            Watcher(kube, resource, on_event=self.on_event).start()
            for resource in (OCI_REPOSITORIES, KUSTOMIZATIONS)
        ]

    def on_event(self, event: WatchEvent) -> None:
        for obj in event.objects if event.type == SYNC else [event.object]:
            if obj is not None:
                self.react(obj)

    def react(self, obj: dict[str, Any]) -> None:
        kind, meta = obj["kind"], obj["metadata"]
        token = (meta.get("annotations") or {}).get(RECONCILE_ANNOTATION)
        key = f"{kind}/{meta['name']}"
        if not token or self.handled.get(key) == token or self.outcome[kind] == "silent":
            return
        self.handled[key] = token
        status: dict[str, Any] = {"lastHandledReconcileAt": token}
        outcome = self.outcome[kind]
        if (obj.get("spec") or {}).get("suspend"):
            pass
        elif outcome == "ok" and kind == "OCIRepository":
            status |= {
                "observedGeneration": meta["generation"],
                "artifact": {"revision": REVISION},
                "conditions": [
                    condition("Ready", "True", "Succeeded", f"stored artifact for digest '{REVISION}'")
                ],
            }
        elif outcome == "ok":
            status |= {
                "observedGeneration": meta["generation"],
                "lastAppliedRevision": REVISION,
                "lastAttemptedRevision": REVISION,
                "conditions": [
                    condition("Ready", "True", "ReconciliationSucceeded", f"Applied revision: {REVISION}")
                ],
            }
        elif outcome == "fail":
            message = "kustomize build failed: map[string]interface {}(nil): yaml: line 3: mapping values"
            status |= {
                "lastAttemptedRevision": REVISION,
                "conditions": [
                    condition("Reconciling", "True", "ProgressingWithRetry", "retrying"),
                    condition("Ready", "False", "BuildFailed", message),
                ],
            }
        elif outcome == "stall":
            message = (
                "URL validation failed for 'oci://r:5000/x:v1': URL must not contain a tag; remove ':v1'"
            )
            status |= {
                "observedGeneration": meta["generation"],
                "conditions": [
                    condition("Stalled", "True", "URLInvalid", message),
                    condition("Ready", "False", "URLInvalid", message),
                ],
            }
        resource = OCI_REPOSITORIES if kind == "OCIRepository" else KUSTOMIZATIONS
        self.kube.merge_patch(
            resource, meta["name"], {"status": status}, meta["namespace"], subresource="status"
        )

    def stop(self) -> None:
        for watcher in self.watchers:
            watcher.stop()


@pytest.fixture
def controller(kube: KubeClient) -> Iterator[ScriptedController]:
    scripted = ScriptedController(kube)
    yield scripted
    scripted.stop()


@pytest.fixture
def service(flux_config: ClusterConfig, kube: KubeClient) -> FluxService:
    flux = FluxService(flux_config, kube)
    flux.ensure_namespace()
    flux.apply_sources()
    return flux


def test_apply_is_idempotent_and_creates_the_target_namespace(service: FluxService, kube: KubeClient) -> None:
    first = kube.get(OCI_REPOSITORIES, "app", "flux-system")
    service.apply_sources()
    again = kube.get(OCI_REPOSITORIES, "app", "flux-system")
    assert first["metadata"]["generation"] == again["metadata"]["generation"] == 1
    assert kube.get_or_none(KUSTOMIZATIONS, "app", "flux-system") is not None
    assert kube.get_or_none(NAMESPACES, "apps") is not None


def test_reconcile_waits_for_the_applied_revision(
    service: FluxService, controller: ScriptedController
) -> None:
    progress: list[str] = []
    (outcome,) = service.reconcile(timeout=5, on_progress=progress.append)
    assert outcome.ok, outcome.message
    assert outcome.source_revision == outcome.applied_revision == REVISION
    assert any("source ready" in line for line in progress)
    (status,) = service.statuses()
    assert status.current and status.health.value == "Ready"


def test_a_retrying_failure_fails_fast_with_flux_message(
    service: FluxService, controller: ScriptedController
) -> None:
    controller.outcome["Kustomization"] = "fail"
    (outcome,) = service.reconcile(timeout=30)
    assert not outcome.ok and outcome.exit_code == 1  # 1, not the 3 of sitting out the 30 s timeout
    assert "BuildFailed" in outcome.message and "kustomize build failed" in outcome.message


def test_a_stalled_source_fails_fast(service: FluxService, controller: ScriptedController) -> None:
    controller.outcome["OCIRepository"] = "stall"
    (outcome,) = service.reconcile(timeout=30)
    assert not outcome.ok and "URL must not contain a tag" in outcome.message


def test_silence_times_out_with_exit_3(service: FluxService, controller: ScriptedController) -> None:
    controller.outcome["OCIRepository"] = "silent"
    (outcome,) = service.reconcile(timeout=0.5)
    assert not outcome.ok and outcome.exit_code == 3
    assert "source-controller" in outcome.message


def test_a_set_cancel_event_ends_the_wait_long_before_the_timeout(
    service: FluxService, controller: ScriptedController
) -> None:
    """The dashboard closing (its jobs' closing Event) stops a reconcile that Flux never answers."""
    controller.outcome["OCIRepository"] = "silent"
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    (outcome,) = service.reconcile(timeout=120, cancel=cancel)
    assert not outcome.ok and outcome.exit_code == 1
    assert outcome.message.startswith("stopped waiting for OCIRepository")


def test_suspended_is_an_error_unless_resumed(service: FluxService, controller: ScriptedController) -> None:
    service.set_suspended(None, True)
    (outcome,) = service.reconcile(timeout=5)
    assert not outcome.ok and outcome.exit_code == 1 and "suspended" in outcome.message
    (outcome,) = service.reconcile(timeout=5, resume=True)
    assert outcome.ok, outcome.message


def test_reconcile_of_a_missing_object_says_to_apply(flux_config: ClusterConfig, kube: KubeClient) -> None:
    (outcome,) = FluxService(flux_config, kube).reconcile(timeout=1)
    assert not outcome.ok and "workload apply" in outcome.message


def test_cli_exit_codes(
    flux_config: ClusterConfig,
    service: FluxService,
    controller: ScriptedController,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = ["-c", str(flux_config.path)]
    assert main([*config, "workload", "reconcile", "--timeout", "5s"]) == 0
    assert "applied revision" in capsys.readouterr().out
    assert main([*config, "workload", "status"]) == 0
    controller.outcome["Kustomization"] = "fail"
    assert main([*config, "workload", "reconcile", "--timeout", "10s"]) == 1
    assert main([*config, "workload", "status", "-o", "json"]) == 1
    controller.outcome["OCIRepository"] = "silent"
    assert main([*config, "workload", "reconcile", "--timeout", "300ms"]) == 3
    assert main([*config, "workload", "reconcile", "--timeout", "soon"]) == 2
    assert main([*config, "workload", "suspend"]) == 0
    assert main([*config, "workload", "reconcile", "--timeout", "1s"]) == 1
    captured = capsys.readouterr()
    assert "is suspended" in captured.out and "workload resume" in captured.out


def test_unreachable_cluster_exits_4(
    flux_config: ClusterConfig, kubeconfig: Any, apiserver: Any, capsys: Any
) -> None:
    apiserver.stop()
    assert main(["-c", str(flux_config.path), "workload", "status"]) == 4
    err = capsys.readouterr().err
    assert "unreachable" in err and "Traceback" not in err


def test_no_wait_only_requests(service: FluxService, kube: KubeClient) -> None:
    request = service.request_reconcile()
    obj = kube.get(OCI_REPOSITORIES, "app", "flux-system")
    assert obj["metadata"]["annotations"][RECONCILE_ANNOTATION] == request.token
    assert len(request.targets) == 2


def test_concurrent_reconciles_of_many_workloads(
    kube: KubeClient, kubeconfig: Any, tmp_path: Any, controller: ScriptedController
) -> None:
    from ksail_tui.config import parse_config
    from tests.fixtures.flux import flux_config_text

    names = [f"w{i}" for i in range(5)]
    workloads = "".join(f"    - {{name: {n}, sourceDirectory: {n}}}\n" for n in names)
    config = parse_config(flux_config_text(kubeconfig, workloads=workloads))
    service = FluxService(config, kube)
    service.ensure_namespace()
    service.apply_sources()
    outcomes = service.reconcile(timeout=10)
    assert [o.workload for o in outcomes] == names and all(o.ok for o in outcomes)
    assert threading.active_count() < 50


def test_a_reconcile_fed_by_the_live_store_opens_no_watch_of_its_own(
    service: FluxService, controller: ScriptedController, kube: KubeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dashboard's `r`: its LiveCluster watches the objects already; the waits judge its events."""
    live = LiveCluster(kube, lambda updates: None)
    live.start()
    try:
        ref = ObjectRef(kind="Kustomization", namespace="flux-system", name="app")
        deadline = time.monotonic() + 5
        while live.raw(ref) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        watched: list[str | None] = []
        original = KubeClient.watch

        def watch(client: KubeClient, resource: Resource, *args: Any, **kwargs: Any) -> Any:
            watched.append(kwargs.get("field_selector"))
            return original(client, resource, *args, **kwargs)

        monkeypatch.setattr(KubeClient, "watch", watch)
        progress: list[str] = []
        (outcome,) = service.reconcile(timeout=5, on_progress=progress.append, feed=live)
        assert outcome.ok, outcome.message
        assert outcome.source_revision == outcome.applied_revision == REVISION
        assert any("source ready" in line for line in progress)
        assert "metadata.name=app" not in watched
    finally:
        live.stop()


def test_a_feed_that_does_not_watch_the_object_leaves_the_wait_to_its_own_watch(
    service: FluxService, controller: ScriptedController, kube: KubeClient
) -> None:
    live = LiveCluster(kube, lambda updates: None)  # never started: it watches nothing
    (outcome,) = service.reconcile(timeout=5, feed=live)
    assert outcome.ok, outcome.message
