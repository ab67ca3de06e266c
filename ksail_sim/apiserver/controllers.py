"""Simulated controllers for the Kubernetes API emulator.

Nothing here schedules or runs anything: these stand-ins only write the status a real
controller would eventually write, so that code waiting on that status can be exercised.
"""

from __future__ import annotations

import queue
import threading
import time

from ksail_sim.apiserver.store import DEPLOYMENTS, Change, ChangeType, Obj, Store, now_rfc3339


def rolled_out(deployment: Obj) -> Obj | None:
    """The deployment with the status of a finished rollout, or None when it already has it."""
    meta = deployment["metadata"]
    if "deletionTimestamp" in meta:
        return None
    replicas = (deployment.get("spec") or {}).get("replicas", 1)
    old = deployment.get("status") or {}
    old_conditions = {c.get("type"): c for c in old.get("conditions") or []}
    now = now_rfc3339()

    def condition(type_: str, reason: str, message: str) -> Obj:
        previous = old_conditions.get(type_) or {}
        unchanged = previous.get("status") == "True" and previous.get("reason") == reason
        return {
            "type": type_,
            "status": "True",
            "lastUpdateTime": previous.get("lastUpdateTime", now) if unchanged else now,
            "lastTransitionTime": previous.get("lastTransitionTime", now) if unchanged else now,
            "reason": reason,
            "message": message,
        }

    status: Obj = {
        "observedGeneration": meta.get("generation", 1),
        "conditions": [
            condition("Available", "MinimumReplicasAvailable", "Deployment has minimum availability."),
            condition(
                "Progressing",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{meta["name"]}-sim" has successfully progressed.',
            ),
        ],
    }
    if replicas:  # the real controller omits zero counts
        for field in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas"):
            status[field] = replicas
    if status == old:
        return None
    deployment["status"] = status
    return deployment


class DeploymentController:
    """SIMULATED deployment controller: no ReplicaSets, no Pods.

    Shortly (``delay`` seconds) after a Deployment is created or changed, it writes the
    status of a completed rollout through the status subresource: every replica updated,
    ready and available, ``observedGeneration`` caught up and ``Available=True``. Install
    code that waits for Deployments to become available therefore proceeds as on a healthy
    cluster.
    """

    def __init__(self, store: Store, delay: float = 0.05) -> None:
        self._store = store
        self._delay = delay
        self._queue: queue.SimpleQueue[tuple[float, str, str] | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim-deployment-controller", daemon=True)
        store.add_listener(self._on_change)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _on_change(self, change: Change) -> None:
        if change.key == DEPLOYMENTS.storage_key and change.type is not ChangeType.DELETED:
            meta = change.obj["metadata"]
            self._queue.put((time.monotonic() + self._delay, meta["namespace"], meta["name"]))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            due, namespace, name = item
            # Items arrive in due order (the delay is constant), so waiting for the head is enough.
            if self._stopping.wait(max(0.0, due - time.monotonic())):
                return
            self._store.mutate(DEPLOYMENTS, namespace, name, rolled_out, subresource="status")
