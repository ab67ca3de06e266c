"""The dashboard on the real services against the Kubernetes API emulator (and a real registry).

Nothing is scripted here: LiveCluster watches the emulator, FluxService reconciles, the OCI
service pushes, and the assertions are on the cells and panes the user sees.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable

from ksail_sim.apiserver.server import ApiServer
from ksail_tui.config import ClusterConfig, parse_config
from ksail_tui.flux.service import FluxService
from ksail_tui.kube.client import KUSTOMIZATIONS, KubeClient
from ksail_tui.ui.app import KsailApp, make_app
from ksail_tui.ui.services import ClusterServices
from tests.fixtures import ui
from tests.fixtures.kube_real import KUBE_TARGETS, context_of, kubeconfig_for
from tests.fixtures.sim_flux import IN_CLUSTER_REGISTRY
from tests.fixtures.ui import cell, notices, run, text_of

pytestmark = pytest.mark.anyio
SIZE = (160, 48)
KS_APP = "Kustomization/flux-system/app"
# The real services answer slower than the scripted ones.
wait_until = partial(ui.wait_until, seconds=10)


def cluster_config(base_dir: Path, kubeconfig: Path, registry_port: int = 5999) -> ClusterConfig:
    text = (
        "apiVersion: ksail.io/v1alpha1\nkind: Cluster\n"
        "metadata: {name: t}\n"
        "spec:\n"
        "  cluster:\n"
        f"    connection: {{kubeconfig: {kubeconfig}, context: {context_of(kubeconfig)}, timeout: 30s}}\n"
        f"    localRegistry: {{port: {registry_port}, clusterEndpoint: '{IN_CLUSTER_REGISTRY}'}}\n"
        "  workloads:\n"
        "    - {name: app, sourceDirectory: app, targetNamespace: apps, version: 0.1.0}\n"
    )
    return parse_config(text, base_dir=base_dir)


def real_app(config: ClusterConfig) -> KsailApp:
    return make_app(
        config, services=ClusterServices(config, registry_backend="process"), animations_enabled=False
    )


def flux_objects(name: str) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "OCIRepository",
            "metadata": {"name": name, "namespace": "flux-system"},
            "spec": {
                "interval": "1m",
                "url": f"oci://{IN_CLUSTER_REGISTRY}/t/{name}",
                "ref": {"tag": "0.1.0"},
            },
        },
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": name, "namespace": "flux-system"},
            "spec": {"interval": "1m", "prune": True, "sourceRef": {"kind": "OCIRepository", "name": name}},
        },
    ]


@pytest.fixture
def kubeconfig(request: pytest.FixtureRequest) -> Path:
    """The emulator's, or for tests parametrized with KUBE_TARGETS also a real kube-apiserver's."""
    return kubeconfig_for(request)


@pytest.fixture(autouse=True)
def _private_data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The registry service's process backend keeps its records under XDG_DATA_HOME.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


@pytest.mark.parametrize("kubeconfig", KUBE_TARGETS, indirect=True)
async def test_a_status_written_into_the_cluster_updates_its_cell_in_place(
    flux_cluster: KubeClient, kubeconfig: Path, tmp_path: Path
) -> None:
    kube = flux_cluster
    for obj in flux_objects("app") + flux_objects("other"):
        kube.apply(obj)
    app = real_app(cluster_config(tmp_path, kubeconfig))
    async with run(app, SIZE) as pilot:
        table = app.query_one("#flux-table", DataTable)
        await wait_until(pilot, lambda: table.row_count == 4, "the four objects")
        table.move_cursor(row=table.get_row_index(KS_APP))
        await pilot.pause()
        assert cell(app, KS_APP, "ready") == "? Unknown"

        kube.merge_patch(
            KUSTOMIZATIONS,
            "app",
            {
                "status": {
                    "lastAttemptedRevision": "0.1.0@sha256:abc",
                    "conditions": [
                        {
                            "type": "Ready",
                            "status": "False",
                            "reason": "BuildFailed",
                            "message": "kustomize build failed",
                            "lastTransitionTime": "2025-01-01T00:00:00Z",
                        }
                    ],
                }
            },
            "flux-system",
            subresource="status",
        )
        await wait_until(pilot, lambda: cell(app, KS_APP, "ready") == "✗ Failing", "the Failing cell")
        assert cell(app, KS_APP, "reason") == "BuildFailed"
        assert table.row_count == 4 and str(app.dashboard.selected) == KS_APP  # updated in place, cursor kept
        assert "kustomize build failed" in text_of(app, "#details-body")
        assert "simulated" in text_of(app, "#cluster-body")


@pytest.mark.usefixtures("flux_cluster")
async def test_an_unreachable_cluster_shows_in_its_pane_and_recovers(
    apiserver: ApiServer, kubeconfig: Path, tmp_path: Path
) -> None:
    app = real_app(cluster_config(tmp_path, kubeconfig))
    async with run(app, SIZE) as pilot:
        await wait_until(pilot, lambda: "connected" in text_of(app, "#cluster-body"), "connected")
        apiserver.set_unavailable(True)
        await wait_until(pilot, lambda: "503" in text_of(app, "#cluster-body"), "unreachable with the reason")
        assert "unreachable" in text_of(app, "#cluster-body")
        apiserver.set_unavailable(False)
        await wait_until(pilot, lambda: "connected" in text_of(app, "#cluster-body"), "reconnected")
        assert app.is_running


async def test_a_cluster_that_does_not_exist_yet_is_reported_not_raised(tmp_path: Path) -> None:
    app = real_app(cluster_config(tmp_path, tmp_path / "missing-kubeconfig"))
    async with run(app, SIZE) as pilot:
        await wait_until(pilot, lambda: "unreachable" in text_of(app, "#cluster-body"), "unreachable")
        assert "does not exist" in text_of(app, "#cluster-body")
        await pilot.press("r")  # an action on nothing explains itself
        assert app.is_running


async def test_before_the_cluster_exists_b_builds_the_only_workload(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    app = real_app(cluster_config(tmp_path, tmp_path / "missing-kubeconfig"))
    async with run(app, SIZE) as pilot:
        await wait_until(pilot, lambda: "unreachable" in text_of(app, "#cluster-body"), "unreachable")
        assert app.dashboard.selected is None  # the table is empty: nothing to select
        await pilot.press("b")
        await wait_until(pilot, lambda: bool(notices(app).posted), "the build's outcome")
        (notice,) = [n.message for n in notices(app).posted]
        assert notice.startswith("app 0.1.0: 1 file, ")


async def test_a_cluster_without_flux_says_so(apiserver: ApiServer, kubeconfig: Path, tmp_path: Path) -> None:
    app = real_app(cluster_config(tmp_path, kubeconfig))
    async with run(app, SIZE) as pilot:
        await wait_until(pilot, lambda: "Flux is not installed" in text_of(app, "#cluster-body"), "no Flux")
        assert "flux not installed" in text_of(app, "#header")


def workload_on_the_simulated_flux(
    tmp_path: Path, kubeconfig: Path, kube: KubeClient, registry_port: int
) -> tuple[ClusterConfig, Path]:
    """The workload app (one ConfigMap) with its sources applied; its config and its manifest."""
    manifest = tmp_path / "app" / "config.yaml"
    manifest.parent.mkdir()
    manifest.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {greeting: hello}\n"
    )
    config = cluster_config(tmp_path, kubeconfig, registry_port)
    FluxService(config, kube).apply_sources()
    return config, manifest


@pytest.mark.needs_registry
@pytest.mark.usefixtures("simulated_flux")
async def test_push_then_reconcile_runs_the_whole_loop(
    flux_cluster: KubeClient, kubeconfig: Path, tmp_path: Path, registry_process: Any
) -> None:
    config, _ = workload_on_the_simulated_flux(tmp_path, kubeconfig, flux_cluster, registry_process.port)
    app = real_app(config)
    async with run(app, SIZE) as pilot:
        table = app.query_one("#flux-table", DataTable)
        await wait_until(pilot, lambda: KS_APP in table.rows, "the Kustomization row")
        table.move_cursor(row=table.get_row_index(KS_APP))
        await pilot.press("p")
        await wait_until(pilot, lambda: not app.jobs.busy, "push and reconcile", seconds=30)
        pushed = app.dashboard.model.pushed["app"]
        assert any("app applied" in n.message for n in notices(app).posted), [
            n.message for n in notices(app).posted
        ]
        await wait_until(pilot, lambda: cell(app, KS_APP, "ready") == "● Ready", "Ready")
        assert cell(app, KS_APP, "revision") == "0.1.0@" + pushed.split("@")[1][:15]
        assert "running 0.1.0@" in text_of(app, "#loop-message")
        artifacts = app.query_one("#artifacts-table", DataTable)
        await wait_until(pilot, lambda: artifacts.row_count == 1, "the pushed artifact")
        assert str(artifacts.get_cell("0.1.0", "state")) == "▶"
        assert "▶ runs 0.1.0" in text_of(app, "#artifacts-note")


@pytest.mark.needs_registry
@pytest.mark.usefixtures("simulated_flux")
async def test_watch_mode_applies_every_save(
    flux_cluster: KubeClient, kubeconfig: Path, tmp_path: Path, registry_process: Any
) -> None:
    config, manifest = workload_on_the_simulated_flux(
        tmp_path, kubeconfig, flux_cluster, registry_process.port
    )
    app = real_app(config)
    async with run(app, SIZE) as pilot:
        table = app.query_one("#flux-table", DataTable)
        await wait_until(pilot, lambda: KS_APP in table.rows, "the Kustomization row")
        table.move_cursor(row=table.get_row_index(KS_APP))
        await pilot.press("w")
        await wait_until(
            pilot,
            lambda: "-dev.1@" in app.dashboard.model.pushed.get("app", ""),
            "the first cycle",
            seconds=30,
        )
        manifest.write_text(manifest.read_text().replace("hello", "hello again"))
        await wait_until(
            pilot,
            lambda: "-dev.2@" in app.dashboard.model.pushed.get("app", ""),
            "the save applied",
            seconds=30,
        )
        await wait_until(pilot, lambda: "-dev.2@" in cell(app, KS_APP, "revision"), "the table")
        assert cell(app, KS_APP, "ready") == "● Ready"
        assert "watching" in text_of(app, "#watch-mode")
        await pilot.press("w")
        assert "watch off" in text_of(app, "#watch-mode")


@pytest.mark.needs_registry
def test_a_registry_started_elsewhere_shows_as_running_with_its_repositories(
    tmp_path: Path, registry_process: Any
) -> None:
    source = tmp_path / "app"
    source.mkdir()
    (source / "config.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    config = cluster_config(tmp_path, tmp_path / "kubeconfig", registry_process.port)
    services = ClusterServices(config, registry_backend="process")
    assert [(r.name, r.tags) for r in services.registry().repositories] == [("t/app", 0)]
    services.push("app", lambda _: None)
    view = services.registry()
    assert (view.registry.status, view.registry.backend) == ("Running", "external")
    assert [(r.name, r.tags) for r in view.repositories] == [("t/app", 1)]
