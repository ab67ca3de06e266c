"""What the real test registry cannot show: Link pagination, bearer-token challenges, retries, credentials."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ksail_tui.oci.registry_client import RegistryClient, find_credentials


class FakeRegistry(BaseHTTPRequestHandler):
    """Three pages of tags behind a bearer token, with one 503 on the way."""

    token_requests: list[str] = []
    failures_left = 0

    def log_message(self, *_: object) -> None:  # keep the test output clean
        pass

    def _send(self, status: int, body: dict[str, object], headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        host = self.headers["Host"]
        if self.path.startswith("/token"):
            FakeRegistry.token_requests.append(self.headers.get("Authorization", ""))
            self._send(200, {"token": "t0k3n"})
        elif self.headers.get("Authorization") != "Bearer t0k3n":
            challenge = f'Bearer realm="http://{host}/token",service="fake",scope="repository:app:pull"'
            self._send(401, {"errors": [{"code": "UNAUTHORIZED"}]}, {"WWW-Authenticate": challenge})
        elif FakeRegistry.failures_left > 0:
            FakeRegistry.failures_left -= 1
            self._send(503, {"errors": [{"code": "UNAVAILABLE"}]})
        elif self.path == "/v2/app/tags/list":
            self._send(
                200, {"tags": ["1.0.0", "1.1.0"]}, {"Link": '</v2/app/tags/list?last=1.1.0&n=2>; rel="next"'}
            )
        elif self.path == "/v2/app/tags/list?last=1.1.0&n=2":
            self._send(
                200,
                {"tags": ["2.0.0", "latest"]},
                {"Link": '</v2/app/tags/list?last=latest&n=2>; rel="next"'},
            )
        else:
            self._send(200, {"tags": ["3.0.0"]})


@pytest.fixture
def fake_registry() -> Iterator[str]:
    FakeRegistry.token_requests = []
    FakeRegistry.failures_left = 1
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeRegistry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_tags_follow_link_pagination_behind_a_bearer_token_and_a_retry(fake_registry: str) -> None:
    with RegistryClient(fake_registry, credentials=("user", "pass"), backoff_seconds=0.01) as client:
        assert client.list_tags("app") == ["1.0.0", "1.1.0", "2.0.0", "latest", "3.0.0"]
    expected_basic = "Basic " + base64.b64encode(b"user:pass").decode()
    assert FakeRegistry.token_requests == [expected_basic]  # one token, reused for every page


def test_credentials_come_from_the_environment_first_then_the_docker_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = base64.b64encode(b"docker-user:docker-secret").decode()
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"https://ghcr.io": {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.delenv("KSAIL_REGISTRY_USERNAME", raising=False)
    monkeypatch.delenv("KSAIL_REGISTRY_PASSWORD", raising=False)
    assert find_credentials("ghcr.io") == ("docker-user", "docker-secret")
    assert find_credentials("harbor.example.com") is None
    monkeypatch.setenv("KSAIL_REGISTRY_USERNAME", "env-user")
    monkeypatch.setenv("KSAIL_REGISTRY_PASSWORD", "env-secret")
    assert find_credentials("ghcr.io") == ("env-user", "env-secret")


def test_only_loopback_endpoints_use_plain_http() -> None:
    assert RegistryClient("localhost:5050").base_url == "http://localhost:5050"
    assert RegistryClient("[::1]:5050").base_url == "http://[::1]:5050"
    assert RegistryClient("ghcr.io").base_url == "https://ghcr.io"
