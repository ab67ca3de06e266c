"""The inventory tree: what a Kustomization (or HelmRelease) applied, each object with its health,
like ``flux tree`` and Capacitor. A failing Deployment says why: its conditions and its Pods'
waiting reasons. No Textual here; the dashboard's tree screen draws :class:`InventoryNode`s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ksail_tui.errors import KsailError
from ksail_tui.flux.status import Health
from ksail_tui.kube.client import KubeClient

Get = Callable[[str, str, str, str], dict[str, Any] | None]  # apiVersion, kind, namespace, name
ListPods = Callable[[str, str], list[dict[str, Any]]]  # namespace, label selector


@dataclass(frozen=True)
class InventoryNode:
    kind: str
    namespace: str
    name: str
    health: Health
    summary: str
    details: tuple[str, ...] = ()  # why: conditions, waiting reasons
    children: tuple[InventoryNode, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


def parse_entry(entry: dict[str, Any]) -> tuple[str, str, str, str, str] | None:
    """``{"id": "<ns>_<name>_<group>_<Kind>", "v": "v1"}`` -> (apiVersion, kind, namespace, name, group)."""
    parts = str(entry.get("id", "")).split("_")
    if len(parts) < 4:
        return None
    namespace, group, kind = parts[0], parts[-2], parts[-1]
    name = "_".join(parts[1:-2])
    version = str(entry.get("v") or "v1")
    return (f"{group}/{version}" if group else version), kind, namespace, name, group


def inventory_tree(obj: dict[str, Any], get: Get, list_pods: ListPods) -> list[InventoryNode]:
    """The nodes of ``obj``'s ``status.inventory`` (in its order), each judged."""
    entries = ((obj.get("status") or {}).get("inventory") or {}).get("entries") or ()
    nodes = []
    for entry in entries:
        parsed = parse_entry(entry) if isinstance(entry, dict) else None
        if parsed is None:
            continue
        api_version, kind, namespace, name, _ = parsed
        try:
            found = get(api_version, kind, namespace, name)
        except KsailError as error:
            nodes.append(
                InventoryNode(kind, namespace, name, Health.UNKNOWN, f"cannot read: {error.message}")
            )
            continue
        if found is None:
            nodes.append(InventoryNode(kind, namespace, name, Health.FAILING, "missing from the cluster"))
            continue
        nodes.append(judge(found, kind, namespace, name, list_pods))
    return nodes


def judge(obj: dict[str, Any], kind: str, namespace: str, name: str, list_pods: ListPods) -> InventoryNode:
    if kind == "Deployment":
        return _deployment(obj, namespace, name, list_pods)
    if kind == "Pod":
        return _pod(obj, namespace, name)
    if kind == "Job":
        return _job(obj, namespace, name)
    return InventoryNode(kind, namespace, name, Health.READY, "exists")


def _deployment(obj: dict[str, Any], namespace: str, name: str, list_pods: ListPods) -> InventoryNode:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    wanted = int(spec.get("replicas", 1))
    ready = int(status.get("readyReplicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    conditions = {c.get("type"): c for c in status.get("conditions") or () if isinstance(c, dict)}
    summary = f"{ready}/{wanted} ready, {updated} updated"
    progressing = conditions.get("Progressing") or {}
    if ready >= wanted and updated >= wanted:
        return InventoryNode("Deployment", namespace, name, Health.READY, summary)
    stalled = progressing.get("reason") == "ProgressDeadlineExceeded"
    selector = ",".join(
        f"{k}={v}" for k, v in ((spec.get("selector") or {}).get("matchLabels") or {}).items()
    )
    pods = tuple(
        _pod(pod, namespace, str((pod.get("metadata") or {}).get("name", "")))
        for pod in (list_pods(namespace, selector) if selector else [])
    )
    failing_pods = any(p.health is Health.FAILING for p in pods)
    details = tuple(
        f"{c.get('type')}={c.get('status')} {c.get('reason', '')}: {c.get('message', '')}".strip()
        for c in conditions.values()
        if c.get("status") != "True" or c.get("type") == "Progressing"
    )
    health = Health.FAILING if stalled or failing_pods else Health.PROGRESSING
    return InventoryNode("Deployment", namespace, name, health, summary, details, pods)


def _pod(obj: dict[str, Any], namespace: str, name: str) -> InventoryNode:
    status = obj.get("status") or {}
    phase = str(status.get("phase") or "Pending")
    containers = status.get("containerStatuses") or ()
    restarts = sum(int(c.get("restartCount") or 0) for c in containers if isinstance(c, dict))
    waiting = [
        f"{c.get('name')}: {w.get('reason', '')} {w.get('message', '')}".strip()
        for c in containers
        if isinstance(c, dict) and (w := (c.get("state") or {}).get("waiting"))
    ]
    summary = f"{phase}, {restarts} restart{'s' if restarts != 1 else ''}"
    bad = {"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError"}
    if phase == "Failed" or any(r.split(": ", 1)[-1].split(" ")[0] in bad for r in waiting):
        health = Health.FAILING
    elif phase in ("Running", "Succeeded") and not waiting:
        health = Health.READY
    else:
        health = Health.PROGRESSING
    return InventoryNode("Pod", namespace, name, health, summary, tuple(waiting))


def _job(obj: dict[str, Any], namespace: str, name: str) -> InventoryNode:
    status = obj.get("status") or {}
    succeeded, failed, active = (int(status.get(k) or 0) for k in ("succeeded", "failed", "active"))
    summary = f"{succeeded} succeeded, {failed} failed, {active} active"
    conditions = {c.get("type"): c for c in status.get("conditions") or () if isinstance(c, dict)}
    if (conditions.get("Failed") or {}).get("status") == "True":
        message = str(conditions["Failed"].get("message", ""))
        return InventoryNode("Job", namespace, name, Health.FAILING, summary, (message,) if message else ())
    if (conditions.get("Complete") or {}).get("status") == "True":
        return InventoryNode("Job", namespace, name, Health.READY, summary)
    return InventoryNode("Job", namespace, name, Health.PROGRESSING, summary)


def cluster_getters(kube: KubeClient) -> tuple[Get, ListPods]:
    """``get`` and ``list_pods`` through the API (discovery resolves each kind)."""

    def get(api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        resource = kube.resolve(api_version, kind)
        return kube.get_or_none(resource, name, namespace or None)

    def list_pods(namespace: str, selector: str) -> list[dict[str, Any]]:
        pods = kube.resolve("v1", "Pod")
        return list(kube.list(pods, namespace, label_selector=selector)["items"])

    return get, list_pods
