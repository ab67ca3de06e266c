"""Semver ranges read the way Masterminds/semver (Flux's library) reads them.

One reader for the simulated source-controller, which resolves ``spec.ref.semver`` with it, and for
prune, which must protect every tag such a range can resolve to. ``semverFilter`` is a Go regular
expression, so it is read by RE2, Go's syntax and linear-time matching: a filter Flux refuses is
refused here too, and a hostile one cannot stall a prune.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import re2
import semver

_PARTIAL_VERSION = re.compile(
    r"^v?(?P<major>\d+|[xX*])(?:\.(?P<minor>\d+|[xX*]))?(?:\.(?P<patch>\d+|[xX*]))?"
    r"(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+(?P<build>[0-9A-Za-z.-]+))?$"
)
_COMPARATOR = re.compile(r"^(?P<op>>=|<=|!=|=>|=<|==|=|>|<|~>|~|\^)?\s*(?P<version>\S+)$")
_WILDCARD = {"x", "X", "*"}


@dataclass(frozen=True)
class _Bound:
    op: str  # one of >=, >, <=, <, =, !=
    version: semver.Version
    allows_prerelease: bool  # Masterminds: a comparator without a prerelease excludes prereleases

    def admits(self, version: semver.Version) -> bool:
        if version.prerelease and not self.allows_prerelease:
            return False
        comparison = version.compare(self.version)
        return {
            ">=": comparison >= 0,
            ">": comparison > 0,
            "<=": comparison <= 0,
            "<": comparison < 0,
            "=": comparison == 0,
            "!=": comparison != 0,
        }[self.op]


class SemverRangeError(ValueError):
    """The range, or its tag filter, cannot be parsed."""


_QUIET = re2.Options()
_QUIET.log_errors = False  # RE2 would print its parse errors on stderr; they are raised instead


def compile_tag_filter(text: str) -> re2._Regexp:
    """``spec.ref.semverFilter`` as source-controller compiles it (Go's regexp is RE2)."""
    try:
        return re2.compile(text, options=_QUIET)
    except re2.error as error:
        reason = error.args[0].decode() if error.args and isinstance(error.args[0], bytes) else str(error)
        raise SemverRangeError(f"semverFilter {text!r} is not a Go regular expression: {reason}") from None


def parse_version(text: str) -> semver.Version | None:
    """A tag as Masterminds' NewVersion reads it: ``v`` prefix and missing parts allowed."""
    match = _PARTIAL_VERSION.match(text)
    if not match or any(part in _WILDCARD for part in match.group("major", "minor", "patch") if part):
        return None
    return semver.Version(
        int(match["major"]),
        int(match["minor"] or 0),
        int(match["patch"] or 0),
        match["pre"],
        match["build"],
    )


def _comparator_bounds(op: str, text: str) -> list[_Bound]:
    match = _PARTIAL_VERSION.match(text)
    if not match:
        raise SemverRangeError(f"improper constraint: {text}")
    parts = [match["major"], match["minor"], match["patch"]]
    # The number of leading concrete parts; "1.2" and "1.2.x" both fix two.
    fixed = 0
    for part in parts:
        if part is None or part in _WILDCARD:
            break
        fixed += 1
    numbers = [int(part) if index < fixed else 0 for index, part in enumerate(parts)]
    pre = match["pre"]
    allows_pre = pre is not None
    base = semver.Version(numbers[0], numbers[1], numbers[2], prerelease=pre if fixed == 3 else None)

    def bound(kind: str, version: semver.Version) -> _Bound:
        return _Bound(kind, version, allows_pre)

    def next_after_fixed(count: int) -> semver.Version:
        if count == 0:
            return semver.Version(0x7FFFFFFF, 0, 0)
        if count == 1:
            return semver.Version(numbers[0] + 1, 0, 0)
        return semver.Version(numbers[0], numbers[1] + 1, 0)

    op = {"=>": ">=", "=<": "<=", "==": "=", "~>": "~"}.get(op, op or "=")
    if fixed == 0 and op in ("=", "^", "~", ">=", "<="):
        return [bound(">=", semver.Version(0, 0, 0))]  # "*": any release
    if op == "=" and fixed == 3:
        return [bound("=", base)]
    if op == "=":
        return [bound(">=", base), bound("<", next_after_fixed(fixed))]
    if op == "!=":
        if fixed == 3:
            return [bound("!=", base)]
        raise SemverRangeError(f"wildcards in '!=' constraints are not supported: {text}")
    if op == ">=":
        return [bound(">=", base)]
    if op == "<":
        return [bound("<", base)]
    if op == ">":
        return [bound(">", base)] if fixed == 3 else [bound(">=", next_after_fixed(fixed))]
    if op == "<=":
        return [bound("<=", base)] if fixed == 3 else [bound("<", next_after_fixed(fixed))]
    if op == "~":
        return [bound(">=", base), bound("<", next_after_fixed(min(fixed, 2)))]
    # Caret: up to the next change of the leftmost non-zero part.
    if numbers[0] > 0 or fixed == 1:
        upper = semver.Version(numbers[0] + 1, 0, 0)
    elif numbers[1] > 0 or fixed == 2:
        upper = semver.Version(0, numbers[1] + 1, 0)
    else:
        upper = semver.Version(0, 0, numbers[2] + 1)
    return [bound(">=", base), bound("<", upper)]


def parse_range(text: str) -> list[list[_Bound]]:
    """``||`` separates alternatives; comparators inside one are ANDed (space or comma separated)."""
    alternatives: list[list[_Bound]] = []
    for alternative in text.split("||"):
        tokens = [token for token in re.split(r"[\s,]+", alternative.strip()) if token]
        bounds: list[_Bound] = []
        index = 0
        while index < len(tokens):
            token = tokens[index]
            if index + 2 < len(tokens) and tokens[index + 1] == "-":  # hyphen range "1.2 - 1.4.5"
                bounds += _comparator_bounds(">=", token) + _comparator_bounds("<=", tokens[index + 2])
                index += 3
                continue
            if token in {">=", "<=", ">", "<", "=", "!=", "~", "^", "~>", "=>", "=<", "=="}:
                if index + 1 >= len(tokens):
                    raise SemverRangeError(f"improper constraint: {text}")
                token += tokens[index + 1]
                index += 1
            match = _COMPARATOR.match(token)
            if not match:
                raise SemverRangeError(f"improper constraint: {text}")
            bounds += _comparator_bounds(match["op"] or "", match["version"])
            index += 1
        if not tokens:
            raise SemverRangeError(f"improper constraint: {text}")
        alternatives.append(bounds)
    return alternatives


def admitted(
    tags: list[str], constraint: str, tag_filter: str | None = None
) -> list[tuple[semver.Version, str]]:
    """The tags inside ``constraint`` that pass ``tag_filter``, with their versions.

    Raises :class:`SemverRangeError` for a range or a filter that cannot be read.
    """
    alternatives = parse_range(constraint)
    pattern = compile_tag_filter(tag_filter) if tag_filter else None
    found = []
    for tag in tags:
        if pattern is not None and not pattern.search(tag):
            continue
        version = parse_version(tag)
        if version is None:
            continue
        if any(all(b.admits(version) for b in bounds) for bounds in alternatives):
            found.append((version, tag))
    return found


def highest_matching(tags: list[str], constraint: str, tag_filter: str | None = None) -> str | None:
    """The tag with the highest version inside ``constraint`` (source-controller's getTagBySemver)."""
    best: tuple[semver.Version, str] | None = None
    for version, tag in admitted(tags, constraint, tag_filter):
        if best is None or version.compare(best[0]) > 0:
            best = (version, tag)
    return best[1] if best else None
