"""Which files of a source folder go into an artifact: Flux's ignore rules in gitignore syntax.

Three sources of patterns, in rising precedence (the last pattern that matches decides, as in git):
Flux's default list, the ``.sourceignore`` files of the tree (each applies to its own folder and
below, so a deeper file overrides a shallower one), and the workload's ``ignore`` list in ksail.yaml,
which wins like ``spec.ignore`` does over ``.sourceignore`` in source-controller.

Each pattern is matched by pathspec's ``GitIgnoreSpec`` (git's rules) on RE2, which runs in time
linear in the path whatever the pattern, so a hostile ``.sourceignore`` cannot stall a build; this
module holds only Flux's precedence. Paths are tuples of path components relative to the source
folder. The walk never descends into an ignored folder, so, as in git, a negated pattern cannot bring
back a file whose folder is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pathspec
from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern

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


def compile_patterns(lines: Iterable[str], *, origin: str) -> pathspec.GitIgnoreSpec:
    """The gitignore ``lines`` as one spec; InvalidInput naming ``origin`` and the line for a broken one.

    git and Flux quietly never match a glob such as the range ``[z-a]``, which would push a file the
    user meant to leave out: it is refused instead.
    """
    patterns = []
    for number, line in enumerate(lines, 1):
        if line.strip() == "!":  # git reads a lone "!" as no pattern at all
            continue
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
        self._sourceignore: list[tuple[PathParts, pathspec.GitIgnoreSpec]] = []
        self._configured = compile_patterns(configured, origin="the workload's ignore list in ksail.yaml")

    def add_sourceignore(self, folder: PathParts, text: str) -> None:
        """Patterns of the ``.sourceignore`` file found in ``folder`` (added as the walk reaches it)."""
        origin = "/".join((*folder, SOURCEIGNORE_FILE))
        self._sourceignore.append((folder, compile_patterns(text.splitlines(), origin=origin)))

    def ignored(self, parts: PathParts, is_dir: bool) -> bool:
        layers = [((), self._configured), *reversed(self._sourceignore), ((), self._defaults)]
        for domain, spec in layers:
            depth = len(domain)
            if not spec.patterns or len(parts) <= depth or parts[:depth] != domain:
                continue
            # A trailing slash is how pathspec, like git, tells a folder for "build/" patterns.
            verdict = spec.check_file(_matchable("/".join(parts[depth:])) + ("/" if is_dir else "")).include
            if verdict is not None:
                return verdict
        return False


def _matchable(path: str) -> str:
    """``path`` as RE2 can take it: a name that is not UTF-8 arrives with surrogate escapes, for which
    U+FFFD stands in (a wildcard matches it; no pattern read from a UTF-8 file names the raw byte)."""
    if path.isascii():
        return path
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
