"""Hostile source folders and manifests: each is refused with the path (and line) named, never an
internal error, a hang or an expansion in memory."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ksail_tui.cli.main import main
from ksail_tui.devloop.watcher import SourceFilter
from ksail_tui.errors import InvalidInput
from ksail_tui.oci.build import build_artifact
from ksail_tui.oci.ignore import IgnoreRules
from ksail_tui.oci.manifests import check_manifest

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"


@pytest.fixture
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "cm.yaml").write_text(CONFIGMAP)
    return folder


def build_error(source: Path) -> str:
    with pytest.raises(InvalidInput) as raised:
        build_artifact(source, version="0.1.0")
    return str(raised.value)


# --- the source tree ---------------------------------------------------------------------------


def test_a_symlink_loop_in_the_folder_is_refused_by_name(source: Path) -> None:
    (source / "a").symlink_to("b")
    (source / "b").symlink_to("a")
    assert "app/a is a symlink loop (b leads back to itself)" in build_error(source)


def test_a_link_to_itself_is_refused(source: Path) -> None:
    (source / "self.yaml").symlink_to("self.yaml")
    assert "self.yaml is a symlink loop" in build_error(source)


def test_a_source_folder_that_is_a_symlink_loop_is_refused(tmp_path: Path) -> None:
    (tmp_path / "app").symlink_to("app")
    assert f"the source folder {tmp_path / 'app'} is a symlink loop" in build_error(tmp_path / "app")


def test_the_cli_names_the_loop_and_exits_2(source: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (source / "loop").symlink_to("loop")
    config = source.parent / "ksail.yaml"
    config.write_text(
        "apiVersion: ksail.io/v1alpha1\nkind: Cluster\nmetadata: {name: t}\n"
        "spec: {workloads: [{name: app, sourceDirectory: app, version: 0.1.0}]}\n"
    )
    assert main(["-c", str(config), "workload", "build"]) == 2
    err = capsys.readouterr().err
    assert "loop is a symlink loop" in err and "internal error" not in err


def test_a_configured_source_directory_inside_a_symlink_loop_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "k8s").symlink_to("loop")
    (tmp_path / "loop").symlink_to("k8s")
    config = tmp_path / "ksail.yaml"
    config.write_text(
        "apiVersion: ksail.io/v1alpha1\nkind: Cluster\nmetadata: {name: t}\n"
        "spec: {workloads: [{name: app, sourceDirectory: k8s/app, version: 0.1.0}]}\n"
    )
    assert main(["-c", str(config), "workload", "build"]) == 2
    err = capsys.readouterr().err
    assert "is a symlink loop" in err and "internal error" not in err


def test_a_tree_deeper_than_the_recursion_limit_is_walked(source: Path) -> None:
    folder = source
    for _ in range(1100):  # Python's recursion limit is 1000
        folder /= "a"
        folder.mkdir()
    (folder / "deep.yaml").write_text(CONFIGMAP.replace("name: a", "name: deep"))
    try:
        built = build_artifact(source, version="0.1.0")
        assert [file.path for file in built.files] == ["a/" * 1100 + "deep.yaml", "cm.yaml"]
        rules = SourceFilter(source)._current_rules()  # the dev loop's walk of the same tree
        assert not rules.ignored(("a",) * 1100, is_dir=True)
    finally:  # pytest's clean-up (shutil.rmtree) recurses: take the tree down from the bottom
        (folder / "deep.yaml").unlink()
        while folder != source:
            folder.rmdir()
            folder = folder.parent


def test_a_name_that_is_not_utf8_is_refused_by_name(source: Path) -> None:
    os.close(os.open(os.fsencode(source) + b"/bad\xff.yaml", os.O_CREAT | os.O_WRONLY))
    assert "bad\\xff.yaml: the name is not valid UTF-8" in build_error(source)
    (source / ".sourceignore").write_text("bad*\n")
    build_artifact(source, version="0.1.0")  # ignored: nothing to refuse


def test_a_glob_that_cannot_match_is_refused_with_its_file_and_line(source: Path) -> None:
    (source / "sub").mkdir()
    (source / "sub" / ".sourceignore").write_text("# secrets\n[z-a]secret.yaml\n")
    assert "sub/.sourceignore:2: the ignore pattern '[z-a]secret.yaml' cannot match" in build_error(source)
    with pytest.raises(InvalidInput, match=r"ignore list in ksail\.yaml:1"):
        IgnoreRules(["[z-a]"])


def test_the_dev_loop_watcher_survives_a_broken_sourceignore(source: Path) -> None:
    (source / ".sourceignore").write_text("[z-a]\n")
    watch = SourceFilter(source)
    assert watch._current_rules().ignored(("logo.png",), is_dir=False)  # Flux's defaults still apply


@pytest.mark.parametrize("pattern", ["*a" * 30 + "b", "**/" + "*a" * 30 + "b", "a*" * 30])
def test_a_backtracking_glob_takes_linear_time(pattern: str) -> None:
    rules = IgnoreRules([pattern])
    # A regex of this glob does not finish on a name like this within the age of the universe.
    assert rules.ignored(("x", "a" * 255), is_dir=False) is pattern.startswith("a*")


GLOBS = st.text(alphabet="ab*?/[]!\\", min_size=1, max_size=12)
PATHS = st.lists(st.text(alphabet="ab/", min_size=1, max_size=8), min_size=1, max_size=20)
# pathspec and git read a bracket expression holding "/" or "\\" differently (git lets "[/b]" never
# match a slash); nobody writes such a glob to ignore a file, so the comparison leaves them out.
SLASH_IN_BRACKETS = re.compile(r"\[[^]]*[/\\]")


@pytest.fixture(scope="module")
def git_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("gitignore")
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    return folder


def git_ignores(repository: Path, pattern: str, paths: list[str]) -> set[str]:
    """The paths git itself ignores with ``pattern`` as the only line of .gitignore."""
    (repository / ".gitignore").write_text(pattern + "\n")
    result = subprocess.run(
        ["git", "-C", str(repository), "check-ignore", "--no-index", "--stdin", "-v", "-n"],
        input="\n".join(paths) + "\n",
        capture_output=True,
        text=True,
        check=False,
    )
    ignored = set()
    for line in result.stdout.splitlines():
        source, path = line.split("\t")
        matched = source.split(":", 2)[2]  # "<file>:<line>:<pattern>", or "::" for no match
        if matched and not matched.startswith("!"):
            ignored.add(path)
    return ignored


@settings(max_examples=150, deadline=None)
@given(GLOBS, PATHS)
def test_the_ignore_rules_agree_with_git(git_repository: Path, glob: str, paths: list[str]) -> None:
    paths = sorted({path for path in paths if not path.startswith("/") and "//" not in path})
    paths = [path.rstrip("/") for path in paths if path.rstrip("/")]
    if not paths or SLASH_IN_BRACKETS.search(glob) or glob.strip() in {"", "!"}:
        return
    try:
        rules = IgnoreRules([glob], defaults=())
    except InvalidInput:
        return  # refused with its line (test above); git would quietly never match it
    ours = {path for path in paths if rules.ignored(tuple(path.split("/")), is_dir=False)}
    assert ours == git_ignores(git_repository, glob, paths)


# --- manifests -----------------------------------------------------------------------------------


def billion_laughs(levels: int = 9) -> str:
    text = CONFIGMAP + "data:\n  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    for level in range(1, levels):
        text += f"  l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]\n"
    return text


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        pytest.param(billion_laughs(), 8, "document contains excessive aliasing", id="billion-laughs"),
        pytest.param(CONFIGMAP + "data: &d {x: *d}\n", 4, "anchor 'd' value contains itself", id="map"),
        pytest.param(
            "---\n" + CONFIGMAP + "items: &i [[*i]]\n", 5, "anchor 'i' value contains itself", id="seq"
        ),
    ],
)
def test_alias_bombs_are_refused_before_expanding(source: Path, text: str, line: int, message: str) -> None:
    (source / "bomb.yaml").write_text(text)
    error = build_error(source)
    assert f"bomb.yaml:{line}: {message}" in error


def test_a_few_aliases_are_fine(source: Path) -> None:
    labels = "metadata: {name: b, labels: &l {app: x}}\nspec: {selector: {matchLabels: *l}}\n"
    (source / "ok.yaml").write_text("apiVersion: v1\nkind: Service\n" + labels)
    build_artifact(source, version="0.1.0")


def test_json_with_a_huge_number_is_invalid_json_not_a_crash() -> None:
    count, problems = check_manifest("a.json", b'{"n": ' + b"9" * 5000 + b"}")
    assert count == 0 and "not valid JSON" in problems[0].message


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_any_bytes_are_a_verdict_never_an_exception(data: bytes) -> None:
    for name in ("a.yaml", "a.json"):
        check_manifest(name, data)


YAMLISH = st.text(alphabet="ab:-[]{}&*!|>'\",#\n ", max_size=120)


@settings(max_examples=300)
@given(YAMLISH)
def test_any_yaml_shaped_text_is_a_verdict_never_an_exception(text: str) -> None:
    check_manifest("a.yaml", text.encode())
