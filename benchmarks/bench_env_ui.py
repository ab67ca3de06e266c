"""The Environments pane's figures: ``n`` pressed -> the new row Ready, and a status write -> the
progress bar updated.

The cluster is the Kubernetes API emulator with the Catalyst CRDs, in this process; the operator
(kopf, standalone) runs in a thread; the dashboard runs headless (Textual's test driver) on the
real Environment services, watching Environments. The artifact push is simulated (the registry is
not what is measured): ``n`` goes git -> Environment create -> operator -> watch -> row.

    python benchmarks/bench_env_ui.py [--previews 20] [--writes 100]

- ``n`` -> Ready: each run checks out a new branch in a scratch repository and presses ``n``;
  timed from the key press to the new row's phase cell reading Ready (p50/p95 over --previews).
- status write -> bar: with the operator stopped, merge patches of an Environment's
  ``status.progress`` through the /status subresource, timed from just before the request to the
  cell showing the new ``done/total`` (p50/p95 over --writes).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ksail_sim.apiserver.server import ApiServer  # noqa: E402
from ksail_tui.kube.client import KubeClient  # noqa: E402
from ksail_tui.operator.kopf_app import OperatorThread, WatchTimeouts  # noqa: E402
from ksail_tui.operator.service import ENVIRONMENTS  # noqa: E402
from ksail_tui.ui.app import KsailApp  # noqa: E402
from tests.fixtures.operator import environment_manifest, install_catalyst  # noqa: E402
from tests.fixtures.ui_environments import (  # noqa: E402
    emulator_environments,
    env_cell,
    environments_app,
    git_checkout,
)


async def wait_for(app: KsailApp, check: object, timeout: float = 30.0) -> None:
    deadline = time.perf_counter() + timeout
    while not check():  # type: ignore[operator]
        if time.perf_counter() > deadline:
            raise SystemExit("timed out")
        await asyncio.sleep(0.001)


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms (n={len(ordered)})"


async def measure(previews: int, writes: int, folder: Path) -> None:
    server = ApiServer(port=0)
    server.start()
    kubeconfig = folder / "kubeconfig"
    server.write_kubeconfig(kubeconfig, context="bench", cluster="bench")
    install_catalyst(server)
    repo = folder / "repo"
    git_checkout(repo, branch="main")
    client = KubeClient(kubeconfig, "bench")
    operator = OperatorThread(client, timeouts=WatchTimeouts(server=10)).start()
    app = environments_app(emulator_environments(kubeconfig, repo))
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.press("7")
            await wait_for(app, lambda: bool(app.dashboard.projects))
            ready: list[float] = []
            for run in range(previews):
                subprocess.run(["git", "-C", str(repo), "checkout", "-q", "-b", f"b{run}"], check=True)
                name = f"preview-b{run}"
                started = time.perf_counter()
                await pilot.press("n")
                await wait_for(app, lambda n=name: "Ready" in env_cell(app, n, "phase"))
                ready.append(time.perf_counter() - started)
            print(f"n pressed -> row Ready: {percentiles(ready)}")
            operator.stop()
            server.apply(environment_manifest("bar"))
            await wait_for(app, lambda: bool(env_cell(app, "bar", "name")))
            updated: list[float] = []
            for write in range(writes):
                done = write % 10 + 1
                status = {
                    "phase": "Building",
                    "progress": {"done": done, "total": 11},
                    "observedGeneration": write,
                }
                started = time.perf_counter()
                client.merge_patch(ENVIRONMENTS, "bar", {"status": status}, "default", subresource="status")
                await wait_for(app, lambda d=done: f" {d}/11 " in env_cell(app, "bar", "phase"))
                updated.append(time.perf_counter() - started)
            print(f"status write -> progress bar updated: {percentiles(updated)}")
    finally:
        operator.stop()
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--previews", type=int, default=20)
    parser.add_argument("--writes", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-env-ui-") as folder:
        asyncio.run(measure(args.previews, args.writes, Path(folder)))


if __name__ == "__main__":
    main()
