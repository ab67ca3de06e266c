"""Artifact build, push and list speed against the floor measured in the same run (issue 18).

Run (from the repository root; needs the registry or docker-registry binary, GNU tar, curl):

    .venv/bin/python benchmarks/bench_artifacts.py [--before DIR] [--rounds N] [--big-files N]

Every figure is the whole `ksail-tui` command as a subprocess (`python -m ksail_tui.cli.main`, so
interpreter start and imports count), the median of N rounds in which the candidates and the floor
run interleaved, one after the other: the machine is shared, and interleaving spreads its load over
all of them alike. `--before DIR` also runs the same commands on another checkout (e.g. the code
before this change, `git archive <commit> | tar -x -C DIR`) and prints its ratios beside.

Rows (the floors): `workload build -O` of 200 / 2,000 / N files (`tar -czf` of the folder, and for
2,000 files Python's tarfile), with peak RSS, each run with an empty cache (nothing checked before);
the 2,000-file build again after one file changed, with the record of the run before (the loop);
`workload build` of 3 files (Python's tarfile of them);
`workload push` of the 2,000-file tree to a new repository (`tar -czf` then `oras push`, the oras
Python client), and again after one file changed, as a new version with the cache of the push before;
`workload list` of 10 / 60 / 300 versions (one `curl` fetching each manifest in turn);
the imports before the first useful work (`python -X importtime`).
"""

from __future__ import annotations

import argparse
import base64
import itertools
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ksail_tui.oci.build import build_artifact  # noqa: E402
from ksail_tui.oci.registry_client import RegistryClient  # noqa: E402
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


TARFILE_SCRIPT = """
import gzip, sys, tarfile
with gzip.GzipFile(filename="", mode="wb", fileobj=open(sys.argv[2], "wb"), mtime=0) as gz:
    with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as archive:
        archive.add(sys.argv[1], arcname=".")
"""

ORAS_PUSH_SCRIPT = """
import os, sys
import oras.provider
os.chdir(os.path.dirname(sys.argv[2]))
layer = os.path.basename(sys.argv[2]) + ":application/vnd.cncf.flux.content.v1.tar+gzip"
registry = oras.provider.Registry(hostname=sys.argv[1], insecure=True)
registry.push(target=sys.argv[3], files=[layer], disable_path_validation=True, quiet=True)
"""


ACCEPT_MANIFEST = "Accept: application/vnd.oci.image.manifest.v1+json"


@dataclass
class Row:
    """One measure: per candidate (and the floor) the wall times and peak RSS of each round."""

    label: str
    seconds: dict[str, list[float]] = field(default_factory=dict)
    rss_kib: dict[str, list[int]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)

    def add(self, who: str, seconds: float, rss_kib: int = 0, cpu: float = 0.0) -> None:
        self.seconds.setdefault(who, []).append(seconds)
        self.rss_kib.setdefault(who, []).append(rss_kib)
        self.cpu.setdefault(who, []).append(cpu)

    def median(self, who: str) -> float:
        return statistics.median(self.seconds[who])

    def median_cpu(self, who: str) -> float:
        return statistics.median(self.cpu[who])


def compile_checkouts(checkouts: dict[str, Path]) -> None:
    """Byte code for each checkout, as an installed package has it: this machine sets
    PYTHONDONTWRITEBYTECODE, so without it every run would compile the product's modules again."""
    for path in checkouts.values():
        subprocess.run([sys.executable, "-m", "compileall", "-q", "ksail_tui"], cwd=path, check=True)


def measured_stderr(tool: list[str], command: list[str], cwd: Path, cache: Path | None) -> str:
    """What ``tool`` (a measuring wrapper such as /usr/bin/time) wrote of ``command``; ``cache`` is
    the run's XDG_CACHE_HOME, where a build keeps its record of the manifests it checked."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)} if cache else None
    result = subprocess.run([*tool, *command], cwd=cwd, capture_output=True, text=True, check=False, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{command} failed: {result.stderr[-2000:]}")
    return result.stderr


def timed(command: list[str], cwd: Path = ROOT, cache: Path | None = None) -> tuple[float, int, float]:
    """Wall seconds, peak RSS (KiB) and CPU seconds (user + system), of the process and the children
    it waited for (tar's gzip, the build's manifest worker)."""
    report = measured_stderr(["/usr/bin/time", "-f", "%e %M %U %S"], command, cwd, cache)
    wall, rss, user, system = report.strip().splitlines()[-1].split()
    return float(wall), int(rss), float(user) + float(system)


def ksail(checkout: Path, config: Path, *args: str) -> list[str]:
    del checkout  # the checkout is the working directory: `python -m` imports its code first
    return [sys.executable, "-m", "ksail_tui.cli.main", "-c", str(config), *args]


def interleave(rounds: int, runs: dict[str, Callable[[], tuple[float, int, float]]], row: Row) -> Row:
    for _ in range(rounds):
        for who, run in runs.items():
            row.add(who, *run())
    return row


def report(row: Row, floor: str, goal: str) -> None:
    base, base_cpu = row.median(floor), row.median_cpu(floor)
    cells = []
    for who in row.seconds:
        rss = max(row.rss_kib[who]) / 1024
        ratio = "" if who == floor else f" = {row.median(who) / base:.2f}x"
        cpu_ratio = "" if who == floor or not base_cpu else f" = {row.median_cpu(who) / base_cpu:.2f}x"
        cpu = f"CPU {row.median_cpu(who):.3f} s{cpu_ratio}"
        cells.append(f"{who} {row.median(who):.3f} s{ratio}, {cpu} (peak {rss:.0f} MiB)")
    print(f"{row.label}: " + "; ".join(cells) + f"  [goal {goal}]", flush=True)


def build_rows(work: Path, checkouts: dict[str, Path], rounds: int, port: int, big_files: int) -> None:
    for files, size in ((200, 10_000), (2_000, 10_000), (big_files, 2_000)):
        build_row(work, checkouts, rounds, port, files, size)
    small = work / "tree-3"
    generate_tree(small, 3, 1_000)
    config = write_ksail_config(work, port=port, workloads={"app": str(small)})
    runs = {
        who: (lambda path=path: timed(ksail(path, config, "workload", "build"), path, fresh_cache(work)))
        for who, path in checkouts.items()
    }
    runs["python tarfile"] = lambda: timed(
        [sys.executable, "-c", TARFILE_SCRIPT, str(small), str(work / "s.tgz")]
    )
    report(interleave(rounds, runs, Row("`workload build` 3 files")), "python tarfile", "<= 0.15 s")


_caches = itertools.count()


def fresh_cache(work: Path) -> Path:
    """An empty cache folder: the build has checked nothing before (a new machine, a new folder)."""
    return work / "caches" / f"cold-{next(_caches)}"


def edit_one_file(source: Path) -> None:
    """One manifest changed, as between two builds of the edit-build-push loop."""
    manifest = next(source.glob("team00/app0/deploy-*.yaml"))
    manifest.write_text(manifest.read_text().split("# edit")[0] + f"# edit {next(_caches)}\n")


def build_row(work: Path, checkouts: dict[str, Path], rounds: int, port: int, files: int, size: int) -> None:
    source = work / f"tree-{files}"
    total = generate_tree(source, files, size)
    config = write_ksail_config(work, port=port, workloads={"app": str(source)})
    out = work / "out.tgz"
    build = ["workload", "build", "-O", str(out)]
    runs: dict[str, Callable[[], tuple[float, int, float]]] = {
        who: (lambda path=path: timed(ksail(path, config, *build), path, fresh_cache(work)))
        for who, path in checkouts.items()
    }
    runs["tar -czf"] = lambda: timed(["tar", "-czf", str(out), "-C", str(source), "."])
    if files == 2_000:
        runs["python tarfile"] = lambda: timed([sys.executable, "-c", TARFILE_SCRIPT, str(source), str(out)])
    row = interleave(rounds, runs, Row(f"`workload build -O` {files} files ({total / 1e6:.1f} MB)"))
    report(row, "tar -czf", "<= 1.0x tar -czf, memory flat")
    if files == 2_000:
        # The loop: the same folder built again after one file changed, each candidate with its own
        # cache kept across its runs (a build before this change keeps none).
        warm = {who: work / "caches" / f"warm-{who}" for who in checkouts}
        for who, path in checkouts.items():
            timed(ksail(path, config, *build), path, warm[who])

        def again(who: str, path: Path) -> tuple[float, int, float]:
            edit_one_file(source)
            return timed(ksail(path, config, *build), path, warm[who])

        runs = {who: (lambda who=who, path=path: again(who, path)) for who, path in checkouts.items()}
        runs["tar -czf"] = lambda: timed(["tar", "-czf", str(out), "-C", str(source), "."])
        row = interleave(rounds, runs, Row(f"`workload build -O` {files} files again, one file changed"))
        report(row, "tar -czf", "<= 1.0x tar -czf")
    shutil.rmtree(source)


def push_row(work: Path, checkouts: dict[str, Path], rounds: int, port: int) -> None:
    source = work / "push-tree"
    generate_tree(source, 2_000, 10_000)
    counter = itertools.count()

    def push(path: Path) -> tuple[float, int, float]:
        name = f"push{next(counter)}"  # a new repository every time: nothing to skip
        folder = work / name
        folder.mkdir()
        config = write_ksail_config(folder, port=port, workloads={name: str(source)}, name=name)
        return timed(ksail(path, config, "workload", "push"), path, fresh_cache(work))

    def tar_then_oras() -> tuple[float, int, float]:
        layer = work / "oras" / "layer.tar.gz"
        layer.parent.mkdir(exist_ok=True)
        target = f"127.0.0.1:{port}/oras/push{next(counter)}:1.0.0"
        first = timed(["tar", "-czf", str(layer), "-C", str(source), "."])
        second = timed([sys.executable, "-c", ORAS_PUSH_SCRIPT, f"127.0.0.1:{port}", str(layer), target])
        return first[0] + second[0], max(first[1], second[1]), first[2] + second[2]

    runs: dict[str, Callable[[], tuple[float, int, float]]] = {
        who: (lambda path=path: push(path)) for who, path in checkouts.items()
    }
    runs["tar + oras push"] = tar_then_oras
    report(
        interleave(rounds, runs, Row("`workload push` 2000 files, new repository")),
        "tar + oras push",
        "<= 1.0x",
    )
    # The loop: a new version of the same workload after one file changed, each candidate with its
    # own repository and cache kept across its runs.
    warm: dict[str, tuple[Path, Path]] = {}
    for who, path in checkouts.items():
        folder = work / f"loop-{who}"
        folder.mkdir()
        config = write_ksail_config(
            folder, port=port, workloads={f"loop-{who}": str(source)}, name=f"loop-{who}"
        )
        warm[who] = (config, work / "caches" / f"push-{who}")
        timed(ksail(path, config, "workload", "push", "--version", "0.0.1"), path, warm[who][1])

    def push_again(who: str, path: Path) -> tuple[float, int, float]:
        edit_one_file(source)
        config, cache = warm[who]
        return timed(
            ksail(path, config, "workload", "push", "--version", f"1.0.{next(counter)}"), path, cache
        )

    runs = {who: (lambda who=who, path=path: push_again(who, path)) for who, path in checkouts.items()}
    runs["tar + oras push"] = tar_then_oras
    report(
        interleave(rounds, runs, Row("`workload push` 2000 files again, one file changed, new version")),
        "tar + oras push",
        "<= 1.0x",
    )
    shutil.rmtree(source)


def list_rows(work: Path, checkouts: dict[str, Path], rounds: int, port: int) -> None:
    source = work / "list-tree"
    generate_tree(source, 5, 1_000)
    built = build_artifact(source, version="1.0.0")
    assert built.layer is not None
    for versions in (10, 60, 300):
        name = f"list{versions}"
        (work / name).mkdir()
        config = write_ksail_config(work / name, port=port, workloads={name: str(source)}, name=name)
        repository = name
        with RegistryClient(f"127.0.0.1:{port}") as client:
            client.upload_blob(repository, built.config_digest, built.config)
            client.upload_blob(repository, built.layer_digest, built.layer)
            for minor in range(versions):
                client.put_manifest(repository, f"1.{minor}.0", built.manifest)
        urls = [f"http://127.0.0.1:{port}/v2/{repository}/manifests/1.{minor}.0" for minor in range(versions)]
        runs: dict[str, Callable[[], tuple[float, int, float]]] = {
            who: (lambda path=path, config=config: timed(ksail(path, config, "workload", "list"), path))
            for who, path in checkouts.items()
        }
        runs["curl"] = lambda urls=urls: timed(["curl", "-sf", "-H", ACCEPT_MANIFEST, *urls])
        report(interleave(rounds, runs, Row(f"`workload list` {versions} versions")), "curl", "<= 1.0x curl")


def import_rows(work: Path, checkouts: dict[str, Path], rounds: int, port: int) -> None:
    """Seconds of imports (the sum of `-X importtime`'s top-level modules) before the command works."""
    source = work / "import-tree"
    generate_tree(source, 3, 1_000)
    config = write_ksail_config(work, port=port, workloads={"app": str(source)})
    for command in (["workload", "build"], ["workload", "list"], ["workload", "push", "--version", "9.9.9"]):
        row = Row(f"imports of `{' '.join(command[:2])}`")
        http: dict[str, bool] = {}
        for _ in range(rounds):
            for who, path in checkouts.items():
                result = subprocess.run(
                    [sys.executable, "-X", "importtime", *ksail(path, config, *command)[1:]],
                    cwd=path,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                top = re.findall(r"import time:\s+\d+ \|\s+(\d+) \| (\S+)", result.stderr)
                row.add(who, sum(int(micros) for micros, _ in top) / 1e6)
                http[who] = re.search(r"\|\s+requests$", result.stderr, re.M) is not None
        cells = [f"{who} {row.median(who):.3f} s, requests loaded: {http[who]}" for who in checkouts]
        print(f"{row.label}: {'; '.join(cells)}  [goal <= 0.1 s to first useful work]", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", type=Path, help="another checkout to measure beside this one")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--big-files", type=int, default=20_000)
    parser.add_argument("--only", choices=["build", "push", "list", "imports"], action="append")
    args = parser.parse_args()
    checkouts = {"ksail-tui": ROOT}
    if args.before:
        checkouts = {"before": args.before.resolve(), "after": ROOT}
    only = set(args.only or ["build", "push", "list", "imports"])
    compile_checkouts(checkouts)
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} UTC, {args.rounds} interleaved rounds, medians", flush=True)
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        process, registry = start_registry(work / "registry")
        try:
            if "imports" in only:
                import_rows(work, checkouts, args.rounds, registry.port)
            if "build" in only:
                build_rows(work, checkouts, args.rounds, registry.port, args.big_files)
            if "push" in only:
                push_row(work, checkouts, args.rounds, registry.port)
            if "list" in only:
                list_rows(work, checkouts, args.rounds, registry.port)
        finally:
            stop_registry(process)


if __name__ == "__main__":
    main()
