"""A push sends the layer into an upload session while it builds (issue 18), against the real registry.

FR-017 holds: the session is committed only after every document validated; a failed build cancels
it, and leaves no tag, no manifest and no blob of its layer. A streamed push stores the artifact the
unstreamed build makes, byte for byte.
"""

from __future__ import annotations

import json
import random
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from ksail_tui.config import ClusterConfig, load_config
from ksail_tui.errors import InvalidInput, OperationFailed
from ksail_tui.oci import build as build_module
from ksail_tui.oci import layer_upload
from ksail_tui.oci.artifact_format import (
    CONFIG_MEDIA_TYPE,
    CONTENT_MEDIA_TYPE,
    CREATED_ANNOTATION,
    MANIFEST_MEDIA_TYPE,
    REQUIRED_ANNOTATIONS,
    sha256_digest,
)
from ksail_tui.oci.build import build_artifact
from ksail_tui.oci.registry_client import RegistryClient
from ksail_tui.oci.service import push_workload
from tests.fixtures.registry import RegistryProcess, write_ksail_config
from tests.fixtures.registry_push import blob_exists, manifest_exists

pytestmark = pytest.mark.needs_registry

REPOSITORY = "oci/app"
CHUNK = 16 * 1024  # small chunks, so that a tree of a few hundred KiB is sent in many


def configmap(name: str, rng: random.Random) -> str:
    # Random hex values: the layer compresses little, so it spans many chunks.
    values = "".join(f"  key{index}: '{rng.randbytes(48).hex()}'\n" for index in range(40))
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n{values}"


def make_tree(source: Path, files: int = 60) -> None:
    rng = random.Random(18)
    for index in range(files):
        folder = source / f"team{index % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"cm-{index:03d}.yaml").write_text(configmap(f"cm-{index}", rng))


@pytest.fixture
def project(tmp_path: Path, registry_process: RegistryProcess) -> tuple[Path, ClusterConfig]:
    make_tree(tmp_path / "app")
    path = write_ksail_config(tmp_path, port=registry_process.port, workloads={"app": "app"})
    return tmp_path / "app", load_config(path)


@pytest.fixture
def requests_seen(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The upload requests of the push, in order, with small chunks."""
    monkeypatch.setattr(layer_upload, "CHUNK_BYTES", CHUNK)
    monkeypatch.setattr(build_module, "_BLOCK_BYTES", 2 * CHUNK)  # the tar goes to gzip in small pieces too
    # A tree this small builds before the registry's first answer; the layer is held until then, so
    # the first write waits for it here, as a large tree's build does by taking longer.
    original_write = layer_upload.LayerUpload.write

    def write_once_checked(self: layer_upload.LayerUpload, data: bytes) -> None:
        self._checked.wait()
        original_write(self, data)

    monkeypatch.setattr(layer_upload.LayerUpload, "write", write_once_checked)
    seen: list[str] = []
    for method in ("start_upload", "upload_chunk", "finish_upload", "cancel_upload", "upload_blob"):
        original = getattr(RegistryClient, method)

        def spy(self: RegistryClient, *args: Any, _name: str = method, _original: Any = original) -> Any:
            seen.append(_name)
            return _original(self, *args)

        monkeypatch.setattr(RegistryClient, method, spy)
    return seen


def uploads_left(registry: RegistryProcess) -> list[Path]:
    """The bytes of upload sessions the registry still keeps. (A cancelled session's folder stays
    behind with its hash state, without its data.)"""
    return list(registry.root.rglob("_uploads/*/data"))


def test_a_failed_validation_cancels_the_streamed_upload_and_leaves_nothing(
    project: tuple[Path, ClusterConfig], registry_process: RegistryProcess, requests_seen: list[str]
) -> None:
    source, config = project
    bad = source / "zz" / "bad.yaml"  # last in Flux's order: most of the layer is sent before it
    bad.parent.mkdir()
    bad.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n")
    layer_digest = build_artifact(source, version="0.1.0", validate_manifests=False).layer_digest

    with pytest.raises(InvalidInput) as raised:
        push_workload(config, "app")

    assert "zz/bad.yaml:5: not valid YAML" in raised.value.message
    assert requests_seen.count("upload_chunk") >= 1  # it was streaming when the build failed
    assert "finish_upload" not in requests_seen and requests_seen[-1] == "cancel_upload"
    endpoint = registry_process.endpoint
    assert not manifest_exists(endpoint, REPOSITORY, "0.1.0")
    assert not blob_exists(endpoint, REPOSITORY, layer_digest)
    tags = requests.get(f"http://{endpoint}/v2/{REPOSITORY}/tags/list", timeout=5)
    assert tags.status_code == 404 or not tags.json().get("tags")
    assert uploads_left(registry_process) == []


def test_a_streamed_push_stores_the_artifact_the_unstreamed_build_makes(
    project: tuple[Path, ClusterConfig], registry_process: RegistryProcess, requests_seen: list[str]
) -> None:
    source, config = project

    result = push_workload(config, "app")

    assert requests_seen[0] == "start_upload" and requests_seen.count("finish_upload") == 1
    assert requests_seen[-2:] == ["upload_blob", "start_upload"]  # the config blob, after the layer
    assert requests_seen.count("upload_chunk") >= 3
    with RegistryClient(registry_process.endpoint) as client:
        stored = client.get_manifest(REPOSITORY, "0.1.0")
        assert stored is not None
        layer = client.get_blob(REPOSITORY, result.artifact.layer_digest or "")
    created = datetime.fromisoformat(stored.annotations[CREATED_ANNOTATION])
    unstreamed = build_artifact(source, version="0.1.0", created=created)
    assert unstreamed.layer == layer
    assert stored.raw == unstreamed.manifest  # the same manifest digest, so the same artifact
    assert stored.digest == result.artifact.digest == unstreamed.manifest_digest
    # Flux's format: its media types, the four annotations, one tar+gzip layer.
    manifest = json.loads(stored.raw)
    assert manifest["mediaType"] == MANIFEST_MEDIA_TYPE
    assert manifest["config"] == {"mediaType": CONFIG_MEDIA_TYPE, "digest": sha256_digest(b"{}"), "size": 2}
    assert manifest["layers"] == [
        {"mediaType": CONTENT_MEDIA_TYPE, "digest": sha256_digest(layer), "size": len(layer)}
    ]
    assert set(manifest["annotations"]) == set(REQUIRED_ANNOTATIONS)
    assert layer[:3] == b"\x1f\x8b\x08"
    assert uploads_left(registry_process) == []


def test_content_the_registry_has_is_not_committed_again_and_a_pushed_version_is_not_sent(
    project: tuple[Path, ClusterConfig], registry_process: RegistryProcess, requests_seen: list[str]
) -> None:
    _, config = project
    first = push_workload(config, "app")
    requests_seen.clear()

    again = push_workload(config, "app", version="0.2.0")  # the same content as a new version

    assert again.pushed and again.artifact.layer_digest == first.artifact.layer_digest
    assert "finish_upload" not in requests_seen and "cancel_upload" in requests_seen
    assert uploads_left(registry_process) == []
    requests_seen.clear()

    same = push_workload(config, "app", version="0.2.0")  # the version holds this content already

    assert not same.pushed and requests_seen == []  # nothing was sent at all


def test_a_small_layer_goes_whole_after_the_build(
    tmp_path: Path, registry_process: RegistryProcess, requests_seen: list[str]
) -> None:
    make_tree(tmp_path / "app", files=1)
    config = load_config(write_ksail_config(tmp_path, port=registry_process.port, workloads={"app": "app"}))

    push_workload(config, "app")

    # the layer, then the config blob, each in one POST and one PUT, as before sessions were streamed
    assert requests_seen == ["upload_blob", "start_upload"] * 2


def test_a_registry_failure_while_streaming_cancels_and_says_so(
    project: tuple[Path, ClusterConfig],
    registry_process: RegistryProcess,
    requests_seen: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, config = project
    chunks = 0
    original = RegistryClient.upload_chunk

    def failing(self: RegistryClient, location: str, offset: int, data: bytes) -> str:
        nonlocal chunks
        chunks += 1
        if chunks == 2:
            raise OperationFailed("cannot send a chunk of the upload: HTTP 500")
        return original(self, location, offset, data)

    monkeypatch.setattr(RegistryClient, "upload_chunk", failing)

    with pytest.raises(OperationFailed, match="HTTP 500"):
        push_workload(config, "app")

    assert chunks == 2  # the chunks after the failure were not sent
    assert not manifest_exists(registry_process.endpoint, REPOSITORY, "0.1.0")
    assert uploads_left(registry_process) == []
