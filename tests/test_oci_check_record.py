"""A build parses only the manifests that changed since the folder's last build, in a new process too
(issue 18): what passed is recorded on disk by path and content digest, tied to the checks' code."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from ksail_tui.errors import InvalidInput
from ksail_tui.oci import check_record, manifests
from ksail_tui.oci.build import build_artifact


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    manifests._PASSED.clear()


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths the checks parse, in order."""
    seen: list[str] = []
    check = manifests.check_manifest

    def counting(path: str, data: bytes) -> tuple[int, list[manifests.ManifestProblem]]:
        seen.append(path)
        return check(path, data)

    monkeypatch.setattr(manifests, "check_manifest", counting)
    return seen


def configmap(name: str, value: str = "1") -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: '{value}'\n"


def make_tree(source: Path) -> None:
    (source / "apps").mkdir(parents=True)
    for index in range(5):
        (source / "apps" / f"cm-{index}.yaml").write_text(configmap(f"cm-{index}"))
    (source / "kustomization.yaml").write_text("resources:\n- apps\n")


def as_new_process(build: Callable[[], object]) -> object:
    """A build that remembers nothing in memory, as the next CLI command would."""
    manifests._PASSED.clear()
    return build()


def test_the_next_build_parses_only_what_changed_with_the_same_artifact(
    tmp_path: Path, parsed: list[str]
) -> None:
    make_tree(tmp_path / "app")
    first = build_artifact(tmp_path / "app", version="1.0.0")
    assert len(parsed) == 6
    parsed.clear()
    (tmp_path / "app" / "apps" / "cm-3.yaml").write_text(configmap("cm-3", "2"))
    second = as_new_process(lambda: build_artifact(tmp_path / "app", version="1.0.0"))
    assert parsed == ["apps/cm-3.yaml"]
    # The same build from nothing recorded gives the same layer, byte for byte.
    parsed.clear()
    check_record._record_file((tmp_path / "app").resolve()).unlink()
    fresh = as_new_process(lambda: build_artifact(tmp_path / "app", version="1.0.0"))
    assert len(parsed) == 6
    assert fresh.layer == second.layer != first.layer  # type: ignore[attr-defined]


def test_a_broken_file_is_reported_every_time_and_a_file_broken_again_is_checked(
    tmp_path: Path, parsed: list[str]
) -> None:
    make_tree(tmp_path / "app")
    broken = tmp_path / "app" / "apps" / "cm-1.yaml"
    broken.write_text("apiVersion: v1\nkind: ConfigMap\n")
    for _ in range(2):
        with pytest.raises(InvalidInput, match=r"cm-1.yaml:1: document \(ConfigMap\) has no metadata.name"):
            as_new_process(lambda: build_artifact(tmp_path / "app", version="1.0.0"))
    assert parsed.count("apps/cm-1.yaml") == 2 and parsed.count("apps/cm-0.yaml") == 1
    broken.write_text(configmap("cm-1"))
    as_new_process(lambda: build_artifact(tmp_path / "app", version="1.0.0"))
    broken.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n")
    with pytest.raises(InvalidInput, match=r"cm-1\.yaml"):
        as_new_process(lambda: build_artifact(tmp_path / "app", version="1.0.0"))


def test_an_unchanged_tree_leaves_its_record_untouched(tmp_path: Path) -> None:
    make_tree(tmp_path / "app")
    build_artifact(tmp_path / "app", version="1.0.0")
    record = check_record._record_file((tmp_path / "app").resolve())
    before = record.stat()
    as_new_process(lambda: build_artifact(tmp_path / "app", version="1.0.0"))
    after = record.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


@pytest.mark.parametrize(
    "damage",
    [
        lambda document: {**document, "checks": "0" * 64},  # another release's checks
        lambda document: {**document, "format": 99},
        lambda document: {**document, "passed": [["apps/cm-0.yaml", "sha256:x", -1]]},
        lambda document: {**document, "passed": [["apps/cm-0.yaml", 7, 1]]},
        lambda document: {**document, "passed": "everything"},
        lambda document: [document],
        None,  # not JSON at all
    ],
)
def test_a_record_of_other_checks_or_a_damaged_one_is_ignored_and_replaced(
    tmp_path: Path, parsed: list[str], damage: Callable[[dict[str, object]], object] | None
) -> None:
    make_tree(tmp_path / "app")
    build_artifact(tmp_path / "app", version="1.0.0")
    record = check_record._record_file((tmp_path / "app").resolve())
    document = json.loads(record.read_bytes())
    record.write_bytes(b"\xff{not json" if damage is None else json.dumps(damage(document)).encode())
    parsed.clear()
    as_new_process(lambda: build_artifact(tmp_path / "app", version="1.0.0"))
    assert len(parsed) == 6
    assert json.loads(record.read_bytes())["passed"] == document["passed"]


def test_a_cache_folder_that_cannot_be_written_only_costs_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tree(tmp_path / "app")
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "not-a-folder"))
    built = build_artifact(tmp_path / "app", version="1.0.0")
    assert len(built.files) == 6
    assert (tmp_path / "not-a-folder").read_text() == ""


def test_a_build_without_checks_records_nothing(tmp_path: Path) -> None:
    make_tree(tmp_path / "app")
    build_artifact(tmp_path / "app", version="1.0.0", validate_manifests=False)
    assert not check_record.record_dir().exists()


def test_only_the_newest_records_are_kept_and_nothing_else_is_touched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(check_record, "KEPT_RECORDS", 2)
    folder = check_record.record_dir()
    folder.mkdir(parents=True)
    foreign = [folder / "notes.json", folder / ("a" * 32 + ".json.bak")]
    for path in foreign:
        path.write_text("mine")
    stale = folder / ("b" * 32 + ".json.123-456.tmp")  # left by a build that died while writing
    stale.write_text("{")
    os.utime(stale, (0, 0))
    sources = []
    for index in range(4):
        make_tree(tmp_path / f"app{index}")
        sources.append((tmp_path / f"app{index}").resolve())
        build_artifact(sources[-1], version="1.0.0")
        os.utime(check_record._record_file(sources[-1]), (index * 100, index * 100))
    build_artifact(sources[3], version="1.0.0")  # unchanged: no write, no pruning
    (sources[3] / "apps" / "cm-0.yaml").write_text(configmap("cm-0", "3"))
    build_artifact(sources[3], version="1.0.0")
    kept = {check_record._record_file(source).exists() for source in sources[:2]}
    assert kept == {False}
    assert check_record._record_file(sources[2]).exists() and check_record._record_file(sources[3]).exists()
    assert all(path.read_text() == "mine" for path in foreign)
    assert not stale.exists()
