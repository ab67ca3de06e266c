"""Controller logs on a cluster: the Flux controllers' pod logs about one object, followed over HTTP.

The emulator serves ``pods/{name}/log`` for Pods whose log a test writes (there is no kubelet);
the core's :class:`~ksail_tui.flux.controller_logs.ControllerLogs` finds the controller's Pods by
``app=<controller>``, streams, parses and filters them, reconnects and reports what goes wrong.
The real kube-apiserver tier cannot serve a Pod's log lines (it asks the Pod's kubelet, and that
tier has none): there it checks that the controllers' Pods are found by label and followed
without an error; the lines, reconnects and errors are checked against the emulator.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ksail_sim.apiserver.server import ApiServer
from ksail_tui.config import ClusterConfig
from ksail_tui.deadline import Deadline
from ksail_tui.errors import OperationFailed, Unavailable
from ksail_tui.flux.controller_logs import ControllerLogs, controller_label, controller_pods
from ksail_tui.flux.logs import LogLine, LogNotice, LogSink
from ksail_tui.kube.client import MAX_LOG_LINE_BYTES, PODS, KubeClient
from ksail_tui.models import ObjectRef
from ksail_tui.ui.services import ClusterServices

FLUX = "flux-system"
PLATFORM = ObjectRef(kind="GitRepository", name="platform", namespace=FLUX)


def line(name: str, message: str, *, kind: str = "GitRepository", level: str = "info", **extra: str) -> str:
    return json.dumps(
        {
            "level": level,
            "ts": "2026-01-01T10:00:00.000Z",
            "msg": message,
            "controller": kind.lower(),
            "controllerGroup": "source.toolkit.fluxcd.io",
            "controllerKind": kind,
            kind: {"name": name, "namespace": FLUX},
            "namespace": FLUX,
            "name": name,
            "reconcileID": f"id-{message}",
            **extra,
        }
    )


def pod(
    name: str,
    app: str = "source-controller",
    containers: tuple[str, ...] = ("manager",),
    node: str | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [{"name": c, "image": f"ghcr.io/fluxcd/{app}:v1"} for c in containers]
    }
    if node:
        spec["nodeName"] = node
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": FLUX, "labels": {"app": app}},
        "spec": spec,
    }


@pytest.fixture
def flux(apiserver: ApiServer) -> ApiServer:
    apiserver.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": FLUX}})
    return apiserver


@pytest.fixture
def kube(kubeconfig: Path) -> KubeClient:
    return KubeClient(kubeconfig)


class Follower:
    """A ControllerLogs whose lines and notices land in queues."""

    def __init__(self, kube: KubeClient, ref: ObjectRef = PLATFORM, **options: Any) -> None:
        self.lines: queue.Queue[LogLine] = queue.Queue()
        self.notices: queue.Queue[LogNotice] = queue.Queue()
        options.setdefault("retry_delay", 0.05)
        self.logs = ControllerLogs(
            kube, ref, self.lines.put, self.notices.put, flux_namespace=FLUX, **options
        )

    def __enter__(self) -> Follower:
        self.logs.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.logs.stop()
        self.logs.join(5)

    def next_lines(self, count: int) -> list[str]:
        return [self.lines.get(timeout=10).message for _ in range(count)]

    def no_more_lines(self) -> None:
        with pytest.raises(queue.Empty):
            self.lines.get(timeout=0.3)

    def notice(self) -> LogNotice:
        return self.notices.get(timeout=10)


def test_lines_about_the_object_are_streamed_from_its_controllers_pod(
    flux: ApiServer, kube: KubeClient
) -> None:
    flux.apply(pod("source-controller-7d9f"))
    flux.apply(pod("helm-controller-5c4b", app="helm-controller"))
    flux.write_pod_log(FLUX, "helm-controller-5c4b", line("platform", "not from the source-controller"))
    flux.write_pod_log(
        FLUX,
        "source-controller-7d9f",
        "\n".join(
            [
                "a start-up banner that is not JSON",
                line("platform", "stored artifact for revision 'main@sha1:1'"),
                line("other", "another object's line"),
                line("platform", "Reconciler error", level="error", error="cannot reach https://x"),
            ]
        ),
    )
    with Follower(kube) as follower:
        first, second = follower.lines.get(timeout=10), follower.lines.get(timeout=10)
        assert first.message == "stored artifact for revision 'main@sha1:1'"
        assert (second.level, second.error, second.controller) == (
            "error",
            "cannot reach https://x",
            "source-controller",
        )
        assert (second.group, second.reconcile_id) == ("source.toolkit.fluxcd.io", "id-Reconciler error")
        # Follow: what the controller logs next streams in, another object's lines do not.
        flux.write_pod_log(FLUX, "source-controller-7d9f", line("other", "still another"))
        flux.write_pod_log(FLUX, "source-controller-7d9f", line("platform", "artifact up-to-date"))
        assert follower.next_lines(1) == ["artifact up-to-date"]
        follower.no_more_lines()
        assert follower.notices.empty()


def test_only_the_last_tail_lines_are_replayed(flux: ApiServer, kube: KubeClient) -> None:
    flux.apply(pod("source-controller-7d9f"))
    flux.write_pod_log(
        FLUX, "source-controller-7d9f", "\n".join(line("platform", f"line {n}") for n in range(10))
    )
    with Follower(kube, tail_lines=3) as follower:
        assert follower.next_lines(3) == ["line 7", "line 8", "line 9"]
        follower.no_more_lines()


def test_a_line_past_the_bound_is_cut_not_held(flux: ApiServer, kube: KubeClient) -> None:
    flux.apply(pod("source-controller-7d9f"))
    huge = line("platform", "x" * (MAX_LOG_LINE_BYTES * 2))
    flux.write_pod_log(
        FLUX, "source-controller-7d9f", "\n".join([huge, line("platform", "after the huge one")])
    )
    stream = kube.pod_log(FLUX, "source-controller-7d9f")
    lengths = [len(text) for text in stream]
    assert max(lengths) <= MAX_LOG_LINE_BYTES and len(lengths) >= 3  # the huge line came in pieces
    with Follower(kube) as follower:
        assert follower.next_lines(1) == ["after the huge one"]  # the pieces are not JSON: skipped
        follower.no_more_lines()


def test_a_dropped_stream_is_reopened_without_repeating_lines(flux: ApiServer, kube: KubeClient) -> None:
    flux.apply(pod("source-controller-7d9f"))
    flux.write_pod_log(FLUX, "source-controller-7d9f", line("platform", "before"))
    with Follower(kube) as follower:
        assert follower.next_lines(1) == ["before"]
        flux.cut_log_streams()  # as a restarting kubelet cuts it
        notice = follower.notice()
        assert "the log stream of pod source-controller-7d9f dropped; reconnecting" in notice.message
        assert not notice.final
        flux.write_pod_log(FLUX, "source-controller-7d9f", line("platform", "after"))
        # The reopened stream replays its tail ("before"), which is not shown twice.
        assert follower.next_lines(1) == ["after"]
        follower.no_more_lines()


def test_following_survives_an_api_server_outage(flux: ApiServer, kube: KubeClient) -> None:
    flux.apply(pod("source-controller-7d9f"))
    flux.write_pod_log(FLUX, "source-controller-7d9f", line("platform", "before"))
    with Follower(kube) as follower:
        assert follower.next_lines(1) == ["before"]
        flux.set_unavailable(True)  # streams cut, every request 503
        assert "dropped; reconnecting" in follower.notice().message
        assert "trying again" in follower.notice().message  # the reconnect itself was refused
        flux.write_pod_log(FLUX, "source-controller-7d9f", line("platform", "during"))
        flux.set_unavailable(False)
        assert follower.next_lines(1) == ["during"]
        assert not any(notice.final for notice in list(follower.notices.queue))


def test_a_client_past_its_deadline_stops_following(flux: ApiServer, kube: KubeClient) -> None:
    flux.apply(pod("source-controller-7d9f"))
    flux.write_pod_log(FLUX, "source-controller-7d9f", line("platform", "before"))
    bounded = kube.within(Deadline.after(1.0))
    with Follower(bounded) as follower:
        assert follower.next_lines(1) == ["before"]
        time.sleep(1.2)
        flux.cut_log_streams()
        notices = [follower.notice() for _ in range(2)]
    assert "dropped; reconnecting" in notices[0].message
    assert notices[1].final and notices[1].message.startswith("timed out after 1s")


def test_a_stream_silent_past_the_idle_timeout_is_reopened_quietly(flux: ApiServer, kube: KubeClient) -> None:
    flux.apply(pod("source-controller-7d9f"))
    flux.write_pod_log(FLUX, "source-controller-7d9f", line("platform", "before"))
    with Follower(kube, idle_timeout=0.3) as follower:
        assert follower.next_lines(1) == ["before"]
        time.sleep(1.0)  # three idle timeouts: the stream was reopened meanwhile
        follower.no_more_lines()  # and its replayed tail was not shown again
        flux.write_pod_log(FLUX, "source-controller-7d9f", line("platform", "after"))
        assert follower.next_lines(1) == ["after"]
        follower.no_more_lines()
        assert follower.notices.empty()


def test_a_replaced_controller_pod_is_followed(flux: ApiServer, kube: KubeClient) -> None:
    flux.apply(pod("source-controller-old"))
    flux.write_pod_log(FLUX, "source-controller-old", line("platform", "from the old pod"))
    with Follower(kube) as follower:
        assert follower.next_lines(1) == ["from the old pod"]
        kube.delete(PODS, "source-controller-old", FLUX)
        assert "pod source-controller-old is gone; waiting for the new source-controller pod" in (
            follower.notice().message
        )
        flux.apply(pod("source-controller-new"))
        flux.write_pod_log(FLUX, "source-controller-new", line("platform", "from the new pod"))
        assert follower.next_lines(1) == ["from the new pod"]


def test_the_manager_container_is_asked_for_when_a_pod_has_several(flux: ApiServer, kube: KubeClient) -> None:
    flux.apply(pod("source-controller-7d9f", containers=("istio-proxy", "manager")))
    flux.write_pod_log(FLUX, "source-controller-7d9f", line("platform", "found"))
    with Follower(kube) as follower:
        assert follower.next_lines(1) == ["found"]


def test_no_controller_pods_names_the_label_and_how_to_install_flux(
    flux: ApiServer, kube: KubeClient
) -> None:
    flux.apply(pod("kustomize-controller-1", app="kustomize-controller"))
    with Follower(kube) as follower:
        notice = follower.notice()
    assert notice.final
    assert (
        notice.message
        == "no controller pods in namespace flux-system: none is labelled app=source-controller"
    )
    assert "flux install" in notice.hint
    # The same rule, asked directly; a Flux namespace that does not exist says the same.
    with pytest.raises(Unavailable, match="labelled app=kustomize-controller"):
        controller_pods(kube, "app=kustomize-controller", "elsewhere")
    assert controller_label(ObjectRef(kind="HelmRelease", name="x", namespace="y")) == "app=helm-controller"


def test_a_pod_whose_container_has_not_started_is_retried(flux: ApiServer, kube: KubeClient) -> None:
    # Scheduled, no log yet: the emulator answers as a kubelet does for a waiting container.
    flux.apply(pod("source-controller-7d9f", node="node-1"))
    with Follower(kube) as follower:
        notice = follower.notice()
        assert 'container "manager" in pod "source-controller-7d9f" is waiting to start' in notice.message
        assert not notice.final
        flux.write_pod_log(FLUX, "source-controller-7d9f", line("platform", "started"))
        assert follower.next_lines(1) == ["started"]


def test_the_dashboards_services_follow_the_pods_unless_given_the_demos_sink(
    flux: ApiServer, flux_config: ClusterConfig
) -> None:
    flux.apply(pod("source-controller-7d9f"))
    flux.write_pod_log(FLUX, "source-controller-7d9f", line("platform", "from the pod"))
    lines: queue.Queue[LogLine] = queue.Queue()
    notices: list[LogNotice] = []
    stop = ClusterServices(flux_config).follow_logs(PLATFORM, lines.put, notices.append)
    try:
        assert lines.get(timeout=10).message == "from the pod"
    finally:
        stop()
    sink = LogSink()
    sink.write("source-controller", line("platform", "from the sink"))
    stop = ClusterServices(flux_config, log_sink=sink).follow_logs(PLATFORM, lines.put, notices.append)
    stop()
    assert lines.get(timeout=1).message == "from the sink"
    assert notices == []


@pytest.mark.needs_kube
def test_on_a_real_api_server_the_controllers_pods_are_found_by_their_label(
    real_flux_kube: KubeClient,
) -> None:
    """The real tier's controller manager made Pods of the simulated Flux Deployments (app=<name>,
    as Flux labels them). Without a scheduler and kubelet a real server can only answer their log
    with an empty body: following works and reports nothing wrong, but lines cannot come here."""
    deadline = time.monotonic() + 60
    while True:
        try:
            pods = controller_pods(real_flux_kube, "app=source-controller", FLUX)
            break
        except Unavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert all(p["metadata"]["labels"]["app"] == "source-controller" for p in pods)
    name = pods[0]["metadata"]["name"]
    assert list(real_flux_kube.pod_log(FLUX, name, tail_lines=10)) == []
    assert list(real_flux_kube.pod_log(FLUX, name, follow=True, tail_lines=10)) == []
    with Follower(real_flux_kube) as follower:
        follower.no_more_lines()
        time.sleep(1.0)
        assert follower.notices.empty(), list(follower.notices.queue)
    with pytest.raises(Unavailable, match="none is labelled app=no-such-controller"):
        controller_pods(real_flux_kube, "app=no-such-controller", FLUX)


# --- RBAC: a server that refuses (the emulator has no authorization) -------------------------


class _Forbidding(BaseHTTPRequestHandler):
    forbid_list = True

    def log_message(self, *_: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/api/v1/namespaces/flux-system/pods?") and not self.forbid_list:
            body: dict[str, Any] = {
                "kind": "PodList",
                "apiVersion": "v1",
                "metadata": {},
                "items": [pod("sc-1")],
            }
            code = 200
        else:
            resource = "pods/log" if "/log" in self.path else "pods"
            code, body = (
                403,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "reason": "Forbidden",
                    "code": 403,
                    "message": f'{resource} is forbidden: User "dev" cannot get resource "{resource}" in the '
                    'namespace "flux-system"',
                },
            )
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(params=[True, False], ids=["list-forbidden", "log-forbidden"])
def forbidding(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KubeClient]:
    handler = type("Handler", (_Forbidding,), {"forbid_list": request.param})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "c", "cluster": {"server": f"http://127.0.0.1:{server.server_address[1]}"}}
                ],
                "users": [{"name": "u", "user": {}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    try:
        yield KubeClient(kubeconfig)
    finally:
        server.shutdown()
        server.server_close()


def test_a_403_says_which_permission_is_missing(forbidding: KubeClient) -> None:
    with Follower(forbidding) as follower:
        notice = follower.notice()
    assert notice.final
    assert "(403)" in notice.message and "forbidden" in notice.message
    assert "pods/log" in notice.hint
    if "list pods" in notice.message:
        with pytest.raises(OperationFailed, match="not allowed to list pods in flux-system"):
            controller_pods(forbidding, "app=source-controller", FLUX)
    else:
        assert "not allowed to read the logs of pod flux-system/sc-1" in notice.message
