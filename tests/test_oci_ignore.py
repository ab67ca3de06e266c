"""Flux's ignore rules in gitignore syntax: defaults, .sourceignore domains and precedence."""

from __future__ import annotations

import pathspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ksail_tui.oci.ignore import FLUX_DEFAULT_IGNORE, IgnoreRules


def matches(pattern: str, path: str, *, is_dir: bool = False) -> bool:
    return IgnoreRules([pattern], defaults=()).ignored(tuple(path.split("/")), is_dir)


@pytest.mark.parametrize(
    ("pattern", "path", "is_dir", "expected"),
    [
        ("*.png", "logo.png", False, True),
        ("*.png", "docs/img/logo.png", False, True),
        ("*.png", "logo.png.yaml", False, False),
        ("/secret.yaml", "secret.yaml", False, True),
        ("/secret.yaml", "sub/secret.yaml", False, False),
        ("docs/*.md", "docs/a.md", False, True),
        ("docs/*.md", "x/docs/a.md", False, False),
        ("docs/*.md", "docs/sub/a.md", False, False),
        ("**/tmp", "a/b/tmp", True, True),
        ("**/tmp", "tmp", True, True),
        ("a/**/z.yaml", "a/z.yaml", False, True),
        ("a/**/z.yaml", "a/b/c/z.yaml", False, True),
        ("build/**", "build/x.yaml", False, True),
        ("build/", "build", True, True),
        ("build/", "build", False, False),
        ("file?.yaml", "file1.yaml", False, True),
        ("file?.yaml", "file10.yaml", False, False),
        ("[ab].yaml", "a.yaml", False, True),
        ("[!ab].yaml", "a.yaml", False, False),
        ("[!ab].yaml", "c.yaml", False, True),
        ("\\#literal", "#literal", False, True),
        ("trailing.yaml   ", "trailing.yaml", False, True),
    ],
)
def test_gitignore_patterns(pattern: str, path: str, is_dir: bool, expected: bool) -> None:
    assert matches(pattern, path, is_dir=is_dir) is expected


def test_comments_and_blank_lines_are_not_patterns() -> None:
    rules = IgnoreRules(["# a comment", "   ", "!"], defaults=())
    assert not rules.ignored(("# a comment",), is_dir=False)
    assert not rules.ignored(("a.yaml",), is_dir=False)


def test_flux_defaults_leave_out_vcs_files_and_binaries() -> None:
    rules = IgnoreRules()
    assert rules.ignored((".git",), is_dir=True)
    assert rules.ignored((".git", "objects", "ab"), is_dir=False)  # what the watcher sees of a commit
    assert rules.ignored((".gitignore",), is_dir=False)
    assert rules.ignored(("img", "a.jpeg"), is_dir=False)
    assert rules.ignored(("bundle.tar.gz",), is_dir=False)
    assert not rules.ignored(("app.yaml",), is_dir=False)
    assert not rules.ignored((".sourceignore",), is_dir=False)


def test_sourceignore_applies_to_its_own_folder_only() -> None:
    rules = IgnoreRules()
    rules.add_sourceignore(("team",), "*.txt\n/local.yaml\n")
    assert rules.ignored(("team", "notes.txt"), is_dir=False)
    assert rules.ignored(("team", "deep", "notes.txt"), is_dir=False)
    assert rules.ignored(("team", "local.yaml"), is_dir=False)
    assert not rules.ignored(("team", "deep", "local.yaml"), is_dir=False)
    assert not rules.ignored(("notes.txt",), is_dir=False)


def test_last_matching_pattern_wins_and_config_beats_sourceignore() -> None:
    rules = IgnoreRules(["!keep.png", "generated/"])
    rules.add_sourceignore((), "*.yaml\n!important.yaml\n")
    assert not rules.ignored(("keep.png",), is_dir=False)  # config re-includes a default
    assert rules.ignored(("other.yaml",), is_dir=False)
    assert not rules.ignored(("important.yaml",), is_dir=False)
    assert rules.ignored(("generated",), is_dir=True)


PLAIN = st.builds(
    lambda star, name, folder: f"{star}{name}{folder}",
    st.sampled_from(["", "*"]),
    st.text(alphabet="ab.-_", min_size=1, max_size=4),
    st.sampled_from(["", "/"]),
)
# Entry names as a walk or the watcher gives them: never "." or "..".
NAMES = st.text(alphabet="ab.-_", min_size=1, max_size=6).filter(lambda name: name not in {".", ".."})


@given(st.lists(PLAIN, min_size=1, max_size=5), st.lists(NAMES, min_size=1, max_size=4), st.booleans())
def test_plain_patterns_decide_as_pathspec_does(patterns: list[str], parts: list[str], is_dir: bool) -> None:
    # Plain lists (Flux's defaults among them) are matched without pathspec: they must agree with it.
    # Paths inside a left-out folder too: the dev loop's watcher asks about any file that changed.
    spec = pathspec.GitIgnoreSpec.from_lines(patterns)
    expected = spec.check_file("/".join(parts) + ("/" if is_dir else "")).include is True
    assert IgnoreRules(patterns, defaults=()).ignored(tuple(parts), is_dir) is expected


@pytest.mark.parametrize("name", ["a.png", "x.tar.gz", ".git", ".gitmodules", "b.zip", "app.yaml", "gif"])
@pytest.mark.parametrize("is_dir", [False, True])
def test_flux_defaults_decide_as_pathspec_does(name: str, is_dir: bool) -> None:
    spec = pathspec.GitIgnoreSpec.from_lines(FLUX_DEFAULT_IGNORE)
    for parts in ((name,), ("deep", "er", name)):
        expected = spec.check_file("/".join(parts) + ("/" if is_dir else "")).include is True
        assert IgnoreRules().ignored(parts, is_dir) is expected
