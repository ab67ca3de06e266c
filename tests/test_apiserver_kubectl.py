"""The real kubectl against the emulated API server: discovery, apply, get, wait, watch."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes import client

import ksail_sim.flux.crds
from ksail_sim.apiserver.server import ApiServer
from tests.fixtures.apiserver import Kubectl

CRDS = Path(ksail_sim.flux.crds.__file__).parent
OCI_CRD = CRDS / "source.toolkit.fluxcd.io_ocirepositories.yaml"
KS_CRD = CRDS / "kustomize.toolkit.fluxcd.io_kustomizations.yaml"
OCI_GROUP = ("source.toolkit.fluxcd.io", "v1")

OCIREPOSITORY = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: podinfo
  namespace: flux-system
spec:
  interval: 1m
  url: oci://registry.local:5000/podinfo
  ref:
    tag: latest
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:IMAGE
        ports: [{containerPort: 80}]
        env: [{name: MODE, value: demo}]
"""


class LineReader:
    """Collects a subprocess's stdout lines on a thread so tests can wait for one."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        stdout = process.stdout
        threading.Thread(target=lambda: [self.lines.put(line) for line in stdout], daemon=True).start()

    def wait_for(self, text: str, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if text in line:
                return line
        raise AssertionError(f"no line with {text!r} within {timeout}s")


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def background(kubectl_env: dict[str, str]) -> Iterator[list[subprocess.Popen[str]]]:
    """Start long-running kubectl processes; every one is killed after the test."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=5)


def start(background: list[subprocess.Popen[str]], env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        ["kubectl", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    background.append(process)
    return process


def test_flux_ocirepository_apply_get_wait_and_watch(
    apiserver: ApiServer,
    kubectl: Kubectl,
    kubectl_env: dict[str, str],
    kube_api_client: client.ApiClient,
    background: list[subprocess.Popen[str]],
) -> None:
    # Plain `kubectl apply`, no --validate=false: the emulator's OpenAPI answers must satisfy it.
    assert "created" in kubectl("apply", "-f", str(OCI_CRD)).stdout
    kubectl("create", "namespace", "flux-system")
    assert (
        "ocirepository.source.toolkit.fluxcd.io/podinfo created"
        in kubectl("apply", "-f", "-", input=OCIREPOSITORY).stdout
    )

    header, row = kubectl("get", "ocirepositories", "-A").stdout.splitlines()
    assert header.split() == ["NAMESPACE", "NAME", "URL", "READY", "STATUS", "AGE"]
    assert row.split()[:3] == ["flux-system", "podinfo", "oci://registry.local:5000/podinfo"]

    watch = LineReader(start(background, kubectl_env, "get", "ocirepo", "-n", "flux-system", "-w"))
    watch.wait_for("podinfo")
    waiter = start(
        background, kubectl_env, "wait", "--for=condition=Ready", "ocirepository/podinfo",
        "-n", "flux-system", "--timeout=20s",
    )  # fmt: skip
    # Both kubectl processes watch once they have read the current state; only then does
    # "still waiting" mean that kubectl wait saw the object not Ready.
    ocirepositories = apiserver.store.find_type(*OCI_GROUP, "ocirepositories")
    assert ocirepositories is not None
    wait_until(lambda: apiserver.store.watch_count(ocirepositories) >= 2, "both kubectl watches open")
    assert waiter.poll() is None, "kubectl wait returned before the object was Ready"

    ready = {
        "type": "Ready",
        "status": "True",
        "reason": "Succeeded",
        "message": "stored artifact for digest sha256:abc",
        "lastTransitionTime": "2025-01-01T00:00:00Z",
        "observedGeneration": 1,
    }
    client.CustomObjectsApi(kube_api_client).patch_namespaced_custom_object_status(
        *OCI_GROUP, "flux-system", "ocirepositories", "podinfo", {"status": {"conditions": [ready]}}
    )

    stdout, stderr = waiter.communicate(timeout=20)
    assert waiter.returncode == 0, stderr
    assert "condition met" in stdout
    updated = watch.wait_for("stored artifact")
    assert updated.split()[:3] == ["podinfo", "oci://registry.local:5000/podinfo", "True"]
    # The apply was a no-op for the spec, and the status patch did not bump the generation.
    obj = json.loads(kubectl("get", "ocirepo", "podinfo", "-n", "flux-system", "-o", "json").stdout)
    assert obj["metadata"]["generation"] == 1
    assert obj["status"]["conditions"][0]["status"] == "True"


def test_discovery_serves_crd_resources_with_short_names(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", str(OCI_CRD), "-f", str(KS_CRD))
    resources = kubectl("api-resources", "--api-group=source.toolkit.fluxcd.io").stdout
    assert resources.splitlines()[1].split() == [
        "ocirepositories", "ocirepo", "source.toolkit.fluxcd.io/v1", "true", "OCIRepository",
    ]  # fmt: skip
    assert "No resources found in flux-system namespace." in kubectl("get", "ks", "-n", "flux-system").stderr
    versions = kubectl("api-versions").stdout.split()
    assert {"v1", "apps/v1", "apiextensions.k8s.io/v1", "kustomize.toolkit.fluxcd.io/v1"} <= set(versions)
    crd = json.loads(kubectl("get", "crd", "kustomizations.kustomize.toolkit.fluxcd.io", "-o", "json").stdout)
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert crd["status"]["acceptedNames"]["shortNames"] == ["ks"]


def test_protobuf_create_commands_and_namespace_cascade(kubectl: Kubectl) -> None:
    # `kubectl create <kind>` always sends protobuf; the emulator decodes these kinds.
    kubectl("create", "namespace", "demo")
    kubectl("create", "configmap", "settings", "-n", "demo", "--from-literal=color=blue")
    kubectl("create", "secret", "generic", "token", "-n", "demo", "--from-literal=value=s3cret")
    kubectl("create", "serviceaccount", "robot", "-n", "demo")
    kubectl("label", "configmap", "settings", "-n", "demo", "tier=front")

    assert kubectl("get", "cm", "settings", "-n", "demo", "-o", "jsonpath={.data.color}").stdout == "blue"
    secret = json.loads(kubectl("get", "secret", "token", "-n", "demo", "-o", "json").stdout)
    assert secret["data"] == {"value": "czNjcmV0"}
    assert secret["type"] == "Opaque"
    labelled = kubectl("get", "cm", "-n", "demo", "-l", "tier in (front,back)", "-o", "name").stdout
    assert labelled.split() == ["configmap/settings"]

    refused = kubectl("create", "deployment", "web", "--image=nginx", "-n", "demo", check=False)
    assert refused.returncode != 0
    assert "kubectl apply -f" in refused.stderr

    kubectl("delete", "namespace", "demo")
    assert kubectl("get", "cm,secret,sa", "-n", "demo", "-o", "name").stdout == ""


def test_deployment_rollout_and_strategic_merge_apply(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=DEPLOYMENT.replace("IMAGE", "1.27"))
    assert "successfully rolled out" in kubectl("rollout", "status", "deployment/web", "--timeout=10s").stdout

    # Re-applying a built-in kind sends a strategic merge patch keyed by container name.
    assert "configured" in kubectl("apply", "-f", "-", input=DEPLOYMENT.replace("IMAGE", "1.28")).stdout
    kubectl("wait", "--for=condition=Available", "deployment/web", "--timeout=10s")
    deployment = json.loads(kubectl("get", "deployment", "web", "-o", "json").stdout)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "nginx:1.28"
    assert container["env"] == [{"name": "MODE", "value": "demo"}]
    assert deployment["metadata"]["generation"] == 2
    assert deployment["status"]["observedGeneration"] == 2
    table = kubectl("get", "deployment", "web").stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert table[1].split()[:4] == ["web", "2", "2", "2"]


def test_server_side_apply_and_finalizers_with_kubectl(kubectl: Kubectl, apiserver: ApiServer) -> None:
    first = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa, namespace: default}\ndata: {a: '1'}\n"
    second = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa, namespace: default}\ndata: {b: '2'}\n"
    assert "serverside-applied" in kubectl("apply", "--server-side", "-f", "-", input=first).stdout
    kubectl("apply", "--server-side", "-f", "-", input=second)
    data = json.loads(kubectl("get", "cm", "ssa", "-o", "jsonpath={.data}").stdout)
    assert data == {"a": "1", "b": "2"}

    kubectl("patch", "cm", "ssa", "--type=merge", "-p", '{"metadata":{"finalizers":["demo/keep"]}}')
    kubectl("delete", "cm", "ssa", "--wait=false")
    marked = json.loads(kubectl("get", "cm", "ssa", "-o", "json").stdout)
    assert "deletionTimestamp" in marked["metadata"]
    kubectl("patch", "cm", "ssa", "--type=json", "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')
    assert "NotFound" in kubectl("get", "cm", "ssa", check=False).stderr
