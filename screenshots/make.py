"""Render the dashboard's main states to screenshots/*.svg (and *.png when rsvg-convert exists).

The states are the fixed scenes of the snapshot tests (tests/fixtures/ui.py): a fixed clock, no
animation, no cursor blink, so running this twice gives the same files.

    python screenshots/make.py            # from the repository root
    python screenshots/make.py NAME...    # only these shots
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from textual.pilot import Pilot

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# The help screen shows where the settings file is: the same for every machine here.
os.environ["KSAIL_TUI_SETTINGS"] = "/home/you/.config/ksail-tui/settings.yaml"

from ksail_tui.ui.app import KsailApp  # noqa: E402
from tests.fixtures.ui import (  # noqa: E402
    Scene,
    ScriptedServices,
    all_ready_scene,
    every_kind_scene,
    failing_scene,
    no_flux_scene,
    not_created_scene,
    scene_app,
    scene_config,
    selecting,
    settle,
    unreachable_scene,
)

OUT = Path(__file__).resolve().parent
APP = "Kustomization/flux-system/app"
BROKEN = "Kustomization/flux-system/broken"
PODINFO = "HelmRelease/flux-system/podinfo"
METRICS = "HelmRelease/flux-system/metrics"
Steps = Callable[[Pilot[None]], Awaitable[None]]


@dataclass(frozen=True)
class Shot:
    name: str
    title: str
    scene: Callable[[], Scene]
    size: tuple[int, int]
    steps: Steps
    hold: bool = False  # actions wait (reconcile or create in progress)
    simulated: bool = True  # the scenes are the demo


def then_press(before: Steps, *keys: str, until: Callable[[KsailApp], bool] | None = None) -> Steps:
    async def steps(pilot: Pilot[None]) -> None:
        await before(pilot)
        await pilot.press(*keys)
        for _ in range(200):
            if until is None or until(pilot.app):  # type: ignore[arg-type]
                break
            await pilot.pause(0.02)
        await pilot.pause()

    return steps


async def failing_elsewhere(pilot: Pilot[None]) -> None:
    """app's Kustomization fails while the user looks at the Cluster pane."""
    from tests.fixtures.ui import BUILD_FAILED, kustomization

    await settle(pilot)
    await pilot.press("1")
    live = pilot.app.services.live_source  # type: ignore[attr-defined]
    live.send(kustomization("app", "0.2.0", attempted_tag="0.2.0", failure=BUILD_FAILED, minutes=1))
    await pilot.pause(0.2)


SHOTS = (
    Shot("all-ready", "demo: every workload Ready", all_ready_scene, (160, 48), selecting(APP)),
    Shot("failing", "a failing Kustomization selected", failing_scene, (160, 48), selecting(BROKEN)),
    Shot("compact-80x24", "80x24: compact layout", failing_scene, (80, 24), selecting(BROKEN)),
    Shot("wide-200x50", "200x50", failing_scene, (200, 50), selecting(APP)),
    Shot(
        "reconcile-in-progress",
        "r: reconcile in progress",
        failing_scene,
        (160, 48),
        then_press(selecting(APP), "r", until=lambda app: "requested" in app.jobs.busy.get("reconcile", "")),
        hold=True,
    ),
    Shot("failure-elsewhere", "a failure elsewhere: counted", all_ready_scene, (160, 48), failing_elsewhere),
    Shot("unreachable", "cluster unreachable", unreachable_scene, (160, 48), settle),
    Shot("no-flux", "Flux not installed", no_flux_scene, (160, 48), settle),
    Shot("describe", "d: describe", failing_scene, (160, 48), then_press(selecting(BROKEN), "d")),
    Shot(
        "suspend-confirm", "s: suspend asks first", failing_scene, (160, 48), then_press(selecting(APP), "s")
    ),
    Shot("help", "?: help", failing_scene, (160, 48), then_press(settle, "question_mark")),
    Shot("every-kind", "every Flux kind: Git, Helm and OCI", every_kind_scene, (160, 48), selecting(METRICS)),
    Shot(
        "yaml",
        "y: the YAML of a HelmRelease",
        every_kind_scene,
        (160, 48),
        then_press(selecting(PODINFO), "y"),
    ),
    Shot(
        "logs",
        "l: controller logs of a HelmRelease",
        every_kind_scene,
        (160, 48),
        then_press(selecting(METRICS), "l"),
    ),
    Shot(
        "kind-filter",
        ":hr shows only the HelmReleases",
        every_kind_scene,
        (160, 48),
        then_press(selecting(PODINFO), "colon", "h", "r", "enter"),
    ),
    Shot(
        "contexts",
        ":ctx: switch the kube context",
        every_kind_scene,
        (160, 48),
        then_press(
            settle,
            "colon",
            "c",
            "t",
            "x",
            "enter",
            until=lambda app: bool(app.screen.query("#contexts-table")),
        ),
    ),
    Shot(
        "create-cluster",
        "C: the cluster is being created",
        not_created_scene,
        (160, 48),
        then_press(settle, "C", until=lambda app: "Creating" in app.jobs.busy.get("cluster", "")),
        hold=True,
        simulated=False,  # the demo refuses to create or delete its simulated cluster
    ),
    Shot(
        "delete-cluster-confirm",
        "X: deleting the cluster asks first",
        all_ready_scene,
        (160, 48),
        then_press(selecting(APP), "X"),
        simulated=False,
    ),
)


@dataclass(frozen=True)
class EnvironmentShot:
    """The Environments pane (key 7) with fixed Environments: one building, one Ready, one Failed."""

    name: str
    title: str
    size: tuple[int, int]
    row: str
    keys: tuple[str, ...] = ()


ENVIRONMENT_SHOTS = (
    EnvironmentShot("environments", "7: preview Environments, a pane of the dashboard", (200, 50), "pr-9"),
    EnvironmentShot("environments-80x24", "Environments at 80x24", (80, 24), "pr-7"),
    EnvironmentShot("environment-details", "enter: an Environment's steps", (120, 36), "main", ("enter",)),
    EnvironmentShot("environment-delete", "ctrl+d: deleting asks first", (80, 24), "pr-9", ("ctrl+d",)),
)


async def render_environments(shot: EnvironmentShot) -> str:
    from textual.widgets import DataTable

    from tests.fixtures.ui_environments import StaticEnvironments, environments_app, three_environments

    app = environments_app(StaticEnvironments(three_environments()))
    async with app.run_test(size=shot.size) as pilot:
        await pilot.press("7")
        await pilot.pause(0.2)
        table = app.screen.query_one("#environments-table", DataTable)
        table.move_cursor(row=table.get_row_index(shot.row))
        for key in shot.keys:
            await pilot.press(key)
        await pilot.pause(0.2)
        return app.export_screenshot(title=f"ksail-tui — {shot.title}")


async def render(shot: Shot) -> str:
    hold = threading.Event()
    config = scene_config()
    services = ScriptedServices(config, shot.scene(), hold=hold if shot.hold else None)
    app = scene_app(services.scene, services=services, simulated=shot.simulated)
    try:
        async with app.run_test(size=shot.size) as pilot:
            await shot.steps(pilot)
            return app.export_screenshot(title=f"ksail-tui — {shot.title}")
    finally:
        hold.set()


def main() -> None:
    converter = shutil.which("rsvg-convert")
    only = set(sys.argv[1:])  # names of the shots to render; all of them by default
    renders = [(shot.name, render(shot)) for shot in SHOTS if not only or shot.name in only]
    renders += [(e.name, render_environments(e)) for e in ENVIRONMENT_SHOTS if not only or e.name in only]
    for name, rendering in renders:
        svg = OUT / f"{name}.svg"
        svg.write_text(asyncio.run(rendering), encoding="utf-8")
        written = [svg.name]
        if converter:
            png = svg.with_suffix(".png")
            subprocess.run([converter, str(svg), "-o", str(png)], check=True)
            written.append(png.name)
        print(" ".join(written))
    if not converter:
        print("rsvg-convert not found: SVG only (apt-get install librsvg2-bin for PNG)")


if __name__ == "__main__":
    main()
