"""The Environments pane (key 7) against the emulator, with the real core and, where the test is
about what the operator does, the operator running: every key, and live progress from a watch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ksail_sim.apiserver.server import ApiServer
from ksail_tui.kube.client import NAMESPACES, KubeClient
from ksail_tui.operator import environments, heartbeat, naming
from ksail_tui.operator.service import ENVIRONMENTS, PROJECTS
from ksail_tui.ui import environment_actions
from ksail_tui.ui.app import KsailApp
from ksail_tui.ui.screens.confirm import ConfirmScreen
from ksail_tui.ui.screens.environments import EnvironmentDetailsScreen, ProjectChoice
from ksail_tui.ui.widgets.flux_table import FluxPane
from tests.fixtures.operator import PROJECT_NAMESPACE, OperatorFactory, environment_manifest, project_manifest
from tests.fixtures.ui import notifications, run, text_of, wait_until
from tests.fixtures.ui_environments import (
    StaticEnvironments,
    emulator_environments,
    env_cell,
    environments_app,
    git_checkout,
)

pytestmark = pytest.mark.anyio


def in_environments(app: KsailApp) -> bool:
    """The dashboard shows, with the Environments pane focused."""
    return app.screen is app.dashboard and app.focused is not None and app.focused.id == "environments-table"


def view_app(kubeconfig: Path, folder: Path, **settings: Any) -> KsailApp:
    app = environments_app(emulator_environments(kubeconfig, folder), **settings)
    app._clock = lambda: datetime.now(UTC)  # ages and the operator check against the emulator's times
    return app


async def test_n_creates_a_preview_of_the_checked_out_branch_that_becomes_ready(
    catalyst_apiserver: ApiServer, kubeconfig: Path, tmp_path: Path, start_operator: OperatorFactory
) -> None:
    start_operator()
    commit = git_checkout(tmp_path / "repo")
    app = view_app(kubeconfig, tmp_path / "repo")
    async with run(app, size=(120, 36)) as pilot:
        await pilot.press("7")
        await wait_until(pilot, lambda: in_environments(app), "the Environments pane")
        await wait_until(pilot, lambda: bool(app.dashboard.projects), "the Projects")
        await pilot.press("n")
        name = "preview-feature-login"
        await wait_until(pilot, lambda: "Ready" in env_cell(app, name, "phase"), "the new row Ready", 20)
        done, total = env_cell(app, name, "phase").split()[1].split("/")
        assert done == total
        assert env_cell(app, name, "revision") == f"feature/login@{commit[:7]}"
        assert "created preview-feature-login" in text_of(app, "#environment-activity")
    env = KubeClient(kubeconfig).get(ENVIRONMENTS, name, PROJECT_NAMESPACE)
    assert env["spec"]["artifact"] == {"tag": f"0.1.0-g{commit[:12]}"}


async def test_a_status_write_moves_the_progress_bar(
    catalyst_apiserver: ApiServer, kubeconfig: Path, tmp_path: Path
) -> None:
    catalyst_apiserver.apply(environment_manifest("pr-1"))
    client = KubeClient(kubeconfig)
    app = view_app(kubeconfig, tmp_path)
    async with run(app, size=(120, 36)) as pilot:
        await pilot.press("7")
        await wait_until(pilot, lambda: "Pending" in env_cell(app, "pr-1", "phase"), "the row")
        bars = []
        for done in (1, 3, 5):
            status = {"phase": "Building", "progress": {"done": done, "total": 5}}
            client.merge_patch(
                ENVIRONMENTS, "pr-1", {"status": status}, PROJECT_NAMESPACE, subresource="status"
            )
            await wait_until(
                pilot, lambda d=done: f" {d}/5 Building" in env_cell(app, "pr-1", "phase"), f"{done}/5"
            )
            bars.append(env_cell(app, "pr-1", "phase").count("▰"))
        assert bars == sorted(bars) and bars[0] < bars[-1]  # the bar moved forward
        assert env_cell(app, "pr-1", "phase").count("▱") == 0  # the whole bar at 5/5


async def test_r_asks_the_operator_and_flux_for_a_pass(
    catalyst_apiserver: ApiServer, kubeconfig: Path, tmp_path: Path
) -> None:
    catalyst_apiserver.apply(environment_manifest("pr-2"))
    app = view_app(kubeconfig, tmp_path)
    async with run(app, size=(120, 36)) as pilot:
        await pilot.press("7")
        await wait_until(pilot, lambda: bool(env_cell(app, "pr-2", "name")), "the row")
        await pilot.press("r")
        await wait_until(
            pilot, lambda: "asked for a reconciliation" in text_of(app, "#environment-activity"), "r"
        )
    annotations = KubeClient(kubeconfig).get(ENVIRONMENTS, "pr-2", PROJECT_NAMESPACE)["metadata"][
        "annotations"
    ]
    assert environments.RECONCILE_ANNOTATION in annotations


async def test_ctrl_d_asks_then_shows_the_teardown_until_the_namespace_is_gone(
    catalyst_apiserver: ApiServer, kubeconfig: Path, tmp_path: Path, start_operator: OperatorFactory
) -> None:
    start_operator()
    catalyst_apiserver.apply(environment_manifest("pr-3"))
    client = KubeClient(kubeconfig)
    app = view_app(kubeconfig, tmp_path)
    async with run(app, size=(120, 36)) as pilot:
        await pilot.press("7")
        await wait_until(pilot, lambda: "Ready" in env_cell(app, "pr-3", "phase"), "pr-3 Ready", 20)
        await pilot.press("ctrl+d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("n")  # no: nothing is deleted
        await pilot.pause()
        assert client.get_or_none(ENVIRONMENTS, "pr-3", PROJECT_NAMESPACE) is not None
        await pilot.press("ctrl+d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question again")
        await pilot.press("y")
        await wait_until(
            pilot, lambda: "namespace is gone" in text_of(app, "#environment-activity"), "gone", 20
        )
        assert not env_cell(app, "pr-3", "name")
    assert client.get_or_none(NAMESPACES, "team-a-shop-pr-3") is None


async def test_o_opens_and_copies_the_url_and_enter_shows_the_details(
    catalyst_apiserver: ApiServer, kubeconfig: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    browser = [True]

    def opener(url: str) -> bool:
        opened.append(url)
        return browser[0]

    monkeypatch.setattr(environment_actions, "open_in_browser", opener)
    catalyst_apiserver.apply(environment_manifest("pr-4"))
    client = KubeClient(kubeconfig)
    status = {
        "phase": "Ready",
        "url": "http://team-a-shop-pr-4.localhost",
        "namespace": "team-a-shop-pr-4",
        "progress": {"done": 1, "total": 1},
        "steps": [{"name": "namespace", "state": "Succeeded", "message": "created"}],
        "conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "message": "all steps done"}],
    }
    client.merge_patch(ENVIRONMENTS, "pr-4", {"status": status}, PROJECT_NAMESPACE, subresource="status")
    app = view_app(kubeconfig, tmp_path)
    async with run(app, size=(120, 36)) as pilot:
        await pilot.press("7")
        await wait_until(pilot, lambda: "Ready" in env_cell(app, "pr-4", "phase"), "the row")
        await pilot.press("o")
        url = "http://team-a-shop-pr-4.localhost"
        await wait_until(pilot, lambda: app.clipboard == url, "the URL copied")
        assert opened == [url]
        assert f"opened {url} (and copied it)" in notifications(app)
        browser[0] = False  # a machine without a browser: copied, and it says so
        await pilot.press("o")
        await wait_until(pilot, lambda: len(opened) == 2, "the second o")
        assert f"no browser to open it on this machine; copied {url}" in notifications(app)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, EnvironmentDetailsScreen), "the details")
        await wait_until(
            pilot, lambda: "In the namespace" in text_of(app, "#environment-details-body"), "objects"
        )
        body = text_of(app, "#environment-details-body")
        assert "Succeeded" in body and "namespace" in body and "all steps done" in body
        await pilot.press("escape")
        await wait_until(pilot, lambda: in_environments(app), "back in the pane")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, EnvironmentDetailsScreen), "the details again")
        await pilot.press("f")  # the link to its Flux rows: the dashboard's table, filtered
        await wait_until(pilot, lambda: app.screen.id == "dashboard", "the dashboard")
        await wait_until(
            pilot, lambda: app.dashboard.query_one(FluxPane).filter_text == "team-a-shop-pr-4", "filter"
        )
        await pilot.press("escape")  # the filter cleared
        await wait_until(pilot, lambda: not app.dashboard.query_one(FluxPane).filter_text, "no filter")
        await pilot.press("7", "f")  # the same from the pane itself
        await wait_until(
            pilot, lambda: app.dashboard.query_one(FluxPane).filter_text == "team-a-shop-pr-4", "f here"
        )


async def test_without_an_operator_the_pane_says_how_to_start_it_even_with_no_environments(
    catalyst_apiserver: ApiServer, kubeconfig: Path, tmp_path: Path, start_operator: OperatorFactory
) -> None:
    app = view_app(kubeconfig, tmp_path)
    async with run(app, size=(80, 24)) as pilot:
        await pilot.press("7")
        await wait_until(
            pilot, lambda: "operator not running" in text_of(app, "#environments-banner"), "the hint"
        )
        assert "start it with `ksail-tui operator run`" in text_of(app, "#environments-banner")
        operator = start_operator()  # its heartbeat Lease appears: the hint goes
        await wait_until(pilot, lambda: not text_of(app, "#environments-banner").strip(), "no hint", 15)
        operator.stop()  # a clean stop deletes the Lease: the hint is back at the next look
        await wait_until(
            pilot, lambda: "operator not running" in text_of(app, "#environments-banner"), "hint again", 15
        )


async def test_an_expired_heartbeat_means_no_operator(
    catalyst_apiserver: ApiServer, kubeconfig: Path, tmp_path: Path
) -> None:
    client = KubeClient(kubeconfig)
    heartbeat.renew(client, "laptop/1", datetime.now(UTC) - timedelta(minutes=5))  # died, not stopped
    app = view_app(kubeconfig, tmp_path)
    async with run(app, size=(120, 36)) as pilot:
        await wait_until(
            pilot, lambda: "last heard of" in text_of(app, "#environments-banner"), "the expired Lease"
        )
        heartbeat.renew(client, "laptop/2", datetime.now(UTC))
        await wait_until(pilot, lambda: not text_of(app, "#environments-banner").strip(), "renewed", 15)


async def test_without_the_crds_i_installs_them(
    apiserver: ApiServer, kubeconfig: Path, tmp_path: Path
) -> None:
    app = view_app(kubeconfig, tmp_path)
    async with run(app, size=(80, 24)) as pilot:
        await pilot.press("7")
        await wait_until(pilot, lambda: "Press i to install" in text_of(app, "#environments-banner"), "offer")
        await pilot.press("i")
        # Installed; no operator runs in this test, and the banner says so now.
        await wait_until(
            pilot, lambda: "operator not running" in text_of(app, "#environments-banner"), "the next hint"
        )
        assert "Press i" not in text_of(app, "#environments-banner")
    assert KubeClient(kubeconfig).list(ENVIRONMENTS, PROJECT_NAMESPACE)["items"] == []


async def test_n_asks_for_the_project_when_there_are_several(
    catalyst_apiserver: ApiServer, kubeconfig: Path, tmp_path: Path
) -> None:
    other = project_manifest("5")
    other["metadata"]["name"] = "blog"
    other["metadata"]["labels"] = {naming.TEAM_LABEL: "team-b"}
    catalyst_apiserver.apply(other)
    git_checkout(tmp_path / "repo", branch="main")
    app = view_app(kubeconfig, tmp_path / "repo")
    async with run(app, size=(120, 36)) as pilot:
        await pilot.press("7")
        await wait_until(pilot, lambda: len(app.dashboard.projects) == 2, "both Projects")
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, ProjectChoice), "the choice")
        await pilot.press("enter")  # the first: blog
        await wait_until(pilot, lambda: bool(env_cell(app, "preview-main", "name")), "the new row")
    env = KubeClient(kubeconfig).get(ENVIRONMENTS, "preview-main", PROJECT_NAMESPACE)
    assert env["spec"]["projectRef"]["name"] == "blog"
    assert env["metadata"]["labels"][naming.TEAM_LABEL] == "team-b"
    assert KubeClient(kubeconfig).get(PROJECTS, "blog", PROJECT_NAMESPACE)


async def test_the_keys_are_remapped_by_the_keymap_and_offered_in_the_palette(
    catalyst_apiserver: ApiServer, kubeconfig: Path, tmp_path: Path
) -> None:
    from ksail_tui.ui.commands import ActionCommands

    git_checkout(tmp_path / "repo", branch="main")
    app = view_app(kubeconfig, tmp_path / "repo", keymap={"environments": "E", "env-new": "N"})
    async with run(app, size=(120, 36)) as pilot:
        await pilot.press("7")  # remapped away: nothing opens
        await pilot.pause()
        assert app.screen.id == "dashboard"
        await pilot.press("E")
        await wait_until(pilot, lambda: in_environments(app), "the view on E")
        await wait_until(pilot, lambda: bool(app.dashboard.projects), "the Projects")
        titles = [name for name, _ in ActionCommands(app.screen)._commands()]
        assert "New preview (N)" in titles and "Reconcile env (r)" in titles
        await pilot.press("N")
        await wait_until(pilot, lambda: bool(env_cell(app, "preview-main", "name")), "the new row on N")


async def test_colon_env_and_colon_environments_show_the_pane_and_esc_goes_back_to_flux(
    catalyst_apiserver: ApiServer, kubeconfig: Path, tmp_path: Path
) -> None:
    catalyst_apiserver.apply(environment_manifest("pr-6"))
    app = view_app(kubeconfig, tmp_path)
    async with run(app, size=(80, 24)) as pilot:
        for alias in ("env", "environments"):
            await pilot.press("colon", *alias, "enter")
            await wait_until(pilot, lambda: in_environments(app), f":{alias}")
            assert app.dashboard.has_class("-show-environments")
            assert app.dashboard.query_one("#environments").display
            assert not app.dashboard.query_one("#middle-row").display  # one pane at a time at 80x24
            await wait_until(pilot, lambda: bool(env_cell(app, "pr-6", "name")), "the row")
            await pilot.press("escape")
            await wait_until(pilot, lambda: getattr(app.focused, "id", "") == "flux-table", "Flux")


async def test_crds_installed_from_elsewhere_are_noticed_at_the_next_look(
    apiserver: ApiServer, kubeconfig: Path, tmp_path: Path
) -> None:
    app = view_app(kubeconfig, tmp_path)
    async with run(app, size=(120, 36)) as pilot:
        await wait_until(pilot, lambda: "Press i to install" in text_of(app, "#environments-banner"), "offer")
        environments.install_crds(KubeClient(kubeconfig))  # e.g. `ksail-tui operator manifests | kubectl`
        await wait_until(
            pilot, lambda: "operator not running" in text_of(app, "#environments-banner"), "noticed", 15
        )


async def test_a_cluster_without_the_crds_is_asked_less_and_less_often(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Asking every 5 s was most of an idle dashboard's CPU; `i` still installs and asks at once.
    clock = [1000.0]
    monkeypatch.setattr(environment_actions, "monotonic", lambda: clock[0])
    asked: list[float] = []

    class NoCrds(StaticEnvironments):
        def check(self) -> list[str]:
            asked.append(clock[0] - 1000.0)
            return super().check()

    app = environments_app(NoCrds([], crds=False))
    async with run(app, size=(120, 36)) as pilot:
        jobs = app.jobs
        await wait_until(pilot, lambda: bool(asked) and not jobs.running("environments"), "the first check")
        for _ in range(40):  # 200 s of the pane's 5 s ticks
            clock[0] += environment_actions.HEARTBEAT_SECONDS
            app.dashboard._environments_tick()
            await wait_until(pilot, lambda: not jobs.running("environments"), "the check")
    assert asked == [0.0, 5.0, 15.0, 35.0, 75.0, 135.0, 195.0]


def test_o_opens_only_a_graphical_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a display webbrowser falls back to lynx or w3m, which would take over the terminal."""
    import webbrowser

    opened: list[str] = []

    class Graphical(webbrowser.BackgroundBrowser):
        def open(self, url: str, new: int = 0, autoraise: bool = True) -> bool:
            opened.append(url)
            return True

    monkeypatch.setattr(webbrowser, "get", lambda: webbrowser.GenericBrowser("lynx"))
    assert environment_actions.open_in_browser("http://x.localhost") is False
    monkeypatch.setattr(webbrowser, "get", lambda: Graphical("firefox"))
    assert environment_actions.open_in_browser("http://x.localhost") is True
    assert opened == ["http://x.localhost"]

    def none() -> webbrowser.BaseBrowser:
        raise webbrowser.Error("could not locate runnable browser")

    monkeypatch.setattr(webbrowser, "get", none)
    assert environment_actions.open_in_browser("http://x.localhost") is False
