"""The cluster's lifecycle from the dashboard: the list of clusters in Docker, C creates, X deletes.

The first tests play scripted scenes (tests/fixtures/ui.py); the last ones run the real
ClusterService with the stand-in kind (tests/fixtures/cluster.py), a registry process and the API
emulator, or the real Docker engine for discovery. Assertions are on what the screen shows.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.command import CommandPalette
from textual.widgets import Button, Checkbox, DataTable

from ksail_sim.apiserver.server import ApiServer
from ksail_sim.flux import install_simulated_flux
from ksail_tui.cluster.discovery import KIND_CLUSTER_LABEL, KIND_ROLE_LABEL
from ksail_tui.cluster.service import ClusterService
from ksail_tui.config import ClusterConfig
from ksail_tui.kube.client import KubeClient
from ksail_tui.ui.app import KsailApp, make_app
from ksail_tui.ui.screens.delete_cluster import DeleteClusterScreen
from ksail_tui.ui.screens.help import HelpScreen
from ksail_tui.ui.services import ClusterServices
from ksail_tui.ui.widgets.activity_log import ActivityLog
from ksail_tui.ui.widgets.spinner import Spinner
from tests.fixtures.cluster import ClusterCLIs, ProcessRegistries, write_cluster_config
from tests.fixtures.cluster_docker import LabelledContainer
from tests.fixtures.ui import (
    DEMO_CLUSTER,
    REGISTRY_VOLUME,
    ScriptedServices,
    all_ready_scene,
    not_created_scene,
    notices,
    notifications,
    run,
    scene_app,
    scene_config,
    settle,
    text_of,
    unreachable_scene,
    wait_until,
)

pytestmark = pytest.mark.anyio
SIZE = (160, 48)
Build = Callable[..., tuple[KsailApp, ScriptedServices]]


def pane_text(app: KsailApp, selector: str = "#cluster-body") -> str:
    return text_of(app, selector)


def log_text(app: KsailApp) -> str:
    """The Activity log as one line: it wraps at its pane's width (half the screen's, beside the
    Environments pane)."""
    return " ".join(" ".join(line.text.split()) for line in app.query_one(ActivityLog).lines)


# --- the list ---------------------------------------------------------------------------------


async def test_the_cluster_pane_lists_the_clusters_in_docker_the_configured_one_first(
    scripted: Build,
) -> None:
    app, services = scripted(all_ready_scene(), simulated=False)
    async with run(app, SIZE) as pilot:
        await settle(pilot)
        lines = pane_text(app).splitlines()
        listed = lines[lines.index("Clusters in Docker") + 1 :]
        assert [line.rstrip() for line in listed] == [
            "▸ demo  Kind  ● running  registry",
            "  edge  K3d   ✗ stopped  no registry",
        ]
        services.scene.clusters = ()
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: "not created: C creates it" in pane_text(app), "the refreshed list")
        assert "edge" not in pane_text(app)


async def test_the_list_refreshes_on_its_own_timer() -> None:
    scene = all_ready_scene()
    services = ScriptedServices(scene_config(), scene)
    app = scene_app(scene, services=services, simulated=False, clusters_refresh_seconds=0.2)
    async with run(app, SIZE) as pilot:
        await settle(pilot)
        scene.clusters = (DEMO_CLUSTER,)
        await wait_until(pilot, lambda: "edge" not in pane_text(app), "the next listing")


async def test_docker_not_answering_is_one_reason_line_and_the_app_carries_on(scripted: Build) -> None:
    app, _ = scripted(unreachable_scene(), simulated=False)
    async with run(app, SIZE) as pilot:
        await settle(pilot)
        lines = pane_text(app).splitlines()
        reason = lines[lines.index("Clusters in Docker") + 1 :]
        assert len(reason) == 1 and reason[0].startswith("✗ Docker is not answering")
        assert app.is_running


async def test_the_not_created_line_names_the_key_the_user_mapped() -> None:
    scene = not_created_scene()
    app = scene_app(scene, simulated=False, keymap={"create-cluster": "ctrl+n"})
    async with run(app, SIZE) as pilot:
        await settle(pilot)
        assert "▸ demo  Kind  not created: ^n creates it" in pane_text(app)


# --- create -----------------------------------------------------------------------------------


async def test_C_creates_the_cluster_with_its_progress_then_watches_it(scripted: Build) -> None:
    app, services = scripted(not_created_scene(), simulated=False)
    services.hold = threading.Event()
    async with run(app, SIZE) as pilot:
        await settle(pilot)
        first_watch = services.live_source
        await pilot.press("C")
        await wait_until(
            pilot, lambda: 'Creating cluster "demo"' in pane_text(app, "#loop-message"), "the progress"
        )
        assert app.query_one(Spinner).running
        assert "creating the Kind cluster demo…" in log_text(app)
        assert "[1/7] Kind cluster demo" in log_text(app)
        await pilot.press("C")  # one cluster action at a time
        assert "already busy" in notifications(app)[-1]

        services.hold.set()
        await wait_until(pilot, lambda: not app.jobs.busy, "the outcome")
        assert services.calls == [("create_cluster", None)]
        assert notifications(app)[-1] == (
            "Kind cluster demo created (context ksail-demo); registry demo-registry on network kind; "
            "Flux v2.9.0 is installed (simulated controllers)"
        )
        assert "[7/7] applying the workloads' OCIRepository and Kustomization" in log_text(app)
        assert not app.query_one(Spinner).running
        await wait_until(pilot, lambda: "▸ demo  Kind  ● running  registry" in pane_text(app), "the list")
        # A new cluster has a new API server address: the watches start again, on it.
        assert first_watch is not None and not first_watch.running
        assert services.live_source is not first_watch and services.live_source.running
        assert "cluster created: watching context ksail-demo" in log_text(app)
        await wait_until(pilot, lambda: "Flux controllers 2/2 available" in pane_text(app), "the cluster")
        assert "● connected" in pane_text(app)


async def test_C_on_an_existing_cluster_reuses_it_and_says_so(scripted: Build) -> None:
    app, services = scripted(all_ready_scene(), simulated=False)
    async with run(app, SIZE) as pilot:
        await settle(pilot)
        watch = services.live_source
        await pilot.press("C")
        await wait_until(pilot, lambda: services.calls != [] and not app.jobs.busy, "the outcome")
        assert notifications(app)[-1].startswith("Kind cluster demo already existed: reused it")
        assert "Kind cluster demo already exists: reusing it" in log_text(app)
        assert services.live_source is watch and watch.running  # connected already: nothing to restart


# --- delete -----------------------------------------------------------------------------------


async def test_X_asks_first_and_cancel_deletes_nothing(scripted: Build) -> None:
    app, services = scripted(all_ready_scene(), simulated=False)
    async with run(app, SIZE) as pilot:
        await settle(pilot)
        await pilot.press("X")
        assert isinstance(app.screen, DeleteClusterScreen)
        message = pane_text(app, "#confirm-message")
        assert "Delete the Kind cluster demo?" in message
        assert "The registry container demo-registry is removed too" in message
        assert not app.screen.query_one("#purge", Checkbox).value
        assert app.screen.focused is not None and app.screen.focused.id == "cancel"
        await pilot.press("enter")  # the default is Cancel
        assert not isinstance(app.screen, DeleteClusterScreen)
        await pilot.press("X", "n")
        await pilot.press("X", "escape")
        await pilot.pause()
        assert services.calls == [] and not app.jobs.busy
        assert "▸ demo  Kind  ● running  registry" in pane_text(app)


async def test_X_then_y_deletes_the_cluster_and_keeps_the_registry_data(scripted: Build) -> None:
    app, services = scripted(all_ready_scene(), simulated=False)
    async with run(app, SIZE) as pilot:
        await settle(pilot)
        await pilot.press("X", "y")
        await wait_until(pilot, lambda: not app.jobs.busy and services.calls != [], "the delete")
        assert services.calls == [("delete_cluster", False)]
        assert notifications(app)[-1] == (
            f"Kind cluster demo deleted; the registry's data is kept in {REGISTRY_VOLUME}"
        )
        assert f"registry data kept in volume {REGISTRY_VOLUME}" in log_text(app)
        await wait_until(pilot, lambda: "not created: C creates it" in pane_text(app), "the list")


async def test_X_with_purge_ticked_deletes_the_registry_data_too(scripted: Build) -> None:
    app, services = scripted(all_ready_scene(), simulated=False)
    async with run(app, SIZE) as pilot:
        await settle(pilot)
        await pilot.press("X")
        await pilot.click("#purge")
        assert app.screen.query_one("#purge", Checkbox).value
        assert str(app.screen.query_one("#confirm", Button).label) == "Delete with data (y)"
        await pilot.press("p", "p")  # the key toggles it too: off, and on again
        assert app.screen.query_one("#purge", Checkbox).value
        await pilot.press("y")
        await wait_until(pilot, lambda: not app.jobs.busy and services.calls != [], "the delete")
        assert services.calls == [("delete_cluster", True)]
        assert notifications(app)[-1] == "Kind cluster demo deleted; the registry's data is deleted too"


async def test_deleting_the_cluster_stops_watch_mode(scripted: Build) -> None:
    app, services = scripted(all_ready_scene(), simulated=False)
    async with run(app, SIZE) as pilot:
        await settle(pilot)
        table = app.query_one("#flux-table", DataTable)
        table.move_cursor(row=table.get_row_index("Kustomization/flux-system/app"))
        await pilot.press("w")
        await wait_until(pilot, lambda: app.dashboard.devloop_workload == "app", "watch mode")
        await pilot.press("X", "y")
        await wait_until(
            pilot, lambda: not app.jobs.busy and ("delete_cluster", False) in services.calls, "delete"
        )
        assert (
            app.dashboard.devloop_workload is None
            and services.devloop is not None
            and services.devloop.stopped
        )
        assert "watch mode off for app: the cluster is being deleted" in notifications(app)


# --- keys, help, palette ----------------------------------------------------------------------


async def test_help_lists_the_cluster_actions_with_their_keys(scripted: Build) -> None:
    app, _ = scripted(all_ready_scene(), simulated=False)
    async with run(app, SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = pane_text(app, "#help-keys")
        assert any(
            line.split()[:4] == ["C", "Create", "cluster", "create-cluster"] for line in keys.splitlines()
        )
        assert any(
            line.split()[:4] == ["X", "Delete", "cluster", "delete-cluster"] for line in keys.splitlines()
        )


@pytest.mark.parametrize(("query", "effect"), [("create cluster", "create"), ("delete cluster", "delete")])
async def test_the_palette_runs_the_cluster_actions(scripted: Build, query: str, effect: str) -> None:
    app, services = scripted(all_ready_scene(), simulated=False)
    async with run(app, SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*query)
        await pilot.pause(0.3)
        await pilot.press("enter")
        if effect == "create":
            await wait_until(pilot, lambda: services.calls == [("create_cluster", None)], "the create")
        else:
            await wait_until(pilot, lambda: isinstance(app.screen, DeleteClusterScreen), "the question")


# --- the real ClusterService ------------------------------------------------------------------


@pytest.fixture
def no_docker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Docker does not answer: the Docker SDK is pointed at a socket nobody serves."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-docker.sock'}")


@pytest.fixture(autouse=True)
def _private_data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The registry service's process backend keeps its records under XDG_DATA_HOME.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


@pytest.mark.needs_registry
@pytest.mark.usefixtures("no_docker")
async def test_create_then_delete_run_the_real_cluster_service(
    cluster_clis: ClusterCLIs,
    process_registries: ProcessRegistries,
    apiserver: ApiServer,
    kubeconfig: Path,
    cluster_registry_port: int,
    tmp_path: Path,
) -> None:
    # Flux is there already (simulated), so create's install step finds it; the rest runs for real:
    # the stand-in kind, the registry process, the ConfigMap and the sources on the emulator.
    install_simulated_flux(KubeClient(kubeconfig, "ksail-sim"))
    config = write_cluster_config(tmp_path, "dev", kubeconfig=kubeconfig, port=cluster_registry_port)

    def cluster_service(config: ClusterConfig) -> ClusterService:
        return ClusterService(config, registry_factory=process_registries.factory)

    services = ClusterServices(config, registry_backend="process", cluster_service=cluster_service)
    app = make_app(config, services=services, animations_enabled=False)
    async with run(app, SIZE) as pilot:
        await wait_until(pilot, lambda: "Docker is not answering" in pane_text(app), "the Docker reason")
        await pilot.press("C")
        await wait_until(pilot, lambda: bool(notices(app).posted), "the create", seconds=60)
        assert notifications(app)[-1] == (
            "Kind cluster dev created (context ksail-sim); registry dev-registry on network kind; "
            "Flux v2.9.0 is installed (simulated controllers)"
        )
        log = log_text(app)
        for line in (
            "[1/7] Kind cluster dev",
            'Creating cluster "dev" ...',  # the stand-in kind's own output, streamed
            f"registry dev-registry is answering on localhost:{cluster_registry_port}",
            "[7/7] applying the workloads' OCIRepository and Kustomization",
        ):
            assert line in log
        assert cluster_clis.clusters("kind") == ["dev"]
        table = app.query_one("#flux-table", DataTable)
        await wait_until(
            pilot, lambda: "Kustomization/flux-system/app" in table.rows, "the applied sources", seconds=10
        )

        await pilot.press("X")
        assert "The registry container dev-registry is removed too" in pane_text(app, "#confirm-message")
        await pilot.press("y")
        await wait_until(pilot, lambda: "deleted" in notifications(app)[-1], "the delete", seconds=60)
        data = process_registries.data_dir
        assert notifications(app)[-1] == f"Kind cluster dev deleted; the registry's data is kept in {data}"
        assert cluster_clis.clusters("kind") == []
        assert (data / "storage").is_dir()
        assert app.is_running


@pytest.mark.usefixtures("no_docker")
async def test_a_missing_kind_is_an_error_with_its_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    config = write_cluster_config(tmp_path, "dev", kubeconfig=tmp_path / "missing-kubeconfig")
    app = make_app(
        config, services=ClusterServices(config, registry_backend="process"), animations_enabled=False
    )
    async with run(app, SIZE) as pilot:
        for keys, title in ((("C",), "create cluster failed"), (("X", "y"), "delete cluster failed")):
            await pilot.press(*keys)
            await wait_until(pilot, lambda: bool(notices(app).errors()), title)
            [error] = notices(app).errors()
            assert error.title == title
            assert error.message.startswith("`kind` is not installed (not found on PATH)\nhint: install kind")
            assert not app.jobs.busy and not app.query_one(Spinner).running
            notices(app).posted.clear()
        assert app.is_running


@pytest.mark.needs_docker
async def test_the_list_comes_from_the_real_docker(
    labelled_container: LabelledContainer, cluster_network: str, tmp_path: Path
) -> None:
    name = f"dash-{secrets.token_hex(3)}"
    labelled_container(
        f"{name}-control-plane",
        {KIND_CLUSTER_LABEL: name, KIND_ROLE_LABEL: "control-plane"},
        network=cluster_network,
        start=True,
    )
    config = write_cluster_config(tmp_path, name, kubeconfig=tmp_path / "missing-kubeconfig")
    app = make_app(
        config, services=ClusterServices(config, registry_backend="process"), animations_enabled=False
    )
    async with run(app, SIZE) as pilot:
        await wait_until(pilot, lambda: f"▸ {name}" in pane_text(app), "the labelled cluster", seconds=15)
        [line] = [line for line in pane_text(app).splitlines() if name in line]
        assert line.split() == ["▸", name, "Kind", "●", "running", "no", "registry"]


@pytest.mark.usefixtures("no_docker")
async def test_the_demo_refuses_to_create_or_delete_its_simulated_cluster(
    cluster_clis: ClusterCLIs, kubeconfig: Path, tmp_path: Path
) -> None:
    config = write_cluster_config(tmp_path, "demo", kubeconfig=kubeconfig, port=5050)
    app = make_app(
        config,
        services=ClusterServices(config, registry_backend="process"),
        simulated=True,
        animations_enabled=False,
    )
    async with run(app, SIZE) as pilot:
        await pilot.press("C")
        await wait_until(pilot, lambda: bool(notices(app).posted), "the refusal")
        assert "the demo's cluster is simulated, so it cannot be created here" in notifications(app)[-1]
        await pilot.press("X")
        await pilot.pause()
        assert not isinstance(app.screen, DeleteClusterScreen)  # no confirm: nothing to delete
        assert "cannot be deleted here" in notifications(app)[-1]
    assert cluster_clis.calls() == []  # kind never ran


async def test_the_demo_does_not_offer_to_create_its_cluster(scripted: Build) -> None:
    app, _ = scripted(not_created_scene())  # the demo: simulated
    async with run(app, SIZE) as pilot:
        await wait_until(pilot, lambda: "simulated by the demo" in pane_text(app), "the demo's cluster line")
        assert "creates it" not in pane_text(app)  # no offer that C would refuse
