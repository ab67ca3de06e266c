"""Two `workload push` of one version at once, against the real registry: versions stay immutable."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from tests.fixtures.registry import RegistryProcess, write_ksail_config
from tests.fixtures.registry_push import MANIFEST_MEDIA_TYPE

pytestmark = pytest.mark.needs_registry

_TAG_PUT = re.compile(r"^/v2/.+/manifests/(?!sha256:)[^/]+$")
# How long the proxy holds a tag PUT waiting for a second one; a push that waits for the other
# one to finish never sends it, and then the first goes through alone.
_HOLD_SECONDS = 3.0
_HOP_BY_HOP = {"connection", "transfer-encoding", "keep-alive", "content-length", "content-encoding"}


def _proxy_to(upstream: str) -> ThreadingHTTPServer:
    """A proxy to the registry that holds tag PUTs until two have arrived, so both pushes race."""
    barrier = threading.Barrier(2, timeout=_HOLD_SECONDS)

    class Proxy(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:
            pass

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.command == "PUT" and _TAG_PUT.match(self.path.split("?")[0]):
                with contextlib.suppress(threading.BrokenBarrierError):
                    barrier.wait()
            headers = {key: value for key, value in self.headers.items() if key.lower() != "content-length"}
            answer = requests.request(
                self.command,
                f"http://{upstream}{self.path}",
                headers=headers,
                data=body,
                allow_redirects=False,
                timeout=10,
            )
            self.send_response(answer.status_code)
            for key, value in answer.headers.items():
                if key.lower() not in _HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.content)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

    server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def racing_proxy(registry_process: RegistryProcess) -> Iterator[int]:
    server = _proxy_to(registry_process.endpoint)
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _project(root: Path, port: int, content: str) -> Path:
    (root / "app").mkdir(parents=True)
    (root / "app" / "cm.yaml").write_text(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\ndata: {{v: {content}}}\n"
    )
    return write_ksail_config(root, port=port, workloads={"app": "app"})


def _tag_digest(endpoint: str) -> str:
    response = requests.get(
        f"http://{endpoint}/v2/oci/app/manifests/0.1.0", headers={"Accept": MANIFEST_MEDIA_TYPE}, timeout=10
    )
    assert response.status_code == 200
    return response.headers["Docker-Content-Digest"]


@pytest.mark.parametrize("contents", [("one", "two"), ("same", "same")], ids=["different", "same"])
@pytest.mark.parametrize("machines", ["one-machine", "two-machines"])
def test_concurrent_pushes_of_one_version_never_both_claim_it(
    tmp_path: Path,
    registry_process: RegistryProcess,
    racing_proxy: int,
    contents: tuple[str, str],
    machines: str,
) -> None:
    configs = [
        _project(tmp_path / f"p{index}", racing_proxy, content) for index, content in enumerate(contents)
    ]
    # Each push is its own process, as two terminals would run them; on two machines they share
    # no lock, and only reading the tag back can tell.
    runtime_dirs = ["run", "run"] if machines == "one-machine" else ["run-a", "run-b"]
    pushes = [
        subprocess.Popen(
            [sys.executable, "-m", "ksail_tui", "-c", str(config), "-o", "json", "workload", "push"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "XDG_RUNTIME_DIR": str(tmp_path / runtime_dir)},
        )
        for config, runtime_dir in zip(configs, runtime_dirs, strict=True)
    ]
    results = [(push.wait(timeout=60), push.stdout.read(), push.stderr.read()) for push in pushes]  # type: ignore[union-attr]

    held = _tag_digest(registry_process.endpoint)
    succeeded = [json.loads(out) for code, out, _ in results if code == 0]
    assert succeeded, results
    for result in succeeded:
        assert result["digest"] == held, "a push reported a digest the tag does not hold"
    # With -o json an error is {"error", "hint", "exit"} on stdout; stderr keeps only progress.
    failed = [(code, out, err) for code, out, err in results if code != 0]
    if contents[0] != contents[1]:
        assert len(succeeded) == 1
        ((code, out, err),) = failed
        assert code == 1
        assert "immutable" in json.loads(out)["error"]
        assert "internal error" not in out + err
    else:
        assert not failed  # the same content again is nothing to do
