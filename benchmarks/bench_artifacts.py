"""Artifact build and push speed: a 20-file and a 2,000-file (~20 MB) tree against a real registry.

Run: /work/venv/bin/python benchmarks/bench_artifacts.py   (needs the registry or docker-registry binary)

Prints, per tree: validation + packing (what `workload build` does), packing alone, `tar -czf` of the
same tree and the packing/tar ratio, the push of the built artifact, and the whole
`ksail-tui workload push` CLI as a subprocess. Goals: packing within 1.5x of `tar -czf`; the CLI push
of the small tree under 0.5 s wall.
"""

from __future__ import annotations

import base64
import itertools
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ksail_tui.config import load_config  # noqa: E402
from ksail_tui.oci.build import build_artifact  # noqa: E402
from ksail_tui.oci.manifests import forget_passed_files  # noqa: E402
from ksail_tui.oci.registry_client import RegistryClient  # noqa: E402
from ksail_tui.oci.service import list_versions  # noqa: E402
from tests.fixtures.registry import start_registry, stop_registry, write_ksail_config  # noqa: E402

WORDS = ("nginx", "redis", "frontend", "backend", "api", "worker", "cache", "queue", "payments", "orders")
REPEATS = 5


def _token(rng: random.Random, size: int) -> str:
    """Random lowercase base32: like the checksums and generated names that keep real manifests from
    compressing much better than 3.5:1 (the issue's tree: 21 MB to 6 MB)."""
    return base64.b32encode(rng.randbytes(size)).decode().lower().rstrip("=")


def deployment(rng: random.Random, name: str) -> str:
    env = "".join(
        f"            - name: {rng.choice(WORDS).upper()}_{rng.choice(WORDS).upper()}\n"
        f'              value: "{_token(rng, rng.randrange(16, 48))}"\n'
        for _ in range(rng.randrange(4, 12))
    )
    return (
        f"---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  labels:\n"
        f"    app.kubernetes.io/name: {name}\n    app.kubernetes.io/part-of: {rng.choice(WORDS)}\n"
        f"  annotations:\n    checksum/config: {rng.randbytes(32).hex()}\n"
        f"    checksum/secret: {rng.randbytes(32).hex()}\n"
        f"spec:\n  replicas: {rng.randrange(1, 5)}\n  selector:\n    matchLabels:\n"
        f"      app.kubernetes.io/name: {name}\n  template:\n    metadata:\n      labels:\n"
        f"        app.kubernetes.io/name: {name}\n    spec:\n      containers:\n"
        f"        - name: {rng.choice(WORDS)}\n"
        f"          image: example.com/{rng.choice(WORDS)}:1.{rng.randrange(20)}.{rng.randrange(50)}\n"
        f"          env:\n{env}"
        f"          resources:\n            requests:\n              cpu: {rng.randrange(50, 500)}m\n"
    )


def generate_tree(root: Path, files: int, bytes_per_file: int) -> int:
    """Deterministic, YAML-like (so compressible like real manifests) content; returns total bytes."""
    rng = random.Random(42)
    total = 0
    for index in range(files):
        folder = root / f"team{index % 20:02d}" / f"app{index % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        documents: list[str] = []
        size = 0
        while size < bytes_per_file:
            documents.append(deployment(rng, f"{rng.choice(WORDS)}-{rng.randrange(10**6)}"))
            size += len(documents[-1])
        (folder / f"deploy-{index:04d}.yaml").write_text("".join(documents))
        total += size
    return total


def best_of(action: Callable[[], object], repeats: int = REPEATS) -> float:
    """The fastest of several runs, after a warm-up: the figure least disturbed by the machine."""
    action()
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return min(timings)


def cli_push_seconds(config: Path, versions: list[str]) -> list[float]:
    timings = []
    for version in versions:
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "ksail_tui.cli.main",
                "-c",
                str(config),
                "workload",
                "push",
                "--version",
                version,
            ],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        timings.append(time.perf_counter() - started)
    return timings


def bench_tree(workdir: Path, port: int, label: str, files: int, bytes_per_file: int) -> None:
    source = workdir / label
    source.mkdir()
    total = generate_tree(source, files, bytes_per_file)
    (workdir / f"{label}-config").mkdir()
    config_path = write_ksail_config(
        workdir / f"{label}-config", port=port, workloads={"app": str(source)}, name=label
    )
    config = load_config(config_path)

    def cold_build() -> None:
        forget_passed_files()
        build_artifact(source, version="1.0.0")

    build = best_of(cold_build)
    warm_build = best_of(lambda: build_artifact(source, version="1.0.0"))
    pack = best_of(lambda: build_artifact(source, version="1.0.0", validate_manifests=False))
    tar = best_of(
        lambda: subprocess.run(["tar", "-czf", str(workdir / f"{label}.tgz"), "-C", str(source), "."])
    )
    built = build_artifact(source, version="1.0.0")

    repositories = itertools.count()

    def push_once() -> None:
        repository = f"bench/{label}-{next(repositories)}"  # a fresh repository: nothing to skip
        with RegistryClient(config.registry_endpoint) as client:
            client.upload_blob(repository, built.config_digest, built.config)
            client.upload_blob(repository, built.layer_digest, built.layer)
            client.put_manifest(repository, built.version, built.manifest)

    push = best_of(push_once)
    cli = cli_push_seconds(config_path, [f"2.0.{n}" for n in range(REPEATS)])
    print(f"## {label}: {files} files, {total / 1e6:.1f} MB, layer {len(built.layer) / 1e6:.2f} MB")
    print(f"  build (validate + pack)   {build:7.3f} s   first build in a process")
    print(f"  build, files unchanged    {warm_build:7.3f} s   again in the same process (watch mode)")
    print(f"  pack only                 {pack:7.3f} s")
    print(f"  tar -czf                  {tar:7.3f} s   pack / tar = {pack / tar:.2f}x (goal <= 1.5x)")
    print(f"  push of the built blobs   {push:7.3f} s")
    print(
        f"  CLI `workload push`       {min(cli):7.3f} s best, {statistics.median(cli):.3f} s median "
        "(new version each run; goal < 0.5 s for the small tree)"
    )


def bench_listing(workdir: Path, port: int, versions: int = 60) -> None:
    """`workload list` of a repository with many versions: manifests are fetched concurrently."""
    source = workdir / "listing"
    generate_tree(source, 5, 1_000)
    (workdir / "listing-config").mkdir()
    config = load_config(
        write_ksail_config(
            workdir / "listing-config", port=port, workloads={"app": str(source)}, name="listing"
        )
    )
    built = build_artifact(source, version="1.0.0")
    repository = config.repository_of(config.workload("app"))
    with RegistryClient(config.registry_endpoint) as client:
        client.upload_blob(repository, built.config_digest, built.config)
        client.upload_blob(repository, built.layer_digest, built.layer)
        for minor in range(versions):
            client.put_manifest(repository, f"1.{minor}.0", built.manifest)
    listing = best_of(lambda: list_versions(config, "app"))
    print(f"## list: {versions} versions, every manifest fetched")
    print(f"  `workload list` (service)  {listing:7.3f} s")


def main() -> None:
    with tempfile.TemporaryDirectory() as temporary:
        workdir = Path(temporary)
        process, registry = start_registry(workdir / "registry")
        try:
            bench_tree(workdir, registry.port, "small", files=20, bytes_per_file=1_000)
            bench_tree(workdir, registry.port, "large", files=2_000, bytes_per_file=10_000)
            bench_listing(workdir, registry.port)
        finally:
            stop_registry(process)


if __name__ == "__main__":
    main()
