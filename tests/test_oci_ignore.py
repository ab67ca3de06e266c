"""Flux's ignore rules in gitignore syntax: defaults, .sourceignore domains and precedence."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ksail_tui.errors import InvalidInput
from ksail_tui.oci.ignore import IgnoreRules, parse_pattern


def matches(pattern: str, path: str, *, is_dir: bool = False) -> bool:
    parsed = parse_pattern(pattern)
    assert parsed is not None
    return parsed.matches(tuple(path.split("/")), is_dir)


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
    assert parse_pattern("# a comment") is None
    assert parse_pattern("   ") is None


def test_flux_defaults_leave_out_vcs_files_and_binaries() -> None:
    rules = IgnoreRules()
    assert rules.ignored((".git",), is_dir=True)
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


def one_by_one(rules: IgnoreRules, parts: tuple[str, ...], is_dir: bool) -> bool:
    """The rules' verdict pattern by pattern, the last that matches deciding (as before merging)."""
    for patterns in (rules._configured, rules._sourceignore, rules._defaults):
        for pattern in reversed(patterns):
            if pattern.matches(parts, is_dir):
                return not pattern.negated
    return False


@settings(max_examples=300, deadline=None)
@given(
    configured=st.lists(st.text(alphabet="ab*?/!.", min_size=1, max_size=6), max_size=6),
    sourceignore=st.lists(st.text(alphabet="ab*?/!.", min_size=1, max_size=6), max_size=4),
    paths=st.lists(st.tuples(st.text(alphabet="ab./", min_size=1, max_size=8), st.booleans()), max_size=12),
)
def test_merged_patterns_decide_as_the_patterns_one_by_one(
    configured: list[str], sourceignore: list[str], paths: list[tuple[str, bool]]
) -> None:
    try:
        rules = IgnoreRules(configured)
        rules.add_sourceignore(("a",), "\n".join(sourceignore))
    except InvalidInput:
        return  # a pattern that cannot match anything is refused either way
    for path, is_dir in paths:
        parts = tuple(part for part in path.split("/") if part) or ("x",)
        assert rules.ignored(parts, is_dir) == one_by_one(rules, parts, is_dir), (path, is_dir)
