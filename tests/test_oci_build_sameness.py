"""The streamed, threaded build makes the tar the tarfile build made, byte for byte, compressed as one
gzip member in pigz's block format; its manifest checks give the verdicts (and messages) the node-tree
checks gave.

tests/data/golden-artifact.json and tests/data/manifest-verdicts.json were written by the previous
implementation (tarfile into gzip.GzipFile; PyYAML's composer) on tests/data/golden-source. Only the
layer's digest and size in the golden file were written again, when the layer became block-compressed
(issue 18); the entries and the files are the previous implementation's.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import json
import random
import shutil
import struct
import subprocess
import tarfile
import threading
import tracemalloc
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ksail_tui.errors import InvalidInput
from ksail_tui.oci import build as build_module
from ksail_tui.oci.artifact_format import CONFIG_MEDIA_TYPE, CONTENT_MEDIA_TYPE, MANIFEST_MEDIA_TYPE
from ksail_tui.oci.build import build_artifact
from ksail_tui.oci.manifests import _object_problems, _quick_count, _yaml_documents, check_manifest

DATA = Path(__file__).parent / "data"
GOLDEN = json.loads((DATA / "golden-artifact.json").read_text(encoding="utf-8"))
CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def golden_source(tmp_path: Path) -> Path:
    source = tmp_path / "app"  # outside any git work tree, like the build that wrote the golden file
    shutil.copytree(DATA / "golden-source", source)
    return source


def entries_of(layer: bytes) -> list[dict[str, Any]]:
    entries = []
    with tarfile.open(fileobj=io.BytesIO(layer), mode="r:gz") as archive:
        for member in archive:
            content = archive.extractfile(member) if member.isreg() else None
            entries.append(
                {
                    "name": member.name,
                    "type": member.type.decode(),
                    "mode": member.mode,
                    "uid": member.uid,
                    "gid": member.gid,
                    "uname": member.uname,
                    "gname": member.gname,
                    "mtime": member.mtime,
                    "size": member.size,
                    "sha256": hashlib.sha256(content.read() if content else b"").hexdigest(),
                    "pax": member.pax_headers,
                }
            )
    return entries


def reference_tar(source: Path, built_files: list[str]) -> bytes:
    """The previous implementation's tar: tarfile (PAX), normalised headers."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for relative in built_files:
            path = source / relative
            info = tarfile.TarInfo(relative)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            if path.is_dir():
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                archive.addfile(info)
                continue
            data = path.read_bytes()
            info.mode, info.size = 0o644, len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def block_gzip(data: bytes, block: int = 1 << 20) -> bytes:
    """pigz's format, written out plainly: level-6 raw deflate per block (1 MiB), each primed with the
    32 KiB before it and sync-flushed; an empty final block; gzip's header (no name, no time) and trailer."""
    out = [b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"]
    for start in range(0, len(data), block):
        window = data[max(0, start - 32768) : start]
        options = (6, zlib.DEFLATED, -15, 8, 0, window) if window else (6, zlib.DEFLATED, -15)
        compressor = zlib.compressobj(*options)
        out.append(compressor.compress(data[start : start + block]) + compressor.flush(zlib.Z_SYNC_FLUSH))
    out.append(b"\x03\x00" + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF))
    return b"".join(out)


def test_the_golden_tree_gives_the_files_headers_and_manifest_the_previous_build_gave(
    golden_source: Path,
) -> None:
    built = build_artifact(golden_source, version="1.2.3", created=CREATED)
    assert built.layer is not None
    assert [[file.path, file.size, file.digest] for file in built.files] == GOLDEN["files"]
    assert entries_of(built.layer) == GOLDEN["entries"]  # names, types, modes, owners, times, content
    manifest = json.loads(built.manifest)
    assert manifest["annotations"].pop("org.opencontainers.image.source") == golden_source.as_uri()
    golden_manifest = dict(GOLDEN["manifest"])
    golden_annotations = dict(golden_manifest.pop("annotations"))
    del golden_annotations["org.opencontainers.image.source"]
    assert manifest.pop("annotations") == golden_annotations
    if GOLDEN["zlib"] == zlib.ZLIB_RUNTIME_VERSION:  # deflate's bytes are only promised per zlib
        assert built.layer_digest == GOLDEN["layer_digest"]
        assert manifest == golden_manifest
    else:
        del manifest["layers"][0]["digest"], manifest["layers"][0]["size"]
        del golden_manifest["layers"][0]["digest"], golden_manifest["layers"][0]["size"]
        assert manifest == golden_manifest


def test_flux_format_is_one_tar_gzip_layer_with_flux_media_types(golden_source: Path) -> None:
    built = build_artifact(golden_source, version="1.2.3", created=CREATED)
    manifest = json.loads(built.manifest)
    assert manifest["mediaType"] == MANIFEST_MEDIA_TYPE
    assert manifest["config"]["mediaType"] == CONFIG_MEDIA_TYPE
    (layer,) = manifest["layers"]
    assert layer == {"mediaType": CONTENT_MEDIA_TYPE, "digest": built.layer_digest, "size": built.layer_size}
    assert built.layer is not None and len(built.layer) == built.layer_size
    assert built.layer_digest == "sha256:" + hashlib.sha256(built.layer).hexdigest()
    assert sorted(manifest["annotations"]) == [
        "org.opencontainers.image.created",
        "org.opencontainers.image.revision",
        "org.opencontainers.image.source",
        "org.opencontainers.image.version",
    ]
    # One gzip member: decompressing it whole leaves nothing over.
    decompressor = zlib.decompressobj(wbits=31)
    decompressor.decompress(built.layer)
    assert decompressor.eof and decompressor.unused_data == b""


def test_a_streamed_build_writes_the_same_bytes_and_keeps_none(golden_source: Path) -> None:
    kept = build_artifact(golden_source, version="1.2.3", created=CREATED)
    written = io.BytesIO()
    streamed = build_artifact(golden_source, version="1.2.3", created=CREATED, layer_sink=written.write)
    assert streamed.layer is None
    assert written.getvalue() == kept.layer
    assert (streamed.layer_digest, streamed.layer_size, streamed.manifest) == (
        kept.layer_digest,
        kept.layer_size,
        kept.manifest,
    )


def test_rebuilds_are_byte_identical(golden_source: Path) -> None:
    first = build_artifact(golden_source, version="1.2.3", created=CREATED)
    second = build_artifact(golden_source, version="1.2.3", created=CREATED)
    assert first.layer == second.layer and first.manifest == second.manifest


def write_tree(root: Path, seed: int) -> None:
    """Files of every size around the tar block and the chunk sizes, long and non-ASCII names."""
    rng = random.Random(seed)
    for index in range(40):
        folder = root / f"team-{index % 3}" / ("x" * rng.choice((1, 90, 120)))
        folder.mkdir(parents=True, exist_ok=True)
        size = rng.choice((0, 1, 511, 512, 513, 4095, 4096, 70_000, 200_000))
        name = f"f{index}-{rng.choice(('a', 'é', 'ü' * 40))}.txt"
        (folder / name).write_bytes(rng.randbytes(size // 2) + b"a" * (size - size // 2))


@pytest.mark.parametrize(("seed", "threads"), [(1, 1), (2, 2), (3, 4)])
def test_the_tar_is_what_tarfile_writes_in_pigz_blocks_across_chunks_and_streamed_files(
    tmp_path: Path, seed: int, threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tree(tmp_path / "app", seed)
    # Small chunks and blocks, and a low limit for reading whole: every hand-over and the streamed
    # path run.
    monkeypatch.setattr(build_module, "_CHUNK_BYTES", 4096)
    monkeypatch.setattr(build_module, "_BLOCK_BYTES", 64 << 10)
    monkeypatch.setattr(build_module, "_READ_WHOLE_BYTES", 50_000)
    monkeypatch.setattr(build_module, "_compressing_threads", lambda: threads)
    built = build_artifact(tmp_path / "app", version="1.0.0", validate_manifests=False)
    assert built.layer is not None
    listed = [entry["name"] for entry in entries_of(built.layer)]
    tar = reference_tar(tmp_path / "app", listed)
    assert len(tar) > 4 * (64 << 10)  # several blocks
    assert gzip.decompress(built.layer) == tar
    assert built.layer == block_gzip(tar, 64 << 10)


def test_blocks_of_the_real_size_are_the_reference_blocks(tmp_path: Path) -> None:
    rng = random.Random(9)
    (tmp_path / "app").mkdir()
    for index in range(12):  # 3.6 MB: four blocks, half of it compressible
        (tmp_path / "app" / f"f{index}").write_bytes(rng.randbytes(150_000) + b"a b c " * 25_000)
    built = build_artifact(tmp_path / "app", version="1.0.0", validate_manifests=False)
    assert built.layer is not None
    tar = reference_tar(tmp_path / "app", [entry["name"] for entry in entries_of(built.layer)])
    assert built.layer == block_gzip(tar)


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=3000).map(lambda seed: seed * 200),
    cuts=st.lists(st.integers(0, 600_000), max_size=12),
    threads=st.integers(1, 4),
    block=st.sampled_from([4096, 40_000, 1 << 20]),  # smaller than the 32 KiB window, and larger
)
def test_the_gzip_bytes_depend_on_the_data_alone(
    data: bytes, cuts: list[int], threads: int, block: int
) -> None:
    written: list[bytes] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(build_module, "_BLOCK_BYTES", block)
        stream = build_module._GzipStream(written.append, threads)
        edges = [0, *sorted(cut for cut in cuts if cut < len(data)), len(data)]
        for start, end in itertools.pairwise(edges):
            stream.write(data[start:end])
        stream.close()
    layer = b"".join(written)
    assert layer == block_gzip(data, block)
    assert (stream.size, stream.digest) == (len(layer), "sha256:" + hashlib.sha256(layer).hexdigest())
    assert gzip.decompress(layer) == data


@pytest.mark.skipif(not (shutil.which("gzip") and shutil.which("tar")), reason="needs gzip and tar")
def test_gnu_gzip_and_tar_read_the_layer(tmp_path: Path) -> None:
    """GNU gzip inflates with code of its own, not zlib's: a second reader of the block format."""
    write_tree(tmp_path / "app", 4)
    built = build_artifact(tmp_path / "app", version="1.0.0", validate_manifests=False)
    layer = tmp_path / "layer.tar.gz"
    layer.write_bytes(built.layer or b"")
    subprocess.run(["gzip", "-t", str(layer)], check=True)
    listing = subprocess.run(["tar", "-tzf", str(layer)], check=True, capture_output=True, text=True)
    expected = [
        entry["name"] + ("/" if entry["type"] == "5" else "") for entry in entries_of(built.layer or b"")
    ]
    assert listing.stdout.splitlines() == expected


@settings(max_examples=400, deadline=None)
@given(
    name=st.text(alphabet="abz/._- ~\x01\x7féü", min_size=1, max_size=130),
    size=st.one_of(st.integers(0, 10**6), st.just(8**11 - 1), st.just(8**11), st.integers(0, 8**13)),
    is_dir=st.booleans(),
)
def test_the_direct_header_is_what_tarfile_writes(name: str, size: int, is_dir: bool) -> None:
    info = tarfile.TarInfo(name)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime, info.size = 0, size
    info.type, info.mode = (tarfile.DIRTYPE, 0o755) if is_dir else (tarfile.REGTYPE, 0o644)
    expected = info.tobuf(tarfile.PAX_FORMAT, tarfile.ENCODING, "surrogateescape")
    assert build_module.tar_header(name, size, is_dir=is_dir) == expected


def peak_of_a_build(source: Path, blobs: int) -> tuple[int, int]:
    """Peak traced memory of building ``blobs`` x 100 kB that does not compress, and the layer's size."""
    source.mkdir()
    rng = random.Random(7)
    for index in range(blobs):
        (source / f"blob-{index}.bin").write_bytes(rng.randbytes(100_000))
    written = [0]

    def count(data: bytes) -> None:
        written[0] += len(data)

    tracemalloc.start()
    try:
        build_artifact(source, version="1.0.0", validate_manifests=False, layer_sink=count)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, written[0]


def test_memory_does_not_grow_with_the_layer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build_module, "_compressing_threads", lambda: 2)
    small, small_layer = peak_of_a_build(tmp_path / "small", 60)
    large, large_layer = peak_of_a_build(tmp_path / "large", 240)
    assert small_layer > 6_000_000 and large_layer > 24_000_000
    # One file, four 1 MiB blocks in flight with their output, two compressors' state: 10-12 MB
    # whichever the layer, depending on how far the threads are behind the walk; not the layer.
    assert small < 16_000_000 and large < 16_000_000


def test_a_sink_that_fails_fails_the_build_naming_its_error(golden_source: Path) -> None:
    def full(_: bytes) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        build_artifact(golden_source, version="1.2.3", layer_sink=full)


def test_a_failed_build_stops_the_compressing_thread(golden_source: Path) -> None:
    (golden_source / "broken.yaml").write_text("kind: [\n")
    with pytest.raises(InvalidInput, match=r"broken\.yaml"):
        build_artifact(golden_source, version="1.2.3")
    (golden_source / "broken.yaml").unlink()
    (golden_source / "fifo").mkdir()
    (golden_source / "fifo" / "odd.txt").symlink_to("/etc/hostname")
    with pytest.raises(InvalidInput, match="absolute path"):
        build_artifact(golden_source, version="1.2.3")
    assert not [thread for thread in threading.enumerate() if thread.name == "layer-gzip"]


# --- manifest verdicts ------------------------------------------------------------------------------

VERDICTS = json.loads((DATA / "manifest-verdicts.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", VERDICTS, ids=[f"{case['case']}-{case['file']}" for case in VERDICTS])
def test_verdicts_and_messages_are_the_previous_checks(case: dict[str, Any]) -> None:
    count, problems = check_manifest(case["file"], case["text"].encode())
    assert (count, [str(problem) for problem in problems]) == (case["documents"], case["problems"])


def test_the_golden_tree_and_generated_manifests_take_the_quick_verdict(golden_source: Path) -> None:
    data = (golden_source / "base" / "deployment.yaml").read_bytes()
    assert _quick_count(data, kustomization_file=False) == 1
    text = "".join(
        f"---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  labels:\n    a: b\n  name: d{n}\n"
        f"  annotations:\n    c: d\nspec:\n  replicas: {n}\n"
        for n in range(3)
    )
    assert _quick_count(text.encode(), kustomization_file=False) == 3


@pytest.mark.parametrize(
    "metadata",
    [
        "  name: a\n  name: true\n",
        "  name: a\n  name: b\n  name: 1\n",
        "  labels: {}\n  name: a\n  name: null\n",
    ],
)
def test_a_second_name_line_is_never_overlooked(metadata: str) -> None:
    # YAML keeps the last of two equal keys, here a name that is not text: only the full walk sees it.
    data = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n{metadata}".encode()
    assert _quick_count(data, kustomization_file=False) is None
    assert "has no metadata.name" in str(check_manifest("cm.yaml", data)[1])


LINES = (
    "apiVersion: v1",
    "apiVersion: 1.0",
    "kind: ConfigMap",
    'kind: "Secret"',
    "kind: null",
    "metadata:",
    "  name: a",
    "  name: 'b'",
    "  name: true",
    "  labels:",
    "    app: x",
    "    tier: 'y",
    "  z'",
    "  annotations: {a: b,",
    "name: c}",
    "spec:",
    "  data: |",
    "    text",
    "kind: Fake",
    "- entry",
    "  - entry",
    "---",
    "# comment",
    "",
    "    continued",
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(LINES), max_size=16), st.sampled_from(["a.yaml", "kustomization.yaml"]))
def test_the_quick_verdict_never_passes_what_the_full_walk_refuses(lines: list[str], name: str) -> None:
    data = ("\n".join(lines) + "\n").encode()
    kustomization = name == "kustomization.yaml"
    quick = _quick_count(data, kustomization_file=kustomization)
    if quick is None:
        return
    documents = [document for _, document in _yaml_documents(data) if document is not None]
    assert quick == len(documents)
    if not kustomization:
        assert not [
            problem
            for document in documents
            for problem in _object_problems(document, kustomization_file=False)
        ]
