"""What scripts rely on, for every command: diff(1)'s exit codes, JSON errors, suggestions, plurals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ksail_tui.cli.main import main
from tests.fixtures.registry import RegistryProcess, free_port, write_ksail_config

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"


def project(tmp_path: Path, port: int, *names: str) -> Path:
    for name in names:
        (tmp_path / name).mkdir()
        (tmp_path / name / "cm.yaml").write_text(CONFIGMAP.format(name=name))
    return write_ksail_config(tmp_path, port=port, workloads={name: name for name in names})


@pytest.mark.needs_registry
def test_diff_exits_0_when_the_same_and_1_when_files_differ(
    tmp_path: Path, registry_process: RegistryProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    config = project(tmp_path, registry_process.port, "app")
    workload = ["-c", str(config), "workload"]
    assert main([*workload, "push"]) == 0
    assert main([*workload, "diff"]) == 0
    (tmp_path / "app" / "more.yaml").write_text(CONFIGMAP.format(name="more"))
    capsys.readouterr()
    assert main([*workload, "diff"]) == 1
    assert "added     more.yaml" in capsys.readouterr().out
    assert main([*workload, "diff", "--version", "9.9.9"]) != 0


@pytest.mark.needs_registry
def test_list_and_prune_act_on_every_workload_without_a_name(
    tmp_path: Path, registry_process: RegistryProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    config = project(tmp_path, registry_process.port, "app", "web")
    workload = ["-c", str(config), "workload"]
    for version in ("0.1.0", "0.2.0"):
        for name in ("app", "web"):
            (tmp_path / name / "v.yaml").write_text(CONFIGMAP.format(name=version))
            assert main([*workload, "push", name, "--version", version]) == 0
    capsys.readouterr()
    assert main([*workload, "list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:2] == ["WORKLOAD", "VERSION"]
    assert {tuple(line.split()[:2]) for line in table[1:]} == {
        ("app", "0.2.0"),
        ("app", "0.1.0"),
        ("web", "0.2.0"),
        ("web", "0.1.0"),
    }
    assert main([*workload, "list", "web", "-o", "json"]) == 0
    assert {(row["workload"], row["tag"]) for row in json.loads(capsys.readouterr().out)} == {
        ("web", "0.2.0"),
        ("web", "0.1.0"),
    }
    prune = [*workload, "prune", "--keep", "1", "--dry-run", "--ignore-cluster-references"]
    assert main(prune) == 0
    out = capsys.readouterr().out
    assert "app (oci/app):\nwould delete 0.1.0" in out
    assert "web (oci/web):\nwould delete 0.1.0" in out


def test_an_error_is_json_with_o_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    assert main(["-c", str(missing), "workload", "build", "-o", "json"]) == 2
    error = json.loads(capsys.readouterr().out)
    assert set(error) == {"error", "hint", "exit"}
    assert "nope.yaml" in error["error"] and error["exit"] == 2


@pytest.mark.parametrize(
    "argv",
    [["-o", "json", "workload", "bogus"], ["workload", "prune", "-o", "json"], ["-o", "json", "workload"]],
)
def test_a_usage_error_is_json_with_o_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    error = json.loads(captured.out)
    assert error["exit"] == 2 and error["error"] and error["hint"]
    assert captured.err == ""


def test_a_mistyped_command_gets_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["wrkload", "list"]) == 2
    assert "did you mean 'workload'?" in capsys.readouterr().err
    assert main(["workload", "prun"]) == 2
    assert "did you mean 'prune'?" in capsys.readouterr().err


def test_one_file_is_one_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = project(tmp_path, free_port(), "app")
    assert main(["-c", str(config), "workload", "build"]) == 0
    assert ": 1 file, " in capsys.readouterr().out
