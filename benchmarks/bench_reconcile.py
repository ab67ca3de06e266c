"""How long `reconcile` takes to notice the controller's final status write.

Runs the Kubernetes API emulator and a controller stand-in that answers each requestedAt with
Flux's Ready status, recording the moment it writes. The figure is the time from the
Kustomization's status write to FluxService.reconcile returning (the source is handled the same
way first). The flux CLI polls every 2 s, so its expected figure is ~1 s (uniform over 0-2 s).

    python benchmarks/bench_reconcile.py [ROUNDS]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ksail_sim.apiserver.server import ApiServer
from ksail_sim.flux.crds import flux_crds
from ksail_tui.config import parse_config
from ksail_tui.flux.service import FluxService
from ksail_tui.kube.client import KUSTOMIZATIONS, OCI_REPOSITORIES, KubeClient
from ksail_tui.kube.watch import SYNC, Watcher, WatchEvent
from ksail_tui.models import RECONCILE_ANNOTATION

REVISION = "0.1.0@sha256:" + "ab" * 32


class Controller:
    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self.last_write = 0.0
        self.handled: dict[str, str] = {}
        self.watchers = [
            Watcher(kube, r, on_event=self.on_event).start() for r in (OCI_REPOSITORIES, KUSTOMIZATIONS)
        ]

    def on_event(self, event: WatchEvent) -> None:
        for obj in event.objects if event.type == SYNC else [event.object]:
            if obj is None:
                continue
            meta = obj["metadata"]
            token = (meta.get("annotations") or {}).get(RECONCILE_ANNOTATION)
            key = f"{obj['kind']}/{meta['name']}"
            if not token or self.handled.get(key) == token:
                continue
            self.handled[key] = token
            source = obj["kind"] == "OCIRepository"
            status: dict[str, Any] = {
                "lastHandledReconcileAt": token,
                "observedGeneration": meta["generation"],
                "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded", "message": "ok"}],
            }
            status |= {"artifact": {"revision": REVISION}} if source else {"lastAppliedRevision": REVISION}
            resource = OCI_REPOSITORIES if source else KUSTOMIZATIONS
            if not source:
                self.last_write = time.perf_counter()
            self.kube.merge_patch(
                resource, meta["name"], {"status": status}, meta["namespace"], subresource="status"
            )

    def stop(self) -> None:
        for watcher in self.watchers:
            watcher.stop()


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    server = ApiServer(port=0)
    server.start()
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = server.write_kubeconfig(Path(tmp) / "kubeconfig")
        kube = KubeClient(kubeconfig)
        for crd in flux_crds():
            kube.apply(crd)
        kube.forget_discovery()
        config = parse_config(
            f"spec:\n  cluster:\n    connection: {{kubeconfig: {kubeconfig}}}\n"
            "  workloads:\n    - {name: app, sourceDirectory: app}\n"
        )
        service = FluxService(config, kube)
        service.ensure_namespace()
        service.apply_sources()
        controller = Controller(kube)
        latencies, totals = [], []
        for _ in range(rounds):
            started = time.perf_counter()
            (outcome,) = service.reconcile(timeout=10)
            done = time.perf_counter()
            assert outcome.ok, outcome.message
            latencies.append((done - controller.last_write) * 1000)
            totals.append((done - started) * 1000)
        controller.stop()
    server.stop()
    q = statistics.quantiles(latencies, n=100)
    t = statistics.quantiles(totals, n=100)
    print(f"rounds: {rounds}")
    worst = max(latencies)
    print(f"status write -> reconcile returned: p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms, max {worst:.1f} ms")
    print(f"whole reconcile (request, source, Kustomization): p50 {t[49]:.1f} ms, p95 {t[94]:.1f} ms")
    print("flux CLI for comparison: polls every 2 s, so ~1000 ms expected after the write")


if __name__ == "__main__":
    main()
