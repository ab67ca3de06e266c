"""Which files of a source folder go into an artifact: Flux's ignore rules in gitignore syntax.

Three sources of patterns, in rising precedence (the last pattern that matches decides, as in git):
Flux's default list, the ``.sourceignore`` files of the tree (each applies to its own folder and
below, so a deeper file overrides a shallower one), and the workload's ``ignore`` list in ksail.yaml,
which wins like ``spec.ignore`` does over ``.sourceignore`` in source-controller.

Patterns are matched by pathspec's ``GitIgnoreSpec`` (git's rules) on RE2, which runs in time
linear in the path whatever the pattern, so a hostile ``.sourceignore`` cannot stall a build; this
module holds Flux's precedence. A list of plain patterns only (a name, or ``*`` and an ending, as in
Flux's defaults) is matched name by name without loading pathspec, which costs a small build ~15 ms.

Paths are tuples of path components relative to the source folder. The walk never descends into an
ignored folder, so, as in git, a negated pattern cannot bring back a file whose folder is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

from ksail_tui.errors import InvalidInput

if TYPE_CHECKING:
    import pathspec

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


# A name, or "*" and an ending, with an optional "/" for folders only: in git's rules such a pattern
# matches an entry by its name whole or by its end, in whatever folder ("." and "..", which name no
# entry, are left to pathspec).
_PLAIN_PATTERN = re.compile(r"(\*?)(?!\.\.?/?$)([A-Za-z0-9._+~-]+)(/?)")


class Patterns(Protocol):
    """One list of gitignore patterns; the verdict of the last one that matches, None if none does."""

    def verdict(self, parts: PathParts, is_dir: bool) -> bool | None: ...


class _NoPatterns:
    def verdict(self, parts: PathParts, is_dir: bool) -> bool | None:
        return None


class _PlainPatterns:
    """Plain patterns that only leave out (no "!"), so their order does not matter."""

    def __init__(self, plain: Sequence[re.Match[str]]):
        self._names = {p[2] for p in plain if not p[1] and not p[3]}
        self._folder_names = {p[2] for p in plain if not p[1] and p[3]}
        self._endings = tuple(p[2] for p in plain if p[1] and not p[3])
        self._folder_endings = tuple(p[2] for p in plain if p[1] and p[3])

    def verdict(self, parts: PathParts, is_dir: bool) -> bool | None:
        # As in git, what is inside a folder the patterns leave out is left out with it.
        last = len(parts) - 1
        for index, name in enumerate(parts):
            if name in self._names or name.endswith(self._endings):
                return True
            if (is_dir or index < last) and (
                name in self._folder_names or name.endswith(self._folder_endings)
            ):
                return True
        return None


class _GitIgnorePatterns:
    def __init__(self, spec: pathspec.GitIgnoreSpec):
        self._spec = spec

    def verdict(self, parts: PathParts, is_dir: bool) -> bool | None:
        # A trailing slash is how pathspec, like git, tells a folder for "build/" patterns.
        path = _matchable("/".join(parts)) + ("/" if is_dir else "")
        verdict: bool | None = self._spec.check_file(path).include
        return verdict


def compile_patterns(lines: Iterable[str], *, origin: str) -> Patterns:
    """The gitignore ``lines`` as one list; InvalidInput naming ``origin`` and the line for a broken one.

    git and Flux quietly never match a glob such as the range ``[z-a]``, which would push a file the
    user meant to leave out: it is refused instead.
    """
    numbered = [
        (number, line)
        for number, line in enumerate(lines, 1)
        # Neither a blank line nor a comment is a pattern; git reads a lone "!" as none either.
        if line.strip() and not line.startswith("#") and line.strip() != "!"
    ]
    if not numbered:
        return _NoPatterns()
    plain = [_PLAIN_PATTERN.fullmatch(line) for _, line in numbered]
    if all(plain):
        return _PlainPatterns([match for match in plain if match])
    return _GitIgnorePatterns(_gitignore_spec(numbered, origin))


def _gitignore_spec(numbered: list[tuple[int, str]], origin: str) -> pathspec.GitIgnoreSpec:
    import pathspec  # ~15 ms of start-up, loaded only for lists that are not plain
    from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern

    patterns = []
    for number, line in numbered:
        try:
            patterns.append(GitIgnoreSpecPattern(line))
        except (ValueError, re.error) as error:
            raise InvalidInput(
                f"{origin}:{number}: the ignore pattern {line.strip()!r} cannot match anything: "
                f"{str(error).split(' at position')[0]}",
                hint="fix the pattern (gitignore syntax), or remove it",
            ) from None
    return pathspec.GitIgnoreSpec(patterns, backend="re2")


class IgnoreRules:
    """Decides, path by path, whether an entry of the source folder is left out of the artifact."""

    def __init__(self, configured: Iterable[str] = (), *, defaults: Iterable[str] = FLUX_DEFAULT_IGNORE):
        self._defaults = compile_patterns(defaults, origin="Flux's default ignore list")
        # (folder, its .sourceignore) in the order the walk reaches them: parents before children.
        self._sourceignore: list[tuple[PathParts, Patterns]] = []
        self._configured = compile_patterns(configured, origin="the workload's ignore list in ksail.yaml")

    def add_sourceignore(self, folder: PathParts, text: str) -> None:
        """Patterns of the ``.sourceignore`` file found in ``folder`` (added as the walk reaches it)."""
        origin = "/".join((*folder, SOURCEIGNORE_FILE))
        self._sourceignore.append((folder, compile_patterns(text.splitlines(), origin=origin)))

    def ignored(self, parts: PathParts, is_dir: bool) -> bool:
        layers = [((), self._configured), *reversed(self._sourceignore), ((), self._defaults)]
        for domain, patterns in layers:
            depth = len(domain)
            if len(parts) <= depth or parts[:depth] != domain:
                continue
            verdict = patterns.verdict(parts[depth:], is_dir)
            if verdict is not None:
                return verdict
        return False


def _matchable(path: str) -> str:
    """``path`` as RE2 can take it: a name that is not UTF-8 arrives with surrogate escapes, for which
    U+FFFD stands in (a wildcard matches it; no pattern read from a UTF-8 file names the raw byte)."""
    if path.isascii():
        return path
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
