"""The registry client's transport: kept-alive connections, redirects, bodies cut short, proxies."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ksail_tui.oci.http_session import HttpSession, Unreachable, Unreadable

seen: list[tuple[str, str, str | None, int]] = []  # method, path, Authorization, client port


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    other_port = 0

    def log_message(self, *_: object) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        seen.append((self.command, self.path, self.headers.get("Authorization"), self.client_address[1]))
        if self.path == "/elsewhere":
            self._send(307, b"", [("Location", f"http://127.0.0.1:{type(self).other_port}/landed")])
        elif self.path == "/see-other":
            self._send(303, b"", [("Location", "/landed")])
        elif self.path == "/loop":
            self._send(302, b"", [("Location", "/loop")])
        elif self.path == "/short":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"only this")
            self.close_connection = True
        else:
            self._send(200, b"body of " + self.path.encode(), [])

    def _send(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _answer


def _serve() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


@pytest.fixture
def servers() -> Iterator[tuple[int, int]]:
    first, second = _serve(), _serve()
    _Handler.other_port = second.server_address[1]
    seen.clear()
    yield first.server_address[1], second.server_address[1]
    for server in (first, second):
        server.shutdown()
        server.server_close()


def _get(session: HttpSession, url: str, method: str = "GET", **headers: str) -> tuple[int, bytes]:
    response = session.request(method, url, headers=headers, connect_timeout=3, read_timeout=3)
    return response.status_code, response.content


def test_requests_in_turn_share_one_kept_alive_connection(servers: tuple[int, int]) -> None:
    port, _ = servers
    session = HttpSession()
    for index in range(5):
        assert _get(session, f"http://127.0.0.1:{port}/v2/{index}") == (200, f"body of /v2/{index}".encode())
    assert len({client_port for *_, client_port in seen}) == 1
    session.close()


def test_a_connection_the_server_closed_is_not_reused(servers: tuple[int, int]) -> None:
    port, _ = servers
    session = HttpSession()
    _get(session, f"http://127.0.0.1:{port}/a")
    for connections in session._idle.values():  # the server's idle timeout, as it would close it
        for connection in connections:
            assert connection.sock is not None
            connection.sock.shutdown(2)
    assert _get(session, f"http://127.0.0.1:{port}/b") == (200, b"body of /b")


def test_a_redirect_to_another_server_does_not_carry_the_credentials(servers: tuple[int, int]) -> None:
    port, _ = servers
    session = HttpSession()
    assert _get(session, f"http://127.0.0.1:{port}/elsewhere", Authorization="Bearer secret") == (
        200,
        b"body of /landed",
    )
    assert seen == [
        ("GET", "/elsewhere", "Bearer secret", seen[0][3]),
        ("GET", "/landed", None, seen[1][3]),
    ]
    seen.clear()
    assert _get(session, f"http://127.0.0.1:{port}/see-other", "POST", Authorization="Basic x")[0] == 200
    assert [(method, path, auth) for method, path, auth, _ in seen] == [
        ("POST", "/see-other", "Basic x"),
        ("GET", "/landed", "Basic x"),  # the same server: a 303 is followed with a GET
    ]


def test_a_redirect_loop_and_a_body_cut_short_are_unreadable(servers: tuple[int, int]) -> None:
    port, _ = servers
    session = HttpSession()
    with pytest.raises(Unreadable, match="more than 30 redirects"):
        _get(session, f"http://127.0.0.1:{port}/loop")
    with pytest.raises(Unreadable, match="91 bytes before its Content-Length"):
        _get(session, f"http://127.0.0.1:{port}/short")


def test_a_port_nobody_listens_on_is_unreachable() -> None:
    with pytest.raises(Unreachable, match="connection refused"):
        _get(HttpSession(), "http://127.0.0.1:1/v2/")


def test_a_registry_off_this_machine_goes_through_the_named_http_proxy(
    servers: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, _ = servers
    monkeypatch.setenv("http_proxy", f"http://user:pw@127.0.0.1:{port}")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert _get(HttpSession(), "http://registry.example:5000/v2/")[0] == 200
    assert seen[0][1] == "http://registry.example:5000/v2/"  # the proxy got the whole URL
