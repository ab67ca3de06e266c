"""Instructions counted by valgrind's callgrind, which the load of a shared machine does not change
(issue 18). Seconds on this machine move by 50 % between runs; these counts repeat to a few parts in
a thousand, so they show what a change saved where the timed ratios of bench_artifacts.py cannot.

Run (from the repository root; needs valgrind):

    .venv/bin/python benchmarks/bench_instructions.py [--before DIR]

Rows: the whole `workload build` of 3 files, with nothing recorded (start-up is nearly all of it);
the manifest checks of the 2,000-file tree of bench_artifacts.py in one process (every file read and
checked, less the same script that only reads them); the whole `workload build -O` of that tree after
one file changed, its caches warm from the build before (the loop). Threads' instructions add up;
the manifest worker, a second process, is not counted (the loop and the small build start none).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_artifacts import (  # noqa: E402
    compile_checkouts,
    edit_one_file,
    generate_tree,
    ksail,
    measured_stderr,
)
from tests.fixtures.registry import write_ksail_config  # noqa: E402

CHECK_SCRIPT = """
import sys
from pathlib import Path
from ksail_tui.oci.manifests import check_manifest
root = Path(sys.argv[1])
files = [(str(path.relative_to(root)), path.read_bytes()) for path in sorted(root.rglob("*.yaml"))]
if sys.argv[2] == "check":
    for name, data in files:
        check_manifest(name, data)
"""


def instructions(command: list[str], cwd: Path, cache: Path) -> int:
    report = measured_stderr(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"], command, cwd, cache
    )
    found = re.search(r"Collected : (\d+)", report)
    if not found:
        raise RuntimeError(f"callgrind counted nothing for {command}: {report[-2000:]}")
    return int(found[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", type=Path, help="another checkout to measure beside this one")
    args = parser.parse_args()
    checkouts = {"before": args.before.resolve(), "after": ROOT} if args.before else {"ksail-tui": ROOT}
    compile_checkouts(checkouts)
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        small, big = work / "tree-3", work / "tree-2000"
        generate_tree(small, 3, 1_000)
        generate_tree(big, 2_000, 10_000)
        rows: dict[str, dict[str, int]] = {"build-3": {}, "checks-2000": {}, "loop-2000": {}}
        for who, path in checkouts.items():
            caches = work / f"cache-{who}"
            config = write_ksail_config(work, port=5999, workloads={"app": str(small)})
            rows["build-3"][who] = instructions(
                ksail(path, config, "workload", "build"), path, caches / "small"
            )
            shutil.rmtree(caches / "small")
            checks = [sys.executable, "-c", CHECK_SCRIPT, str(big)]
            rows["checks-2000"][who] = instructions([*checks, "check"], path, caches) - instructions(
                [*checks, "read"], path, caches
            )
            config = write_ksail_config(work, port=5999, workloads={"app": str(big)})
            out = work / "out.tgz"
            environment = {**os.environ, "XDG_CACHE_HOME": str(caches / "loop")}
            subprocess.run(
                ksail(path, config, "workload", "build", "-O", str(out)),
                cwd=path,
                env=environment,
                check=True,
                capture_output=True,
            )
            edit_one_file(big)
            rows["loop-2000"][who] = instructions(
                ksail(path, config, "workload", "build", "-O", str(out)), path, caches / "loop"
            )
        labels = {
            "build-3": "`workload build` 3 files, whole command",
            "checks-2000": "manifest checks of 2,000 files (21.5 MB), in one process",
            "loop-2000": "`workload build -O` 2,000 files again, one file changed, whole command",
        }
        for key, label in labels.items():
            cells = [f"{who} {count / 1e9:.3f} G" for who, count in rows[key].items()]
            if args.before:
                cells.append(f"after/before {rows[key]['after'] / rows[key]['before']:.3f}")
            print(f"{label}: {'; '.join(cells)}", flush=True)


if __name__ == "__main__":
    main()
