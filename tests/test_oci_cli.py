"""Bad input to `workload build|push` gives a clear error and exit code; the folder is never touched."""

from __future__ import annotations

import hashlib
import json
import os
import random
import socket
import threading
from pathlib import Path

import pytest

from ksail_tui.cli.main import main
from ksail_tui.oci import layer_upload
from tests.fixtures.registry import RegistryProcess, free_port, write_ksail_config

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\n"


def push(config: Path, *argv: str) -> int:
    return main(["-c", str(config), "workload", "push", *argv])


def make_project(tmp_path: Path, port: int, files: dict[str, str] | None = None) -> Path:
    source = tmp_path / "app"
    source.mkdir()
    for name, content in (files if files is not None else {"cm.yaml": CONFIGMAP}).items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(content)
    return write_ksail_config(tmp_path, port=port, workloads={"app": "app"})


def tree_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        stat = path.lstat()
        digest.update(f"{path.relative_to(folder)}|{stat.st_mode}|{stat.st_mtime_ns}".encode())
        if path.is_file() and not path.is_symlink():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({}, "holds no Kubernetes manifests"),
        ({"README.md": "# docs only"}, "holds no Kubernetes manifests"),
        ({"cm.yaml": CONFIGMAP, "broken.yaml": "a: b\n c: d\n"}, "broken.yaml:2: not valid YAML"),
        ({"nokind.yaml": "apiVersion: v1\nmetadata:\n  name: x\n"}, "nokind.yaml:1: document has no kind"),
    ],
)
def test_bad_manifests_exit_2_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], files: dict[str, str], expected: str
) -> None:
    config = make_project(tmp_path, free_port(), files)
    assert push(config) == 2
    assert expected in capsys.readouterr().err


def test_missing_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_ksail_config(tmp_path, port=free_port(), workloads={"app": "missing"})
    assert push(config) == 2
    assert "missing does not exist" in capsys.readouterr().err


def test_bad_version_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = make_project(tmp_path, free_port())
    assert push(config, "--version", "1.0") == 2
    assert "'1.0' is not a semantic version" in capsys.readouterr().err


def test_escaping_symlink_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = make_project(tmp_path, free_port())
    (tmp_path / "secret.yaml").write_text(CONFIGMAP)
    (tmp_path / "app" / "link.yaml").symlink_to("../secret.yaml")
    assert push(config) == 2
    assert "link.yaml is a symlink to ../secret.yaml, outside the source folder" in capsys.readouterr().err


def test_unreachable_registry_exits_4(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    config = make_project(tmp_path, port)
    assert push(config) == 4
    error = capsys.readouterr().err
    assert f"the registry at localhost:{port} cannot be reached" in error
    assert "ksail-tui registry up" in error


def test_bad_manifests_are_named_without_waiting_for_a_registry_that_hangs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(layer_upload, "CHUNK_BYTES", 16 * 1024)  # the layer is many chunks
    rng = random.Random(3)
    files = {
        f"cm-{index}.yaml": CONFIGMAP + f"data: {{v: '{rng.randbytes(4000).hex()}'}}\n" for index in range(40)
    }
    files["zz/bad.yaml"] = "a: b\n c: d\n"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:  # accepts, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        config = make_project(tmp_path, silent.getsockname()[1], files)

        assert push(config, "--timeout", "60s") == 2

        assert "zz/bad.yaml:2: not valid YAML" in capsys.readouterr().err
        # The upload still waits for the registry's first answer: the error did not wait for it.
        assert any(thread.name == "layer-upload" and thread.is_alive() for thread in threading.enumerate())


@pytest.mark.needs_registry
def test_the_source_folder_is_never_modified(
    tmp_path: Path, registry_process: RegistryProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_project(
        tmp_path,
        registry_process.port,
        {"cm.yaml": CONFIGMAP, "sub/.sourceignore": "*.txt\n", "sub/notes.txt": "x", "logo.png": "png"},
    )
    source = tmp_path / "app"
    (source / "inner.yaml").symlink_to("cm.yaml")
    os.utime(source / "cm.yaml", (12345, 12345))
    before = tree_hash(source)
    workload = ["-c", str(config), "workload"]
    assert main([*workload, "build", "-O", str(tmp_path / "layer.tar.gz")]) == 0
    assert main([*workload, "push", "--also-tag", "latest"]) == 0
    assert main([*workload, "push"]) == 0
    assert main([*workload, "diff"]) == 0
    assert main([*workload, "list"]) == 0
    assert main([*workload, "build", "-O", str(source / "layer.tar.gz")]) == 2  # refuses to write inside
    assert tree_hash(source) == before
    assert (tmp_path / "layer.tar.gz").stat().st_size > 0
    assert "skipped the symlink inner.yaml" in capsys.readouterr().err


@pytest.mark.parametrize("target", ["a-folder", "missing/layer.tar.gz"])
def test_an_unwritable_out_file_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str
) -> None:
    config = make_project(tmp_path, free_port())
    (tmp_path / "a-folder").mkdir()
    assert main(["-c", str(config), "workload", "build", "-O", str(tmp_path / target)]) == 2
    error = capsys.readouterr().err
    assert f"cannot write the layer to {tmp_path / target}" in error
    assert "internal error" not in error


def test_build_out_writes_the_layer_whose_digest_it_prints_and_a_failed_build_keeps_the_old_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_project(tmp_path, free_port(), {"cm.yaml": CONFIGMAP})
    out = tmp_path / "layer.tar.gz"
    assert main(["-c", str(config), "-o", "json", "workload", "build", "-O", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    layer = out.read_bytes()
    assert printed["layer_digest"] == "sha256:" + hashlib.sha256(layer).hexdigest()
    assert printed["layer_size"] == len(layer)
    (tmp_path / "app" / "broken.yaml").write_text("kind: [\n")
    assert main(["-c", str(config), "workload", "build", "-O", str(out)]) == 2
    assert out.read_bytes() == layer  # the streamed layer went to a file beside it, now removed
    assert sorted(path.name for path in tmp_path.iterdir() if "layer" in path.name) == ["layer.tar.gz"]
