"""How fast an Environment goes from created to Ready: built, deployed through Flux, reachable.

Everything of ``tests/fixtures/world_environments.py`` runs in this process: the API emulator
with the Catalyst and Flux CRDs, the real registry binary, the simulated Flux controllers
(source- and kustomize-controller), the simulated Job runner (it clones the app's local git
repository at the commit, checks the Dockerfile, pushes a tiny image to the registry), the
ingress stand-in and the operator (kopf, standalone). A watch on Environments timestamps, for
each, the first status in phase Building, Deploying and Ready, measured from just before its
create request. Environments are created one at a time, each with a new image to build.

    python benchmarks/bench_environments.py [--runs 20]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ksail_tui.kube.watch import SYNC, Watcher, WatchEvent
from ksail_tui.operator.service import ENVIRONMENTS
from tests.fixtures.operator import PROJECT_NAMESPACE
from tests.fixtures.world_environments import EnvironmentWorld, environment

PHASES = ("Building", "Deploying", "Ready")
TIMEOUT_SECONDS = 60.0


class PhaseClock:
    """The first time each Environment's status reached each phase."""

    def __init__(self) -> None:
        self.first: dict[tuple[str, str], float] = {}
        self._changed = threading.Condition()

    def on_event(self, event: WatchEvent) -> None:
        objects = event.objects if event.type == SYNC else ((event.object,) if event.object else ())
        now = time.perf_counter()
        with self._changed:
            for obj in objects:
                phase = (obj.get("status") or {}).get("phase")
                if phase:
                    self.first.setdefault((obj["metadata"]["name"], phase), now)
            self._changed.notify_all()

    def wait(self, name: str, phase: str) -> float:
        with self._changed:
            if not self._changed.wait_for(lambda: (name, phase) in self.first, TIMEOUT_SECONDS):
                raise TimeoutError(f"Environment {name} was not {phase} within {TIMEOUT_SECONDS}s")
            return self.first[(name, phase)]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # kopf's "signals are ignored in a thread"

    clock = PhaseClock()
    timings: dict[str, list[float]] = {phase: [] for phase in PHASES}
    with tempfile.TemporaryDirectory() as workdir, EnvironmentWorld(Path(workdir)) as world:
        watcher = Watcher(world.client, ENVIRONMENTS, clock.on_event, namespace=PROJECT_NAMESPACE).start()
        try:
            for run in range(args.runs):
                name = f"bench-{run}"
                started = time.perf_counter()
                world.client.apply(environment(name, world.first_commit))
                ready = clock.wait(name, "Ready")
                for phase in PHASES:
                    reached = clock.first.get((name, phase), ready)
                    timings[phase].append(reached - started)
        finally:
            watcher.stop()

    print(f"Environment created -> phase, {args.runs} runs (simulated build and Flux, real registry):")
    for phase in PHASES:
        values = timings[phase]
        print(
            f"  {phase:<9} p50 {statistics.median(values) * 1000:6.0f} ms"
            f"   p95 {percentile(values, 0.95) * 1000:6.0f} ms   max {max(values) * 1000:6.0f} ms"
        )
    p50 = statistics.median(timings["Ready"])
    print(f"goal p50 < 2 s for Ready: {'met' if p50 < 2.0 else 'NOT met'} ({p50:.2f} s)")


if __name__ == "__main__":
    main()
