"""The dev loop's pieces that need no cluster: dev versions, the prune plan, the watch filter,
problem locations, the CLI's output and its refusals of bad flags."""

from __future__ import annotations

import io
import shutil
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from watchfiles import Change

from ksail_tui.cli.common import wait_for_ctrl_c
from ksail_tui.cli.main import main
from ksail_tui.cli.workload_watch import StatePrinter, describe
from ksail_tui.config import ClusterConfig, parse_config
from ksail_tui.devloop import CycleResult, DevLoop, LoopProblem, LoopState, Phase
from ksail_tui.devloop.problems import problem_of
from ksail_tui.devloop.versions import DevSeries, is_dev_version, plan_dev_prune
from ksail_tui.devloop.watcher import FolderWatcher, SourceFilter
from ksail_tui.errors import InvalidInput, OperationFailed, Unavailable
from ksail_tui.oci.build import build_workload

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\ndata:\n  k: v\n"


# --- dev versions -----------------------------------------------------------------------------


def test_dev_versions_are_prereleases_of_the_workload_version() -> None:
    assert DevSeries("0.1.0").version(7) == "0.1.0-dev.7"
    # A pre-release base keeps its identifiers: rc.1.dev.2 still sorts below 1.0.0.
    assert DevSeries("1.0.0-rc.1").version(2) == "1.0.0-rc.1.dev.2"
    assert DevSeries("1.0.0+build.5").version(1) == "1.0.0-dev.1"  # '+' cannot be in a tag


def test_the_next_number_follows_the_highest_in_the_registry() -> None:
    series = DevSeries("0.1.0")
    tags = ["0.1.0", "0.1.0-dev.2", "0.1.0-dev.10", "0.1.0-dev.9", "0.2.0-dev.40", "latest", "0.1.0-dev.03"]
    assert series.next_number(tags) == 11
    assert series.next_number(["0.1.0"]) == 1
    assert series.number("0.1.0-dev.x") is None
    assert series.number("0.1.0-dev.1.1") is None


def test_dev_versions_of_any_base_are_recognised() -> None:
    assert is_dev_version("0.1.0-dev.3")
    assert is_dev_version("1.0.0-rc.1.dev.2")
    assert not is_dev_version("0.1.0")
    assert not is_dev_version("0.1.0-rc.1")
    assert not is_dev_version("latest")
    assert not is_dev_version("0.1.0-devx.1")


def test_prune_plan_deletes_only_dev_versions_beyond_keep() -> None:
    tags = ["0.0.9", "0.1.0", "1.0.0", "latest"] + [f"0.1.0-dev.{n}" for n in range(1, 8)] + ["0.0.1-dev.4"]
    plan = plan_dev_prune(tags, keep=3, in_use={"0.1.0-dev.7"})
    assert plan is not None
    assert plan.doomed == ("0.1.0-dev.4", "0.1.0-dev.3", "0.1.0-dev.2", "0.1.0-dev.1", "0.0.1-dev.4")
    # prune_versions keeps the newest K semver tags: K reaches down to the third newest dev version.
    assert plan.keep == 5  # 1.0.0, 0.1.0, dev.7, dev.6, dev.5
    assert {"0.0.9", "0.1.0", "1.0.0", "0.1.0-dev.7"} <= plan.protected
    assert not plan.protected & set(plan.doomed)


def test_prune_plan_spares_versions_in_use_wherever_they_rank() -> None:
    tags = [f"0.1.0-dev.{n}" for n in range(1, 6)]
    plan = plan_dev_prune(tags, keep=2, in_use={"0.1.0-dev.1", "0.1.0-dev.5"})
    assert plan is not None
    assert plan.doomed == ("0.1.0-dev.3", "0.1.0-dev.2")
    assert "0.1.0-dev.1" in plan.protected
    assert plan_dev_prune(tags[:2], keep=2, in_use=()) is None
    assert plan_dev_prune([*tags[:3]], keep=2, in_use={"0.1.0-dev.1"}) is None


# --- the watch filter -------------------------------------------------------------------------


def test_filter_follows_the_builds_ignore_rules(tmp_path: Path) -> None:
    (tmp_path / "sub" / "tmp").mkdir(parents=True)
    (tmp_path / ".sourceignore").write_text("drafts/\n*.bak\n")
    (tmp_path / "sub" / ".sourceignore").write_text("local.yaml\n")
    accept = SourceFilter(tmp_path, configured_ignore=["tmp/"])

    def counts(relative: str) -> bool:
        return accept(Change.modified, str(tmp_path / relative))

    assert counts("deployment.yaml")
    assert counts("sub/service.yaml")
    assert not counts("logo.png")  # Flux's defaults
    assert not counts(".git/index")
    assert not counts("drafts/new.yaml")  # .sourceignore at the root
    assert not counts("cm.yaml.bak")
    assert not counts("sub/local.yaml")  # .sourceignore of the subfolder
    assert counts("local.yaml")  # ... which does not reach up
    assert not counts("sub/tmp/x.yaml")  # the workload's ignore list in ksail.yaml
    assert not counts(".deployment.yaml.swp")  # editor scratch files
    assert not counts("deployment.yaml~")
    assert not counts(".#deployment.yaml")
    assert not accept(Change.modified, str(tmp_path))
    assert not accept(Change.modified, str(tmp_path.parent / "elsewhere.yaml"))


def test_a_changed_sourceignore_counts_and_reloads_the_rules(tmp_path: Path) -> None:
    (tmp_path / ".sourceignore").write_text("")
    accept = SourceFilter(tmp_path)
    assert accept(Change.modified, str(tmp_path / "notes.yaml"))
    (tmp_path / ".sourceignore").write_text("notes.yaml\n")
    assert accept(Change.modified, str(tmp_path / ".sourceignore"))
    assert not accept(Change.modified, str(tmp_path / "notes.yaml"))


def test_nothing_inside_an_ignored_folder_counts_even_when_negated(tmp_path: Path) -> None:
    (tmp_path / "build").mkdir()
    (tmp_path / ".sourceignore").write_text("build/\n!build/keep.yaml\n")
    accept = SourceFilter(tmp_path)
    assert not accept(Change.added, str(tmp_path / "build" / "keep.yaml"))


def test_a_folder_under_a_name_watchfiles_would_skip_is_still_watched(tmp_path: Path) -> None:
    root = tmp_path / "node_modules" / "app"
    root.mkdir(parents=True)
    assert SourceFilter(root)(Change.modified, str(root / "cm.yaml"))


# --- problems ---------------------------------------------------------------------------------


def make_config(tmp_path: Path, files: dict[str, str]) -> ClusterConfig:
    source = tmp_path / "app"
    source.mkdir(exist_ok=True)
    for name, text in files.items():
        (source / name).write_text(text)
    text = (
        "apiVersion: ksail.io/v1alpha1\nkind: Cluster\n"
        "metadata: {name: t}\n"
        "spec:\n"
        "  cluster: {localRegistry: {port: 1}}\n"
        "  workloads:\n    - {name: app, sourceDirectory: app}\n"
    )
    return parse_config(text, base_dir=tmp_path)


def test_invalid_yaml_is_located_by_file_and_line(tmp_path: Path) -> None:
    config = make_config(
        tmp_path, {"a.yaml": CONFIGMAP, "b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: [x\n"}
    )
    with pytest.raises(InvalidInput) as raised:
        build_workload(config, "app")
    problem = problem_of(raised.value, config, "app")
    assert problem.kind == "invalid"
    assert problem.file == str(tmp_path / "app" / "b.yaml")
    assert problem.line == 4
    assert problem.location == f"{tmp_path / 'app' / 'b.yaml'}:4"
    assert str(problem).startswith(f"{problem.location}: not valid YAML")


def test_other_refusals_keep_the_builds_message(tmp_path: Path) -> None:
    config = make_config(tmp_path, {"README.md": "docs"})
    with pytest.raises(InvalidInput) as raised:
        build_workload(config, "app")
    problem = problem_of(raised.value, config, "app")
    assert problem.file is None and "holds no Kubernetes manifests" in problem.message
    assert problem_of(Unavailable("down"), config, "app").kind == "unavailable"
    assert problem_of(OperationFailed("no"), config, "app").kind == "failed"


# --- the CLI ----------------------------------------------------------------------------------


def result(version: str, *, pruned: tuple[str, ...] = ()) -> CycleResult:
    return CycleResult(
        version,
        f"{version}@sha256:ab",
        pushed=True,
        ok=True,
        message=f"applied {version}@sha256:ab",
        save_to_pushed=0.2,
        save_to_ready=0.61,
        pruned=pruned,
    )


def test_printer_reports_results_errors_and_pauses() -> None:
    start = LoopState("app")
    building = LoopState("app", Phase.BUILDING, "building /src")
    done = LoopState(
        "app",
        Phase.IDLE,
        "applied 0.1.0-dev.2@sha256:ab",
        last_result=result("0.1.0-dev.2", pruned=("0.1.0-dev.1",)),
    )
    assert describe(start, building) == [(False, "app: building /src")]
    assert describe(building, done) == [
        (True, "✔ app 0.1.0-dev.2: applied 0.1.0-dev.2@sha256:ab (save→pushed 0.20s, save→ready 0.61s)"),
        (False, "app: pruned 0.1.0-dev.1"),
    ]
    problem = LoopProblem("invalid", "not valid YAML: oops", file="/src/cm.yaml", line=3, hint="fix it")
    error = LoopState("app", Phase.ERROR, str(problem), last_error=problem)
    assert describe(building, error) == [
        (True, "✗ app: /src/cm.yaml:3: not valid YAML: oops"),
        (False, "  hint: fix it"),
    ]
    paused = LoopState("app", Phase.PAUSED, "paused: registry down")
    assert describe(building, paused) == [(False, "app: paused: registry down")]
    retrying = LoopState("app", Phase.PAUSED, "paused: registry down", retry_in=0.5)
    assert describe(paused, retrying) == [(False, "app: retrying in 0.5s")]
    assert describe(retrying, retrying) == []


def test_printer_writes_one_json_object_per_state() -> None:
    out = io.StringIO()
    printer = StatePrinter(as_json=True, out=out, err=io.StringIO())
    printer(LoopState("app", Phase.BUILDING))
    printer(LoopState("app", Phase.IDLE, last_result=result("0.1.0-dev.1")))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert '"phase": "idle"' in lines[1] and '"version": "0.1.0-dev.1"' in lines[1]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--debounce", "300"], "--debounce: '300' is not a duration"),
        (["--keep", "0"], "--keep must be at least 1"),
        (["nope"], "no workload named 'nope'"),
    ],
)
def test_bad_flags_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    make_config(tmp_path, {"cm.yaml": CONFIGMAP})
    config = tmp_path / "ksail.yaml"
    config.write_text(
        "apiVersion: ksail.io/v1alpha1\nkind: Cluster\n"
        "metadata: {name: t}\nspec:\n  workloads:\n    - {name: app, sourceDirectory: app}\n"
    )
    assert main(["-c", str(config), "workload", "watch", *argv]) == 2
    assert expected in capsys.readouterr().err


def test_a_missing_source_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "ksail.yaml"
    config.write_text(
        "apiVersion: ksail.io/v1alpha1\nkind: Cluster\n"
        "metadata: {name: t}\nspec:\n  workloads:\n    - {name: app, sourceDirectory: gone}\n"
    )
    assert main(["-c", str(config), "workload", "watch"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_the_loop_refuses_bad_settings(tmp_path: Path) -> None:
    config = make_config(tmp_path, {"cm.yaml": CONFIGMAP})
    with pytest.raises(InvalidInput):
        DevLoop(config, ["app"], debounce=-1)
    with pytest.raises(InvalidInput):
        DevLoop(config, ["app"], retry_delays=())


def wait_until(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_the_watcher_survives_its_folder_being_removed_and_recreated(tmp_path: Path) -> None:
    root = tmp_path / "app"
    root.mkdir()
    changes: list[set[str]] = []
    errors: list[str] = []
    watcher = FolderWatcher(root, lambda batch: changes.append({p for _, p in batch}), on_error=errors.append)
    watcher.start()
    try:
        (root / "a.yaml").write_text("a")
        wait_until(lambda: {str(root / "a.yaml")} in changes, "the first change")
        shutil.rmtree(root)
        wait_until(lambda: bool(errors), "the error")
        assert errors == [f"cannot watch {root}: {root} was removed"]
        changes.clear()
        root.mkdir()
        (root / "b.yaml").write_text("b")
        # Once watched again it reports a change, since files may have changed unseen.
        wait_until(lambda: bool(changes), "the change after the folder came back")
        (root / "c.yaml").write_text("c")
        wait_until(lambda: {str(root / "c.yaml")} in changes, "a change in the new folder")
    finally:
        watcher.stop()


def test_reading_the_state_does_not_wait_for_a_slow_listener(tmp_path: Path) -> None:
    """``workload watch`` reads the states after Ctrl-C; a listener stuck on a full pipe must not
    hang it (nor the dashboard's reads)."""
    config = make_config(tmp_path, {"cm.yaml": CONFIGMAP})
    in_listener, release = threading.Event(), threading.Event()

    def slow_listener(_: LoopState) -> None:
        in_listener.set()
        release.wait(10)

    loop = DevLoop(config, ["app"], on_state=slow_listener)
    loop.start()
    try:
        assert in_listener.wait(5)
        read: list[LoopState] = []
        reader = threading.Thread(target=lambda: read.append(loop.state("app")), daemon=True)
        reader.start()
        reader.join(5)
        assert read and read[0].workload == "app", "reading the state waited for the listener"
    finally:
        release.set()
        loop.stop()


@pytest.mark.timeout(20)
def test_ctrl_c_ends_the_watch_even_when_another_thread_takes_the_signal() -> None:
    """The OS may deliver SIGINT to any thread; the watch command's main thread must still stop."""
    main_waiting = threading.Event()

    def interrupt_from_another_thread() -> None:
        main_waiting.wait(5)
        time.sleep(0.2)  # let the main thread block in the wait
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)  # taken by this thread, not main

    # As in a terminal, whatever this run inherited (a shell's background job ignores SIGINT).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Thread(target=interrupt_from_another_thread, daemon=True).start()
        main_waiting.set()
        with pytest.raises(KeyboardInterrupt):
            wait_for_ctrl_c()
    finally:
        signal.signal(signal.SIGINT, previous)
