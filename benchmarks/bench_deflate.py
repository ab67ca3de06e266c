"""What a faster deflate would give the cold build (issue 18): figures for a dependency decision.

Run (from the repository root; zlib-ng and isal are optional, each measured when importable):

    .venv/bin/python -m pip install --target /tmp/deflate zlib-ng isal   # beside, not into, the venv
    PYTHONPATH=/tmp/deflate .venv/bin/python benchmarks/bench_deflate.py

The 2,000-file tree of bench_artifacts.py is built, and the tar inside its layer compressed again in
the build's block format (1 MiB blocks, each primed with the 32 KiB before it and sync-flushed), on
one thread, by Python's zlib at the build's level (which gives the build's own bytes, checked) and by
each alternative found. Printed: CPU seconds (best of three, process time, so the load of the machine
moves it little), compressed size, and whether Python's own zlib reads the result back to the tar.
"""

from __future__ import annotations

import gzip
import importlib
import os
import sys
import tempfile
import time
import zlib
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_artifacts import generate_tree  # noqa: E402
from ksail_tui.oci.build import COMPRESS_LEVEL, build_artifact  # noqa: E402

BLOCK_BYTES = 1 << 20
DICTIONARY_BYTES = 32 << 10
_GZIP_HEADER_BYTES = 10
_GZIP_TRAILER_BYTES = 8  # crc32 and length
# (label, module, level): isal's levels are 0-3, its 2 is the nearest in size to zlib's 6.
CANDIDATES = (
    ("Python's zlib (the build)", "zlib", COMPRESS_LEVEL),
    ("Python's zlib", "zlib", 1),
    ("zlib-ng", "zlib_ng.zlib_ng", COMPRESS_LEVEL),
    ("zlib-ng", "zlib_ng.zlib_ng", 1),
    ("isal", "isal.isal_zlib", 2),
    ("isal", "isal.isal_zlib", 1),
)


def built_layer(root: Path, cache: Path) -> bytes:
    os.environ["XDG_CACHE_HOME"] = str(cache)  # an empty cache: every block compressed
    layer = build_artifact(root, version="0.1.0").layer
    assert layer is not None
    return layer


def compressed(module: ModuleType, level: int, data: bytes) -> bytes:
    pieces = []
    for start in range(0, len(data), BLOCK_BYTES):
        options: dict[str, bytes] = {}
        if start:
            options["zdict"] = data[start - DICTIONARY_BYTES : start]
        compressor = module.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, 8, 0, **options)
        pieces.append(compressor.compress(data[start : start + BLOCK_BYTES]))
        pieces.append(compressor.flush(zlib.Z_SYNC_FLUSH))
    pieces.append(b"\x03\x00")  # the empty final block
    return b"".join(pieces)


def main() -> None:
    with tempfile.TemporaryDirectory() as temporary:
        tree = Path(temporary) / "tree"
        generate_tree(tree, 2_000, 10_000)
        layer = built_layer(tree, Path(temporary) / "cache")
    data = gzip.decompress(layer)
    print(f"tar stream of 2,000 files: {len(data):,} bytes; the build's layer {len(layer):,}", flush=True)
    for label, name, level in CANDIDATES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            print(f"{label} level {level}: not installed")
            continue
        best = float("inf")
        for _ in range(3):
            started = time.process_time()
            output = compressed(module, level, data)
            best = min(best, time.process_time() - started)
        reads_back = zlib.decompress(output, -zlib.MAX_WBITS) == data
        same = " (the build's bytes)" if output == layer[_GZIP_HEADER_BYTES:-_GZIP_TRAILER_BYTES] else ""
        print(
            f"{label} level {level}: {best:.3f} s CPU, {len(output):,} bytes{same} "
            f"({len(output) / len(data):.1%}), read back by zlib: {'yes' if reads_back else 'NO'}",
            flush=True,
        )


if __name__ == "__main__":
    main()
