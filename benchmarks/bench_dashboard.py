"""Dashboard figures: watch latency, first render of --objects Flux objects, idle RSS and idle CPU.

The cluster is the Kubernetes API emulator in a child process (`ksail-tui sim apiserver`), or with
`--cluster kube` the real etcd, kube-apiserver and kube-controller-manager of the test suite's
`needs_kube` tier (scripts/build-kube.sh builds them), so the dashboard's own memory and CPU are
measured alone. The dashboard runs headless (Textual's test driver) on the real services:
LiveCluster watches, FluxPane updates cells in place.

    python benchmarks/bench_dashboard.py [--changes 200] [--objects 1000] [--idle 10] [--settle 2]
        [--cluster emulator|kube]

- watch latency: a status write into the emulator (merge patch of the /status subresource) to the
  Flux table's cell holding the new value (p50/p95 over --changes writes), and the garbage
  collector's pauses meanwhile;
- first render: from starting the app to the first frame drawn with all --objects rows in the
  table (and to the first row: the time to connect, list and parse, before the table has anything
  to show; and to when Textual's pilot.pause() returns, which also waits for the start-up's other
  threads, the registry and Docker probes, to go quiet), and how long the emulator alone takes to
  answer the same two lists;
- idle RSS: the process's resident memory once the table is full and nothing changes;
- idle CPU: CPU seconds the process used over --idle seconds of nothing changing (and the threads
  that used most of it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' fixtures

from ksail_sim.flux import install_simulated_flux
from ksail_tui.config import ClusterConfig, parse_config
from ksail_tui.kube.client import KUSTOMIZATIONS, OCI_REPOSITORIES, KubeClient
from ksail_tui.ui.app import KsailApp, make_app
from ksail_tui.ui.services import ClusterServices
from ksail_tui.ui.widgets.flux_table import FluxPane
from tests.fixtures.flux_manifests import kustomization, oci_repository

NAMESPACE = "flux-system"
PROBE = "Kustomization/flux-system/probe-0"


def start_emulator(directory: Path) -> tuple[subprocess.Popen[bytes], Path]:
    kubeconfig = directory / "kubeconfig"
    process = subprocess.Popen(
        [sys.executable, "-m", "ksail_tui", "sim", "apiserver", "--kubeconfig", str(kubeconfig)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while not kubeconfig.exists():
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit("the emulator did not start")
        time.sleep(0.05)
    return process, kubeconfig


@contextlib.contextmanager
def cluster(kind: str, directory: Path) -> Iterator[Path]:
    """A cluster with the simulated Flux installed (no controllers run); its kubeconfig."""
    if kind == "kube":
        from tests.fixtures.kube_real import control_plane, real_flux_crds  # started as the tests start it

        with control_plane(directory) as real:
            install_simulated_flux(KubeClient(real.kubeconfig), crds=real_flux_crds(), timeout=60)
            yield real.kubeconfig
        return
    emulator, kubeconfig = start_emulator(directory)
    try:
        install_simulated_flux(KubeClient(kubeconfig))
        yield kubeconfig
    finally:
        emulator.terminate()
        emulator.wait(10)


def seed(kube: KubeClient, count: int) -> None:
    """count/2 OCIRepositories and count/2 Kustomizations, named probe-<n>, by four writers."""
    with ThreadPoolExecutor(4) as writers:
        list(writers.map(lambda index: seed_one(kube, index), range(count // 2)))


def seed_one(kube: KubeClient, index: int) -> None:
    name = f"probe-{index}"
    kube.apply(oci_repository(name, NAMESPACE, url=f"oci://registry:5000/{name}", ref={"tag": "0.1.0"}))
    kube.apply(kustomization(name, NAMESPACE))


def config_for(kubeconfig: Path, directory: Path) -> ClusterConfig:
    return parse_config(
        "apiVersion: ksail.io/v1alpha1\nkind: Cluster\n"
        f"metadata: {{name: bench}}\nspec: {{cluster: {{connection: {{kubeconfig: {kubeconfig}}}}}}}\n",
        base_dir=directory,
    )


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def thread_cpu() -> dict[str, float]:
    """CPU seconds so far of each live thread of this process, by thread name."""
    names = {thread.native_id: thread.name for thread in threading.enumerate()}
    tick = os.sysconf("SC_CLK_TCK")
    seconds: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        name = names.get(int(task.name), "other")
        seconds[name] = seconds.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return seconds


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


class CollectorPauses:
    """How long each run of Python's garbage collector took (it stops every thread meanwhile)."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []  # (generation, seconds)
        self._started = 0.0
        gc.callbacks.append(self._note)

    def _note(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((info["generation"], time.perf_counter() - self._started))

    def stop(self) -> None:
        gc.callbacks.remove(self._note)


class FrameClock:
    """When the app last sent a frame to the terminal (the headless driver draws nothing, but the
    compositor has rendered the frame by then)."""

    def __init__(self, app: KsailApp) -> None:
        self.last = 0.0
        display = app._display

        def noting(screen: Any, renderable: Any) -> None:
            display(screen, renderable)
            if renderable is not None and not app._batch_count:
                self.last = time.perf_counter()

        app._display = noting  # type: ignore[method-assign]


class CellProbe:
    """Notes when FluxPane.sync wrote a given message into the probe's cell."""

    def __init__(self) -> None:
        self.expected = ""
        self.seen = threading.Event()
        self.seen_at = 0.0
        original = FluxPane.sync
        probe = self

        def sync(pane: FluxPane, keys: Any, model: Any, now: Any) -> None:
            original(pane, keys, model, now)
            table = pane.table
            if probe.expected and PROBE in table.rows:
                value = table.get_cell(PROBE, "message")
                if (value.plain if isinstance(value, Text) else str(value)) == probe.expected:
                    probe.seen_at = time.perf_counter()
                    probe.seen.set()

        FluxPane.sync = sync  # type: ignore[method-assign,assignment]


def write_statuses(kube: KubeClient, probe: CellProbe, changes: int, latencies: list[float]) -> None:
    for index in range(changes):
        message = f"change {index}"
        probe.expected, probe.seen = message, threading.Event()
        status = {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "BuildFailed",
                    "message": message,
                    "lastTransitionTime": "2025-01-01T00:00:00Z",
                }
            ]
        }
        started = time.perf_counter()
        kube.merge_patch(KUSTOMIZATIONS, "probe-0", {"status": status}, NAMESPACE, subresource="status")
        if not probe.seen.wait(5):
            print(f"change {index} did not reach the table within 5 s", file=sys.stderr)
            return
        latencies.append(probe.seen_at - started)


async def measure(kubeconfig: Path, directory: Path, args: argparse.Namespace) -> dict[str, Any]:
    config = config_for(kubeconfig, directory)
    app: KsailApp = make_app(
        config, services=ClusterServices(config, registry_backend="process"), animations_enabled=False
    )
    results: dict[str, Any] = {}
    frames = FrameClock(app)
    started = time.perf_counter()
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.dashboard.query_one("#flux-table", DataTable)
        while table.row_count == 0:
            await asyncio.sleep(0.002)
        results["first_row"] = time.perf_counter() - started
        while table.row_count < args.objects:
            await asyncio.sleep(0.002)
        full = time.perf_counter()
        while frames.last < full:
            await asyncio.sleep(0.002)
        results["first_frame"] = frames.last - started
        await pilot.pause()
        results["first_render"] = time.perf_counter() - started

        # Let start-up work (registry status, first refreshes) finish; with a longer --settle the
        # objects' ages are in minutes, not seconds, so the Age column no longer changes every tick.
        await asyncio.sleep(args.settle)
        results["rss_mb"] = rss_mb()
        cpu_before, threads_before = time.process_time(), thread_cpu()
        await asyncio.sleep(args.idle)
        results["idle_cpu_seconds"] = time.process_time() - cpu_before
        threads_after = thread_cpu()
        results["idle_threads"] = {
            name: used - threads_before.get(name, 0.0) for name, used in threads_after.items()
        }

        kube = KubeClient(kubeconfig)
        probe = CellProbe()
        latencies: list[float] = []
        collector = CollectorPauses()
        writer = threading.Thread(target=write_statuses, args=(kube, probe, args.changes, latencies))
        writer.start()
        while writer.is_alive():
            await asyncio.sleep(0.01)
        collector.stop()
        results["latencies"] = latencies
        results["gc_pauses"] = collector.pauses
    results["emulator_lists"] = time_lists(kube)
    return results


def time_lists(kube: KubeClient) -> float:
    """How long the cluster takes to answer the dashboard's two big lists, asked at once as the
    dashboard asks them (from the API server's cache), by a bare client (fetched and decoded, not
    parsed): the part of the first render that is the cluster's, in processes of its own on the
    same cores."""
    started = time.perf_counter()
    threads = [
        threading.Thread(target=kube.list, args=(resource,), kwargs={"resource_version": "0"})
        for resource in (OCI_REPOSITORIES, KUSTOMIZATIONS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--settle", type=float, default=2.0, help="seconds between the render and idling")
    parser.add_argument("--cluster", choices=["emulator", "kube"], default="emulator")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        directory = Path(temp)
        os.environ["XDG_DATA_HOME"] = str(directory / "data")
        with cluster(args.cluster, directory) as kubeconfig:
            seed(KubeClient(kubeconfig), args.objects)
            results = asyncio.run(measure(kubeconfig, directory, args))
    latencies = [seconds * 1000 for seconds in results["latencies"]]
    print(f"watch latency over {len(latencies)} status writes (write -> cell updated):")
    print(
        f"  p50 {statistics.median(latencies):.1f} ms   p95 {percentile(latencies, 0.95):.1f} ms"
        f"   max {max(latencies):.1f} ms"
    )
    full = [seconds * 1000 for generation, seconds in results["gc_pauses"] if generation == 2]
    print(
        f"  meanwhile the garbage collector ran {len(results['gc_pauses'])} times, {len(full)} of them"
        f" full collections (longest {max(full, default=0):.0f} ms)"
    )
    print(
        f"first full render of {args.objects} Flux objects: {results['first_frame']:.2f} s to the"
        f" frame with every row (first row in the table at {results['first_row']:.2f} s;"
        f" {results['first_render']:.2f} s until Textual's pilot.pause() finds the process idle)"
    )
    print(f"  the {args.cluster} alone answers the two lists in {results['emulator_lists']:.2f} s")
    print(f"RSS idle (table full): {results['rss_mb']:.0f} MB")
    idle = results["idle_cpu_seconds"]
    print(f"CPU while idle: {idle:.3f} s over {args.idle:.0f} s ({100 * idle / args.idle:.2f} % of one core)")
    busiest = sorted(results["idle_threads"].items(), key=lambda item: -item[1])[:4]
    print("  by thread: " + ", ".join(f"{name} {used:.2f} s" for name, used in busiest))


if __name__ == "__main__":
    main()
