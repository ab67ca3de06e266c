"""Every Flux kind: the simulated controllers serve their status, LiveCluster watches what is served."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ksail_sim.demo_objects import chart_index, platform_repository
from ksail_sim.flux import SimulatedFlux, install_simulated_flux
from ksail_tui.flux.kinds import BY_KIND, kind_of_alias
from ksail_tui.flux.logs import IN_PROCESS, LogLine
from ksail_tui.flux.objects import reconcile_object, set_object_suspended
from ksail_tui.flux.status import Health, classify
from ksail_tui.kube.client import KubeClient
from ksail_tui.live import FluxObjectUpdate, LiveCluster, LiveUpdate
from ksail_tui.models import FluxResource, ObjectRef

GIT = BY_KIND["GitRepository"].resource
HELM_REPOSITORY = BY_KIND["HelmRepository"].resource
HELM_RELEASE = BY_KIND["HelmRelease"].resource
HELM_CHART = BY_KIND["HelmChart"].resource


@dataclass(frozen=True)
class Sources:
    """Local sources the simulated controllers can read (they reach nothing else)."""

    git_url: str
    chart_url: str


@pytest.fixture
def sources(tmp_path: Path) -> Sources:
    return Sources(platform_repository(tmp_path / "app").as_uri(), chart_index(tmp_path / "charts").as_uri())


def git_repository(name: str, url: str) -> dict[str, Any]:
    return {
        "apiVersion": GIT.api_version,
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": "flux-system"},
        "spec": {"url": url, "interval": "1m", "ref": {"branch": "main"}},
    }


def helm_objects(url: str) -> list[tuple[Any, dict[str, Any]]]:
    repository = {
        "apiVersion": HELM_REPOSITORY.api_version,
        "kind": "HelmRepository",
        "metadata": {"name": "podinfo", "namespace": "flux-system"},
        "spec": {"url": url, "interval": "5m"},
    }
    release = {
        "apiVersion": HELM_RELEASE.api_version,
        "kind": "HelmRelease",
        "metadata": {"name": "podinfo", "namespace": "flux-system"},
        "spec": {
            "interval": "5m",
            "chart": {
                "spec": {
                    "chart": "podinfo",
                    "version": "6.5.4",
                    "sourceRef": {"kind": "HelmRepository", "name": "podinfo"},
                }
            },
        },
    }
    return [(HELM_REPOSITORY, repository), (HELM_RELEASE, release)]


@pytest.fixture
def flux(apiserver: object, kubeconfig: Path) -> Iterator[KubeClient]:
    kube = KubeClient(kubeconfig, "ksail-sim")
    install_simulated_flux(kube)
    with SimulatedFlux(kube, namespace="flux-system", retry_interval=0.2):
        yield kube


def wait_ready(kube: KubeClient, resource: Any, name: str) -> FluxResource:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        parsed = FluxResource.from_object(kube.get(resource, name, "flux-system"))
        if classify(parsed).health is Health.READY:
            return parsed
        time.sleep(0.05)
    raise AssertionError(f"{resource.kind} {name} never became Ready: {classify(parsed)}")


def test_simulated_flux_serves_git_repository_and_helm_release_status(
    flux: KubeClient, sources: Sources
) -> None:
    flux.create(GIT, git_repository("app", sources.git_url), "flux-system")
    for resource, obj in helm_objects(sources.chart_url):
        flux.create(resource, obj, "flux-system")
    git = wait_ready(flux, GIT, "app")
    assert git.artifact_revision is not None and git.artifact_revision.startswith("main@sha1:")
    release = wait_ready(flux, HELM_RELEASE, "podinfo")
    assert release.applied_revision == "6.5.4"
    # helm-controller made its HelmChart, whose version the HelmRepository's index resolved.
    chart = ObjectRef(kind="HelmChart", name="flux-system-podinfo", namespace="flux-system")
    assert release.source == chart
    helm_chart = wait_ready(flux, HELM_CHART, chart.name)
    assert helm_chart.artifact_revision == "6.5.4"
    ready = release.condition("Ready")
    assert ready is not None and ready.reason == "InstallSucceeded"
    assert "podinfo@6.5.4" in ready.message


def test_a_bad_git_url_is_failing_not_progressing(flux: KubeClient) -> None:
    flux.create(GIT, git_repository("broken", url="ftp://nowhere"), "flux-system")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        health = classify(FluxResource.from_object(flux.get(GIT, "broken", "flux-system")))
        if health.health is Health.FAILING:
            break
        time.sleep(0.05)
    assert health.health is Health.FAILING and health.reason == "URLInvalid"


def test_live_cluster_watches_every_kind_the_cluster_serves(flux: KubeClient, sources: Sources) -> None:
    seen: dict[ObjectRef, Any] = {}
    arrived = threading.Event()

    lock = threading.Lock()  # each watch calls from its own thread

    def on_updates(updates: Sequence[LiveUpdate]) -> None:
        with lock:
            record(updates)

    def record(updates: Sequence[LiveUpdate]) -> None:
        for update in updates:
            if isinstance(update, FluxObjectUpdate) and update.obj is not None:
                seen[update.ref] = update.obj
                # Each kind has its own watch: done once every one has reported.
                if {"GitRepository", "HelmRepository", "HelmRelease"} <= {ref.kind for ref in seen}:
                    arrived.set()

    flux.create(GIT, git_repository("app", sources.git_url), "flux-system")
    for resource, obj in helm_objects(sources.chart_url):
        flux.create(resource, obj, "flux-system")
    live = LiveCluster(flux, on_updates)
    live.start()
    try:
        assert arrived.wait(15)
    finally:
        live.stop()
    kinds = {ref.kind for ref in seen}
    assert {"GitRepository", "HelmRepository", "HelmRelease"} <= kinds
    assert isinstance(
        seen[ObjectRef(kind="GitRepository", name="app", namespace="flux-system")], FluxResource
    )


def test_aliases_name_the_kinds_as_k9s_does() -> None:
    assert kind_of_alias("ks") is BY_KIND["Kustomization"]
    assert kind_of_alias("hr") is BY_KIND["HelmRelease"]
    assert kind_of_alias("OCIRepo") is BY_KIND["OCIRepository"]
    assert kind_of_alias("gitrepository") is BY_KIND["GitRepository"]
    assert kind_of_alias("nope") is None


def test_reconcile_a_helm_release_with_its_source_first(flux: KubeClient, sources: Sources) -> None:
    for resource, obj in helm_objects(sources.chart_url):
        flux.create(resource, obj, "flux-system")
    wait_ready(flux, HELM_RELEASE, "podinfo")
    progress: list[str] = []
    ref = ObjectRef(kind="HelmRelease", name="podinfo", namespace="flux-system")
    outcome = reconcile_object(flux, ref, timeout=15, on_progress=progress.append)
    assert outcome.ok, outcome.message
    assert outcome.revision == "6.5.4"
    assert any("source HelmRepository podinfo first" in line for line in progress)
    repository = flux.get(HELM_REPOSITORY, "podinfo", "flux-system")
    # The source was asked too, and answered the request: --with-source.
    assert (
        repository["status"]["lastHandledReconcileAt"]
        == (repository["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"])
    )


def test_shift_r_fed_by_the_live_store_opens_no_watch_of_its_own(
    flux: KubeClient, sources: Sources, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dashboard's Shift-R: its LiveCluster watches the HelmRelease and its HelmRepository
    already; the waits for both judge its events instead of watching each by name."""
    for resource, obj in helm_objects(sources.chart_url):
        flux.create(resource, obj, "flux-system")
    wait_ready(flux, HELM_RELEASE, "podinfo")
    live = LiveCluster(flux, lambda updates: None)
    live.start()
    try:
        ref = ObjectRef(kind="HelmRelease", name="podinfo", namespace="flux-system")
        source = ObjectRef(kind="HelmRepository", name="podinfo", namespace="flux-system")
        deadline = time.monotonic() + 10
        while (live.raw(ref) is None or live.raw(source) is None) and time.monotonic() < deadline:
            time.sleep(0.02)
        watched: list[str | None] = []
        original = KubeClient.watch

        def watch(client: KubeClient, *args: Any, **kwargs: Any) -> Any:
            watched.append(kwargs.get("field_selector"))
            return original(client, *args, **kwargs)

        monkeypatch.setattr(KubeClient, "watch", watch)
        progress: list[str] = []
        outcome = reconcile_object(flux, ref, timeout=15, on_progress=progress.append, feed=live)
        assert outcome.ok, outcome.message
        assert outcome.revision == "6.5.4"
        assert any("source HelmRepository podinfo first" in line for line in progress)
        assert "metadata.name=podinfo" not in watched
    finally:
        live.stop()


def test_a_suspended_object_is_not_reconciled_until_resumed(flux: KubeClient, sources: Sources) -> None:
    flux.create(GIT, git_repository("app", sources.git_url), "flux-system")
    ref = ObjectRef(kind="GitRepository", name="app", namespace="flux-system")
    set_object_suspended(flux, ref, True)
    outcome = reconcile_object(flux, ref, timeout=5)
    assert not outcome.ok and "suspended" in outcome.message and outcome.exit_code == 1
    set_object_suspended(flux, ref, False)
    assert reconcile_object(flux, ref, timeout=15).ok


def test_the_simulated_controllers_log_json_lines_about_each_object(flux: KubeClient) -> None:
    flux.create(GIT, git_repository("logged", url="ftp://nowhere"), "flux-system")
    ref = ObjectRef(kind="GitRepository", name="logged", namespace="flux-system")
    seen: list[LogLine] = []
    arrived = threading.Event()

    def on_line(line: LogLine) -> None:
        seen.append(line)
        arrived.set()

    stop = IN_PROCESS.follow(ref, on_line)
    try:
        assert arrived.wait(15)
    finally:
        stop()
    line = seen[0]
    assert (line.controller, line.level, line.kind, line.name) == (
        "source-controller",
        "error",
        "GitRepository",
        "logged",
    )
    assert "invalid URL 'ftp://nowhere'" in line.error
