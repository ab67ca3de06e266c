"""What the real test registry cannot show: Link pagination, bearer-token challenges, retries, credentials."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ksail_tui.cli.main import main
from ksail_tui.errors import InvalidInput
from ksail_tui.oci.registry_client import RegistryClient, RemoteManifest, find_credentials
from tests.fixtures.registry import RegistryProcess, write_ksail_config
from tests.fixtures.registry_push import push_artifact


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


class ForeignServer(BaseHTTPRequestHandler):
    """Some other web server on the registry's port: 200 with ``body`` to every request."""

    body = b""

    def log_message(self, *_: object) -> None:
        pass

    def _answer(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(self.body)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _answer


@pytest.mark.parametrize("body", [b"<html>welcome</html>", b"[1, 2]", b'"text"'])
@pytest.mark.parametrize("command", [["push"], ["list"], ["diff"], ["prune", "--keep", "1", "--yes"]])
def test_a_server_that_is_no_registry_is_a_clear_failure(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    body: bytes,
    command: list[str],
) -> None:
    monkeypatch.setattr(ForeignServer, "body", body)
    monkeypatch.setattr("ksail_tui.flux.references.cluster_references", lambda *_: ())
    server = ThreadingHTTPServer(("127.0.0.1", 0), ForeignServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        (tmp_path / "app").mkdir()
        (tmp_path / "app" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
        config = write_ksail_config(tmp_path, port=server.server_address[1], workloads={"app": "app"})
        code = main(["-c", str(config), "workload", *command])
    finally:
        server.shutdown()
        server.server_close()
    error = capsys.readouterr().err
    assert code == 4
    assert f"the server at localhost:{server.server_address[1]} is not an OCI registry" in error
    assert "internal error" not in error


def test_malformed_manifest_fields_are_left_out_not_fatal() -> None:
    manifest = RemoteManifest(
        "sha256:x",
        "",
        b"{}",
        {"annotations": {"a": "b", "n": 1}, "layers": [1, {"digest": "sha256:" + "a" * 64, "size": "big"}]},
    )
    assert manifest.annotations == {"a": "b"}
    assert manifest.layer_digest == "sha256:" + "a" * 64
    # A digest becomes part of a blob URL: anything else is no digest at all.
    for hostile in ("sha256:l", "../../v2/_catalog", 42):
        assert RemoteManifest("sha256:x", "", b"{}", {"layers": [{"digest": hostile}]}).layer_digest is None
    assert manifest.size == 2


@pytest.mark.parametrize(
    "docker_config",
    ['["not", "an", "object"]', '{"auths": ["ghcr.io"], "credHelpers": "x"}', '{"auths": {"ghcr.io": 1}}'],
)
def test_a_docker_config_of_another_shape_has_no_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, docker_config: str
) -> None:
    (tmp_path / "config.json").write_text(docker_config)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.delenv("KSAIL_REGISTRY_USERNAME", raising=False)
    assert find_credentials("ghcr.io") is None


def test_a_broken_auth_in_the_docker_config_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"ghcr.io": {"auth": "abc"}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.delenv("KSAIL_REGISTRY_USERNAME", raising=False)
    with pytest.raises(InvalidInput, match=r"the auth of ghcr\.io in .*config\.json is not user:password"):
        find_credentials("ghcr.io")


@pytest.mark.needs_registry
def test_a_head_of_a_manifest_names_its_digest_or_none(registry_process: RegistryProcess) -> None:
    pushed = push_artifact(registry_process.endpoint, "shop/web", "abc", b"layer")
    with RegistryClient(registry_process.endpoint) as registry:
        assert registry.manifest_digest("shop/web", "abc") == pushed.manifest_digest
        assert registry.manifest_digest("shop/web", "missing") is None
        assert registry.manifest_digest("shop/none", "abc") is None
