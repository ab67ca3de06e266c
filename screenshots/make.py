"""Render the dashboard's main states to screenshots/*.svg (and *.png when rsvg-convert exists).

The states are the fixed scenes of the snapshot tests (tests/fixtures/ui.py): a fixed clock, no
animation, no cursor blink, so running this twice gives the same files.

    python screenshots/make.py            # from the repository root
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
    for shot in SHOTS:
        svg = OUT / f"{shot.name}.svg"
        svg.write_text(asyncio.run(render(shot)), encoding="utf-8")
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
