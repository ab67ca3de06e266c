"""oras, an OCI client independent of ksail-tui, reads what ksail-tui pushed, byte for byte."""

from __future__ import annotations

import hashlib
from pathlib import Path

import oras.provider
import pytest

from ksail_tui.config import ClusterConfig, load_config
from ksail_tui.oci.build import build_workload
from ksail_tui.oci.service import push_workload
from tests.fixtures.registry import RegistryProcess, write_ksail_config

pytestmark = pytest.mark.needs_registry


@pytest.fixture
def project(tmp_path: Path, registry_process: RegistryProcess) -> tuple[Path, ClusterConfig]:
    source = tmp_path / "app"
    source.mkdir()
    (source / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v}\n")
    path = write_ksail_config(tmp_path, port=registry_process.port, workloads={"app": "app"})
    return path, load_config(path)


def test_oras_pulls_the_manifest_and_layer_ksail_tui_pushed(
    project: tuple[Path, ClusterConfig],
) -> None:
    _, config = project
    result = push_workload(config, "app")
    built = build_workload(config, "app")
    registry = oras.provider.Registry(hostname=config.registry_endpoint, insecure=True)
    container = f"{config.registry_endpoint}/{result.artifact.repository}:{result.artifact.tag}"
    manifest = registry.get_manifest(container)
    assert manifest["config"]["mediaType"] == "application/vnd.cncf.flux.config.v1+json"
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.cncf.flux.content.v1.tar+gzip"
    assert layer["digest"] == built.layer_digest  # reproducible: a rebuild matches the pushed layer
    blob = registry.get_blob(container, layer["digest"]).content
    assert "sha256:" + hashlib.sha256(blob).hexdigest() == layer["digest"]
    assert blob == built.layer
