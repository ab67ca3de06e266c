"""Flux failures while the user looks elsewhere (issue 17): the dashboard on the real services
against the emulator; a status write turns an object Failed while another pane has the focus,
the header counts it and the Activity pane is highlighted until the user looks."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable

from ksail_tui.kube.client import KUSTOMIZATIONS, KubeClient
from ksail_tui.ui.widgets.activity_log import ActivityLog
from tests.fixtures import ui
from tests.fixtures.ui import cell, run, text_of
from tests.test_ui_cluster import cluster_config, flux_objects, real_app

pytestmark = pytest.mark.anyio
KS_APP = "Kustomization/flux-system/app"
wait_until = partial(ui.wait_until, seconds=10)


@pytest.fixture(autouse=True)
def _private_data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


def ready(status: str, reason: str, message: str) -> dict[str, Any]:
    condition = {"type": "Ready", "status": status, "reason": reason, "message": message}
    return {"status": {"conditions": [condition | {"lastTransitionTime": "2025-01-01T00:00:00Z"}]}}


def write_status(kube: KubeClient, status: dict[str, Any]) -> None:
    kube.merge_patch(KUSTOMIZATIONS, "app", status, "flux-system", subresource="status")


def header(app: Any) -> str:
    return text_of(app, "#header")


async def test_a_failure_while_looking_elsewhere_is_counted_until_looked_at(
    flux_cluster: KubeClient, kubeconfig: Path, tmp_path: Path
) -> None:
    for obj in flux_objects("app"):
        flux_cluster.apply(obj)
    app = real_app(cluster_config(tmp_path, kubeconfig))
    async with run(app, (160, 48)) as pilot:
        table = app.query_one("#flux-table", DataTable)
        await wait_until(pilot, lambda: table.row_count == 2, "the two objects")
        activity = app.query_one(ActivityLog)
        await pilot.press("1")  # the Cluster pane: elsewhere
        write_status(flux_cluster, ready("False", "BuildFailed", "kustomize build failed"))
        await wait_until(pilot, lambda: cell(app, KS_APP, "ready") == "✗ Failing", "Failing")
        await wait_until(pilot, lambda: "⚠ 1 failing" in header(app), "the count in the header")
        assert activity.has_class("-alert") and "1 new failure" in str(activity.border_title)

        write_status(flux_cluster, ready("True", "ReconciliationSucceeded", "applied"))  # it recovers
        await wait_until(pilot, lambda: "failing" not in header(app), "no count once it recovers")
        assert not activity.has_class("-alert")

        write_status(flux_cluster, ready("False", "HealthCheckFailed", "web not ready"))  # again
        await wait_until(pilot, lambda: "⚠ 1 failing" in header(app), "counted again")
        await pilot.press("6")  # looking at the Activity pane clears it
        await wait_until(pilot, lambda: "failing" not in header(app), "cleared by looking")
        assert not activity.has_class("-alert") and activity.border_title == "[6] Activity"

        await pilot.press("4")  # while the user looks at the Flux table, a failure is no news
        write_status(flux_cluster, ready("True", "ReconciliationSucceeded", "applied"))
        await wait_until(pilot, lambda: cell(app, KS_APP, "ready") != "✗ Failing", "not failing")
        write_status(flux_cluster, ready("False", "BuildFailed", "kustomize build failed"))
        await wait_until(pilot, lambda: cell(app, KS_APP, "ready") == "✗ Failing", "Failing again")
        await pilot.pause(0.2)
        assert "failing" not in header(app) and not activity.has_class("-alert")


async def test_objects_failing_at_the_first_listing_are_not_news(
    flux_cluster: KubeClient, kubeconfig: Path, tmp_path: Path
) -> None:
    for obj in flux_objects("app"):
        flux_cluster.apply(obj)
    write_status(flux_cluster, ready("False", "BuildFailed", "kustomize build failed"))
    app = real_app(cluster_config(tmp_path, kubeconfig))
    async with run(app, (160, 48)) as pilot:
        await pilot.press("1")
        await wait_until(pilot, lambda: cell(app, KS_APP, "ready") == "✗ Failing", "Failing")
        await pilot.pause(0.2)
        assert "failing" not in header(app)
