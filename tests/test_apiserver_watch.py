"""Watches on the emulated API server, through the official client and raw HTTP."""

from __future__ import annotations

import http.client
import json
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import urllib3
from kubernetes import client, watch
from kubernetes.client import ApiException

from ksail_sim.apiserver.server import ApiServer
from ksail_sim.apiserver.store import INITIAL_NAMESPACES
from ksail_sim.flux.crds import flux_crds

Event = tuple[str, str, dict[str, Any]]  # type, name, raw object


@pytest.fixture
def core(kube_api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(kube_api_client)


class Stream:
    """Runs a Watch on a thread and hands its events over through a queue."""

    def __init__(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.watch = watch.Watch()
        self.events: queue.Queue[Event | BaseException | None] = queue.Queue()

        def run() -> None:
            try:
                for event in self.watch.stream(func, *args, **kwargs):
                    raw = event["raw_object"]
                    self.events.put((event["type"], raw.get("metadata", {}).get("name", ""), raw))
                self.events.put(None)
            except BaseException as error:
                self.events.put(error)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def next(self, timeout: float = 5) -> Event | BaseException | None:
        return self.events.get(timeout=timeout)

    def take(self, count: int, skip_bookmarks: bool = True) -> list[Event]:
        taken: list[Event] = []
        while len(taken) < count:
            item = self.next()
            assert isinstance(item, tuple), f"stream ended with {item!r} after {taken}"
            if not (skip_bookmarks and item[0] == "BOOKMARK"):
                taken.append(item)
        return taken

    def stop(self) -> None:
        self.watch.stop()


@pytest.fixture
def streams() -> Iterator[Callable[..., Stream]]:
    started: list[Stream] = []

    def open_stream(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Stream:
        started.append(Stream(func, *args, **kwargs))
        return started[-1]

    yield open_stream
    for stream in started:
        stream.stop()


def cm(name: str, labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {}}, "data": data}


def test_watch_without_resource_version_starts_with_the_current_state(
    core: client.CoreV1Api, streams: Callable[..., Stream]
) -> None:
    core.create_namespace({"metadata": {"name": "other"}})
    core.create_namespaced_config_map("default", cm("a"))
    core.create_namespaced_config_map("default", cm("b"))
    core.create_namespaced_config_map("other", cm("c"))
    stream = streams(core.list_namespaced_config_map, "default")
    assert [(t, n) for t, n, _ in stream.take(2)] == [("ADDED", "a"), ("ADDED", "b")]
    core.delete_namespaced_config_map("a", "default")
    assert [(t, n) for t, n, _ in stream.take(1)] == [("DELETED", "a")]


def test_watch_resumes_after_dropped_connections_without_losing_events(
    apiserver: ApiServer, core: client.CoreV1Api, streams: Callable[..., Stream]
) -> None:
    start = core.create_namespaced_config_map("default", cm("a")).metadata.resource_version
    first = streams(core.list_namespaced_config_map, "default", resource_version=start)
    core.patch_namespaced_config_map("a", "default", {"data": {"step": "1"}})
    ((kind, _, obj),) = first.take(1)
    assert (kind, obj["data"]) == ("MODIFIED", {"step": "1"})

    apiserver.drop_watches()
    error = first.next()
    # The official client surfaces a cut stream as urllib3's ProtocolError; callers resume.
    assert isinstance(error, urllib3.exceptions.ProtocolError), error
    assert first.watch.resource_version == obj["metadata"]["resourceVersion"]

    # Written while nobody watches:
    core.patch_namespaced_config_map("a", "default", {"data": {"step": "2"}})
    core.create_namespaced_config_map("default", cm("b"))
    core.delete_namespaced_config_map("a", "default")

    resumed = streams(
        core.list_namespaced_config_map, "default", resource_version=first.watch.resource_version
    )
    events = resumed.take(3)
    assert [(t, n) for t, n, _ in events] == [("MODIFIED", "a"), ("ADDED", "b"), ("DELETED", "a")]
    assert events[0][2]["data"] == {"step": "2"}
    versions = [int(raw["metadata"]["resourceVersion"]) for _, _, raw in events]
    assert versions == sorted(versions)


def test_expired_resource_version_gives_410(
    apiserver: ApiServer, core: client.CoreV1Api, streams: Callable[..., Stream]
) -> None:
    old = core.create_namespaced_config_map("default", cm("a")).metadata.resource_version
    core.patch_namespaced_config_map("a", "default", {"data": {"x": "1"}})
    apiserver.compact()
    stream = streams(core.list_namespaced_config_map, "default", resource_version=old)
    error = stream.next()
    # The server streams an ERROR event with a 410 Expired Status; the client retries once
    # from the same resourceVersion, then raises.
    assert isinstance(error, ApiException), error
    assert error.status == 410
    assert "Expired" in str(error.reason)

    # The current resourceVersion still works after a compaction.
    current = core.list_namespaced_config_map("default").metadata.resource_version
    fresh = streams(core.list_namespaced_config_map, "default", resource_version=current)
    core.patch_namespaced_config_map("a", "default", {"data": {"x": "2"}})
    assert fresh.take(1)[0][2]["data"] == {"x": "2"}


def test_history_window_bounds_resumption() -> None:
    with ApiServer(history_size=3, deployment_controller=False) as server:
        api_client = client.ApiClient(client.Configuration(host=server.url))
        api = client.CoreV1Api(api_client)
        start = api.create_namespaced_config_map("default", cm("a")).metadata.resource_version
        for step in range(4):
            api.patch_namespaced_config_map("a", "default", {"data": {"step": str(step)}})
        # Four changes after `start`, three remembered: resuming from `start` would lose one.
        with pytest.raises(ApiException) as expired:
            for _ in watch.Watch().stream(api.list_namespaced_config_map, "default", resource_version=start):
                pass
        assert expired.value.status == 410
        events = watch.Watch().stream(
            api.list_namespaced_config_map, "default", resource_version=str(int(start) + 1), timeout_seconds=1
        )
        assert [e["raw_object"]["data"]["step"] for e in events] == ["1", "2", "3"]
        api_client.close()


def test_bookmarks_arrive_only_when_requested(
    apiserver: ApiServer, core: client.CoreV1Api, streams: Callable[..., Stream]
) -> None:
    apiserver.bookmark_interval = 0.2
    core.create_namespace({"metadata": {"name": "other"}})
    rv = core.create_namespaced_config_map("default", cm("a")).metadata.resource_version
    with_bookmarks = streams(
        core.list_namespaced_config_map, "default", resource_version=rv, allow_watch_bookmarks=True
    )
    without = streams(core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=1)
    core.create_namespaced_config_map("other", cm("elsewhere"))  # advances the resourceVersion
    latest = apiserver.store.resource_version

    # Read until three bookmarks have come and the latest announces the current resourceVersion;
    # however slowly the watch connects, they do come (next() gives up after 5 s).
    bookmarks: list[Event] = []
    while len(bookmarks) < 3 or bookmarks[-1][2]["metadata"]["resourceVersion"] != latest:
        item = with_bookmarks.next()
        assert isinstance(item, tuple), f"stream ended with {item!r} after {bookmarks}"
        bookmarks.append(item)
    assert {kind for kind, _, _ in bookmarks} == {"BOOKMARK"}
    assert bookmarks[-1][2] == {
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": latest},
    }
    # Five bookmark intervals without one, then the stream's own end.
    assert without.next() is None


def test_timeout_seconds_ends_the_stream(apiserver: ApiServer, core: client.CoreV1Api) -> None:
    # The stream ending at all (the test would hang otherwise) is the point; no clock is read.
    events = list(watch.Watch().stream(core.list_namespace, timeout_seconds=1))
    assert [e["type"] for e in events] == ["ADDED"] * len(INITIAL_NAMESPACES)


def test_selectors_apply_to_watches(core: client.CoreV1Api, streams: Callable[..., Stream]) -> None:
    core.create_namespace({"metadata": {"name": "other"}})
    rv = core.create_namespaced_config_map("default", cm("a", {"app": "web"})).metadata.resource_version
    by_label = streams(
        core.list_namespaced_config_map, "default", resource_version=rv, label_selector="app=web"
    )
    by_field = streams(
        core.list_config_map_for_all_namespaces, resource_version=rv, field_selector="metadata.name=b"
    )
    core.create_namespaced_config_map("default", cm("b", {"app": "db"}))
    core.patch_namespaced_config_map("a", "default", {"metadata": {"labels": {"app": "db"}}})
    core.patch_namespaced_config_map("b", "default", {"metadata": {"labels": {"app": "web"}}})
    core.create_namespaced_config_map("other", cm("b"))

    # Like the watch cache: leaving the selection is a DELETED, entering it an ADDED.
    assert [(t, n) for t, n, _ in by_label.take(2)] == [("DELETED", "a"), ("ADDED", "b")]
    events = by_field.take(3)
    assert [(t, raw["metadata"]["namespace"]) for t, _, raw in events] == [
        ("ADDED", "default"),
        ("MODIFIED", "default"),
        ("ADDED", "other"),
    ]


def test_watches_of_custom_resources_and_crd_deletion(
    apiserver: ApiServer, kube_api_client: client.ApiClient, streams: Callable[..., Stream]
) -> None:
    for crd in flux_crds():
        apiserver.apply(crd)
    apiserver.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "flux-system"}})
    custom = client.CustomObjectsApi(kube_api_client)
    group = ("kustomize.toolkit.fluxcd.io", "v1")
    # From the list's resourceVersion, so the create and the patch arrive as events whenever the
    # watch thread connects (without it, a late connect sees one synthetic ADDED of the final state).
    listed = custom.list_cluster_custom_object(*group, "kustomizations")
    stream = streams(
        custom.list_cluster_custom_object,
        *group,
        "kustomizations",
        resource_version=listed["metadata"]["resourceVersion"],
    )
    body = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "apps"},
        "spec": {"interval": "1m", "prune": True, "sourceRef": {"kind": "OCIRepository", "name": "x"}},
    }
    custom.create_namespaced_custom_object(*group, "flux-system", "kustomizations", body)
    custom.patch_namespaced_custom_object_status(
        *group, "flux-system", "kustomizations", "apps", {"status": {"observedGeneration": 1}}
    )
    assert [t for t, _, _ in stream.take(2)] == ["ADDED", "MODIFIED"]
    client.ApiextensionsV1Api(kube_api_client).delete_custom_resource_definition(
        "kustomizations.kustomize.toolkit.fluxcd.io"
    )
    assert [t for t, _, _ in stream.take(1)] == ["DELETED"]
    # The server ends the watch of a type that is gone; the client's reconnect then gets 404.
    ended = stream.next()
    assert isinstance(ended, ApiException) and ended.status == 404


def test_each_write_reaches_an_open_watch_in_order(
    core: client.CoreV1Api, streams: Callable[..., Stream]
) -> None:
    # Latency is measured by benchmarks/, never asserted here.
    rv = core.create_namespaced_config_map("default", cm("a")).metadata.resource_version
    stream = streams(core.list_namespaced_config_map, "default", resource_version=rv)
    for step in range(20):
        core.patch_namespaced_config_map("a", "default", {"data": {"step": str(step)}})
        ((kind, name, obj),) = stream.take(1)
        assert (kind, name, obj["data"]["step"]) == ("MODIFIED", "a", str(step))


def test_raw_watch_is_chunked_json_lines(apiserver: ApiServer, core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", cm("a"))
    address = urlsplit(apiserver.url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=5)
    connection.request("GET", "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1")
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("Transfer-Encoding") == "chunked"
    lines = response.read().decode().splitlines()
    connection.close()
    assert [json.loads(line)["type"] for line in lines] == ["ADDED"]
    assert json.loads(lines[0])["object"]["metadata"]["name"] == "a"
