"""The Flux table when every row changes at once (a controller restart): one batch of N updates.

    python benchmarks/bench_dashboard_batch.py [--objects 10000]

The dashboard runs headless on the test fixtures' scripted services (no cluster): N Kustomizations,
then all of them at another revision in one batch of live updates; the figure is the time from
handing the batch over to the last row showing the new revision.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ksail_tui.live import FluxObjectUpdate, LiveUpdate, parse_flux_object  # noqa: E402
from ksail_tui.ui.widgets.flux_table import FluxTable  # noqa: E402
from tests.fixtures.ui import (  # noqa: E402
    ScriptedServices,
    cell,
    failing_scene,
    kustomization,
    run,
    scene_app,
    scene_config,
)


def objects(count: int, tag: str) -> list[dict[str, Any]]:
    made = []
    for index in range(count):
        obj = kustomization("app", tag, minutes=11)
        obj["metadata"] = {**obj["metadata"], "name": f"k-{index:05}"}
        made.append(obj)
    return made


async def measure(count: int) -> float:
    scene = failing_scene()
    scene.objects = objects(count, "0.2.0")
    services = ScriptedServices(scene_config(), scene)
    app = scene_app(scene, services=services)
    async with run(app, (160, 48)) as pilot:
        table = app.query_one(FluxTable)
        while table.row_count < count:
            await pilot.pause(0.05)
        await pilot.pause()
        updates: list[LiveUpdate] = []
        for obj in objects(count, "0.1.0"):
            parsed = parse_flux_object(obj)
            assert parsed is not None
            updates.append(FluxObjectUpdate(parsed.ref, parsed))
        last = f"Kustomization/flux-system/k-{count - 1:05}"
        assert services.live_source is not None
        started = time.perf_counter()
        services.live_source.on_updates(updates)
        while not cell(app, last, "revision").startswith("0.1.0@"):
            await asyncio.sleep(0.005)
        await pilot.pause()
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10000)
    args = parser.parse_args()
    seconds = asyncio.run(measure(args.objects))
    print(f"{args.objects} rows changed in one batch: {seconds:.2f} s until the last row shows it")


if __name__ == "__main__":
    main()
