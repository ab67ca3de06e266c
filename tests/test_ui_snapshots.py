"""Every main state of the dashboard as an SVG snapshot (tests/__snapshots__/).

The app is built from fixed scenes (tests/fixtures/ui.py) with a fixed clock, no animation and no
cursor blink, so a snapshot changes only when the screen does. After a deliberate change, look at
the new images (`pytest --snapshot-update`, then the report) before committing them.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterator

import pytest
from textual.pilot import Pilot

from ksail_tui.flux.controller_logs import INSTALL_HINT
from ksail_tui.flux.logs import LogNotice, LogSink, OnLine, OnNotice
from ksail_tui.models import ObjectRef
from ksail_tui.ui.app import KsailApp
from tests.fixtures.ui import (
    BUILD_FAILED,
    Scene,
    ScriptedServices,
    all_ready_scene,
    every_kind_scene,
    failing_scene,
    kustomization,
    no_flux_scene,
    not_created_scene,
    scene_app,
    scene_config,
    selecting,
    settle,
    unreachable_scene,
)

Compare = Callable[..., bool]
BROKEN = "Kustomization/flux-system/broken"
APP = "Kustomization/flux-system/app"


def test_demo_all_ready(snap_compare: Compare) -> None:
    """Two Ready workloads in the simulated demo, app's Kustomization selected (160x48)."""
    assert snap_compare(scene_app(all_ready_scene()), terminal_size=(160, 48), run_before=selecting(APP))


def test_failing_kustomization_selected(snap_compare: Compare) -> None:
    """broken's Kustomization fails with BuildFailed: red in the table, the reason in the details."""
    assert snap_compare(scene_app(failing_scene()), terminal_size=(160, 48), run_before=selecting(BROKEN))


def test_compact_80x24(snap_compare: Compare) -> None:
    """The compact layout: the Flux table and the details of the failing object only."""
    assert snap_compare(scene_app(failing_scene()), terminal_size=(80, 24), run_before=selecting(BROKEN))


def test_wide_200x50(snap_compare: Compare) -> None:
    assert snap_compare(scene_app(failing_scene()), terminal_size=(200, 50), run_before=selecting(APP))


def test_a_failure_while_looking_elsewhere(snap_compare: Compare) -> None:
    """app's Kustomization fails while the Cluster pane has the focus: ⚠ 1 failing in the header,
    the Activity pane highlighted."""
    services = ScriptedServices(scene_config(), all_ready_scene())

    async def fail_elsewhere(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("1")
        assert services.live_source is not None
        services.live_source.send(
            kustomization("app", "0.2.0", attempted_tag="0.2.0", failure=BUILD_FAILED, minutes=1)
        )
        await pilot.pause(0.2)

    app = scene_app(services.scene, services=services)
    assert snap_compare(app, terminal_size=(160, 48), run_before=fail_elsewhere)


@pytest.fixture
def held_reconcile() -> Iterator[tuple[KsailApp, threading.Event]]:
    hold = threading.Event()
    services = ScriptedServices(scene_config(), failing_scene(), hold=hold)
    yield scene_app(services.scene, services=services), hold
    hold.set()


def test_reconcile_in_progress(
    snap_compare: Compare, held_reconcile: tuple[KsailApp, threading.Event]
) -> None:
    """r pressed on app: the spinner (frozen) and the progress in the loop-status line."""
    app, _ = held_reconcile

    async def run_before(pilot: Pilot[None]) -> None:
        await selecting(APP)(pilot)
        await pilot.press("r")
        for _ in range(200):
            if "requested" in str(app.jobs.busy.get("reconcile", "")):
                break
            await pilot.pause(0.02)

    assert snap_compare(app, terminal_size=(160, 48), run_before=run_before)


def test_cluster_unreachable(snap_compare: Compare) -> None:
    """The cluster does not answer: the reason in the Cluster pane, an empty table, retrying."""
    assert snap_compare(scene_app(unreachable_scene()), terminal_size=(160, 48), run_before=settle)


def test_no_flux_installed(snap_compare: Compare) -> None:
    """The cluster answers but does not serve Flux's API: the header and the Cluster pane say so."""
    assert snap_compare(scene_app(no_flux_scene()), terminal_size=(160, 48), run_before=settle)


def test_cluster_create_in_progress(snap_compare: Compare) -> None:
    """C on the first run: the configured cluster is not created yet; kind's progress in the log."""
    hold = threading.Event()
    services = ScriptedServices(scene_config(), not_created_scene(), hold=hold)
    app = scene_app(services.scene, services=services, simulated=False)  # a real cluster: C is allowed

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("C")
        for _ in range(200):
            if "Creating" in app.jobs.busy.get("cluster", ""):
                break
            await pilot.pause(0.02)

    try:
        assert snap_compare(app, terminal_size=(160, 48), run_before=run_before)
    finally:
        hold.set()


def test_delete_cluster_confirm(snap_compare: Compare) -> None:
    """X asks first: what goes, what stays, the purge box unticked and Cancel focused."""

    async def run_before(pilot: Pilot[None]) -> None:
        await selecting(APP)(pilot)  # settles twice: the artifacts table has measured its columns
        await pilot.press("X")

    app = scene_app(all_ready_scene(), simulated=False)  # a real cluster: X is allowed
    assert snap_compare(app, terminal_size=(160, 48), run_before=run_before)


PODINFO = "HelmRelease/flux-system/podinfo"


def _kinds_scene() -> Scene:
    """every_kind_scene without artifacts: these views are about Flux objects, and an Artifacts
    table emptied by selecting a non-workload row is drawn with widths that depend on timing."""
    scene = every_kind_scene()
    scene.artifacts = {}
    return scene


async def _artifacts_loaded(pilot: Pilot[None]) -> None:
    """The first row's artifacts loaded: the Artifacts table has measured its columns, whatever
    is selected next (its widths only grow)."""
    await settle(pilot)
    for _ in range(200):
        if not pilot.app.jobs.busy and pilot.app.screen.model.artifacts:  # type: ignore[attr-defined]
            break
        await pilot.pause(0.02)
    await settle(pilot)


def _pressing(key: str, *keys: str) -> Callable[[Pilot[None]], Awaitable[None]]:
    """A run_before: select ``key``'s row, then press ``keys``."""

    async def run_before(pilot: Pilot[None]) -> None:
        await _artifacts_loaded(pilot)
        await selecting(key)(pilot)
        await pilot.press(*keys)
        await settle(pilot)

    return run_before


def test_every_flux_kind(snap_compare: Compare) -> None:
    """GitRepository, HelmRepository and HelmReleases beside the OCI loop; the failing HelmRelease
    selected: red in the table, the reason in the details."""

    async def run_before(pilot: Pilot[None]) -> None:
        await _artifacts_loaded(pilot)
        await selecting("HelmRelease/flux-system/metrics")(pilot)

    assert snap_compare(scene_app(_kinds_scene()), terminal_size=(160, 48), run_before=run_before)


def test_yaml_view(snap_compare: Compare) -> None:
    """y on a HelmRelease: its YAML as the API server holds it."""
    assert snap_compare(
        scene_app(_kinds_scene()), terminal_size=(160, 48), run_before=_pressing(PODINFO, "y")
    )


def test_command_line(snap_compare: Compare) -> None:
    """: opens the k9s-style line at the bottom, with the aliases it understands."""
    assert snap_compare(
        scene_app(_kinds_scene()), terminal_size=(160, 48), run_before=_pressing(PODINFO, "colon", "h")
    )


def test_kind_filter_after_colon_hr(snap_compare: Compare) -> None:
    """:hr shows only the HelmReleases."""
    assert snap_compare(
        scene_app(_kinds_scene()),
        terminal_size=(160, 48),
        run_before=_pressing(PODINFO, "colon", "h", "r", "enter"),
    )


def test_contexts_view(snap_compare: Compare) -> None:
    """:ctx lists the kubeconfig's contexts, the watched one marked and under the cursor."""

    async def run_before(pilot: Pilot[None]) -> None:
        await _artifacts_loaded(pilot)
        await pilot.press("colon", *"ctx", "enter")
        for _ in range(200):
            if pilot.app.screen.query("#contexts-table"):
                break
            await pilot.pause(0.02)
        await settle(pilot)

    assert snap_compare(scene_app(_kinds_scene()), terminal_size=(160, 48), run_before=run_before)


def test_logs_view(snap_compare: Compare) -> None:
    """l on the failing HelmRelease: helm-controller's lines about it, its error in red."""
    run_before = _pressing("HelmRelease/flux-system/metrics", "l")
    assert snap_compare(scene_app(_kinds_scene()), terminal_size=(160, 48), run_before=run_before)


class _NoControllerPods(LogSink):
    """What the pod-log follower reports on a cluster without helm-controller pods."""

    def follow(
        self, ref: ObjectRef, on_line: OnLine, on_notice: OnNotice | None = None
    ) -> Callable[[], None]:
        assert on_notice is not None
        message = "no controller pods in namespace flux-system: none is labelled app=helm-controller"
        on_notice(LogNotice(message, INSTALL_HINT, final=True))
        return lambda: None


def test_logs_view_without_controller_pods(snap_compare: Compare) -> None:
    """l on a cluster where the controller's pods are missing: which label was looked for, and how
    to install Flux, instead of lines."""
    scene = _kinds_scene()
    scene.logs = _NoControllerPods()
    run_before = _pressing("HelmRelease/flux-system/metrics", "l")
    assert snap_compare(scene_app(scene), terminal_size=(160, 48), run_before=run_before)


def test_inventory_tree(snap_compare: Compare) -> None:
    """enter on app's Kustomization: what it applied; the Deployment that cannot start says why."""

    async def run_before(pilot: Pilot[None]) -> None:
        await _artifacts_loaded(pilot)
        await selecting(APP)(pilot)
        pilot.app.query_one("#flux-table").focus()
        await pilot.press("enter")
        for _ in range(200):
            if pilot.app.screen.query("#inventory-tree"):
                break
            await pilot.pause(0.02)
        await settle(pilot)

    assert snap_compare(scene_app(_kinds_scene()), terminal_size=(160, 48), run_before=run_before)
