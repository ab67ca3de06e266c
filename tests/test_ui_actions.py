"""Every dashboard action, driven with Pilot, asserting on what the screen shows.

The world is a scripted scene (tests/fixtures/ui.py): its services record what was asked and
change the scene like the cluster would, so the assertions are about the table, the panes, the
dialogs and the notifications.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import cast

import pytest
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, ProgressBar, Static

from ksail_tui.config import parse_config
from ksail_tui.devloop.state import CycleResult, LoopProblem, LoopState, Phase
from ksail_tui.errors import Unavailable
from ksail_tui.live import FluxEventUpdate
from ksail_tui.ui.app import KsailApp, make_app
from ksail_tui.ui.screens.confirm import ConfirmScreen
from ksail_tui.ui.screens.describe import DescribeScreen
from ksail_tui.ui.screens.events import EventsScreen
from ksail_tui.ui.screens.help import HelpScreen
from ksail_tui.ui.widgets.activity_log import ActivityLog
from ksail_tui.ui.widgets.flux_table import FluxPane
from tests.fixtures.ui import (
    CONFIG_TEXT,
    DIGESTS,
    NOW,
    Scene,
    ScriptedServices,
    all_ready_scene,
    cell,
    failing_scene,
    kustomization,
    notices,
    notifications,
    run,
    scene_app,
    scene_config,
    text_of,
    wait_until,
)

pytestmark = pytest.mark.anyio
SIZE = (160, 48)
Build = Callable[[Scene], tuple[KsailApp, ScriptedServices]]


async def select(pilot: Pilot[None], key: str) -> None:
    table = pilot.app.query_one("#flux-table", DataTable)
    table.move_cursor(row=table.get_row_index(key))
    await pilot.pause()
    assert str(cast(KsailApp, pilot.app).dashboard.selected) == key


APP = "Kustomization/flux-system/app"
BROKEN = "Kustomization/flux-system/broken"


async def test_the_table_shows_every_flux_object_with_its_health(scripted: Build) -> None:
    app, _ = scripted(failing_scene())
    async with run(app, SIZE) as pilot:
        await pilot.pause()
        table = app.query_one("#flux-table", DataTable)
        assert table.row_count == 6
        assert [table.coordinate_to_cell_key((row, 0)).row_key.value for row in range(2)] == [
            "OCIRepository/flux-system/api",
            "Kustomization/flux-system/api",
        ]
        assert cell(app, BROKEN, "ready") == "✗ Failing"
        assert cell(app, BROKEN, "reason") == "BuildFailed"
        assert cell(app, BROKEN, "revision") == "nothing applied"
        assert cell(app, APP, "revision") == "0.2.0@sha256:9f8e7d6c"
        assert cell(app, APP, "age") == "11m"
        await select(pilot, BROKEN)
        details = text_of(app, "#details-body")
        assert "Kustomization flux-system/broken" in details and "no matches for kind" in details
        assert "the cluster does not run the source's artifact yet" in details


async def test_r_reconciles_the_selected_workload_with_progress_until_the_outcome(scripted: Build) -> None:
    app, services = scripted(failing_scene())
    services.hold = threading.Event()
    async with run(app, SIZE) as pilot:
        await select(pilot, APP)
        await pilot.press("r")
        await wait_until(
            pilot, lambda: "source reconciliation requested" in text_of(app, "#loop-message"), "progress"
        )
        assert services.calls == [("reconcile", ["app"])]
        await pilot.press("r")  # a second one while the first runs is refused
        assert "already busy" in notifications(app)[-1]
        services.hold.set()
        await wait_until(pilot, lambda: not app.jobs.busy, "the outcome")
        assert any("app applied 0.2.0@sha256:9f8e7d6c5b4a" in n for n in notifications(app))
        assert "running 0.2.0@sha256:9f8e7d6c5b4a, up to date" in text_of(app, "#loop-message")
        assert services.calls == [("reconcile", ["app"])]


async def test_a_failed_reconcile_is_an_error_with_the_reason(scripted: Build) -> None:
    app, _ = scripted(failing_scene())
    async with run(app, SIZE) as pilot:
        await select(pilot, BROKEN)
        await pilot.press("r")
        await wait_until(pilot, lambda: not app.jobs.busy, "the outcome")
        [error] = notices(app).errors()
        assert "broken: Kustomization BuildFailed" in error.message


async def test_A_reconciles_every_workload(scripted: Build) -> None:
    app, services = scripted(failing_scene())
    async with run(app, SIZE) as pilot:
        await pilot.press("A")
        await wait_until(pilot, lambda: not app.jobs.busy, "the outcomes")
        assert services.calls == [("reconcile", None)]
        assert len(notices(app).posted) == 3  # api and app reconciled, broken failed


async def test_actions_on_an_object_outside_the_configuration_explain_themselves(scripted: Build) -> None:
    scene = failing_scene()
    scene.objects.append(
        kustomization("api", "1.0.0") | {"metadata": {"name": "infra", "namespace": "other"}}
    )
    app, services = scripted(scene)
    async with run(app, SIZE) as pilot:
        await select(pilot, "Kustomization/other/infra")
        await pilot.press("r")
        assert "is not a workload of this ksail.yaml" in notifications(app)[-1]
        assert services.calls == []


async def test_a_service_error_shows_its_message_and_hint_and_the_app_carries_on(scripted: Build) -> None:
    app, services = scripted(failing_scene())
    services.reconcile_error = Unavailable("the cluster is unreachable", hint="start the cluster")
    async with run(app, SIZE) as pilot:
        await select(pilot, APP)
        await pilot.press("r")
        await wait_until(pilot, lambda: not app.jobs.busy, "the failure")
        [error] = notices(app).errors()
        assert error.message == "the cluster is unreachable\nhint: start the cluster"
        assert app.is_running
        services.reconcile_error = None
        await pilot.press("r")
        await wait_until(pilot, lambda: not app.jobs.busy, "the second outcome")
        assert "app applied" in notifications(app)[-1]


async def test_a_suspended_workload_is_answered_with_the_key_not_a_cli_flag(scripted: Build) -> None:
    from ksail_tui.flux.service import _suspended_error
    from ksail_tui.models import ObjectRef

    app, services = scripted(failing_scene())
    services.reconcile_error = _suspended_error(
        ObjectRef(kind="Kustomization", namespace="flux-system", name="app"), "app"
    )
    async with run(app, SIZE) as pilot:
        await select(pilot, APP)
        await pilot.press("r")
        await wait_until(pilot, lambda: not app.jobs.busy, "the failure")
        [error] = notices(app).errors()
        assert error.message.endswith("hint: press s (Suspend)")
        assert "--resume" not in error.message


async def test_x_in_the_demo_names_cluster_delete(scripted: Build) -> None:
    app, _ = scripted(failing_scene())
    async with run(app, SIZE) as pilot:
        await pilot.press("X")
        await wait_until(pilot, lambda: bool(notices(app).posted), "the refusal")
        assert "run `ksail-tui cluster delete` with your own ksail.yaml" in notifications(app)[-1]


async def test_b_builds_and_reports_the_artifact(scripted: Build) -> None:
    app, services = scripted(failing_scene())
    async with run(app, SIZE) as pilot:
        await select(pilot, APP)
        await pilot.press("b")
        await wait_until(pilot, lambda: not app.jobs.busy, "the build")
        assert services.calls == [("build", "app")]
        assert notifications(app)[-1].startswith("app 0.2.0: 0 files, 2.0 KB, layer sha256:abababababab")


async def test_p_pushes_with_a_progress_bar_then_reconciles(scripted: Build) -> None:
    app, services = scripted(failing_scene())
    services.hold = threading.Event()
    async with run(app, SIZE) as pilot:
        await select(pilot, APP)
        await pilot.press("p")
        bar = app.query_one("#push-progress", ProgressBar)
        await wait_until(pilot, lambda: bar.progress == 1024, "upload progress")
        assert bar.display and bar.total == 4096
        assert "uploading" in text_of(app, "#loop-message")
        services.hold.set()
        await wait_until(pilot, lambda: not app.jobs.busy, "push and reconcile")
        assert services.calls == [("push", "app"), ("apply", "app"), ("reconcile", ["app"])]
        assert not bar.display
        assert app.dashboard.model.pushed["app"] == "0.2.0@" + services.scene.artifacts["app"][0].digest
        assert any("app pushed 0.2.0@sha256:9f8e7d6c5b4a; reconciling" in n for n in notifications(app))


async def test_w_turns_watch_mode_on_shows_each_phase_and_off(scripted: Build) -> None:
    app, services = scripted(failing_scene())
    async with run(app, SIZE) as pilot:
        await select(pilot, APP)
        await pilot.press("w")
        await wait_until(pilot, lambda: app.dashboard.devloop_workload == "app", "watch mode")
        assert services.calls == [("start_devloop", "app")] and services.devloop is not None
        assert "watch app ● watching" in text_of(app, "#watch-mode")
        report = services.devloop.on_state

        report(LoopState("app", Phase.PUSHING, "pushing 0.2.1-dev.1", dev_version="0.2.1-dev.1"))
        await wait_until(pilot, lambda: "pushing" in text_of(app, "#watch-mode"), "the pushing phase")
        revision = "0.2.1-dev.1@" + DIGESTS["app-0.2.0"]
        done = CycleResult(
            "0.2.1-dev.1", revision, pushed=True, ok=True, message="applied", save_to_ready=0.8
        )
        report(LoopState("app", Phase.IDLE, dev_version="0.2.1-dev.1", last_result=done))
        await wait_until(pilot, lambda: app.dashboard.model.pushed.get("app") == revision, "the result")
        assert "watching" in text_of(app, "#watch-mode")
        log = app.query_one(ActivityLog)
        runs = "watch: app runs 0.2.1-dev.1@"
        assert [line.text for line in log.lines if runs in line.text] != []
        report(LoopState("app", Phase.IDLE, dev_version="0.2.1-dev.1", last_result=done, pending=True))

        problem = LoopProblem(
            "invalid", "mapping values are not allowed here", file="/demo/k8s/app/a.yaml", line=3
        )
        report(LoopState("app", Phase.ERROR, str(problem), last_error=problem))
        await wait_until(pilot, lambda: "not applied" in text_of(app, "#watch-mode"), "the error")
        assert notifications(app)[-1] == "app: /demo/k8s/app/a.yaml:3: mapping values are not allowed here"
        # The same result, republished before the error, was not news: logged once.
        assert len([line for line in log.lines if runs in line.text]) == 1

        await pilot.press("w")
        await wait_until(pilot, lambda: services.devloop is not None and services.devloop.stopped, "stop")
        assert app.dashboard.devloop_workload is None and "watch off" in text_of(app, "#watch-mode")
        report(LoopState("app", Phase.BUILDING))  # a late report of the stopped loop changes nothing
        await pilot.pause()
        assert "watch off" in text_of(app, "#watch-mode")


async def test_s_asks_then_suspends_and_the_table_shows_it(scripted: Build) -> None:
    app, services = scripted(failing_scene())
    async with run(app, SIZE) as pilot:
        await select(pilot, APP)
        await pilot.press("s")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert services.calls == []
        await pilot.press("s")
        await pilot.press("y")
        await wait_until(pilot, lambda: cell(app, APP, "suspended") == "yes", "the suspended cell")
        assert services.calls == [("set_suspended", (["app"], True))]
        assert cell(app, APP, "ready") == "‖ Suspended"
        await pilot.press("s")
        assert "Resume app?" in text_of(app, "#confirm-message")


async def test_the_status_line_follows_the_workload_whichever_of_its_objects_is_selected(
    scripted: Build,
) -> None:
    app, services = scripted(failing_scene())
    async with run(app, SIZE) as pilot:
        await select(pilot, "OCIRepository/flux-system/app")
        assert "Suspended" not in text_of(app, "#loop-message")
        assert services.live_source is not None
        services.live_source.send(kustomization("app", "0.2.0", suspended=True))
        await wait_until(pilot, lambda: cell(app, APP, "suspended") == "yes", "the suspended cell")
        assert "Suspended" in text_of(app, "#loop-message")


async def test_flux_columns_fit_the_width_and_shrink_back(scripted: Build) -> None:
    app, services = scripted(all_ready_scene())
    async with run(app, (200, 50)) as pilot:
        table = app.query_one("#flux-table", DataTable)
        await pilot.pause()

        def widths() -> dict[str, int]:
            return {str(column.key.value): column.get_render_width(table) for column in table.ordered_columns}

        before = widths()
        assert services.live_source is not None
        long_reason = ("ProgressingWithRetry", "waiting for the rollout of every Deployment " * 8)
        services.live_source.send(kustomization("app", "0.2.0", failure=long_reason))
        await wait_until(pilot, lambda: cell(app, APP, "reason") == "ProgressingWithRetry", "progressing")
        await pilot.pause()
        shown = widths()
        # Everything but the message is on screen; the message is cut to what is left.
        assert sum(width for key, width in shown.items() if key != "message") + 20 <= table.size.width
        assert sum(shown.values()) <= table.size.width
        services.live_source.send(kustomization("app", "0.2.0"))
        await wait_until(pilot, lambda: cell(app, APP, "reason") != "ProgressingWithRetry", "ready again")
        await pilot.pause()
        after = widths()
        assert after == before, (before, after)


async def test_the_artifacts_pane_says_which_version_runs_among_long_dev_tags(scripted: Build) -> None:
    scene = all_ready_scene()
    [newest, *older] = scene.artifacts["app"]
    dev = [
        newest.model_copy(update={"tag": f"0.2.1-dev.{n}", "digest": f"sha256:{n:064x}"})
        for n in range(12, 0, -1)
    ]
    scene.artifacts["app"] = [*dev, newest, *older]
    app, _ = scripted(scene)
    async with run(app, (80, 24)) as pilot:
        await select(pilot, APP)
        await pilot.press("3")
        await wait_until(pilot, lambda: "runs" in text_of(app, "#artifacts-note"), "the running version")
        assert "▶ runs 0.2.0" in text_of(app, "#artifacts-note")
        table = app.query_one("#artifacts-table", DataTable)
        assert str(table.get_cell("0.2.0", "state")) == "▶"


async def test_the_dashboard_keys_do_nothing_behind_an_open_dialog(scripted: Build) -> None:
    """The actions are the dashboard screen's: r under the confirm dialog neither reconciles nor
    answers it (they were the app's, and ran behind the dialog)."""
    app, services = scripted(failing_scene())
    async with run(app, SIZE) as pilot:
        await select(pilot, APP)
        await pilot.press("s")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("r", "p", "C")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and services.calls == [] and not app.jobs.busy
        await pilot.press("n")
        await pilot.press("r")
        await wait_until(pilot, lambda: services.calls == [("reconcile", ["app"])], "the reconcile")


async def test_d_describes_with_yaml_and_conditions(scripted: Build) -> None:
    app, _ = scripted(failing_scene())
    async with run(app, SIZE) as pilot:
        await select(pilot, BROKEN)
        await pilot.press("d")
        assert isinstance(app.screen, DescribeScreen)
        yaml_text = text_of(app, "#describe-yaml")
        assert "kind: Kustomization" in yaml_text and "reason: BuildFailed" in yaml_text
        summary = text_of(app, "#describe-summary")
        assert "Ready" in summary and "BuildFailed" in summary
        await pilot.press("escape")
        assert not isinstance(app.screen, DescribeScreen)


async def test_e_lists_the_events_of_the_selected_object(scripted: Build) -> None:
    app, services = scripted(failing_scene())
    async with run(app, SIZE) as pilot:
        await select(pilot, BROKEN)
        await pilot.press("e")
        assert isinstance(app.screen, EventsScreen)
        table = app.screen.query_one("#events-table", DataTable)
        await wait_until(pilot, lambda: table.row_count == 1, "the events")
        assert str(table.get_cell("0", "reason")) == "BuildFailed"
        assert str(table.get_cell("0", "last seen")) == "1m ago"  # not an ISO time
        assert "no matches for kind" in text_of(app, "#events-message")
        assert services.calls[-1][0] == "events"
        await pilot.pause(0.1)
        # The message fills the room left, cut with … rather than scrolling out of the dialog.
        assert sum(column.get_render_width(table) for column in table.ordered_columns) <= table.size.width
        assert table.ordered_columns[-1].width > 60
        await pilot.press("escape")


async def test_slash_filters_the_table_and_escape_clears_it(scripted: Build) -> None:
    app, _ = scripted(failing_scene())
    async with run(app, SIZE) as pilot:
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"fail")
        table = app.query_one("#flux-table", DataTable)
        assert table.row_count == 1 and str(app.dashboard.selected) == BROKEN
        assert app.query_one(FluxPane).border_subtitle == "1 of 6 objects · /fail"
        await pilot.press("enter")
        assert app.focused is table and table.row_count == 1
        await pilot.press("escape")
        assert table.row_count == 6


async def test_question_mark_shows_help_with_every_action(scripted: Build) -> None:
    app, _ = scripted(failing_scene())
    async with run(app, SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = "".join(text_of(app, f"#{s.id}") for s in app.screen.query(Static) if s.id)
        for title in ("Reconcile all", "Prune versions", "reconcile-all", "Suspended"):
            assert title in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_the_command_palette_lists_only_the_dashboard_actions(scripted: Build) -> None:
    from textual.widgets import OptionList

    app, _ = scripted(failing_scene())
    async with run(app, SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        options = app.screen.query_one(OptionList)
        listed = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert any(entry.startswith("Reconcile all") for entry in listed)
        for builtin in ("Keys", "Theme", "Screenshot", "Maximize", "Quit"):
            assert not any(entry.startswith(builtin) for entry in listed), builtin


async def test_the_command_palette_runs_any_action(scripted: Build) -> None:
    app, services = scripted(failing_scene())
    async with run(app, SIZE) as pilot:
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"reconcile all")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(pilot, lambda: services.calls == [("reconcile", None)], "the palette's action")
        await wait_until(pilot, lambda: not app.jobs.busy, "the outcomes")
        shown = notifications(app)
        assert any(n.startswith("app applied") for n in shown) and any(n.startswith("broken:") for n in shown)


async def test_number_keys_and_tab_move_between_panes(scripted: Build) -> None:
    app, _ = scripted(failing_scene())
    async with run(app, SIZE) as pilot:
        for key, focused in (("1", "cluster"), ("2", "registry"), ("3", "artifacts-table"), ("5", "details")):
            await pilot.press(key)
            assert app.focused is not None and app.focused.id == focused
        await pilot.press("6")
        assert app.focused is not None and app.focused.id == "activity"
        await pilot.press("4")
        assert app.focused is not None and app.focused.id == "flux-table"
        await pilot.press("tab")
        assert app.focused is not None and app.focused.id != "flux-table"


async def test_compact_layout_shows_one_extra_pane_on_demand(scripted: Build) -> None:
    app, _ = scripted(failing_scene())
    async with run(app, (80, 24)) as pilot:
        await pilot.pause()
        assert app.dashboard.compact
        assert not app.query_one("#cluster").display or not app.query_one("#top-row").display
        await pilot.press("1")
        assert app.query_one("#top-row").display and app.query_one("#cluster").display
        assert not app.query_one("#registry").display
        await pilot.press("4")
        assert not app.query_one("#top-row").display


async def test_ctrl_d_deletes_only_after_confirming(scripted: Build) -> None:
    app, services = scripted(failing_scene())
    async with run(app, SIZE) as pilot:
        await select(pilot, BROKEN)
        await pilot.press("ctrl+d")
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.focused is not None and app.screen.focused.id == "cancel"
        await pilot.press("enter")  # the default is Cancel
        assert services.calls == []
        await pilot.press("ctrl+d", "y")
        await wait_until(pilot, lambda: not app.jobs.busy and services.calls != [], "the delete")
        assert (
            services.calls[0][0] == "delete"
            and str(services.calls[0][1]) == "Kustomization/flux-system/broken"
        )
        assert notifications(app)[-1] == "deleted Kustomization/flux-system/broken"


async def test_P_prunes_old_versions_after_showing_them(scripted: Build) -> None:
    app, services = scripted(failing_scene())
    app.settings = app.settings.model_copy(update={"prune_keep": 1})
    async with run(app, SIZE) as pilot:
        await select(pilot, APP)
        await pilot.press("P")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        assert "Delete 1 version of app: 0.1.0?" in text_of(app, "#confirm-message")
        await pilot.press("y")
        await wait_until(pilot, lambda: not app.jobs.busy and len(services.calls) == 2, "the prune")
        shown = next(a.digest for a in failing_scene().artifacts["app"] if a.tag == "0.1.0")
        # The preview, then a prune of only what the user saw; the protection rule is the core's.
        assert services.calls == [("prune", ("app", 1, True, None)), ("prune", ("app", 1, False, (shown,)))]
        table = app.query_one("#artifacts-table", DataTable)
        await wait_until(pilot, lambda: table.row_count == 1, "the artifacts refresh")


async def test_the_keymap_remaps_actions_by_binding_id() -> None:
    config = scene_config()
    services = ScriptedServices(config, failing_scene())
    app = scene_app(failing_scene(), services=services, keymap={"reconcile": "x"})
    async with run(app, SIZE) as pilot:
        await select(pilot, APP)
        await pilot.press("r")
        await pilot.pause()
        assert not app.jobs.busy and "reconciling" not in text_of(app, "#loop-message")
        await pilot.press("x")
        await wait_until(pilot, lambda: services.calls == [("reconcile", ["app"])], "the remapped key")
        await wait_until(pilot, lambda: not app.jobs.busy, "the outcome")
        assert services.calls == [("reconcile", ["app"])]
        assert "app applied 0.2.0@sha256:9f8e7d6c5b4a in 1.2s" in notifications(app)


async def test_q_quits(scripted: Build) -> None:
    app, _ = scripted(failing_scene())
    async with run(app, SIZE) as pilot:
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


async def test_editing_the_config_restarts_the_watches_on_the_new_context(tmp_path: Path) -> None:
    path = tmp_path / "ksail.yaml"
    path.write_text(CONFIG_TEXT)
    config = scene_config(tmp_path)
    services = ScriptedServices(config, failing_scene())
    app = make_app(config, services=services, config_path=path, clock=lambda: NOW, animations_enabled=False)
    async with run(app, SIZE) as pilot:
        first_live = services.live_source
        await pilot.pause(0.5)  # the file watch is set up
        path.write_text(CONFIG_TEXT.replace("context: ksail-demo", "context: kind-other"))
        await wait_until(
            pilot,
            lambda: app.dashboard.model.config.spec.cluster.connection.context == "kind-other",
            "reload",
            10,
        )
        assert first_live is not None and not first_live.running
        assert isinstance(app.services, ScriptedServices) and app.services.live_source is not None
        assert app.services.live_source.running
        assert "context kind-other" in text_of(app, "#header")
        table = app.query_one("#flux-table", DataTable)
        await wait_until(pilot, lambda: table.row_count == 6, "the new cluster's objects")


async def test_a_broken_config_edit_is_reported_and_the_watches_carry_on(tmp_path: Path) -> None:
    path = tmp_path / "ksail.yaml"
    path.write_text(CONFIG_TEXT)
    config = scene_config(tmp_path)
    services = ScriptedServices(config, failing_scene())
    app = make_app(config, services=services, config_path=path, clock=lambda: NOW, animations_enabled=False)
    async with run(app, SIZE) as pilot:
        first_live = services.live_source
        await pilot.pause(0.5)  # the file watch is set up
        path.write_text(CONFIG_TEXT.replace("metadata: {name: demo}", "metadata: {name: [demo"))
        await wait_until(pilot, lambda: bool(notices(app).posted), "the error", 10)
        [error] = notices(app).posted
        assert error.severity == "error" and error.title == "reloading the configuration failed"
        assert str(path) in error.message
        assert app.services is services and first_live is not None and first_live.running
        assert app.is_running


async def test_the_watch_of_the_previous_context_is_not_heard_after_a_switch(scripted: Build) -> None:
    app, services = scripted(failing_scene())
    ghost = kustomization("api", "1.0.0") | {"metadata": {"name": "ghost", "namespace": "flux-system"}}
    async with run(app, SIZE) as pilot:
        table = app.query_one("#flux-table", DataTable)
        await wait_until(pilot, lambda: table.row_count == 6, "the first cluster's objects")
        old = services.live_source
        assert old is not None
        old.send(ghost)  # reported by the old cluster, not drawn yet when the context changes
        other = CONFIG_TEXT.replace("context: ksail-demo", "context: kind-other")
        app.switch_config(parse_config(other, path=Path("/demo/ksail.yaml"), base_dir=Path("/demo")))
        old.send(ghost)  # the last batch of a watch thread that was stopping
        await wait_until(pilot, lambda: APP in table.rows, "the new cluster's objects")
        assert table.row_count == 6 and "Kustomization/flux-system/ghost" not in app.dashboard.model.flux
        assert "context kind-other" in text_of(app, "#header")


async def test_live_updates_while_a_dialog_is_open_reach_the_table(scripted: Build) -> None:
    app, services = scripted(failing_scene())
    async with run(app, SIZE) as pilot:
        await select(pilot, APP)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert services.live_source is not None
        services.live_source.send(kustomization("app", "0.1.0", minutes=1))
        await wait_until(pilot, lambda: cell(app, APP, "revision").startswith("0.1.0@"), "the update")
        assert cell(app, APP, "revision") == "0.1.0@sha256:1a2b3c4d ≠ source"
        await pilot.press("escape")
        assert "cluster does not run the source's artifact yet" in text_of(app, "#details-body")


async def test_ctrl_r_refreshes_the_registry_pane_and_an_outage_shows_its_reason(scripted: Build) -> None:
    app, services = scripted(failing_scene())
    async with run(app, SIZE) as pilot:
        await wait_until(pilot, lambda: "Running" in text_of(app, "#registry-body"), "the registry")
        services.scene.registry = None
        services.scene.registry_error = "the registry on localhost:5050 is not answering"
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: "cannot be asked" in text_of(app, "#registry-body"), "the outage")
        assert "localhost:5050 is not answering" in text_of(app, "#registry-body")
        assert app.is_running


async def test_a_retrying_failure_is_logged_once_until_it_says_something_new(scripted: Build) -> None:
    app, services = scripted(failing_scene())
    async with run(app, SIZE) as pilot:
        log = app.query_one(ActivityLog)
        await pilot.pause()
        before = len(log.lines)
        [failure] = [e for e in services.scene.events if e.reason == "BuildFailed"]
        assert services.live_source is not None
        for count in (2, 3):
            services.live_source.on_updates([FluxEventUpdate(failure.model_copy(update={"count": count}))])
        changed = failure.model_copy(update={"reason": "ReconciliationSucceeded", "message": "applied"})
        services.live_source.on_updates([FluxEventUpdate(changed)])
        await wait_until(pilot, lambda: len(log.lines) > before, "the new event")
        # Only the event that says something new was logged, not the repeats before it.
        assert [line.text.split(" ", 1)[1] for line in log.lines[before:]] == [
            "flux  Kustomization broken ReconciliationSucceeded: applied"
        ]


async def test_a_save_reconciled_twice_logs_reconciliation_succeeded_once(scripted: Build) -> None:
    app, services = scripted(failing_scene())
    async with run(app, SIZE) as pilot:
        log = app.query_one(ActivityLog)
        [failure] = [e for e in services.scene.events if e.reason == "BuildFailed"]
        assert services.live_source is not None
        before = len(log.lines)
        for took in ("1.204s", "312ms"):  # the new artifact's reconcile, then the requested one
            message = f"Reconciliation finished in {took}, next run in 1m0s"
            succeeded = failure.model_copy(update={"reason": "ReconciliationSucceeded", "message": message})
            services.live_source.on_updates([FluxEventUpdate(succeeded)])
        await wait_until(pilot, lambda: len(log.lines) > before, "the event")
        await pilot.pause(0.1)
        assert len([line for line in log.lines[before:] if "ReconciliationSucceeded" in line.text]) == 1


async def test_ages_tick_on_screen_and_a_row_scrolled_into_view_shows_its_own() -> None:
    objects = []
    for index in range(60):
        obj = kustomization("app", "0.2.0", minutes=11)
        obj["metadata"] = {**obj["metadata"], "name": f"k-{index:02}"}
        objects.append(obj)
    clock = [NOW]
    services = ScriptedServices(scene_config(), Scene(objects=objects))
    app = make_app(services.config, services=services, clock=lambda: clock[0], animations_enabled=False)
    first, last = "Kustomization/flux-system/k-00", "Kustomization/flux-system/k-59"
    async with run(app, SIZE) as pilot:
        table = app.query_one("#flux-table", DataTable)
        await wait_until(pilot, lambda: table.row_count == 60, "the rows")
        assert cell(app, first, "age") == cell(app, last, "age") == "11m"
        clock[0] = NOW + timedelta(hours=2)
        pane = app.query_one(FluxPane)
        pane.refresh_ages(clock[0])
        assert cell(app, first, "age") == "2h"  # on screen
        assert cell(app, last, "age") == "11m"  # not drawn, so not rewritten
        table.move_cursor(row=59)
        await wait_until(pilot, lambda: cell(app, last, "age") == "2h", "the row scrolled into view")


async def test_the_demos_deleted_folder_is_said_in_the_dashboard_and_q_asks_first() -> None:
    notice = "the demo's files (ksail.yaml, k8s/) are in /tmp/x and are deleted on quit"
    services = ScriptedServices(scene_config(), all_ready_scene())
    app = make_app(
        services.config, services=services, clock=lambda: NOW, animations_enabled=False, quit_notice=notice
    )
    async with run(app, SIZE) as pilot:
        await wait_until(pilot, lambda: notice in notices(app).messages, "the notice on start")
        logged = " ".join(line.text.strip() for line in app.query_one(ActivityLog).lines)
        assert "are in /tmp/x and are deleted on quit" in logged
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        assert notice in text_of(app, "#confirm-message")
        await pilot.press("n")
        await wait_until(pilot, lambda: app.screen is app.dashboard, "still running")
        assert app.is_running
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "asked again")
        await pilot.press("y")
        await wait_until(pilot, lambda: not app.is_running, "quit")
    without = scene_app(all_ready_scene())
    async with run(without, SIZE) as pilot:
        await pilot.press("q")  # nothing to lose: no question
        await wait_until(pilot, lambda: not without.is_running, "quit at once")
