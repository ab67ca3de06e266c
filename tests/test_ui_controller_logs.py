"""`l` on a cluster (not the demo): the dashboard's logs view streams the controller's pod log.

The real services against the emulator: the Kustomization comes from a watch, the lines from
``pods/{name}/log`` of the kustomize-controller Pod, through the core's follower.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import DataTable, RichLog

from ksail_sim.apiserver.server import ApiServer
from ksail_tui.kube.client import KubeClient
from ksail_tui.ui.screens.logs import LogsScreen
from tests.fixtures.ui import run, text_of
from tests.test_ui_cluster import KS_APP, SIZE, cluster_config, flux_objects, real_app, wait_until

pytestmark = pytest.mark.anyio
POD = "kustomize-controller-5d8f"


def ks_line(name: str, message: str, level: str = "info", error: str = "") -> str:
    entry = {
        "level": level,
        "ts": "2026-01-01T10:00:00.000Z",
        "msg": message,
        "controllerGroup": "kustomize.toolkit.fluxcd.io",
        "controllerKind": "Kustomization",
        "name": name,
        "namespace": "flux-system",
    }
    return json.dumps(entry | ({"error": error} if error else {}))


async def test_l_streams_the_kustomize_controllers_pod_log_about_the_selected_object(
    apiserver: ApiServer, flux_cluster: KubeClient, kubeconfig: Path, tmp_path: Path
) -> None:
    for obj in flux_objects("app") + flux_objects("other"):
        flux_cluster.apply(obj)
    apiserver.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": POD, "namespace": "flux-system", "labels": {"app": "kustomize-controller"}},
            "spec": {"containers": [{"name": "manager", "image": "ghcr.io/fluxcd/kustomize-controller:v1"}]},
        }
    )
    apiserver.write_pod_log(
        "flux-system",
        POD,
        "\n".join(
            [
                ks_line("other", "not about app"),
                ks_line("app", "Reconciler error", "error", "kustomize build failed: no such file"),
            ]
        ),
    )
    app = real_app(cluster_config(tmp_path, kubeconfig))
    async with run(app, SIZE) as pilot:
        table = app.query_one("#flux-table", DataTable)
        await wait_until(pilot, lambda: table.row_count == 4, "the four objects")
        table.focus()
        table.move_cursor(row=table.get_row_index(KS_APP))
        await pilot.pause()
        await pilot.press("l")
        await wait_until(pilot, lambda: isinstance(app.screen, LogsScreen), "the logs view")
        log = app.screen.query_one(RichLog)

        def shown() -> str:
            return "".join(line.text for line in log.lines)

        await wait_until(pilot, lambda: "kustomize build failed" in shown(), "the kept line")
        assert "kustomize-controller error Reconciler error" in shown()
        assert "not about app" not in shown()
        apiserver.write_pod_log("flux-system", POD, ks_line("app", "Applied revision: 0.1.0@sha256:abc"))
        await wait_until(pilot, lambda: "Applied revision: 0.1.0@sha256:abc" in shown(), "the new line")
        assert not app.screen.query_one("#logs-note").display
        await pilot.press("escape")
        assert not isinstance(app.screen, LogsScreen)
        # On another object of a controller with no pods: which label, and how to install Flux.
        table.move_cursor(row=table.get_row_index("OCIRepository/flux-system/app"))
        await pilot.pause()
        await pilot.press("l")
        await wait_until(pilot, lambda: isinstance(app.screen, LogsScreen), "the logs view")
        await wait_until(
            pilot, lambda: "labelled app=source-controller" in text_of(app, "#logs-note"), "the notice"
        )
        assert "flux install" in text_of(app, "#logs-note")
