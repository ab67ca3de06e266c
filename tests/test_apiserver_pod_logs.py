"""The emulator's ``pods/{name}/log``: what a test writes, served to the official client and kubectl."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from ksail_sim.apiserver.server import ApiServer
from tests.fixtures.apiserver import Kubectl


@pytest.fixture
def core(kube_api_client: client.ApiClient, apiserver: ApiServer) -> client.CoreV1Api:
    api = client.CoreV1Api(kube_api_client)
    api.create_namespaced_pod(
        "default",
        {"metadata": {"name": "app"}, "spec": {"containers": [{"name": "manager", "image": "app:1"}]}},
    )
    return api


def error_of(call: Any, *args: Any, **kwargs: Any) -> tuple[int, str]:
    with pytest.raises(ApiException) as caught:
        call(*args, **kwargs)
    return caught.value.status, json.loads(caught.value.body)["message"]


def test_a_written_log_is_served_whole_or_its_tail(core: client.CoreV1Api, apiserver: ApiServer) -> None:
    apiserver.write_pod_log("default", "app", "one\ntwo\nthree")
    assert core.read_namespaced_pod_log("app", "default") == "one\ntwo\nthree\n"
    assert core.read_namespaced_pod_log("app", "default", tail_lines=2, container="manager") == "two\nthree\n"
    assert core.read_namespaced_pod_log("app", "default", tail_lines=0) == ""
    stamped = core.read_namespaced_pod_log("app", "default", tail_lines=1, timestamps=True)
    assert stamped.endswith("Z three\n") and stamped.startswith("20")


def test_follow_streams_new_lines_until_the_pod_is_deleted(
    core: client.CoreV1Api, apiserver: ApiServer
) -> None:
    apiserver.write_pod_log("default", "app", "old\nkept")
    response = core.read_namespaced_pod_log(
        "app", "default", follow=True, tail_lines=1, _preload_content=False
    )
    received: list[bytes] = []
    chunks = response.stream(decode_content=True)
    received.append(next(chunks))
    assert received == [b"kept\n"]
    apiserver.write_pod_log("default", "app", "new")
    received.append(next(chunks))
    assert received[-1] == b"new\n"
    # Deleting the Pod ends its log stream (a clean end of the chunked body).
    done = threading.Event()

    def drain() -> None:
        for chunk in chunks:
            received.append(chunk)
        done.set()

    threading.Thread(target=drain, daemon=True).start()
    # A Pod's delete answers with the Pod (its registry returns the deleted object), not a Status.
    assert core.delete_namespaced_pod("app", "default").metadata.name == "app"
    assert done.wait(10)
    assert received == [b"kept\n", b"new\n"]


def test_log_errors_are_the_real_servers(core: client.CoreV1Api, apiserver: ApiServer) -> None:
    status, message = error_of(core.read_namespaced_pod_log, "missing", "default")
    assert (status, message) == (404, 'pods "missing" not found')
    # No log written: an unscheduled Pod's log is empty, as on a real server; a scheduled one's
    # container is waiting to start, as its kubelet says.
    assert core.read_namespaced_pod_log("app", "default") == ""
    core.create_namespaced_pod(
        "default",
        {
            "metadata": {"name": "placed"},
            "spec": {"nodeName": "node-1", "containers": [{"name": "manager", "image": "app:1"}]},
        },
    )
    status, message = error_of(core.read_namespaced_pod_log, "placed", "default")
    assert (status, message) == (
        400,
        'container "manager" in pod "placed" is waiting to start: ContainerCreating',
    )
    apiserver.write_pod_log("default", "app", "x")
    status, message = error_of(core.read_namespaced_pod_log, "app", "default", container="sidecar")
    assert (status, message) == (400, "container sidecar is not valid for pod app")
    core.create_namespaced_pod(
        "default",
        {
            "metadata": {"name": "two"},
            "spec": {"containers": [{"name": "a", "image": "a"}, {"name": "b", "image": "b"}]},
        },
    )
    apiserver.write_pod_log("default", "two", "x")
    status, message = error_of(core.read_namespaced_pod_log, "two", "default")
    assert (status, message) == (400, "a container name must be specified for pod two, choose one of: [a b]")


def test_kubectl_logs_reads_it(kubectl: Kubectl, core: client.CoreV1Api, apiserver: ApiServer) -> None:
    apiserver.write_pod_log("default", "app", "one\ntwo\nthree")
    assert kubectl("logs", "app", "--tail=2").stdout == "two\nthree\n"
