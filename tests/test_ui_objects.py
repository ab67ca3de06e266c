"""Pilot tests of the k9s habits on every Flux kind: Shift-R, Shift-T, y, the `:` line, j/k, :ctx."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, RichLog, Tree

from ksail_tui.flux.logs import LogLine, LogNotice, LogSink, OnLine, OnNotice
from ksail_tui.models import ObjectRef
from ksail_tui.ui.app import KsailApp
from ksail_tui.ui.screens.command_line import CommandLineScreen
from ksail_tui.ui.screens.contexts import ContextsScreen
from ksail_tui.ui.screens.logs import LogsScreen
from ksail_tui.ui.screens.tree import TreeScreen
from ksail_tui.ui.screens.yaml_view import YamlScreen
from ksail_tui.ui.widgets.activity_log import ActivityLog
from ksail_tui.ui.widgets.flux_table import FluxPane
from tests.fixtures.ui import (
    Scene,
    ScriptedServices,
    every_kind_scene,
    helm_log,
    notices,
    run,
    settle,
    text_of,
    wait_until,
)

pytestmark = pytest.mark.anyio
SIZE = (160, 48)
Build = Callable[[Scene], tuple[KsailApp, ScriptedServices]]
PODINFO = ObjectRef(kind="HelmRelease", name="podinfo", namespace="flux-system")
PLATFORM = ObjectRef(kind="GitRepository", name="platform", namespace="flux-system")


async def select(pilot: Pilot[None], ref: ObjectRef) -> None:
    await settle(pilot)
    table = pilot.app.query_one("#flux-table", DataTable)
    table.move_cursor(row=table.get_row_index(str(ref)))
    await settle(pilot)


def rows(app: KsailApp) -> list[str]:
    table = app.query_one("#flux-table", DataTable)
    return [str(key.value) for key in table.rows]


async def test_every_kind_is_in_the_flux_table_with_its_honest_status(scripted: Build) -> None:
    app, _ = scripted(every_kind_scene())
    async with run(app, SIZE) as pilot:
        await settle(pilot)
        table = app.query_one("#flux-table", DataTable)
        shown = rows(app)
        for ref in (
            PODINFO,
            PLATFORM,
            ObjectRef(kind="HelmRepository", name="podinfo", namespace="flux-system"),
        ):
            assert str(ref) in shown
        metrics = "HelmRelease/flux-system/metrics"
        assert "Failing" in table.get_cell(metrics, "ready").plain
        assert table.get_cell(metrics, "reason").plain == "InstallFailed"
        assert table.get_cell(str(PLATFORM), "revision").plain.startswith("main@sha1:")


async def test_shift_r_reconciles_the_selected_helm_release_with_its_source(scripted: Build) -> None:
    app, services = scripted(every_kind_scene())
    async with run(app, SIZE) as pilot:
        await select(pilot, PODINFO)
        await pilot.press("R")
        await wait_until(pilot, lambda: not app.jobs.busy, "the outcome")
        assert services.calls == [("reconcile_object", PODINFO)]
        assert any("HelmRelease flux-system/podinfo reconciled at 6.5.4" in m for m in notices(app).messages)


async def test_a_failed_object_reconcile_is_an_error_with_the_reason(scripted: Build) -> None:
    app, _ = scripted(every_kind_scene())
    async with run(app, SIZE) as pilot:
        await select(pilot, ObjectRef(kind="HelmRelease", name="metrics", namespace="flux-system"))
        await pilot.press("R")
        await wait_until(pilot, lambda: not app.jobs.busy, "the outcome")
        [error] = notices(app).errors()
        assert "InstallFailed: chart not found" in error.message


async def test_shift_t_toggles_suspend_of_a_git_repository(scripted: Build) -> None:
    app, services = scripted(every_kind_scene())
    async with run(app, SIZE) as pilot:
        await select(pilot, PLATFORM)
        await pilot.press("T")
        await wait_until(pilot, lambda: not app.jobs.busy, "the suspend")
        table = app.query_one("#flux-table", DataTable)
        await wait_until(
            pilot, lambda: table.get_cell(str(PLATFORM), "ready").plain.endswith("Suspended"), "row"
        )
        await pilot.press("T")
        await wait_until(pilot, lambda: len(services.calls) == 2 and not app.jobs.busy, "the resume")
        assert services.calls == [
            ("set_object_suspended", (PLATFORM, True)),
            ("set_object_suspended", (PLATFORM, False)),
        ]


async def test_y_shows_the_selected_objects_yaml(scripted: Build) -> None:
    app, _ = scripted(every_kind_scene())
    async with run(app, SIZE) as pilot:
        await select(pilot, PODINFO)
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, YamlScreen)
        text = text_of(app, "#yaml-text")
        assert "kind: HelmRelease" in text and "chart: podinfo" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, YamlScreen)


async def test_colon_ks_shows_only_kustomizations_and_esc_shows_all_again(scripted: Build) -> None:
    app, _ = scripted(every_kind_scene())
    async with run(app, SIZE) as pilot:
        await settle(pilot)
        everything = len(rows(app))
        await pilot.press("colon")
        assert isinstance(app.screen, CommandLineScreen)
        await pilot.press("k", "s", "enter")
        await settle(pilot)
        shown = rows(app)
        assert shown and all(key.startswith("Kustomization/") for key in shown)
        assert app.query_one(FluxPane).filter_text == "Kustomization"
        await pilot.press("escape")
        await settle(pilot)
        assert len(rows(app)) == everything


async def test_colon_hr_and_an_unknown_alias(scripted: Build) -> None:
    app, _ = scripted(every_kind_scene())
    async with run(app, SIZE) as pilot:
        await settle(pilot)
        await pilot.press("colon", "h", "r", "enter")
        await settle(pilot)
        assert sorted(rows(app)) == ["HelmRelease/flux-system/metrics", str(PODINFO)]
        await pilot.press("colon", *"nope", "enter")
        await settle(pilot)
        assert any(":nope is neither a Flux kind nor a view" in m for m in notices(app).messages)


async def test_j_and_k_move_the_cursor(scripted: Build) -> None:
    app, _ = scripted(every_kind_scene())
    async with run(app, SIZE) as pilot:
        await settle(pilot)
        table = app.query_one("#flux-table", DataTable)
        table.focus()
        start = table.cursor_row
        await pilot.press("j", "j")
        assert table.cursor_row == start + 2
        await pilot.press("k")
        assert table.cursor_row == start + 1


async def test_colon_ctx_switches_the_context_and_restarts_the_watches(scripted: Build) -> None:
    app, services = scripted(every_kind_scene())
    async with run(app, SIZE) as pilot:
        await settle(pilot)
        first_live = services.live_source
        await pilot.press("colon", *"ctx", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ContextsScreen), "the contexts")
        table = app.screen.query_one("#contexts-table", DataTable)
        assert [str(k.value) for k in table.rows] == ["ksail-demo", "kind-edge", "prod-eu"]
        await pilot.press("j", "enter")
        await settle(pilot)
        assert not isinstance(app.screen, ContextsScreen)
        now = app.services
        assert isinstance(now, ScriptedServices)
        assert now.config.spec.cluster.connection.context == "kind-edge"
        assert now.live_source is not None and now.live_source is not first_live
        log = app.query_one(ActivityLog)
        assert any(
            "switched to context kind-edge: watching context kind-edge" in line.text for line in log.lines
        )


async def test_the_filter_input_still_takes_j_and_k(scripted: Build) -> None:
    app, _ = scripted(every_kind_scene())
    async with run(app, SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", "j", "k")
        assert app.query_one("#flux-filter", Input).value == "jk"


async def test_l_streams_the_controllers_lines_about_the_selected_object(scripted: Build) -> None:
    scene = every_kind_scene()
    app, services = scripted(scene)
    metrics = ObjectRef(kind="HelmRelease", name="metrics", namespace="flux-system")
    async with run(app, SIZE) as pilot:
        await select(pilot, metrics)
        await pilot.press("l")
        await settle(pilot)
        assert isinstance(app.screen, LogsScreen)
        log = app.screen.query_one(RichLog)
        await wait_until(pilot, lambda: len(log.lines) >= 2, "the kept lines")
        shown = "".join(line.text for line in log.lines)  # wrapped lines joined
        assert "Reconciler error: chart not found: podinfo@9.9.9" in shown
        assert "release podinfo installed" not in shown  # another object's
        # A new line, written from another thread (the controller), streams in.
        writer = threading.Thread(
            target=scene.logs.write,
            args=("helm-controller", helm_log("error", "Reconciler error", "metrics", 59, "still missing")),
        )
        writer.start()
        writer.join()
        await wait_until(
            pilot, lambda: "still missing" in "".join(line.text for line in log.lines), "the line"
        )
        assert log.auto_scroll
        await pilot.press("f")
        assert not log.auto_scroll and "follow: off" in str(
            app.screen.query_one("#logs-dialog").border_subtitle
        )
        await pilot.press("escape")
        assert not isinstance(app.screen, LogsScreen)
        assert services.calls == [("follow_logs", metrics)]
        # Closing stopped following: the sink has no reader left.
        assert scene.logs._followers == []


async def test_the_logs_view_shows_what_goes_wrong_while_following(scripted: Build) -> None:
    """Notices come from the following's threads: a reconnect is shown until lines come again;
    a final one (no controller pods) stays."""
    app, _ = scripted(every_kind_scene())
    started: list[tuple[OnLine, OnNotice]] = []
    stopped = threading.Event()

    def follow(ref: ObjectRef, on_line: OnLine, on_notice: OnNotice) -> Callable[[], None]:
        started.append((on_line, on_notice))
        return stopped.set

    def from_thread(call: Callable[[], None]) -> None:
        thread = threading.Thread(target=call)
        thread.start()
        thread.join()

    async with run(app, SIZE) as pilot:
        await settle(pilot)
        app.push_screen(LogsScreen(PLATFORM, follow))
        await settle(pilot)
        (on_line, on_notice) = started[0]
        note = app.screen.query_one("#logs-note")

        def shown() -> str:
            return text_of(app, "#logs-note")

        from_thread(lambda: on_notice(LogNotice("the log stream of pod sc-1 dropped; reconnecting in 1s")))
        await wait_until(pilot, lambda: "dropped; reconnecting" in shown(), "the reconnect notice")
        assert note.display
        from_thread(lambda: on_line(LogLine("source-controller", "info", "2026-01-01T10:00:00.000Z", "back")))
        await wait_until(pilot, lambda: not note.display, "the notice hidden by a new line")
        from_thread(
            lambda: on_notice(
                LogNotice("no controller pods in namespace flux-system", "install Flux", final=True)
            )
        )
        await wait_until(pilot, lambda: note.display and "install Flux" in shown(), "the final notice")
        from_thread(lambda: on_line(LogLine("source-controller", "info", "2026-01-01T10:00:01.000Z", "late")))
        await settle(pilot)
        assert note.display  # a final notice stays
        await pilot.press("escape")
        assert stopped.is_set()


def test_the_log_sink_is_bounded_and_filters_by_object() -> None:
    sink = LogSink(max_lines=3)
    for second in range(5):
        sink.write("helm-controller", helm_log("info", f"line {second}", "metrics", second))
    sink.write("helm-controller", "not json: a start-up banner")
    seen: list[str] = []
    stop = sink.follow(
        ObjectRef(kind="HelmRelease", name="metrics", namespace="flux-system"),
        lambda line: seen.append(line.message),
    )
    assert seen == ["line 2", "line 3", "line 4"]
    sink.write("helm-controller", helm_log("info", "other", "podinfo", 9))
    stop()
    sink.write("helm-controller", helm_log("info", "after stop", "metrics", 9))
    assert seen == ["line 2", "line 3", "line 4"]


APP_KS = ObjectRef(kind="Kustomization", name="app", namespace="flux-system")


async def test_enter_drills_into_what_a_kustomization_applied(scripted: Build) -> None:
    app, services = scripted(every_kind_scene())
    async with run(app, SIZE) as pilot:
        await select(pilot, APP_KS)
        app.query_one("#flux-table", DataTable).focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, TreeScreen), "the tree")
        await settle(pilot)
        tree = app.screen.query_one(Tree)
        labels = [str(node.label) for node in tree.root.children]
        assert labels[0].startswith("✗ Failing  Deployment apps/web  1/2 ready, 2 updated")
        assert any("Service apps/web" in label and "Ready" in label for label in labels)
        deployment = tree.root.children[0]
        assert deployment.is_expanded  # what is wrong opens by itself
        below = [str(child.label) for child in deployment.children]
        assert any("ProgressDeadlineExceeded" in line for line in below)
        pods = [child for child in deployment.children if child.data is not None]
        failing_pod = next(p for p in pods if "fghij" in str(p.label))
        assert "Pending, 3 restarts" in str(failing_pod.label)
        assert any("ImagePullBackOff" in str(c.label) for c in failing_pod.children)
        assert services.calls == [("inventory", APP_KS)]


async def test_enter_on_a_source_says_it_applies_nothing(scripted: Build) -> None:
    app, _ = scripted(every_kind_scene())
    async with run(app, SIZE) as pilot:
        await select(pilot, PLATFORM)
        app.query_one("#flux-table", DataTable).focus()
        await pilot.press("enter")
        await settle(pilot)
        assert not isinstance(app.screen, TreeScreen)
        assert any("a GitRepository applies nothing" in m for m in notices(app).messages)
