"""Watch mode latency: save → dev version pushed and save → Kustomization Ready, under the simulator.

Run: /work/venv/bin/python benchmarks/bench_devloop.py [EDITS]   (needs the registry or docker-registry
binary; EDITS defaults to 30)

The API emulator, the simulated Flux controllers and the real registry binary, all on this machine;
the demo's ``app`` workload (a ConfigMap, a Deployment and a Service). Each edit rewrites the
ConfigMap; the clock starts just before the write and stops when the loop reports the push done and
when it reports the Kustomization Ready at the new revision (checked against the cluster after each
edit). Default settings: debounce 300 ms, keep 5 (pruning runs on every push). A second pass with a
50 ms debounce shows what the loop costs apart from the wait for the folder to settle.
Goal: p50 < 1 s for save → Ready with the default debounce.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ksail_sim.apiserver.server import ApiServer  # noqa: E402
from ksail_sim.flux import SimulatedFlux, install_simulated_flux  # noqa: E402
from ksail_tui.config import ClusterConfig, load_config  # noqa: E402
from ksail_tui.devloop import DevLoop, LoopState, Phase  # noqa: E402
from ksail_tui.kube.client import KUSTOMIZATIONS, KubeClient  # noqa: E402
from tests.fixtures.registry import start_registry, stop_registry  # noqa: E402

DEMO_APP = ROOT / "ksail_tui" / "demo_data" / "app"
IN_CLUSTER_REGISTRY = "local-registry:5000"
PAUSE_BETWEEN_EDITS = 0.2  # so each edit is its own change, not part of the previous burst
TIMEOUT = 30.0


class Clock:
    """When the loop first reported each dev version pushed, and each applied."""

    def __init__(self) -> None:
        self.pushed: dict[str, float] = {}
        self.ready: dict[str, LoopState] = {}
        self.ready_at: dict[str, float] = {}
        self._changed = threading.Condition()

    def __call__(self, state: LoopState) -> None:
        now = time.perf_counter()
        with self._changed:
            if state.dev_version and state.dev_version not in self.pushed:
                self.pushed[state.dev_version] = now
            result = state.last_result
            if state.phase is Phase.IDLE and result and result.ok and result.version not in self.ready:
                self.ready[result.version] = state
                self.ready_at[result.version] = now
            if state.phase is Phase.ERROR:
                print(f"  loop error: {state.last_error}", file=sys.stderr)
            self._changed.notify_all()

    def wait_ready(self, version: str) -> LoopState:
        with self._changed:
            if not self._changed.wait_for(lambda: version in self.ready, timeout=TIMEOUT):
                raise SystemExit(f"{version} was not applied within {TIMEOUT:g}s")
            return self.ready[version]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def write_project(root: Path, kubeconfig: Path, port: int) -> ClusterConfig:
    shutil.copytree(DEMO_APP, root / "app")
    path = root / "ksail.yaml"
    path.write_text(
        "metadata: {name: bench}\n"
        "spec:\n"
        "  cluster:\n"
        f"    connection: {{kubeconfig: {kubeconfig}, context: ksail-sim, timeout: 30s}}\n"
        f"    localRegistry: {{port: {port}, clusterEndpoint: '{IN_CLUSTER_REGISTRY}'}}\n"
        "  workloads:\n"
        "    - {name: app, sourceDirectory: app, repository: bench/app, version: 0.1.0,\n"
        "       targetNamespace: demo}\n"
    )
    return load_config(path)


def run_pass(config: ClusterConfig, kube: KubeClient, debounce: float, edits: int, first: int) -> int:
    """Edit ``edits`` times, starting at dev.``first``; prints the figures; returns the last number."""
    clock = Clock()
    manifest = config.source_path(config.workload("app")) / "configmap.yaml"
    original = manifest.read_text()
    push_seconds: list[float] = []
    ready_seconds: list[float] = []
    loop_ready: list[float] = []
    with DevLoop(config, ["app"], on_state=clock, debounce=debounce, keep=5):
        clock.wait_ready(f"0.1.0-dev.{first}")  # the start-up sync
        for index in range(edits):
            version = f"0.1.0-dev.{first + index + 1}"
            time.sleep(PAUSE_BETWEEN_EDITS)
            saved = time.perf_counter()
            manifest.write_text(original + f"  edit: '{debounce}-{index}'\n")
            state = clock.wait_ready(version)
            push_seconds.append(clock.pushed[version] - saved)
            ready_seconds.append(clock.ready_at[version] - saved)
            assert state.last_result is not None and state.last_result.save_to_ready is not None
            loop_ready.append(state.last_result.save_to_ready)
            applied = kube.get(KUSTOMIZATIONS, "app", "flux-system")["status"]["lastAppliedRevision"]
            if applied != state.last_result.revision:
                raise SystemExit(
                    f"the cluster applied {applied}, the loop reported {state.last_result.revision}"
                )
    for label, values in (
        ("save → pushed", push_seconds),
        ("save → Ready", ready_seconds),
        ("  (loop's own save → Ready, from the change event)", loop_ready),
    ):
        print(
            f"  {label}: p50 {statistics.median(values) * 1000:.0f} ms, "
            f"p95 {percentile(values, 0.95) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms"
        )
    return first + edits


def main() -> None:
    edits = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    workdir = Path(tempfile.mkdtemp(prefix="bench-devloop-"))
    apiserver = ApiServer(port=0)
    apiserver.start()
    process, registry = start_registry(workdir / "registry")
    try:
        kubeconfig = apiserver.write_kubeconfig(workdir / "kubeconfig")
        kube = KubeClient(kubeconfig)
        install_simulated_flux(kube)
        config = write_project(workdir, kubeconfig, registry.port)
        with SimulatedFlux(kube, registry_hosts={IN_CLUSTER_REGISTRY: registry.endpoint}):
            # Each pass starts where the previous one left the folder: its start-up pushes nothing.
            last = 1
            for debounce in (0.3, 0.05):
                print(f"debounce {debounce * 1000:.0f} ms, {edits} edits:")
                last = run_pass(config, kube, debounce, edits, last)
    finally:
        stop_registry(process)
        apiserver.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
