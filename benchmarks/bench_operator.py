"""How fast the Environment operator provisions an Environment, and how fast it notices new ones
after a fault.

The Kubernetes API emulator runs in a child process (``ksail-tui sim apiserver`` with the
Catalyst CRDs); the operator (kopf, standalone) runs in a thread of this process. A watch on
Environments timestamps, for each Environment, the first status with ``NamespaceReady`` True
and the first with ``PoliciesReady`` True (the last policy step), measured from just before
its create request. Environments are created one at a time: ``--count`` of them on an empty
cluster, then ``--count`` more with ``--present`` Environments already there (created in one
burst, whose time to all-Ready is reported too).

The fault figures run against an in-process emulator: the time from creating an Environment to
NamespaceReady after the API server restarted, and after every watch went silent without
closing (kopf's known stall), with the watch timeout given by ``--watch-timeout``.

    python benchmarks/bench_operator.py [--count 50] [--present 200] [--watch-timeout 10]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from ksail_sim.apiserver.server import ApiServer
from ksail_tui.kube.client import KubeClient
from ksail_tui.kube.watch import SYNC, Watcher, WatchEvent
from ksail_tui.operator import naming
from ksail_tui.operator.crds import catalyst_crds
from ksail_tui.operator.kopf_app import OperatorThread, WatchTimeouts
from ksail_tui.operator.manifests import to_yaml
from ksail_tui.operator.service import ENVIRONMENTS, PROJECTS

NAMESPACE = "default"


def environment(name: str) -> dict[str, Any]:
    return {
        "apiVersion": naming.API_VERSION,
        "kind": "Environment",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": {
                naming.TEAM_LABEL: "bench",
                naming.PROJECT_LABEL: "shop",
                naming.ENVIRONMENT_LABEL: name,
            },
        },
        "spec": {"projectRef": {"name": "shop"}},
    }


PROJECT = {
    "apiVersion": naming.API_VERSION,
    "kind": "Project",
    "metadata": {"name": "shop", "namespace": NAMESPACE},
    "spec": {},
}


class Stopwatch:
    """First moment each Environment's status showed each condition True."""

    def __init__(self, client: KubeClient) -> None:
        self.seen: dict[tuple[str, str], float] = {}
        self.changed = threading.Condition()
        self.watcher = Watcher(client, ENVIRONMENTS, self.on_event, namespace=NAMESPACE).start()

    def on_event(self, event: WatchEvent) -> None:
        now = time.monotonic()
        with self.changed:
            for obj in event.objects if event.type == SYNC else [event.object]:
                for condition in ((obj or {}).get("status") or {}).get("conditions") or []:
                    if condition["status"] == "True":
                        self.seen.setdefault((obj["metadata"]["name"], condition["type"]), now)  # type: ignore[index]
            self.changed.notify_all()

    def wait(self, names: list[str], condition: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not all((name, condition) in self.seen for name in names):
                if not self.changed.wait(deadline - time.monotonic()):
                    missing = [n for n in names if (n, condition) not in self.seen]
                    raise SystemExit(f"timed out waiting for {condition} of {missing[:5]}")

    def stop(self) -> None:
        self.watcher.stop()


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    p50, top = statistics.median(ordered), ordered[-1]
    return f"p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {top * 1000:.0f} ms"


def measure_one_at_a_time(
    client: KubeClient, stopwatch: Stopwatch, prefix: str, count: int
) -> dict[str, str]:
    to_namespace, to_policies = [], []
    for i in range(count):
        name = f"{prefix}-{i}"
        start = time.monotonic()
        client.create(ENVIRONMENTS, environment(name), NAMESPACE)
        stopwatch.wait([name], "PoliciesReady", 30)
        to_namespace.append(stopwatch.seen[(name, "NamespaceReady")] - start)
        to_policies.append(stopwatch.seen[(name, "PoliciesReady")] - start)
    return {"NamespaceReady": percentiles(to_namespace), "PoliciesReady": percentiles(to_policies)}


def start_emulator(directory: Path) -> tuple[subprocess.Popen[bytes], Path]:
    kubeconfig = directory / "kubeconfig"
    crds = directory / "crds.yaml"
    crds.write_text(to_yaml(catalyst_crds()))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ksail_tui",
            "sim",
            "apiserver",
            "--kubeconfig",
            str(kubeconfig),
            "--crds",
            str(crds),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while not kubeconfig.exists():
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit("the emulator did not start")
        time.sleep(0.05)
    return process, kubeconfig


def provisioning(args: argparse.Namespace, directory: Path) -> dict[str, str]:
    emulator, kubeconfig = start_emulator(directory)
    try:
        client = KubeClient(kubeconfig)
        client.create(PROJECTS, PROJECT, NAMESPACE)
        stopwatch = Stopwatch(client)
        with OperatorThread(client, timeouts=WatchTimeouts(server=args.watch_timeout)):
            results = {
                f"empty cluster, {k}": v
                for k, v in measure_one_at_a_time(client, stopwatch, "a", args.count).items()
            }
            burst = [f"seed-{i}" for i in range(args.present - args.count)]
            start = time.monotonic()
            for name in burst:
                client.create(ENVIRONMENTS, environment(name), NAMESPACE)
            stopwatch.wait(burst, "Ready", 300)
            results[f"burst of {len(burst)} created at once, all Ready"] = f"{time.monotonic() - start:.2f} s"
            measured = measure_one_at_a_time(client, stopwatch, "b", args.count)
            results.update({f"{args.present} present, {k}": v for k, v in measured.items()})
        stopwatch.stop()
        return results
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)


def notice_after_fault(args: argparse.Namespace, directory: Path, fault: str) -> str:
    server = ApiServer(deployment_controller=False)
    server.start()
    try:
        for crd in catalyst_crds():
            server.apply(crd)
        server.apply(PROJECT)
        client = KubeClient(server.write_kubeconfig(directory / f"kubeconfig-{fault}"))
        with OperatorThread(client, timeouts=WatchTimeouts(server=args.watch_timeout)):
            environments = server.store.type_for(naming.API_VERSION, "Environment")
            assert environments is not None
            while server.store.watch_count(environments) == 0:
                time.sleep(0.05)
            time.sleep(1.0)  # well into the current watch request
            if fault == "restart":
                server.stop()
                time.sleep(0.5)
                server.start()
            else:
                server.stall_watches()
            stopwatch = Stopwatch(client)
            start = time.monotonic()
            client.create(ENVIRONMENTS, environment(fault), NAMESPACE)
            stopwatch.wait([fault], "NamespaceReady", args.watch_timeout * 3 + 30)
            elapsed = stopwatch.seen[(fault, "NamespaceReady")] - start
            stopwatch.stop()
        return f"{elapsed:.2f} s (watch timeout {args.watch_timeout:g} s)"
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--present", type=int, default=200)
    parser.add_argument("--watch-timeout", type=int, default=10)
    args = parser.parse_args()
    # kopf logs every failed reconnect of the fault runs at ERROR; the figures are the point here.
    logging.getLogger("kopf").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        results = provisioning(args, directory)
        results["API server restarted, new Environment to NamespaceReady"] = notice_after_fault(
            args, directory, "restart"
        )
        results["watches stalled silently, new Environment to NamespaceReady"] = notice_after_fault(
            args, directory, "stall"
        )
    for measure, value in results.items():
        print(f"{measure}: {value}")


if __name__ == "__main__":
    main()
