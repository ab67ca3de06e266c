"""Hostile registries on 127.0.0.1: whatever a server sends, only typed errors come out.

Servers that accept and never answer, pagination that loops, web servers that are no registry,
and (with hypothesis) random status codes, headers and bodies for every operation of the client.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import socket
import tarfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ksail_tui.cli.main import main
from ksail_tui.config import ClusterConfig, load_config
from ksail_tui.errors import InvalidInput, KsailError, OperationFailed, TimedOut, Unavailable
from ksail_tui.oci import artifact_format
from ksail_tui.oci.registry_client import RegistryClient, find_credentials, registry_deadline
from ksail_tui.oci.service import diff_workload, list_versions, prune_versions, push_workload
from tests.fixtures.registry import write_ksail_config

API_VERSION = ("Docker-Distribution-API-Version", "registry/2.0")


@dataclass
class Answer:
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    truncate: bool = False  # promise more bytes than are sent, then close


Responder = Callable[[BaseHTTPRequestHandler], Answer]


class _Handler(BaseHTTPRequestHandler):
    respond: Responder

    def log_message(self, *_: object) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        answer = type(self).respond(self)
        self.send_response(answer.status)
        for key, value in answer.headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(answer.body) + (10 if answer.truncate else 0)))
        if answer.truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)
        if answer.truncate:
            self.close_connection = True

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _answer


def serve(respond: Responder) -> ThreadingHTTPServer:
    handler = type("Handler", (_Handler,), {"respond": staticmethod(respond)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


@pytest.fixture
def fake_registry() -> Iterator[Callable[[Responder], int]]:
    """Start a server answering with ``respond``; its port."""
    servers: list[ThreadingHTTPServer] = []

    def start(respond: Responder) -> int:
        servers.append(serve(respond))
        return servers[-1].server_address[1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel completes them) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield listener.getsockname()[1]


def _project(tmp_path: Path, port: int) -> Path:
    source = tmp_path / "app"
    source.mkdir(exist_ok=True)
    (source / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    return write_ksail_config(tmp_path, port=port, workloads={"app": "app"})


def _registry_answer(request: BaseHTTPRequestHandler, tags_page: Callable[[str], Answer]) -> Answer:
    if request.path == "/v2/":
        return Answer(200, [API_VERSION], b"{}")
    if "/tags/list" in request.path:
        return tags_page(request.path)
    return Answer(404, [API_VERSION], b'{"errors": [{"code": "MANIFEST_UNKNOWN"}]}')


# --- a registry that never answers ----------------------------------------------------------------


def test_push_to_a_registry_that_never_answers_times_out_naming_it(
    tmp_path: Path, silent_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _project(tmp_path, silent_port)

    code = main(["-c", str(config), "workload", "push", "--timeout", "1s"])

    error = capsys.readouterr().err
    assert code == TimedOut.exit_code
    assert f"the registry at localhost:{silent_port} did not answer within 1s" in error
    assert "--timeout" in error


@pytest.mark.parametrize("command", [["list"], ["diff"]])
def test_every_registry_command_has_the_deadline(
    tmp_path: Path, silent_port: int, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    config = _project(tmp_path, silent_port)

    code = main(["-c", str(config), "workload", *command, "--timeout", "1s"])

    assert code == TimedOut.exit_code
    assert f"localhost:{silent_port} did not answer within 1s" in capsys.readouterr().err


def test_prune_has_the_deadline(tmp_path: Path, silent_port: int) -> None:
    # The core call: which versions the cluster protects is another matter than the registry's.
    config = load_config(_project(tmp_path, silent_port))

    with registry_deadline(1), pytest.raises(TimedOut, match=f"localhost:{silent_port} did not answer"):
        prune_versions(config, keep=0, dry_run=True)


def test_the_deadline_covers_retries_and_every_request_together(silent_port: int) -> None:
    # Three attempts of a 60 s read timeout each were 180 s; the deadline is for all of them.
    client = RegistryClient(f"localhost:{silent_port}", timeout=0.5, retries=5)
    with pytest.raises(TimedOut, match=r"within 0\.5s"):
        client.list_tags("t/app")


def test_a_command_deadline_bounds_clients_made_inside_it(silent_port: int) -> None:
    with registry_deadline(0.3), pytest.raises(TimedOut, match=r"within 0\.3s"):
        RegistryClient(f"localhost:{silent_port}").get_manifest("t/app", "0.1.0")


@pytest.fixture
def raw_server() -> Iterator[Callable[[bytes, bool], int]]:
    """A TCP server that sends ``greeting`` to each connection (forever, with ``endless``)."""
    stops: list[Callable[[], None]] = []

    def start(greeting: bytes, endless: bool) -> int:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        stopped = threading.Event()

        def talk(connection: socket.socket) -> None:
            with connection, contextlib.suppress(OSError):
                connection.recv(65536)
                connection.sendall(greeting)
                while endless and not stopped.is_set():
                    connection.sendall(b"x" * 65536)

        def accept() -> None:
            with contextlib.suppress(OSError):
                while True:
                    connection, _ = listener.accept()
                    threading.Thread(target=talk, args=(connection,), daemon=True).start()

        def stop() -> None:
            stopped.set()
            listener.close()

        threading.Thread(target=accept, daemon=True).start()
        stops.append(stop)
        return int(listener.getsockname()[1])

    yield start
    for stop in stops:
        stop()


@pytest.mark.parametrize(
    ("greeting", "endless", "error"),
    [
        (b"SSH-2.0-OpenSSH_9.6\r\n", False, Unavailable),  # not HTTP at all
        (b"HTTP/1.1 200 OK\r\nDocker-Distribution-API-Version: registry/2.0\r\n\r\n", True, KsailError),
        (b"HTTP/1.1 200 OK\r\nX-Endless: " + b"a" * 70000, False, KsailError),  # a header line too long
    ],
    ids=["not-http", "endless-body", "endless-header"],
)
def test_a_server_that_is_not_http_or_never_ends_is_a_typed_error(
    raw_server: Callable[[bytes, bool], int], greeting: bytes, endless: bool, error: type[KsailError]
) -> None:
    port = raw_server(greeting, endless)

    with pytest.raises(error):
        RegistryClient(f"localhost:{port}", timeout=3, retries=0).list_tags("t/app")


@pytest.fixture
def trickling_port() -> Iterator[int]:
    """A server that answers one byte of its headers at a time, a little slower than each read waits."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    stopped = threading.Event()

    def talk(connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\n")
            while not stopped.wait(0.05):
                connection.sendall(b"X")

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = listener.accept()
                threading.Thread(target=talk, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()[1]
    stopped.set()
    listener.close()


def test_a_registry_that_trickles_its_answer_times_out(trickling_port: int) -> None:
    # Each read gets a byte well within its socket timeout: only an overall deadline ends this.
    client = RegistryClient(f"localhost:{trickling_port}", timeout=1, read_timeout=0.5)
    finished = threading.Event()
    caught: list[BaseException] = []

    def call() -> None:
        try:
            client.list_tags("t/app")
        except BaseException as error:
            caught.append(error)
        finished.set()

    threading.Thread(target=call, daemon=True).start()
    assert finished.wait(30), "the client never gave up on a server that trickles"
    assert len(caught) == 1 and isinstance(caught[0], TimedOut), caught


# --- pagination that loops ------------------------------------------------------------------------


def test_a_link_header_that_points_back_is_refused(fake_registry: Callable[[Responder], int]) -> None:
    def page(path: str) -> Answer:
        return Answer(200, [("Link", f'<{path}>; rel="next"')], b'{"tags": ["0.1.0"]}')

    port = fake_registry(lambda request: _registry_answer(request, page))

    with pytest.raises(OperationFailed, match="loops"):
        RegistryClient(f"localhost:{port}", timeout=10).list_tags("t/app")


def test_pages_that_repeat_under_new_urls_are_refused(fake_registry: Callable[[Responder], int]) -> None:
    pages = iter(range(1_000_000))

    def page(_: str) -> Answer:
        link = f'</v2/t/app/tags/list?last=0.1.0&page={next(pages)}>; rel="next"'
        return Answer(200, [("Link", link)], b'{"tags": ["0.1.0", "0.2.0"]}')

    port = fake_registry(lambda request: _registry_answer(request, page))

    with pytest.raises(OperationFailed, match="a page with no new tags"):
        RegistryClient(f"localhost:{port}", timeout=10).list_tags("t/app")


def test_a_link_to_another_server_is_not_followed(fake_registry: Callable[[Responder], int]) -> None:
    def page(_: str) -> Answer:
        return Answer(
            200, [("Link", '<http://127.0.0.2:1/v2/t/app/tags/list>; rel="next"')], b'{"tags": ["a"]}'
        )

    port = fake_registry(lambda request: _registry_answer(request, page))

    with pytest.raises(OperationFailed, match="points to another server"):
        RegistryClient(f"localhost:{port}", timeout=10).list_tags("t/app")


def test_pagination_that_ends_returns_every_tag(fake_registry: Callable[[Responder], int]) -> None:
    def page(path: str) -> Answer:
        if "last=b" in path:
            return Answer(200, [], b'{"tags": ["c"]}')
        return Answer(200, [("Link", '</v2/t/app/tags/list?last=b>; rel="next"')], b'{"tags": ["a", "b"]}')

    port = fake_registry(lambda request: _registry_answer(request, page))

    assert RegistryClient(f"localhost:{port}", timeout=10).list_tags("t/app") == ["a", "b", "c"]


# --- a web server that is no registry -------------------------------------------------------------


@pytest.fixture
def plain_web_server(tmp_path: Path) -> Iterator[int]:
    """``python -m http.server`` on an empty folder: 404 to every registry path."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("command", [["list"], ["push"]])
def test_a_plain_web_server_is_not_an_empty_registry(
    tmp_path: Path, plain_web_server: int, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    config = _project(tmp_path, plain_web_server)

    code = main(["-c", str(config), "workload", *command])

    captured = capsys.readouterr()
    assert code == Unavailable.exit_code
    assert f"the server at localhost:{plain_web_server} is not an OCI registry" in captured.err
    assert "GET /v2/ answered HTTP 404" in captured.err
    assert "no versions" not in captured.out + captured.err


def test_prune_of_a_plain_web_server_deletes_nothing_and_says_why(
    tmp_path: Path, plain_web_server: int
) -> None:
    config = load_config(_project(tmp_path, plain_web_server))

    with pytest.raises(Unavailable, match="is not an OCI registry: GET /v2/ answered HTTP 404"):
        prune_versions(config, keep=0)


def test_registry_status_names_a_server_that_is_no_registry(
    tmp_path: Path, plain_web_server: int, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _project(tmp_path, plain_web_server)
    cli = ["-c", str(config), "registry", "status", "--backend", "process", "--data-dir", str(tmp_path / "r")]

    code = main([*cli, "-o", "json"])

    shown = json.loads(capsys.readouterr().out)
    assert code == Unavailable.exit_code
    assert shown["status"] == "Error"
    assert f"127.0.0.1:{plain_web_server} is not an OCI registry" in shown["last_error"]


@pytest.mark.parametrize(
    ("answer", "registry"),
    [
        (Answer(200, [API_VERSION], b"{}"), True),
        (Answer(200, [], b"{}"), True),
        (Answer(200, [], b""), True),
        (Answer(401, [("WWW-Authenticate", 'Bearer realm="http://127.0.0.1:1/token"')], b""), True),
        (Answer(200, [], b"<html>It works!</html>"), False),
        (Answer(404, [], b"Not Found"), False),
        (Answer(401, [], b"go away"), False),
        (Answer(302, [("Location", "/login")], b""), False),
    ],
)
def test_the_v2_check_tells_registries_from_other_servers(
    fake_registry: Callable[[Responder], int], answer: Answer, registry: bool
) -> None:
    port = fake_registry(lambda _: answer)
    client = RegistryClient(f"localhost:{port}", timeout=5, retries=0)
    if registry:
        client.check_registry()
    else:
        with pytest.raises(Unavailable, match="is not an OCI registry"):
            client.check_registry()


# --- anything at all: only typed errors -----------------------------------------------------------

_HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
_REGISTRY_KEYS = ("tags", "errors", "layers", "config", "mediaType", "annotations", "manifests", "token")
_BODIES = st.one_of(
    st.binary(max_size=200),
    _JSON.map(lambda value: json.dumps(value).encode()),
    st.dictionaries(st.sampled_from(_REGISTRY_KEYS), _JSON, max_size=4).map(
        lambda value: json.dumps(value).encode()
    ),
    st.integers(1, 5000).map(lambda depth: b"[" * depth + b"]" * depth),  # deeper than the parser goes
)
_HEADERS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "Docker-Distribution-API-Version",
                "Docker-Content-Digest",
                "Content-Type",
                "Location",
                "Link",
                "Retry-After",
                "WWW-Authenticate",
                "Content-Encoding",
            ]
        ),
        st.one_of(
            _HEADER_TEXT,
            st.sampled_from(
                [
                    "registry/2.0",
                    '</v2/t/app/tags/list?n=1>; rel="next"',
                    "<http://127.0.0.1:1/x>; rel=next",
                    "http://127.0.0.1:1/upload",
                    "/v2/t/app/blobs/uploads/x?_state=1",
                    'Bearer realm="http://127.0.0.1:1/token",scope="x"',
                    'Bearer realm="nonsense"',
                    "Basic",
                    "gzip",
                    "999999",
                    "application/vnd.oci.image.index.v1+json",
                ]
            ),
        ),
    ),
    max_size=5,
)
_ANSWERS = st.builds(
    Answer,
    status=st.one_of(
        st.sampled_from([200, 201, 202, 204, 307, 400, 401, 403, 404, 405, 429, 500, 503]),
        st.integers(200, 599),
    ),
    headers=_HEADERS,
    body=_BODIES,
    truncate=st.booleans(),
)
_DIGEST = "sha256:" + "0" * 64


def _operations(client: RegistryClient) -> list[Callable[[], object]]:
    return [
        client.check_registry,
        lambda: client.list_tags("t/app"),
        lambda: client.get_manifest("t/app", "0.1.0"),
        lambda: client.get_manifest("t/app", _DIGEST),
        lambda: client.blob_exists("t/app", _DIGEST),
        lambda: client.get_blob("t/app", _DIGEST),
        lambda: client.upload_blob("t/app", _DIGEST, b"data"),
        lambda: client.put_manifest("t/app", "0.1.0", b"{}"),
        lambda: client.delete_manifest("t/app", _DIGEST),
    ]


@pytest.fixture(scope="module")
def scripted_registry() -> Iterator[tuple[int, list[Answer]]]:
    """One server for every example: it answers with the first of the scripted answers, forever."""
    script = [Answer()]
    server = serve(lambda _: script[0])
    try:
        yield server.server_address[1], script
    finally:
        server.shutdown()
        server.server_close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answer=_ANSWERS, operation=st.integers(0, 8))
def test_any_answer_to_any_operation_is_a_result_or_a_typed_error(
    scripted_registry: tuple[int, list[Answer]], answer: Answer, operation: int
) -> None:
    port, script = scripted_registry
    script[0] = answer
    client = RegistryClient(f"localhost:{port}", timeout=2, retries=1, backoff_seconds=0.01)
    with client, contextlib.suppress(KsailError):
        _operations(client)[operation]()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answer=_ANSWERS, command=st.sampled_from(["push", "list", "diff"]))
def test_any_answer_to_a_workload_command_is_a_result_or_a_typed_error(
    scripted_registry: tuple[int, list[Answer]],
    tmp_path_factory: pytest.TempPathFactory,
    answer: Answer,
    command: str,
) -> None:
    port, script = scripted_registry
    script[0] = answer
    config = load_config(_project(tmp_path_factory.mktemp("project"), port))
    commands: dict[str, Callable[[ClusterConfig], object]] = {
        "push": push_workload,
        "list": list_versions,
        "diff": diff_workload,
    }
    run = commands[command]
    with registry_deadline(2), contextlib.suppress(KsailError):
        run(config)


def test_a_layer_that_expands_past_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # A pushed version may come from anyone who can push: its layer may be a gzip bomb.
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        member = tarfile.TarInfo("big.yaml")
        member.size = 4096
        archive.addfile(member, io.BytesIO(b"\0" * member.size))
    monkeypatch.setattr(artifact_format, "MAX_LAYER_CONTENT_BYTES", 1024)

    with pytest.raises(InvalidInput, match="expands to more than"):
        artifact_format.read_layer_files(gzip.compress(buffer.getvalue()))


@pytest.mark.parametrize(
    "entry",
    [{"username": 1, "password": ["x"]}, {"username": "u", "password": {"a": 1}}, {"auth": None}, "text"],
)
def test_odd_docker_config_entries_are_no_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: object
) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"registry.example": entry}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.delenv("KSAIL_REGISTRY_USERNAME", raising=False)

    assert find_credentials("registry.example") is None


def test_an_auth_that_is_not_base64_is_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"registry.example": {"auth": 12345}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.delenv("KSAIL_REGISTRY_USERNAME", raising=False)

    with pytest.raises(InvalidInput, match="is not user:password in base64"):
        find_credentials("registry.example")


def test_a_manifest_larger_than_the_spec_allows_is_refused(fake_registry: Callable[[Responder], int]) -> None:
    def answer(request: BaseHTTPRequestHandler) -> Answer:
        if request.path == "/v2/":
            return Answer(200, [API_VERSION], b"{}")
        return Answer(200, [API_VERSION], b" " * (5 * 1024 * 1024))

    port = fake_registry(answer)

    with pytest.raises(OperationFailed, match="sent more than 4 MiB"):
        RegistryClient(f"localhost:{port}", timeout=10).get_manifest("t/app", "0.1.0")
