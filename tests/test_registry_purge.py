"""`registry rm --purge` deletes only what the registry's setup provably wrote, and asks first."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from ksail_tui.cli.main import main
from tests.fixtures.registry_env import RegistrySetup
from tests.fixtures.registry_push import manifest_exists, push_artifact

MARKER_NAME = ".ksail-tui-registry"  # what the registry's setup writes next to storage/


def _cli(setup: RegistrySetup, data_dir: Path, backend: str = "process") -> list[str]:
    return ["-c", str(setup.config_path), "--backend", backend, "--data-dir", str(data_dir)]


def _users_folder(tmp_path: Path) -> tuple[Path, Path]:
    """A folder of the user's with a ``storage/`` of their own: no registry ever wrote there."""
    folder = tmp_path / "Documents"
    thesis = folder / "storage" / "thesis.txt"
    thesis.parent.mkdir(parents=True)
    thesis.write_text("four years of work")
    return folder, thesis


class _Terminal(io.StringIO):
    """Standard input that is a terminal and answers ``answer``."""

    def isatty(self) -> bool:
        return True


def test_purge_of_a_folder_without_the_marker_deletes_nothing(
    registry_setup: RegistrySetup, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, thesis = _users_folder(tmp_path)

    assert main(["registry", "rm", "--purge", "--yes", *_cli(registry_setup, folder)]) == 2

    error = capsys.readouterr().err
    assert f"no {MARKER_NAME} marker" in error
    assert "deleting nothing" in error
    assert thesis.read_text() == "four years of work"


@pytest.mark.needs_registry
def test_up_refuses_a_storage_folder_it_did_not_create(
    registry_setup: RegistrySetup, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Adopting it would let the registry write there, and a later purge would delete it.
    folder, thesis = _users_folder(tmp_path)

    assert main(["registry", "up", *_cli(registry_setup, folder)]) == 2

    assert "was not created by the registry's setup" in capsys.readouterr().err
    assert sorted(path.name for path in folder.iterdir()) == ["storage"]
    assert thesis.read_text() == "four years of work"


@pytest.mark.needs_registry
def test_up_marks_the_storage_it_creates_and_purge_then_deletes_it(
    registry_setup: RegistrySetup, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = _cli(registry_setup, registry_setup.data_dir)
    assert main(["registry", "up", *cli]) == 0
    marker = json.loads((registry_setup.data_dir / MARKER_NAME).read_text())
    assert marker["cluster"] == registry_setup.name
    push_artifact(registry_setup.config.registry_endpoint, "t/app", "0.1.0", b"data")

    assert main(["registry", "rm", "--purge", "--yes", *cli]) == 0

    assert not registry_setup.data_dir.exists()


@pytest.mark.needs_registry
def test_purge_without_a_terminal_needs_yes(
    registry_setup: RegistrySetup, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = _cli(registry_setup, registry_setup.data_dir)
    assert main(["registry", "up", *cli]) == 0
    endpoint = registry_setup.config.registry_endpoint
    push_artifact(endpoint, "t/app", "0.1.0", b"data")
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO(""))

    assert main(["registry", "rm", "--purge", *cli]) == 2

    error = capsys.readouterr().err
    assert "refusing to delete the registry" in error
    assert "pass --yes" in error
    assert manifest_exists(endpoint, "t/app", "0.1.0")  # not even stopped


@pytest.mark.needs_registry
@pytest.mark.parametrize(("answer", "code"), [("n\n", 1), ("\n", 1), ("yes\n", 0)])
def test_purge_on_a_terminal_asks_first(
    registry_setup: RegistrySetup,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
    code: int,
) -> None:
    cli = _cli(registry_setup, registry_setup.data_dir)
    assert main(["registry", "up", *cli]) == 0
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", _Terminal(answer))

    assert main(["registry", "rm", "--purge", *cli]) == code

    assert f"Delete the registry {registry_setup.config.registry_name} and all its data" in (
        capsys.readouterr().err
    )
    assert (registry_setup.data_dir / "storage").exists() is (code != 0)


@pytest.mark.needs_docker
def test_docker_purge_leaves_a_volume_it_did_not_create(
    registry_setup: RegistrySetup, capsys: pytest.CaptureFixture[str]
) -> None:
    import docker

    from ksail_tui.registry.docker_backend import volume_name

    client = docker.from_env()
    name = volume_name(registry_setup.config)
    volume = client.volumes.create(name=name)  # no ksail-tui labels: someone else's
    try:
        assert (
            main(["registry", "rm", "--purge", "--yes", *_cli(registry_setup, Path("unused"), "docker")]) == 2
        )
        assert f"volume {name} was not created by ksail-tui" in capsys.readouterr().err
        assert client.volumes.get(name).id == volume.id
    finally:
        volume.remove(force=True)
        client.close()


@pytest.mark.needs_registry
def test_a_registry_from_before_markers_is_adopted_by_up(registry_setup: RegistrySetup) -> None:
    # An older ksail-tui wrote config.yml and storage/ but no marker: its own config next to a
    # storage/ with nothing but the registry's layout is still provably the registry's.
    service = registry_setup.service("process")
    service.up()
    endpoint = registry_setup.config.registry_endpoint
    push_artifact(endpoint, "t/app", "0.1.0", b"kept")
    service.down()
    (registry_setup.data_dir / MARKER_NAME).unlink()

    service.up()

    assert (registry_setup.data_dir / MARKER_NAME).exists()
    assert manifest_exists(endpoint, "t/app", "0.1.0")
