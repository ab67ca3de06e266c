"""Which files of a source folder go into an artifact: Flux's ignore rules in gitignore syntax.

Three sources of patterns, in rising precedence (the last pattern that matches decides, as in git):
Flux's default list, the ``.sourceignore`` files of the tree (each applies to its own folder and
below, so a deeper file overrides a shallower one), and the workload's ``ignore`` list in ksail.yaml,
which wins like ``spec.ignore`` does over ``.sourceignore`` in source-controller.

Paths are tuples of path components relative to the source folder. The walk never descends into
an ignored folder, so, as in git, a negated pattern cannot bring back a file whose folder is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ksail_tui.errors import InvalidInput

SOURCEIGNORE_FILE = ".sourceignore"

# What `flux push artifact` and source-controller always leave out.
FLUX_DEFAULT_IGNORE = (
    ".git/",
    ".gitignore",
    ".gitmodules",
    ".gitattributes",
    "*.jpg",
    "*.jpeg",
    "*.gif",
    "*.png",
    "*.wmv",
    "*.flv",
    "*.tar.gz",
    "*.zip",
)

PathParts = tuple[str, ...]


# One step of a glob, matched one character at a time (see Glob).
_LITERAL, _ONE, _CLASS, _STAR, _ANY_DEPTH, _FOLDERS = range(6)
_MAY_BE_EMPTY = (_STAR, _ANY_DEPTH, _FOLDERS)


@dataclass(frozen=True, slots=True)
class Glob:
    """A gitignore glob, matched in time polynomial in the path's length whatever the pattern.

    A regular expression does it fastest, but it backtracks: ``[^/]*a[^/]*a…b`` takes exponential
    time on a long run of ``a``. With at most two unbounded steps it is at worst quadratic, so
    such globs (nearly all: ``*.png``, ``docs/**/*.md``) use one; the others step through the
    tokens with the set of places the glob can be at, linear but slower.
    """

    tokens: tuple[tuple[int, str], ...]  # (kind, literal text or a one-character class regex)
    regex: re.Pattern[str] | None = None

    @classmethod
    def of(cls, tokens: Sequence[tuple[int, str]]) -> Glob:
        if sum(kind in _MAY_BE_EMPTY for kind, _ in tokens) > 2:
            return cls(tuple(tokens))
        return cls(tuple(tokens), regex_of(tokens))

    def match_stepwise(self, path: str) -> bool:
        places = self._closure({0})
        for char in path:
            places = self._closure({after for place in places for after in self._step(place, char)})
            if not places:
                return False
        return len(self.tokens) in places

    def _step(self, place: int, char: str) -> tuple[int, ...]:
        """Where ``place`` goes on ``char``; a negative place ``~i`` is inside a folder name that
        token ``i`` (``**/``) consumes, which only a '/' ends."""
        if place < 0:
            return (~place,) if char == "/" else (place,)
        if place == len(self.tokens):
            return ()
        kind, text = self.tokens[place]
        if kind == _LITERAL:
            return (place + 1,) if char == text else ()
        if kind == _ANY_DEPTH:
            return (place,)
        if char == "/":
            return (place,) if kind == _FOLDERS else ()
        if kind == _STAR:
            return (place,)
        if kind == _FOLDERS:
            return (~place,)
        if kind == _ONE or re.fullmatch(text, char, re.DOTALL):
            return (place + 1,)
        return ()

    def _closure(self, places: set[int]) -> set[int]:
        """Add the places reached without a character: past a star or an (empty) ``**``."""
        todo = list(places)
        while todo:
            place = todo.pop()
            zero_width = 0 <= place < len(self.tokens) and self.tokens[place][0] in _MAY_BE_EMPTY
            if zero_width and place + 1 not in places:
                places.add(place + 1)
                todo.append(place + 1)
        return places


@dataclass(frozen=True, slots=True)
class IgnorePattern:
    """One gitignore line, bound to the folder (``domain``) whose file it came from."""

    text: str
    glob: Glob
    negated: bool
    directory_only: bool
    domain: PathParts = ()

    def matches(self, parts: PathParts, is_dir: bool) -> bool:
        if self.directory_only and not is_dir:
            return False
        depth = len(self.domain)
        if len(parts) <= depth or parts[:depth] != self.domain:
            return False
        path, regex = "/".join(parts[depth:]), self.glob.regex
        # The regex is called from here: one more call would cost as much as the match itself.
        return regex.match(path) is not None if regex is not None else self.glob.match_stepwise(path)


def parse_pattern(line: str, domain: PathParts = ()) -> IgnorePattern | None:
    """A gitignore line as a pattern, or None for blank lines and comments.

    Raises ValueError for a glob that cannot match anything (e.g. the range ``[z-a]``): git and
    Flux quietly never match it, which would push a file the user meant to leave out.
    """
    text = line.rstrip("\n\r")
    # Trailing spaces are ignored unless escaped with a backslash.
    stripped = text.rstrip(" ")
    if stripped.endswith("\\") and len(stripped) < len(text):
        stripped += " "
    text = stripped
    if not text or text.startswith("#"):
        return None
    negated = text.startswith("!")
    # "!" negates; a backslash escapes a leading "!" or "#".
    if negated or text.startswith(("\\!", "\\#")):
        text = text[1:]
    directory_only = text.endswith("/")
    text = text.rstrip("/")
    if not text:
        return None
    # A slash at the start or in the middle anchors the pattern to its folder;
    # without one the pattern matches at any depth.
    anchored = "/" in text
    tokens = _glob_tokens(text.lstrip("/"))
    if not anchored:
        tokens = [(_FOLDERS, ""), *tokens]
    return IgnorePattern(line.strip(), Glob.of(tokens), negated, directory_only, domain)


def parse_patterns(lines: Iterable[str], domain: PathParts = (), *, origin: str) -> list[IgnorePattern]:
    """The patterns of ``lines``; InvalidInput naming ``origin`` and the line for a broken one."""
    patterns = []
    for number, line in enumerate(lines, 1):
        try:
            pattern = parse_pattern(line, domain)
        except ValueError as error:
            raise InvalidInput(
                f"{origin}:{number}: the ignore pattern {line.strip()!r} cannot match anything: {error}",
                hint="fix the pattern (gitignore syntax), or remove it",
            ) from None
        if pattern is not None:
            patterns.append(pattern)
    return patterns


def regex_of(tokens: Sequence[tuple[int, str]]) -> re.Pattern[str]:
    """The regular expression that matches what the tokens match (and backtracks)."""
    steps = {_ONE: "[^/]", _STAR: "[^/]*", _ANY_DEPTH: ".*", _FOLDERS: "(?:.*/)?"}
    body = "".join(
        re.escape(text) if kind == _LITERAL else "(?!/)" + text if kind == _CLASS else steps[kind]
        for kind, text in tokens
    )
    return re.compile(body + r"\Z", re.DOTALL)


def _glob_tokens(glob: str) -> list[tuple[int, str]]:
    """One gitignore glob (without its anchoring slash) as Glob tokens."""
    out: list[tuple[int, str]] = []
    i, size = 0, len(glob)
    while i < size:
        char = glob[i]
        if char == "*":
            run_end = i
            while run_end < size and glob[run_end] == "*":
                run_end += 1
            whole_segment = (i == 0 or glob[i - 1] == "/") and (run_end == size or glob[run_end] == "/")
            if run_end - i == 2 and whole_segment:
                if run_end == size:
                    out.append((_ANY_DEPTH, ""))  # "dir/**": everything inside
                else:
                    out.append((_FOLDERS, ""))  # "**/x" or "a/**/b": zero or more folders
                    run_end += 1
            else:
                out.append((_STAR, ""))
            i = run_end
        elif char == "?":
            out.append((_ONE, ""))
            i += 1
        elif char == "[":
            start = i + 1
            negated_class = glob[start : start + 1] in ("!", "^")
            if negated_class:
                start += 1
            # A "]" right after the opening bracket is a literal member, as in fnmatch.
            close = glob.find("]", start + 1 if glob[start : start + 1] == "]" else start)
            if close == -1:
                out.append((_LITERAL, char))
                i += 1
                continue
            members = "".join("\\" + c if c in "\\[]^" else c for c in glob[start:close])
            regex = "[" + ("^" if negated_class else "") + members + "]"
            try:
                re.compile(regex)
            except re.error as error:
                raise ValueError(str(error).split(" at position")[0]) from None
            out.append((_CLASS, regex))
            i = close + 1
        elif char == "\\" and i + 1 < size:
            out.append((_LITERAL, glob[i + 1]))
            i += 2
        else:
            out.append((_LITERAL, char))
            i += 1
    return out


class IgnoreRules:
    """Decides, path by path, whether an entry of the source folder is left out of the artifact."""

    def __init__(self, configured: Iterable[str] = (), *, defaults: Iterable[str] = FLUX_DEFAULT_IGNORE):
        self._defaults = parse_patterns(defaults, origin="Flux's default ignore list")
        self._sourceignore: list[IgnorePattern] = []
        self._configured = parse_patterns(configured, origin="the workload's ignore list in ksail.yaml")
        self._plan: list[IgnorePattern] = []
        self._plan_for = -1  # how many .sourceignore patterns the plan holds

    def add_sourceignore(self, folder: PathParts, text: str) -> None:
        """Patterns of the ``.sourceignore`` file found in ``folder`` (added as the walk reaches it)."""
        origin = "/".join((*folder, SOURCEIGNORE_FILE))
        self._sourceignore.extend(parse_patterns(text.splitlines(), folder, origin=origin))

    def ignored(self, parts: PathParts, is_dir: bool) -> bool:
        if self._plan_for != len(self._sourceignore):
            self._plan = _merged(
                [
                    pattern
                    for patterns in (self._configured, self._sourceignore, self._defaults)
                    for pattern in reversed(patterns)
                ]
            )
            self._plan_for = len(self._sourceignore)
        for pattern in self._plan:
            if pattern.matches(parts, is_dir):
                return not pattern.negated
        return False


def _decides_like(pattern: IgnorePattern) -> tuple[bool, bool, PathParts]:
    return pattern.negated, pattern.directory_only, pattern.domain


def _merged(patterns: list[IgnorePattern]) -> list[IgnorePattern]:
    """The patterns in the order they are tried, each run of neighbours that decide alike (negated or
    not, folders only or not, same folder) and have a regex as one pattern with one regex: which of
    them matches does not change the verdict, and every entry of the tree is tried against Flux's
    twelve defaults: one regex call instead of twelve."""
    merged: list[IgnorePattern] = []
    run: list[IgnorePattern] = []

    def flush() -> None:
        if len(run) == 1:
            merged.append(run[0])
        elif run:
            regex = re.compile(
                "|".join(f"(?:{pattern.glob.regex.pattern})" for pattern in run if pattern.glob.regex),
                re.DOTALL,
            )
            first = run[0]
            text = ", ".join(pattern.text for pattern in run)
            merged.append(
                IgnorePattern(text, Glob((), regex), first.negated, first.directory_only, first.domain)
            )
        run.clear()

    for pattern in patterns:
        if pattern.glob.regex is None or (run and _decides_like(run[0]) != _decides_like(pattern)):
            flush()
        if pattern.glob.regex is None:
            merged.append(pattern)
        else:
            run.append(pattern)
    flush()
    return merged
