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
from collections.abc import Iterable
from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class IgnorePattern:
    """One gitignore line, bound to the folder (``domain``) whose file it came from."""

    text: str
    regex: re.Pattern[str]
    negated: bool
    directory_only: bool
    domain: PathParts = ()

    def matches(self, parts: PathParts, is_dir: bool) -> bool:
        if self.directory_only and not is_dir:
            return False
        depth = len(self.domain)
        if len(parts) <= depth or parts[:depth] != self.domain:
            return False
        return self.regex.match("/".join(parts[depth:])) is not None


def parse_pattern(line: str, domain: PathParts = ()) -> IgnorePattern | None:
    """A gitignore line as a pattern, or None for blank lines and comments."""
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
    body = _glob_to_regex(text.lstrip("/"))
    regex = re.compile(body + r"\Z" if anchored else r"(?:.*/)?" + body + r"\Z", re.DOTALL)
    return IgnorePattern(line.strip(), regex, negated, directory_only, domain)


def parse_patterns(lines: Iterable[str], domain: PathParts = ()) -> list[IgnorePattern]:
    return [pattern for line in lines if (pattern := parse_pattern(line, domain)) is not None]


def _glob_to_regex(glob: str) -> str:
    """Translate one gitignore glob (without its anchoring slash) into a regular expression."""
    out: list[str] = []
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
                    out.append(".*")  # "dir/**": everything inside
                else:
                    out.append("(?:.*/)?")  # "**/x" or "a/**/b": zero or more folders
                    run_end += 1
            else:
                out.append("[^/]*")
            i = run_end
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[":
            start = i + 1
            negated_class = glob[start : start + 1] in ("!", "^")
            if negated_class:
                start += 1
            # A "]" right after the opening bracket is a literal member, as in fnmatch.
            close = glob.find("]", start + 1 if glob[start : start + 1] == "]" else start)
            if close == -1:
                out.append(re.escape(char))
                i += 1
                continue
            members = "".join("\\" + c if c in "\\[]^" else c for c in glob[start:close])
            out.append("[" + ("^" if negated_class else "") + members + "]")
            i = close + 1
        elif char == "\\" and i + 1 < size:
            out.append(re.escape(glob[i + 1]))
            i += 2
        else:
            out.append(re.escape(char))
            i += 1
    return "".join(out)


class IgnoreRules:
    """Decides, path by path, whether an entry of the source folder is left out of the artifact."""

    def __init__(self, configured: Iterable[str] = (), *, defaults: Iterable[str] = FLUX_DEFAULT_IGNORE):
        self._defaults = parse_patterns(defaults)
        self._sourceignore: list[IgnorePattern] = []
        self._configured = parse_patterns(configured)

    def add_sourceignore(self, folder: PathParts, text: str) -> None:
        """Patterns of the ``.sourceignore`` file found in ``folder`` (added as the walk reaches it)."""
        self._sourceignore.extend(parse_patterns(text.splitlines(), folder))

    def ignored(self, parts: PathParts, is_dir: bool) -> bool:
        for patterns in (self._configured, self._sourceignore, self._defaults):
            for pattern in reversed(patterns):
                if pattern.matches(parts, is_dir):
                    return not pattern.negated
        return False
