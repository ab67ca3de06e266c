"""A large tree's manifests are checked partly by a second process (issue 18): the same verdicts, the
same messages in the folder's order, the same artifact; a worker that dies is a typed error."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest

from ksail_tui.errors import InvalidInput, OperationFailed
from ksail_tui.oci import check_record, manifest_worker, manifests
from ksail_tui.oci.build import build_artifact
from ksail_tui.oci.manifest_worker import ManifestChecker

VERDICTS = json.loads((Path(__file__).parent / "data" / "manifest-verdicts.json").read_text(encoding="utf-8"))


def forget_passes() -> None:
    """Every build after this checks every file: nothing passed before, in memory or on disk."""
    manifests._PASSED.clear()
    shutil.rmtree(check_record.record_dir(), ignore_errors=True)


@pytest.fixture(autouse=True)
def _no_remembered_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    forget_passes()


def offload_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manifest_worker, "OFFLOAD_AFTER_BYTES", -1)
    monkeypatch.setattr(manifest_worker, "QUEUED_BYTES", 1 << 40)


def test_the_worker_gives_the_previous_checks_verdicts_and_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    offload_everything(monkeypatch)
    checker = ManifestChecker()
    for index, case in enumerate(VERDICTS):
        checker.check(f"{index:03d}/{case['file']}", case["text"].encode(), f"sha256:{index}")
    assert checker._worker is not None  # every file went to the second process
    count, problems = checker.finish()
    expected = [
        f"{index:03d}/{message}" for index, case in enumerate(VERDICTS) for message in case["problems"]
    ]
    assert [str(problem) for problem in problems] == expected
    assert count == sum(case["documents"] for case in VERDICTS)


def configmap(name: str, rng: random.Random) -> str:
    values = "".join(f"  k{index}: '{rng.randbytes(24).hex()}'\n" for index in range(30))
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n{values}"


def make_tree(source: Path, bad: bool) -> None:
    rng = random.Random(5)
    for index in range(120):
        folder = source / f"team{index % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"cm-{index:03d}.yaml").write_text(configmap(f"cm-{index}", rng))
        if bad and index % 37 == 5:
            (folder / f"bad-{index:03d}.yaml").write_text(f"apiVersion: v1\nkind: ConfigMap\n# {index}\n")


def verdict(source: Path) -> str:
    with pytest.raises(InvalidInput) as raised:
        build_artifact(source, version="1.0.0")
    return raised.value.message


@pytest.mark.parametrize("queued", [1, 20_000, 1 << 40])  # one at a time, a few, all of them
def test_problems_come_in_the_folders_order_however_the_files_were_shared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, queued: int
) -> None:
    make_tree(tmp_path / "app", bad=True)
    alone = verdict(tmp_path / "app")
    assert alone.count("has no metadata.name") == 4
    monkeypatch.setattr(manifest_worker, "OFFLOAD_AFTER_BYTES", -1)
    monkeypatch.setattr(manifest_worker, "QUEUED_BYTES", queued)
    forget_passes()
    assert verdict(tmp_path / "app") == alone


def test_the_artifact_does_not_depend_on_who_checked_the_manifests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tree(tmp_path / "app", bad=False)
    alone = build_artifact(tmp_path / "app", version="1.0.0")
    forget_passes()
    offload_everything(monkeypatch)
    shared = build_artifact(tmp_path / "app", version="1.0.0", created=None)
    assert shared.layer == alone.layer
    assert (shared.layer_digest, shared.files) == (alone.layer_digest, alone.files)
    # what the worker passed is remembered like the rest: the next build checks nothing again
    spawned: list[Any] = []
    monkeypatch.setattr(manifest_worker._Worker, "start", classmethod(lambda cls: spawned.append(cls)))
    build_artifact(tmp_path / "app", version="1.0.0")
    assert spawned == []


def test_a_worker_that_dies_is_a_typed_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tree(tmp_path / "app", bad=False)
    offload_everything(monkeypatch)
    monkeypatch.setattr(manifest_worker, "_WORKER_CODE", "import sys; sys.stderr.write('boom'); sys.exit(3)")
    with pytest.raises(OperationFailed, match=r"the second process checking the manifests stopped.*boom"):
        build_artifact(tmp_path / "app", version="1.0.0")


def test_a_small_tree_starts_no_second_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree(tmp_path / "app", bad=False)  # ~0.2 MB, far below the threshold
    spawned: list[Any] = []
    monkeypatch.setattr(manifest_worker._Worker, "start", classmethod(lambda cls: spawned.append(cls)))
    build_artifact(tmp_path / "app", version="1.0.0")
    assert spawned == []
