"""Registry pieces that need neither Docker nor the registry binary: loopback guarantees, names, errors."""

from __future__ import annotations

import ast
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ksail_tui.cli.main import main
from ksail_tui.config import parse_config
from ksail_tui.errors import InvalidInput, OperationFailed
from ksail_tui.models import RegistryStatus
from ksail_tui.registry.docker_backend import (
    _registry_config_path,
    cluster_network_name,
    container_spec,
)
from ksail_tui.registry.health import probe
from ksail_tui.registry.ports import find_port_holder, port_is_free
from ksail_tui.registry.process_backend import ProcessBackend, registry_config
from ksail_tui.registry.service import BackendState, Progress, RegistryService, open_registry_service
from tests.fixtures.registry_env import RegistrySetup, free_port

PACKAGE = Path(__file__).resolve().parents[1] / "ksail_tui"
HEADER = "apiVersion: ksail.io/v1alpha1\nkind: Cluster\n"
REGISTRY_SOURCES = [*sorted((PACKAGE / "registry").glob("*.py")), PACKAGE / "cli" / "registry.py"]
WILDCARD_ADDRESSES = {"0.0.0.0", "::", "[::]", "0:0:0:0:0:0:0:0"}


def test_no_registry_code_names_a_wildcard_address() -> None:
    """Nothing that starts the registry may bind it anywhere but loopback."""
    offenders = []
    for path in REGISTRY_SOURCES:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                host = node.value.rsplit(":", 1)[0] if node.value.count(":") == 1 else node.value
                if host in WILDCARD_ADDRESSES or node.value.startswith(("0.0.0.0:", "[::]:")):
                    offenders.append(f"{path.name}:{node.lineno}: {node.value!r}")
    assert offenders == []


def test_every_port_publication_goes_through_the_loopback_container_spec() -> None:
    """The Docker backend publishes ports in container_spec only, and that binds 127.0.0.1."""
    publishing = []
    for path in REGISTRY_SOURCES:
        tree = ast.parse(path.read_text(), filename=str(path))
        for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
            for node in ast.walk(function):
                keys = node.keys if isinstance(node, ast.Dict) else []
                keywords = node.keywords if isinstance(node, ast.Call) else []
                named_ports = [k for k in keys if isinstance(k, ast.Constant) and k.value == "ports"]
                if named_ports or any(keyword.arg == "ports" for keyword in keywords):
                    publishing.append(f"{path.name}:{function.name}")
    assert publishing == ["docker_backend.py:container_spec"]

    spec = container_spec(parse_config(HEADER + "spec: {cluster: {localRegistry: {port: 5123}}}"))
    assert spec["ports"] == {"5000/tcp": ("127.0.0.1", 5123)}


def test_the_process_config_listens_on_loopback() -> None:
    config = registry_config(5123, Path("/data"))

    assert config["http"]["addr"] == "127.0.0.1:5123"  # type: ignore[index]
    assert config["storage"]["delete"] == {"enabled": True}  # type: ignore[index]


def test_names_follow_the_cluster() -> None:
    kind = parse_config(HEADER + "metadata: {name: dev}\nspec: {cluster: {distribution: Kind}}")
    k3d = parse_config(HEADER + "metadata: {name: dev}\nspec: {cluster: {distribution: K3d}}")

    assert cluster_network_name(kind) == "kind"
    assert cluster_network_name(k3d) == "k3d-dev"
    assert container_spec(kind)["name"] == "dev-registry"
    assert kind.registry_cluster_endpoint == "dev-registry:5000"


@pytest.mark.parametrize(
    ("image_config", "expected"),
    [
        (
            {"Entrypoint": ["/entrypoint.sh"], "Cmd": ["/etc/distribution/config.yml"]},
            "/etc/distribution/config.yml",
        ),
        (
            {"Entrypoint": ["/bin/registry", "serve", "/etc/docker/registry/config.yml"]},
            "/etc/docker/registry/config.yml",
        ),
        ({"Entrypoint": None, "Cmd": None}, "/etc/distribution/config.yml"),
    ],
)
def test_garbage_collection_finds_the_image_config_file(
    image_config: dict[str, object], expected: str
) -> None:
    assert _registry_config_path(image_config) == expected


def test_a_held_port_is_not_free_and_its_holder_is_named() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]

        assert not port_is_free(port)
        holder = find_port_holder(port)
        assert holder is not None and holder.pid == os.getpid()
        assert str(holder).startswith(f"process {os.getpid()} (")
        assert probe(port, timeout=0.5) is not None  # it accepts but never answers

    assert port_is_free(port)
    assert find_port_holder(port) is None
    assert "does not answer" in (probe(port) or "")


def test_the_default_data_dir_is_under_the_xdg_data_home(
    make_registry_setup: Callable[..., RegistrySetup], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    config = make_registry_setup().config

    assert ProcessBackend(config).data_dir == tmp_path / "xdg" / "ksail-tui" / "registries" / config.name


def test_a_disabled_registry_is_not_started(make_registry_setup: Callable[..., RegistrySetup]) -> None:
    setup = make_registry_setup()
    setup.config_path.write_text(setup.config_path.read_text() + "      enabled: false\n")

    with pytest.raises(InvalidInput, match="disabled"):
        setup.service("process").up()


def test_an_unknown_backend_is_bad_input(make_registry_setup: Callable[..., RegistrySetup]) -> None:
    with pytest.raises(InvalidInput, match="unknown registry backend"):
        open_registry_service(make_registry_setup().config, "podman")  # type: ignore[arg-type]


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_without_docker_exits_4_and_says_what_to_do(
    registry_setup: RegistrySetup, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    config = ["-c", str(registry_setup.config_path), "--backend", "docker"]

    code, _, err = run_cli(["registry", "up", *config], capsys)
    assert code == 4
    assert err.startswith("error: Docker is not answering, so the registry container cannot be managed")
    assert "hint: start Docker, or run the registry as a plain process with --backend process" in err
    assert "Traceback" not in err

    code, out, err = run_cli(["registry", "status", "-o", "json", *config], capsys)
    assert code == 4
    assert '"status": "Error"' in out
    assert "Traceback" not in err


def test_cli_without_the_registry_binary_says_how_to_install_it(
    registry_setup: RegistrySetup, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(registry_setup.data_dir))  # no registry binary there
    args = ["-c", str(registry_setup.config_path), "--backend", "process", "--data-dir"]

    code, _, err = run_cli(["registry", "up", *args, str(registry_setup.data_dir)], capsys)

    assert code == 4
    assert "the registry binary is not installed" in err
    assert "apt-get install docker-registry" in err


@pytest.mark.needs_registry
def test_cli_port_in_use_exits_2_naming_the_holder(
    make_registry_setup: Callable[..., RegistrySetup], capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", free_port()))
        squatter.listen()
        setup = make_registry_setup(port=squatter.getsockname()[1])
        args = ["-c", str(setup.config_path), "--backend", "process", "--data-dir", str(setup.data_dir)]

        code, _, err = run_cli(["registry", "up", *args], capsys)

    assert code == 2
    assert f"in use by process {os.getpid()}" in err
    assert "localRegistry.port" in err


class StubBackend:
    """A backend whose state the test sets, to check how the service reads it."""

    name = "stub"
    storage = "stub-storage"

    def __init__(self, state: BackendState) -> None:
        self.state = state

    def inspect(self) -> BackendState:
        return self.state

    def start(self, progress: Progress) -> None:
        raise OperationFailed("the stub cannot start")


@pytest.mark.parametrize(
    ("running", "started_seconds_ago", "backend_error", "expected", "error_part"),
    [
        (False, None, None, RegistryStatus.NOT_PROVISIONED, None),
        (False, None, "it crashed", RegistryStatus.ERROR, "it crashed"),
        (True, 1.0, None, RegistryStatus.PROVISIONING, "does not answer"),
        (True, 600.0, None, RegistryStatus.ERROR, "does not answer"),
    ],
)
def test_status_combines_the_backend_state_with_the_health_probe(
    running: bool,
    started_seconds_ago: float | None,
    backend_error: str | None,
    expected: RegistryStatus,
    error_part: str | None,
) -> None:
    # Nothing listens on the port, so a running registry there does not answer yet.
    config = parse_config(
        HEADER + f"metadata: {{name: dev}}\nspec: {{cluster: {{localRegistry: {{port: {free_port()}}}}}}}"
    )
    started_at = None if started_seconds_ago is None else time.time() - started_seconds_ago
    state = BackendState(exists=True, running=running, started_at=started_at, error=backend_error)

    registry = RegistryService(config, StubBackend(state)).status()  # type: ignore[arg-type]

    assert registry.status is expected
    assert registry.endpoint == f"localhost:{config.registry.port}"
    assert registry.cluster_endpoint == "dev-registry:5000"
    assert registry.volume == "stub-storage"
    if error_part is None:
        assert registry.last_error is None
    else:
        assert error_part in (registry.last_error or "")


def test_a_failed_up_shows_as_error_in_status() -> None:
    config = parse_config(HEADER + "metadata: {name: dev}")
    service = RegistryService(config, StubBackend(BackendState(exists=False, running=False)))  # type: ignore[arg-type]

    with pytest.raises(OperationFailed):
        service.up()

    registry = service.status()
    assert registry.status is RegistryStatus.ERROR
    assert registry.last_error == "the stub cannot start"
