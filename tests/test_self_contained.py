"""A user's clone holds only the repository: no test or module may read a file beside it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# "shared" then "flux" as a path: '../shared/flux', 'parents[2] / "shared" / "flux"'.
SHARED_FLUX = re.compile(r"""shared['"]?\s*[/\\]\s*['"]?flux""")
PARENTS = re.compile(r"__file__\)?(?:\.resolve\(\))?\.parents\[(\d+)\]")
PARENT_CHAIN = re.compile(r"__file__\)?(?:\.resolve\(\))?((?:\.parent)+)\b")


def sources() -> list[Path]:
    return sorted(path for folder in ("ksail_tui", "tests") for path in (ROOT / folder).rglob("*.py"))


def test_no_source_names_the_shared_flux_folder() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sources()
        if path != Path(__file__).resolve()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if SHARED_FLUX.search(line)
    ]
    assert offenders == []


def test_no_source_climbs_above_the_repository() -> None:
    offenders = []
    for path in sources():
        depth = len(path.relative_to(ROOT).parts) - 1  # parents[depth] is the repository itself
        for number, line in enumerate(path.read_text().splitlines(), 1):
            climbs = [int(index) for index in PARENTS.findall(line)]
            climbs += [chain.count(".parent") - 1 for chain in PARENT_CHAIN.findall(line)]
            if any(climb > depth for climb in climbs):
                offenders.append(f"{path.relative_to(ROOT)}:{number}")
    assert offenders == []
