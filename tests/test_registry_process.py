"""The process backend: the registry binary on 127.0.0.1, for machines without Docker."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from ksail_tui.cli.main import main
from ksail_tui.errors import InvalidInput
from ksail_tui.models import RegistryStatus
from ksail_tui.registry.ports import listening_socket_inodes
from ksail_tui.registry.service import purge_registry
from tests.fixtures.registry_env import RegistrySetup, free_port
from tests.fixtures.registry_push import manifest_exists, push_artifact

pytestmark = pytest.mark.needs_registry

LOOPBACK_HEX = "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it


def listening_addresses(port: int) -> list[tuple[str, str]]:
    """(table, local address) of every socket listening on ``port``, from /proc/net/tcp{,6}."""
    found = []
    for table in ("tcp", "tcp6"):
        for line in Path("/proc/net", table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if fields[3] == "0A" and int(hex_port, 16) == port:
                found.append((table, address))
    return found


def recorded_pid(setup: RegistrySetup) -> int:
    return int((setup.data_dir / "registry.pid").read_text())


def test_listens_on_loopback_only_even_when_the_environment_says_otherwise(
    registry_setup: RegistrySetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = registry_setup.config.registry.port
    # The registry reads REGISTRY_* overrides; the backend must not pass this one through.
    monkeypatch.setenv("REGISTRY_HTTP_ADDR", f":{port}")

    registry_setup.service("process").up()

    assert listening_addresses(port) == [("tcp", LOOPBACK_HEX)]
    assert listening_socket_inodes(port)
    assert f"addr: 127.0.0.1:{port}" in (registry_setup.data_dir / "config.yml").read_text()


def test_a_second_service_adopts_the_live_process(registry_setup: RegistrySetup) -> None:
    registry_setup.service("process").up()
    pid = recorded_pid(registry_setup)

    registry_setup.service("process").up()

    assert recorded_pid(registry_setup) == pid
    assert f"adopting the running registry process {pid}" in registry_setup.progress


def test_a_crash_shows_as_error_and_up_recovers(registry_setup: RegistrySetup) -> None:
    service = registry_setup.service("process")
    registry = service.up()
    push_artifact(registry.endpoint, "t/app", "0.1.0", b"kept")
    pid = recorded_pid(registry_setup)

    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while service.status().status is RegistryStatus.RUNNING and time.monotonic() < deadline:
        time.sleep(0.1)
    crashed = service.status()

    assert crashed.status is RegistryStatus.ERROR
    assert f"the registry process {pid} has exited" in (crashed.last_error or "")
    assert service.up().status is RegistryStatus.RUNNING
    assert manifest_exists(registry.endpoint, "t/app", "0.1.0")


def test_a_changed_port_restarts_the_process_there(registry_setup: RegistrySetup) -> None:
    registry_setup.service("process").up()
    new_port = free_port()
    registry_setup.rewrite(port=new_port)

    registry = registry_setup.service("process").up()

    assert registry.port == new_port
    assert registry.status is RegistryStatus.RUNNING
    assert any(message.startswith("restarting registry process") for message in registry_setup.progress)


def test_pods_cannot_reach_it_so_it_joins_no_cluster_network(registry_setup: RegistrySetup) -> None:
    with pytest.raises(InvalidInput, match="loopback only"):
        registry_setup.service("process").connect_to_cluster_network()


def test_auto_prefers_the_process_that_already_runs_this_registry(registry_setup: RegistrySetup) -> None:
    registry_setup.service("process").up()

    assert registry_setup.service("auto").backend_name == "process"


def test_auto_falls_back_to_the_process_backend_without_docker(
    registry_setup: RegistrySetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")

    registry = registry_setup.service("auto").up()

    assert registry.backend == "process"
    assert "Docker is not answering: using the process backend" in registry_setup.progress


def test_purge_registry_stops_it_and_deletes_its_data(registry_setup: RegistrySetup) -> None:
    registry_setup.service("process").up()

    purged = purge_registry(registry_setup.config, "process", data_dir=registry_setup.data_dir)

    assert purged.status is RegistryStatus.NOT_PROVISIONED
    assert not registry_setup.data_dir.exists()


def test_purge_deletes_only_the_registrys_own_files_in_a_given_data_dir(
    registry_setup: RegistrySetup,
) -> None:
    service = registry_setup.service("process")
    service.up()
    mine = registry_setup.data_dir / "notes.txt"
    mine.write_text("the user's")

    service.remove(purge=True)

    assert mine.read_text() == "the user's"
    assert sorted(path.name for path in registry_setup.data_dir.iterdir()) == ["notes.txt"]


def test_a_config_file_that_is_not_the_registrys_is_never_overwritten_or_deleted(
    registry_setup: RegistrySetup,
) -> None:
    registry_setup.data_dir.mkdir()
    foreign = registry_setup.data_dir / "config.yml"
    foreign.write_text("someone: else\n")
    service = registry_setup.service("process")

    for operation in (service.up, lambda: service.remove(purge=False), lambda: service.remove(purge=True)):
        with pytest.raises(InvalidInput, match=r"config\.yml is not this registry's config file"):
            operation()
    assert foreign.read_text() == "someone: else\n"


def test_a_data_dir_that_is_a_file_is_bad_input(
    registry_setup: RegistrySetup, capsys: pytest.CaptureFixture[str]
) -> None:
    registry_setup.data_dir.write_text("a file")
    args = ["-c", str(registry_setup.config_path), "--backend", "process", "--data-dir"]

    assert main(["registry", "up", *args, str(registry_setup.data_dir)]) == 2
    error = capsys.readouterr().err
    assert f"cannot keep the registry's files in {registry_setup.data_dir}" in error
    for command in ("down", "status", "rm"):
        assert main(["registry", command, *args, str(registry_setup.data_dir)]) == 0
    assert "internal error" not in capsys.readouterr().err
    assert registry_setup.data_dir.read_text() == "a file"
