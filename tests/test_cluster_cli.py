"""``ksail-tui cluster ...`` through ``main``: exit codes, hints, confirmation, no tracebacks."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from ksail_tui.cli.main import main
from ksail_tui.kube.client import OCI_REPOSITORIES, KubeClient
from tests.fixtures.cluster import ClusterCLIs, cluster_config_text


class _Terminal(io.StringIO):
    """stdin as a terminal; its text is what the user types."""

    def isatty(self) -> bool:
        return True


def write_config(tmp_path: Path, **options: Any) -> Path:
    path = tmp_path / "ksail.yaml"
    path.write_text(cluster_config_text("dev", **options))
    return path


@pytest.mark.parametrize(("distribution", "program"), [("Kind", "kind"), ("K3d", "k3d")])
@pytest.mark.parametrize("command", [["create"], ["delete", "--yes"]])
def test_a_missing_cluster_cli_is_unavailable_with_an_install_hint(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    distribution: str,
    program: str,
    command: list[str],
) -> None:
    config = write_config(tmp_path, distribution=distribution, context=None)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))

    code = main(["cluster", *command, "-c", str(config)])

    err = capsys.readouterr().err
    assert code == 4
    assert f"error: `{program}` is not installed (not found on PATH)" in err
    assert f"hint: install {program}" in err
    assert "Traceback" not in err


def test_delete_on_a_terminal_without_the_cli_fails_before_asking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr("sys.stdin", _Terminal("y\n"))

    code = main(["cluster", "delete", "-c", str(config)])

    err = capsys.readouterr().err
    assert code == 4
    assert "error: `kind` is not installed (not found on PATH)" in err
    assert "[y/N]" not in err


def test_create_through_the_cli_installs_flux_from_the_given_manifests(
    cluster_clis: ClusterCLIs,
    kubeconfig: Path,
    flux_manifests_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Without the registry no Docker is needed: the stand-in kind and the emulator do the rest.
    config = write_config(tmp_path, kubeconfig=kubeconfig, registry="enabled: false")

    code = main(
        ["cluster", "create", "-c", str(config), "--manifests", str(flux_manifests_file), "-o", "json"]
    )

    out = capsys.readouterr().out
    assert code == 0
    result = json.loads(out)
    assert (result["name"], result["distribution"], result["reused"]) == ("dev", "Kind", False)
    assert result["flux"]["installed"] is True
    assert {(s["kind"], s["name"]) for s in result["sources"]} == {
        ("OCIRepository", "app"),
        ("Kustomization", "app"),
    }
    assert KubeClient(kubeconfig, "ksail-sim").get(OCI_REPOSITORIES, "app", "flux-system")
    assert cluster_clis.clusters("kind") == ["dev"]


def test_create_text_output_names_each_step(
    cluster_clis: ClusterCLIs,
    kubeconfig: Path,
    flux_manifests_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, kubeconfig=kubeconfig, registry="enabled: false")
    cluster_clis.add_cluster("kind", "dev")

    code = main(["cluster", "create", "-c", str(config), "--manifests", str(flux_manifests_file)])

    captured = capsys.readouterr()
    assert code == 0
    assert "[1/3] Kind cluster dev" in captured.err
    assert "Kind cluster dev already exists: reusing it" in captured.err
    assert "[3/3] applying the workloads' OCIRepository and Kustomization" in captured.err
    assert captured.out.startswith("Kind cluster dev: reused (it existed already)\n  context:  ksail-sim\n")


def test_delete_without_a_terminal_and_without_yes_refuses(
    cluster_clis: ClusterCLIs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    cluster_clis.add_cluster("kind", "dev")

    code = main(["cluster", "delete", "--purge", "-c", str(config)])

    err = capsys.readouterr().err
    assert code == 2
    assert "refusing to delete the Kind cluster dev and the registry dev-registry with all its data" in err
    assert "hint: pass --yes" in err
    assert cluster_clis.calls() == []


def test_delete_on_a_terminal_asks_and_a_no_deletes_nothing(
    cluster_clis: ClusterCLIs,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, registry="enabled: false")
    cluster_clis.add_cluster("kind", "dev")
    monkeypatch.setattr("sys.stdin", _Terminal("n\n"))

    code = main(["cluster", "delete", "-c", str(config)])

    err = capsys.readouterr().err
    assert "Delete the Kind cluster dev? [y/N]" in err
    assert code == 1
    assert "nothing was deleted" in err
    assert cluster_clis.clusters("kind") == ["dev"]


def test_delete_on_a_terminal_proceeds_after_a_yes(
    cluster_clis: ClusterCLIs,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, registry="enabled: false")
    cluster_clis.add_cluster("kind", "dev")
    monkeypatch.setattr("sys.stdin", _Terminal("y\n"))

    code = main(["cluster", "delete", "-c", str(config)])

    assert code == 0
    assert capsys.readouterr().out == "Kind cluster dev deleted\n"
    assert cluster_clis.commands()[-1] == "kind delete cluster --name dev"
    assert cluster_clis.clusters("kind") == []


def test_a_failing_delete_is_exit_1_with_the_tools_message(
    cluster_clis: ClusterCLIs,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, distribution="K3d", context=None, registry="enabled: false")
    cluster_clis.add_cluster("k3d", "dev")
    cluster_clis.fail("k3d cluster delete", monkeypatch)

    code = main(["cluster", "delete", "--yes", "-c", str(config)])

    err = capsys.readouterr().err
    assert code == 1
    assert "error: `k3d cluster delete` failed with exit code 1" in err
    assert "Traceback" not in err
