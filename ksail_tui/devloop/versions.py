"""Dev versions: one immutable semver pre-release per change, and which of them may be pruned.

A workload at version ``0.1.0`` gets ``0.1.0-dev.1``, ``0.1.0-dev.2``, ...; at ``1.0.0-rc.1`` it
gets ``1.0.0-rc.1.dev.1``, ... Semver compares numeric identifiers as numbers, so ``dev.10`` sorts
above ``dev.9``, and every dev version sorts below the release it leads up to.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import semver

from ksail_tui.oci.service import sort_tags

DEV_IDENTIFIER = "dev"
# Any dev pre-release, whatever version it leads up to: they are all fair game for pruning.
_ANY_DEV = re.compile(rf"(?:^|\.){DEV_IDENTIFIER}\.(\d+)$")


@dataclass(frozen=True, slots=True)
class DevSeries:
    """The dev pre-releases of one base version."""

    base: str

    @property
    def prefix(self) -> str:
        version = semver.Version.parse(self.base).replace(build=None)
        separator = "." if version.prerelease else "-"
        return f"{version}{separator}{DEV_IDENTIFIER}."

    def version(self, number: int) -> str:
        return f"{self.prefix}{number}"

    def number(self, tag: str) -> int | None:
        """N when ``tag`` is ``<base>-dev.N`` of this series, else None."""
        suffix = tag.removeprefix(self.prefix)
        if suffix == tag or not suffix.isdigit() or (len(suffix) > 1 and suffix.startswith("0")):
            return None
        return int(suffix)

    def next_number(self, tags: Iterable[str]) -> int:
        """One past the highest number in the registry, so a restart never reuses one."""
        return max((n for tag in tags if (n := self.number(tag)) is not None), default=0) + 1


def is_dev_version(tag: str) -> bool:
    text = tag.removeprefix("v")
    if not semver.Version.is_valid(text):
        return False
    prerelease = semver.Version.parse(text).prerelease
    return prerelease is not None and _ANY_DEV.search(prerelease) is not None


@dataclass(frozen=True, slots=True)
class PrunePlan:
    """Arguments for ``prune_versions`` that delete only dev versions beyond the newest ``keep``.

    ``prune_versions`` keeps the newest K semver tags of any kind; K is chosen so that the newest
    ``keep`` dev versions fall inside it, and every other tag is protected, so releases are never
    touched and the tags in use survive wherever they rank.
    """

    keep: int
    protected: frozenset[str]
    doomed: tuple[str, ...]


def plan_dev_prune(tags: Iterable[str], *, keep: int, in_use: Iterable[str]) -> PrunePlan | None:
    """None when nothing needs deleting."""
    in_use = frozenset(in_use)
    ordered = [tag for tag in sort_tags(tags) if semver.Version.is_valid(tag.removeprefix("v"))]
    dev = [tag for tag in ordered if is_dev_version(tag)]
    doomed = tuple(tag for tag in dev[keep:] if tag not in in_use)
    if not doomed:
        return None
    kept_count = ordered.index(dev[keep - 1]) + 1 if keep else 0
    protected = frozenset(tag for tag in ordered if not is_dev_version(tag)) | in_use
    return PrunePlan(keep=kept_count, protected=protected, doomed=doomed)
