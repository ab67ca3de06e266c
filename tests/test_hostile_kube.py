"""Hostile Kubernetes API servers: frozen, lying, broken, or over TLS.

Each test points a kubeconfig at a local server that misbehaves in one way and runs the real
commands or the client: they end with a typed error (exit 1-4 and a clear message) within the
command's deadline, never with an internal error, a traceback or a hang (pytest-timeout guards).
"""

from __future__ import annotations

import base64
import json
import os
import random
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ksail_tui.cli.main import main
from ksail_tui.cluster.discovery import kube_contexts
from ksail_tui.config import parse_config
from ksail_tui.deadline import Deadline
from ksail_tui.errors import BadResponse, KsailError, TimedOut
from ksail_tui.flux.install import detect
from ksail_tui.flux.service import FluxService, event_of
from ksail_tui.kube.client import OCI_REPOSITORIES, ApiError, KubeClient
from ksail_tui.kube.watch import Watcher, WatchState
from ksail_tui.live import ControllerInfo

# (status, content type, body) for a request's method and path.
Answer = tuple[int, str | None, bytes]
Route = Callable[[str, str], Answer]

STATUS_404 = json.dumps(
    {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"}
).encode()


def empty_list(method: str, path: str) -> Answer:
    return 200, "application/json", b'{"kind": "List", "metadata": {"resourceVersion": "1"}, "items": []}'


class FakeApiServer:
    """An HTTP(S) server on 127.0.0.1 whose every answer ``route`` decides."""

    def __init__(self, route: Route = empty_list, tls: ssl.SSLContext | None = None) -> None:
        self.route = route
        self.requests: list[tuple[str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                owner.requests.append((self.command, self.path))
                status, content_type, body = owner.route(self.command, self.path)
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PATCH = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.scheme = "https" if tls else "http"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeApiServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def write_kubeconfig(path: Path, server: str, *, ca: bytes | None = None, insecure: bool = False) -> Path:
    cluster: dict[str, Any] = {"server": server}
    if ca is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca).decode()
    if insecure:
        cluster["insecure-skip-tls-verify"] = True
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": cluster}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "ctx",
            }
        )
    )
    return path


def write_config(tmp_path: Path, kubeconfig: Path, timeout: str = "5m") -> Path:
    path = tmp_path / "ksail.yaml"
    path.write_text(
        "apiVersion: ksail.io/v1alpha1\nkind: Cluster\nmetadata: {name: t}\nspec:\n  cluster:\n"
        f"    connection: {{kubeconfig: '{kubeconfig}', context: ctx, timeout: {timeout}}}\n"
        "    localRegistry: {port: 1}\n"
        "  workloads:\n    - {name: app, sourceDirectory: app, targetNamespace: apps}\n"
    )
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err
    assert "internal error" not in err and "Traceback" not in err, err
    return code, err


# --- a frozen API server: the deadline bounds the whole command (item 8) ----------------------


@pytest.fixture
def frozen_server() -> Iterator[str]:
    """Accepts connections (the kernel's backlog does) and never answers a byte."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


# Far below the 10 s a single request used to wait, whatever --timeout said.
@pytest.mark.timeout(8)
def test_reconcile_timeout_bounds_every_request(
    frozen_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, write_kubeconfig(tmp_path / "kubeconfig", frozen_server))
    code, err = run(capsys, "-c", str(config), "workload", "reconcile", "--timeout", "2s")
    assert code == 3, err
    assert f"timed out after 2s: the cluster at {frozen_server} did not answer" in err


@pytest.mark.timeout(8)
@pytest.mark.parametrize(
    "command",
    [("workload", "status"), ("workload", "apply"), ("workload", "suspend"), ("flux", "status")],
)
def test_commands_end_at_the_connection_timeout(
    command: tuple[str, ...], frozen_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, write_kubeconfig(tmp_path / "kubeconfig", frozen_server), "2s")
    code, err = run(capsys, "-c", str(config), *command)
    assert code == 3, err
    assert "timed out after 2s" in err


@pytest.fixture
def dripping_server() -> Iterator[str]:
    """Answers a list with a 1 MB body, one byte every 20 ms: each read gets a byte before the
    socket's timeout, so only the deadline can end it."""

    def serve(connection: socket.socket) -> None:
        with connection:
            connection.recv(65536)
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"
            )
            try:
                while True:
                    connection.sendall(b" ")
                    time.sleep(0.02)
            except OSError:
                return

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def accept() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


@pytest.mark.timeout(10)
def test_a_body_that_drips_ends_at_the_deadline(dripping_server: str, tmp_path: Path) -> None:
    client = KubeClient(write_kubeconfig(tmp_path / "kubeconfig", dripping_server)).within(Deadline.after(1))
    with pytest.raises(TimedOut):
        client.list(OCI_REPOSITORIES)


# --- lying servers: typed errors only (item 10) -----------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/html", b"<html><body>It works!</body></html>"),
        ("application/json", b'{"kind": "List", "items": [{"metadata": {"name": "a"}}'),  # truncated
        ("application/json", b"[1, 2, 3]"),
        ("application/json", b'"just a string"'),
        ("application/json", b'{"items": {"not": "a list"}}'),
        ("application/json", b'{"items": [{"metadata": {"name": 7}}]}'),
        ("application/json", b'{"items": [{"metadata": {"name": "app", "generation": "many"}}]}'),
        ("application/json", b'{"items": [{"metadata": {"name": "app"}, "status": {"conditions": "x"}}]}'),
        (None, b"\x00\xff" * 100),
        ("application/json", b"[" * 100_000 + b"]" * 100_000),
    ],
    ids=[
        "html",
        "truncated",
        "array",
        "string",
        "items-map",
        "name-int",
        "generation",
        "conditions",
        "binary",
        "deep",
    ],
)
def test_status_against_a_server_that_sends_garbage(
    content_type: str | None, body: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeApiServer(lambda method, path: (200, content_type, body)) as server:
        config = write_config(tmp_path, write_kubeconfig(tmp_path / "kubeconfig", server.url), "10s")
        code, err = run(capsys, "-c", str(config), "workload", "status")
    assert code == 4, err
    assert server.url.removeprefix("http://") in err or "not well-formed" in err


def test_a_huge_answer_is_refused_before_it_fills_memory(tmp_path: Path) -> None:
    body = b'{"items": [' + b'{"metadata": {"name": "x"}},' * 50_000 + b"]}"
    with FakeApiServer(lambda method, path: (200, "application/json", body)) as server:
        client = KubeClient(write_kubeconfig(tmp_path / "kubeconfig", server.url))
        client.max_response_bytes = 1024 * 1024
        with pytest.raises(KsailError, match="more than 1048576 bytes"):
            client.list(OCI_REPOSITORIES, "flux-system")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", "the API server answered 500"),
        (b"oops", "the API server answered with 'oops' (500)"),
        (b'{"message": "etcd is gone"}', "etcd is gone (500)"),
        (b'{"message": "etcd is gone", "reason": "InternalError"}', "etcd is gone (500 InternalError)"),
        (b'{"message": ["odd"], "reason": 12}', "the API server answered 500"),
        (b"<html>" + b"x" * 5000, "'<html>xxx"),
    ],
)
def test_error_texts_are_clean(body: bytes, expected: str, tmp_path: Path) -> None:
    with FakeApiServer(lambda method, path: (500, "text/plain", body)) as server:
        client = KubeClient(write_kubeconfig(tmp_path / "kubeconfig", server.url))
        with pytest.raises(ApiError) as caught:
            client.get(OCI_REPOSITORIES, "app", "flux-system")
    text = str(caught.value)
    assert expected in text
    assert "( " not in text and " )" not in text and len(text) < 300


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "items",
                    "metadata",
                    "name",
                    "status",
                    "spec",
                    "conditions",
                    "reason",
                    "message",
                    "code",
                    "kind",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=15,
)
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.tuples(json_values, st.integers(min_value=0, max_value=50)).map(
        lambda pair: json.dumps(pair[0]).encode()[: pair[1]]
    ),
)


@pytest.fixture(scope="module")
def switchable_server() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        yield server


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    status=st.sampled_from([200, 201, 400, 404, 409, 410, 418, 500, 503]),
    content_type=st.sampled_from(["application/json", "text/html", None, "application/yaml"]),
    body=bodies,
)
def test_any_answer_gives_a_typed_error(
    switchable_server: FakeApiServer, tmp_path: Path, status: int, content_type: str | None, body: bytes
) -> None:
    switchable_server.route = lambda method, path: (status, content_type, body)
    client = KubeClient(write_kubeconfig(tmp_path / "kubeconfig", switchable_server.url))
    service = FluxService(parse_config(write_config(tmp_path, tmp_path / "kubeconfig").read_text()), client)
    for call in (
        lambda: client.get(OCI_REPOSITORIES, "app", "flux-system"),
        lambda: client.list(OCI_REPOSITORIES, "flux-system"),
        lambda: client.resolve("example.com/v1", "Thing"),
        lambda: service.statuses(),
    ):
        try:
            call()
        except KsailError as error:
            assert str(error)


# --- a namespace that does not exist (issue 12) -----------------------------------------------


def real_server_without_flux_namespace(method: str, path: str) -> Answer:
    """What a real kube-apiserver answers when flux-system is missing."""
    if method == "GET" and path.startswith("/api/v1/namespaces/flux-system"):
        return 404, "application/json", STATUS_404
    if "/namespaces/flux-system/" in path and method == "PATCH":
        message = {
            "kind": "Status",
            "code": 404,
            "reason": "NotFound",
            "message": 'namespaces "flux-system" not found',
        }
        return 404, "application/json", json.dumps(message).encode()
    if method == "PATCH":
        return 200, "application/json", b'{"metadata": {"name": "apps"}}'
    return empty_list(method, path)


def test_apply_without_the_flux_namespace_says_to_install_flux(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeApiServer(real_server_without_flux_namespace) as server:
        config = write_config(tmp_path, write_kubeconfig(tmp_path / "kubeconfig", server.url), "10s")
        code, err = run(capsys, "-c", str(config), "workload", "apply")
    assert code == 4, err
    assert "the Flux namespace flux-system does not exist" in err
    assert "ksail-tui flux install" in err
    assert not any(method == "PATCH" for method, _ in server.requests)  # nothing half-applied


# --- TLS: verified with the kubeconfig's CA, never a warning (issue 12) -----------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A self-signed CA and a server certificate for 127.0.0.1 signed by it (openssl CLI)."""
    folder = tmp_path_factory.mktemp("tls")
    names = {n: folder / n for n in ("ca.key", "ca.crt", "server.key", "server.csr", "server.crt", "ext")}

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    ca_key, ca_crt = names["ca.key"], names["ca.crt"]
    key, csr, crt = names["server.key"], names["server.csr"], names["server.crt"]
    openssl(
        *f"req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca -keyout {ca_key} -out {ca_crt}".split()
    )
    openssl(*f"req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout {key} -out {csr}".split())
    names["ext"].write_text("subjectAltName=IP:127.0.0.1\n")
    openssl(
        *f"x509 -req -in {csr} -CA {ca_crt} -CAkey {ca_key} -CAcreateserial -days 2".split(),
        *f"-extfile {names['ext']} -out {crt}".split(),
    )
    return names


def tls_server(certificates: dict[str, Path]) -> FakeApiServer:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates["server.crt"], certificates["server.key"])
    return FakeApiServer(tls=context)


def status_over_tls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], server: FakeApiServer, **kubeconfig: Any
) -> tuple[int, str]:
    """``workload status`` as a user runs it: its own process, so stderr shows every warning."""
    config = write_config(
        tmp_path, write_kubeconfig(tmp_path / "kubeconfig", server.url, **kubeconfig), "10s"
    )
    result = subprocess.run(
        [sys.executable, "-m", "ksail_tui", "-c", str(config), "workload", "status"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stderr


def test_tls_with_the_kubeconfig_ca_is_verified_without_warnings(
    certificates: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with tls_server(certificates) as server:
        code, err = status_over_tls(tmp_path, capsys, server, ca=certificates["ca.crt"].read_bytes())
    assert code == 1, err  # reached the server: the workload is simply not applied
    assert "Warning" not in err
    assert server.requests


def test_insecure_skip_tls_verify_is_honoured_without_warnings(
    certificates: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], recwarn: Any
) -> None:
    with tls_server(certificates) as server:
        code, err = status_over_tls(tmp_path, capsys, server, insecure=True)
    assert code == 1, err
    assert "Warning" not in err
    assert not [w for w in recwarn.list if "Unverified HTTPS" in str(w.message)]


def test_tls_with_another_ca_is_refused_clearly(
    certificates: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with tls_server(certificates) as server:
        # The server's own certificate is no CA of its chain: verification must fail.
        code, err = status_over_tls(tmp_path, capsys, server, ca=certificates["server.crt"].read_bytes())
    assert code == 4, err
    assert "unreachable" in err and "CERTIFICATE_VERIFY_FAILED" in err


# --- a watch that always gets 410 backs off (not time-based: the sleep is injected) -----------


class AlwaysGone:
    """A client whose list works and whose every watch answers 410 at once."""

    deadline = None

    def __init__(self) -> None:
        self.relists = 0

    def list(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.relists += 1
        return {"metadata": {"resourceVersion": str(self.relists)}, "items": []}

    def watch(self, *args: Any, **kwargs: Any) -> Any:
        return iter([{"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}}])


def test_a_watch_that_always_gets_410_backs_off() -> None:
    client = AlwaysGone()
    delays: list[float] = []

    def sleep(seconds: float) -> bool:
        delays.append(seconds)
        return len(delays) >= 12  # stop after a fixed number of retries

    watcher = Watcher(
        client,  # type: ignore[arg-type]
        OCI_REPOSITORIES,
        on_event=lambda event: None,
        initial_backoff=0.2,
        max_backoff=5.0,
        sleep=sleep,
        jitter=random.Random(7).random,
    )
    watcher.run()
    # Every relist after the first waits; the waits double up to the bound, with jitter.
    assert client.relists == len(delays) == 12
    assert all(0.1 <= d <= 5.0 for d in delays)
    assert delays[0] <= 0.2 and delays[4] >= 1.6  # 0.2 * 2**4 = 3.2, cut by at most half
    assert all(d >= 2.5 for d in delays[6:])  # bounded at 5.0, cut by at most half


def test_objects_with_wrong_field_types_are_bad_responses(tmp_path: Path) -> None:
    with pytest.raises(BadResponse, match="not well-formed"):
        event_of({"metadata": {"name": "e"}, "count": "many"})
    with pytest.raises(BadResponse, match="not well-formed"):
        ControllerInfo.from_object({"metadata": {"name": "d"}, "spec": {"replicas": "two"}})
    deployments = {"items": [{"metadata": {"name": "source-controller"}, "spec": {"replicas": "x"}}]}

    def route(method: str, path: str) -> Answer:
        if "deployments" in path:
            return 200, "application/json", json.dumps(deployments).encode()
        return 404, "application/json", STATUS_404

    with FakeApiServer(route) as server:
        client = KubeClient(write_kubeconfig(tmp_path / "kubeconfig", server.url))
        with pytest.raises(BadResponse, match="not well-formed"):
            detect(client)


def test_a_watch_error_event_with_odd_fields_is_reported_not_crashed() -> None:
    client = AlwaysGone()
    client.watch = lambda *args, **kwargs: iter(  # type: ignore[method-assign]
        [{"type": "ERROR", "object": {"code": "abc", "reason": ["x"], "message": "etcd hiccup"}}]
    )
    states: list[WatchState] = []
    watcher = Watcher(
        client,  # type: ignore[arg-type]
        OCI_REPOSITORIES,
        on_event=lambda event: None,
        on_state=states.append,
        sleep=lambda seconds: True,  # stop at the first retry
    )
    watcher.run()
    assert states[-1] == WatchState(False, "etcd hiccup (500)")


@pytest.mark.timeout(10)
def test_a_kubeconfig_that_is_not_a_file_has_no_contexts(tmp_path: Path) -> None:
    fifo = tmp_path / "kubeconfig"
    os.mkfifo(fifo)  # reading it used to block until a writer came
    assert kube_contexts(fifo) == set()
    with pytest.raises(KsailError, match="is not a regular file"):
        KubeClient(fifo)
