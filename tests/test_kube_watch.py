"""The resilient watcher against the emulator: resume, relist on 410, reconnect, never miss the end state."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from typing import Any

import pytest

from ksail_sim.apiserver.server import ApiServer
from ksail_tui.errors import TimedOut
from ksail_tui.kube.client import OCI_REPOSITORIES, ApiError, KubeClient
from ksail_tui.kube.wait import Cancelled, Verdict, wait_for
from ksail_tui.kube.watch import SYNC, Watcher, WatchEvent, WatchState

NS = "flux-system"


def repo(name: str, interval: str = "1m") -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "OCIRepository",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"url": "oci://r:5000/x", "interval": interval},
    }


class Recorder:
    def __init__(self) -> None:
        self.events: queue.Queue[WatchEvent] = queue.Queue()
        self.states: list[WatchState] = []
        self.latest: dict[str, str] = {}

    def on_event(self, event: WatchEvent) -> None:
        if event.type == SYNC:
            self.latest = {o["metadata"]["name"]: o["spec"]["interval"] for o in event.objects}
        elif event.object is not None:
            self.latest[event.object["metadata"]["name"]] = event.object["spec"]["interval"]
        self.events.put(event)

    def wait_until(self, name: str, interval: str, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while self.latest.get(name) != interval:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"never saw {name} at {interval}: {self.latest}"
            with contextlib.suppress(queue.Empty):
                self.events.get(timeout=remaining)


@pytest.fixture
def recorder(kube: KubeClient) -> Any:
    record = Recorder()
    watcher = Watcher(
        kube, OCI_REPOSITORIES, on_event=record.on_event, on_state=record.states.append, initial_backoff=0.05
    ).start()
    yield record, watcher
    watcher.stop()
    watcher.join(2)


def test_sees_creates_and_updates(kube: KubeClient, recorder: Any) -> None:
    record, _ = recorder
    kube.apply(repo("a"))
    record.wait_until("a", "1m")
    kube.merge_patch(OCI_REPOSITORIES, "a", {"spec": {"interval": "2m"}}, NS)
    record.wait_until("a", "2m")


def test_resumes_after_a_dropped_connection_without_losing_writes(
    kube: KubeClient, apiserver: ApiServer, recorder: Any
) -> None:
    record, _ = recorder
    kube.apply(repo("a"))
    record.wait_until("a", "1m")
    apiserver.drop_watches()
    for minutes in range(2, 6):  # written while the watch reconnects
        kube.merge_patch(OCI_REPOSITORIES, "a", {"spec": {"interval": f"{minutes}m"}}, NS)
    record.wait_until("a", "5m")


def test_relists_after_410_and_sees_the_final_state(
    kube: KubeClient, apiserver: ApiServer, recorder: Any
) -> None:
    record, watcher = recorder
    kube.apply(repo("a"))
    record.wait_until("a", "1m")
    old_version = watcher.resource_version
    for minutes in range(2, 5):
        kube.merge_patch(OCI_REPOSITORIES, "a", {"spec": {"interval": f"{minutes}m"}}, NS)
    record.wait_until("a", "4m")
    apiserver.compact()
    # A watch from before the compaction is gone; the watcher must relist.
    watcher.resource_version = old_version
    apiserver.drop_watches()
    kube.apply(repo("b", "7m"))
    record.wait_until("b", "7m")
    assert record.latest["a"] == "4m"


def test_reconnects_after_an_outage_and_reports_it(
    kube: KubeClient, apiserver: ApiServer, recorder: Any
) -> None:
    record, _ = recorder
    kube.apply(repo("a"))
    record.wait_until("a", "1m")
    apiserver.set_unavailable(True)
    apiserver.drop_watches()
    time.sleep(0.3)
    apiserver.set_unavailable(False)
    kube.merge_patch(OCI_REPOSITORIES, "a", {"spec": {"interval": "9m"}}, NS)
    record.wait_until("a", "9m", timeout=10)
    assert any(not state.connected for state in record.states)
    assert record.states[-1].connected


def test_wait_for_sees_a_change_made_right_after_the_patch(kube: KubeClient) -> None:
    created = kube.apply(repo("a"))

    def writer() -> None:
        kube.merge_patch(OCI_REPOSITORIES, "a", {"spec": {"interval": "3m"}}, NS)

    thread = threading.Thread(target=writer)
    thread.start()
    verdict, obj = wait_for(
        kube,
        OCI_REPOSITORIES,
        "a",
        NS,
        lambda o: Verdict.done() if o and o["spec"]["interval"] == "3m" else Verdict.pending("old"),
        timeout=5,
        what="the change",
        initial=created,
    )
    thread.join()
    assert verdict.state == "done" and obj is not None


def test_wait_for_times_out_with_the_last_message(kube: KubeClient) -> None:
    created = kube.apply(repo("a"))
    with pytest.raises(TimedOut, match="still old"):
        wait_for(
            kube,
            OCI_REPOSITORIES,
            "a",
            NS,
            lambda o: Verdict.pending("still old"),
            timeout=0.3,
            what="x",
            initial=created,
        )


def test_wait_for_stops_once_its_cancel_event_is_set(kube: KubeClient) -> None:
    """The dashboard closing stops a reconcile's wait, long before the wait's own deadline."""
    created = kube.apply(repo("a"))
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    with pytest.raises(Cancelled, match="stopped waiting for the source"):
        wait_for(
            kube,
            OCI_REPOSITORIES,
            "a",
            NS,
            lambda o: Verdict.pending("still old"),
            timeout=120,
            what="the source",
            initial=created,
            cancel=cancel,
        )


def test_not_found_is_a_typed_error(kube: KubeClient) -> None:
    with pytest.raises(ApiError) as caught:
        kube.get(OCI_REPOSITORIES, "missing", NS)
    assert caught.value.status == 404
    assert kube.get_or_none(OCI_REPOSITORIES, "missing", NS) is None


def test_a_failing_consumer_does_not_end_the_watch(kube: KubeClient) -> None:
    seen: list[str] = []
    states: list[WatchState] = []

    def consumer(event: WatchEvent) -> None:
        if event.object is not None and not seen:
            seen.append("boom")
            raise RuntimeError("consumer bug")
        if event.type == SYNC:
            seen.extend(o["metadata"]["name"] for o in event.objects)

    connected = threading.Event()

    def on_state(state: WatchState) -> None:
        states.append(state)
        connected.set()

    watcher = Watcher(kube, OCI_REPOSITORIES, on_event=consumer, on_state=on_state, initial_backoff=0.05)
    watcher.start()
    try:
        assert connected.wait(5)  # the first list is done, so "a" arrives as an event the consumer fails on
        kube.apply(repo("a"))
        deadline = time.monotonic() + 5
        while "a" not in seen and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "a" in seen  # relisted after the failure
        assert any("consumer bug" in state.reason for state in states)
    finally:
        watcher.stop()
        watcher.join(2)


class ListingClient:
    """A client stub: each list says which resourceVersion it asked for; the first watch answers
    410 (so the watcher relists), the next one waits until it is closed."""

    deadline = None

    def __init__(self) -> None:
        self.lists: list[str | None] = []
        self.closed = threading.Event()

    def list(self, resource: Any, namespace: Any = None, **query: Any) -> dict[str, Any]:
        self.lists.append(query.get("resource_version"))
        return {"metadata": {"resourceVersion": str(len(self.lists))}, "items": []}

    def watch(self, *args: Any, **kwargs: Any) -> Any:
        client = self

        class Stream:
            def __iter__(self) -> Any:
                if len(client.lists) == 1:
                    yield {"type": "ERROR", "object": {"code": 410}}
                client.closed.wait(5)

            def close(self) -> None:
                client.closed.set()

        return Stream()


@pytest.mark.parametrize(("from_cache", "expected"), [(True, ["0", None]), (False, [None, None])])
def test_only_a_first_list_may_come_from_the_api_servers_cache(
    from_cache: bool, expected: list[str | None]
) -> None:
    # resourceVersion=0 lets a real API server answer from its watch cache (10,000 objects: 1.1 s
    # from etcd); after a 410 the cache may be behind what was seen, so relists read through.
    client = ListingClient()
    watcher = Watcher(client, OCI_REPOSITORIES, on_event=lambda _: None, first_list_from_cache=from_cache)  # type: ignore[arg-type]
    watcher.start()
    deadline = time.monotonic() + 5
    while len(client.lists) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    watcher.stop()
    watcher.join(2)
    assert client.lists == expected
