"""Blocks compressed by an earlier build are read back, and the layer is the same bytes (issue 18)."""

from __future__ import annotations

import os
import random
import stat
import time
from pathlib import Path

import pytest

from ksail_tui.oci import deflate_cache
from ksail_tui.oci.build import build_artifact
from ksail_tui.oci.deflate_cache import DeflateCache, cache_dir


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """About 3.5 MB of manifests: the layer is four blocks of its tar stream."""
    rng = random.Random(7)
    folder = tmp_path / "src"
    folder.mkdir()
    for index in range(60):
        values = "".join(f"  key{n}: {rng.getrandbits(128):032x}\n" for n in range(1_300))
        (folder / f"cm{index:02}.yaml").write_text(
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm{index}\ndata:\n{values}"
        )
    return folder


def layer_of(source: Path) -> bytes:
    layer = build_artifact(source, version="0.1.0").layer
    assert layer is not None
    return layer


def entries() -> dict[str, float]:
    return {path.name: path.stat().st_mtime for path in cache_dir().iterdir()}


def layer_without_cache(source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> bytes:
    with monkeypatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path / f"empty-{time.monotonic_ns()}"))
        return layer_of(source)


def test_a_rebuild_reads_its_blocks_back_and_writes_the_same_layer(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = layer_of(source)
    written = entries()
    assert len(written) == 4
    assert layer_of(source) == first
    assert set(entries()) == set(written)  # nothing compressed again

    # An edit that keeps the file's size moves nothing after it: one block (and the one it primes).
    edited = source / "cm30.yaml"
    edited.write_text(edited.read_text().replace("key7: ", "key7:\t", 1))
    again = layer_of(source)
    assert 1 <= len(set(entries()) - set(written)) <= 2
    assert again == layer_without_cache(source, tmp_path, monkeypatch)

    # An edit that moves everything after it is compressed again from there, to the same bytes.
    (source / "cm00.yaml").write_text((source / "cm00.yaml").read_text() + "  grown: value\n" * 40)
    assert layer_of(source) == layer_without_cache(source, tmp_path, monkeypatch)


def test_a_damaged_or_foreign_entry_is_never_used(source: Path) -> None:
    first = layer_of(source)
    names = sorted(entries())
    damaged, linked, huge = (cache_dir() / name for name in names[:3])
    content = bytearray(damaged.read_bytes())
    content[-1] ^= 0xFF
    damaged.write_bytes(bytes(content))
    target = cache_dir().parent / "elsewhere"
    target.write_bytes(linked.read_bytes())
    linked.unlink()
    linked.symlink_to(target)
    huge.write_bytes(b"\0" * (3 << 20))
    assert layer_of(source) == first
    for path in (damaged, linked, huge):
        assert not path.is_symlink()
        assert deflate_cache._read_entry(path) is not None  # compressed again and written whole


def test_the_cache_is_the_users_alone(source: Path) -> None:
    layer_of(source)
    assert stat.S_IMODE(cache_dir().stat().st_mode) == 0o700
    for path in cache_dir().iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_cache_that_cannot_be_written_costs_only_time(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = layer_of(source)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert layer_of(source) == expected


def test_a_block_is_compressed_once_per_content_dictionary_and_level(tmp_path: Path) -> None:
    calls: list[tuple[bytes, bytes]] = []

    def deflate(data: bytes, dictionary: bytes) -> bytes:
        calls.append((data, dictionary))
        return b"deflated " + data + dictionary

    cache = DeflateCache(tmp_path / "blocks", level=6)
    assert cache.compressed(b"block", b"", deflate) == b"deflated block"
    assert cache.compressed(b"block", b"", deflate) == b"deflated block"
    assert cache.compressed(b"block", b"before", deflate) == b"deflated blockbefore"
    # Every dictionary after the first block is 32 KiB long: its content, not its length, tells them apart.
    assert cache.compressed(b"block", b"BEFORE", deflate) == b"deflated blockBEFORE"
    assert DeflateCache(tmp_path / "blocks", level=9).compressed(b"block", b"", deflate) == b"deflated block"
    assert len(calls) == 4  # the second call was read back; another level is another output


def test_pruning_keeps_the_newest_entries_and_touches_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "blocks"
    folder.mkdir()
    now = time.time()
    for age, name in enumerate(f"{n:064x}.z" for n in range(6)):
        (folder / name).write_bytes(b"\0" * 1000)
        os.utime(folder / name, (now - age * 60, now - age * 60))
    stale, fresh = folder / f"{1:064x}.z.12-34.tmp", folder / f"{2:064x}.z.56-78.tmp"
    notes = folder / "notes.txt"
    for path in (stale, fresh):
        path.write_text("x")
    notes.write_bytes(b"\0" * 1000)
    for path in (stale, notes):  # older than every entry: pruned first, were it an entry
        os.utime(path, (now - 7200, now - 7200))
    monkeypatch.setattr(deflate_cache, "KEPT_BYTES", 3500)
    deflate_cache._prune(folder)
    left = sorted(path.name for path in folder.iterdir())
    assert left == sorted([f"{n:064x}.z" for n in range(3)] + [fresh.name, "notes.txt"])
