"""The registry lifecycle, the same for both backends: a real registry, real pushes, real restarts."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from ksail_tui.cli.main import main
from ksail_tui.errors import InvalidInput
from ksail_tui.models import RegistryStatus
from ksail_tui.registry.health import probe
from tests.fixtures.registry_env import RegistrySetup
from tests.fixtures.registry_push import blob_exists, delete_manifest, manifest_exists, push_artifact


def docker_volume_exists(name: str) -> bool:
    import docker
    from docker.errors import NotFound

    client = docker.from_env()
    try:
        client.volumes.get(name)
        return True
    except NotFound:
        return False
    finally:
        client.close()


def test_artifacts_survive_down_and_up(registry_setup: RegistrySetup, registry_backend: str) -> None:
    service = registry_setup.service(registry_backend)
    endpoint = registry_setup.config.registry_endpoint

    registry = service.up()
    assert registry.status is RegistryStatus.RUNNING
    assert registry.backend == registry_backend
    pushed = push_artifact(endpoint, "t/app", "0.1.0", b"layer one")

    stopped = service.down()
    assert stopped.status is RegistryStatus.NOT_PROVISIONED
    assert probe(registry.port) is not None

    assert service.up().status is RegistryStatus.RUNNING
    assert manifest_exists(endpoint, "t/app", "0.1.0")
    assert blob_exists(endpoint, "t/app", pushed.layer_digest)


def test_up_is_idempotent_and_reports_progress(registry_setup: RegistrySetup, registry_backend: str) -> None:
    first = registry_setup.service(registry_backend).up()
    again = registry_setup.service(registry_backend).up()

    assert again == first
    assert any(message.startswith("adopting the running") for message in registry_setup.progress)
    assert any(
        message.startswith("waiting for the registry to answer") for message in registry_setup.progress
    )


def test_rm_keeps_the_data_and_rm_purge_deletes_it(
    registry_setup: RegistrySetup, registry_backend: str
) -> None:
    service = registry_setup.service(registry_backend)
    endpoint = registry_setup.config.registry_endpoint
    service.up()
    push_artifact(endpoint, "t/app", "0.1.0", b"kept")

    # Removing the container (or the process files) and provisioning anew keeps the artifacts.
    assert service.remove(purge=False).status is RegistryStatus.NOT_PROVISIONED
    service.up()
    assert manifest_exists(endpoint, "t/app", "0.1.0")

    assert service.remove(purge=True).status is RegistryStatus.NOT_PROVISIONED
    if registry_backend == "docker":
        assert not docker_volume_exists(service.backend.storage)
    else:
        assert not Path(service.backend.storage).exists()
    service.up()
    assert not manifest_exists(endpoint, "t/app", "0.1.0")


def test_a_port_held_by_another_process_is_refused_and_named(
    registry_setup: RegistrySetup, registry_backend: str
) -> None:
    port = registry_setup.config.registry.port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(InvalidInput) as caught:
            registry_setup.service(registry_backend).up()

    message = str(caught.value)
    assert f"port {port} on 127.0.0.1 is already in use by process {os.getpid()}" in message
    assert "localRegistry.port" in message
    assert registry_setup.service(registry_backend).status().status is RegistryStatus.NOT_PROVISIONED


def test_garbage_collection_reclaims_deleted_artifacts(
    registry_setup: RegistrySetup, registry_backend: str
) -> None:
    service = registry_setup.service(registry_backend)
    endpoint = registry_setup.config.registry_endpoint
    service.up()
    deleted = push_artifact(endpoint, "t/app", "0.1.0", os.urandom(256 * 1024))
    kept = push_artifact(endpoint, "t/app", "0.2.0", os.urandom(1024))
    delete_manifest(endpoint, "t/app", deleted.manifest_digest)
    # Deleting a manifest alone frees nothing: its blobs stay until garbage collection.
    assert blob_exists(endpoint, "t/app", deleted.layer_digest)

    report = service.garbage_collect()

    assert "eligible for deletion" in report
    assert service.status().status is RegistryStatus.RUNNING
    assert not blob_exists(endpoint, "t/app", deleted.layer_digest)
    assert manifest_exists(endpoint, "t/app", "0.2.0")
    assert blob_exists(endpoint, "t/app", kept.layer_digest)


def test_garbage_collection_of_an_empty_registry_is_a_no_op(
    registry_setup: RegistrySetup, registry_backend: str
) -> None:
    service = registry_setup.service(registry_backend)
    service.up()

    assert service.garbage_collect() == "nothing to collect: the registry holds no repositories yet"
    assert service.status().status is RegistryStatus.RUNNING


def test_status_json_shows_both_endpoints(
    registry_setup: RegistrySetup, registry_backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = ["-c", str(registry_setup.config_path), "--backend", registry_backend]
    cli += ["--data-dir", str(registry_setup.data_dir)]
    assert main(["registry", "up", *cli]) == 0
    capsys.readouterr()

    assert main(["registry", "status", "-o", "json", *cli]) == 0

    shown = json.loads(capsys.readouterr().out)
    config = registry_setup.config
    assert shown["status"] == "Running"
    assert shown["endpoint"] == f"localhost:{config.registry.port}"
    assert shown["cluster_endpoint"] == f"{config.name}-registry:5000"
    assert shown["backend"] == registry_backend


def test_cli_rm_purge_then_status_says_not_provisioned(
    registry_setup: RegistrySetup, registry_backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = ["-c", str(registry_setup.config_path), "--backend", registry_backend]
    cli += ["--data-dir", str(registry_setup.data_dir)]
    assert main(["registry", "up", *cli]) == 0
    assert main(["registry", "rm", "--purge", "--yes", *cli]) == 0
    capsys.readouterr()

    assert main(["registry", "status", *cli]) == 0
    assert "NotProvisioned" in capsys.readouterr().out
