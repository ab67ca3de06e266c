"""No user, password or token of a git remote survives into an artifact or the CLI's output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ksail_tui.cli.main import main
from ksail_tui.oci.build import build_artifact
from ksail_tui.urls import without_credentials

SCHEMES = st.sampled_from(["https", "http", "ssh", "git", "git+ssh", "ssh+git", "ftp"])
HOSTS = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z]{2,5}){0,2}", fullmatch=True)
PORTS = st.one_of(st.just(""), st.integers(1, 65535).map(lambda port: f":{port}"))
PATHS = st.from_regex(r"(/[A-Za-z0-9._~@-]{1,12}){1,4}", fullmatch=True)
# A secret of printable characters except '/' (which git needs percent-encoded in a password) and
# space; long enough not to appear in the host or path by chance.
SECRETS = st.text(
    st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters="/"), min_size=1, max_size=16
).map(lambda text: "SECRET" + text)
USERS = st.from_regex(r"[A-Za-z0-9._-]{1,10}", fullmatch=True).map(lambda text: "USER" + text)


@given(SCHEMES, USERS, SECRETS, HOSTS, PORTS, PATHS)
def test_scheme_urls_keep_the_host_and_path_only(
    scheme: str, user: str, secret: str, host: str, port: str, path: str
) -> None:
    for userinfo in (f"{user}:{secret}@", f"{secret}@", f"{user}@"):
        cleaned = without_credentials(f"{scheme}://{userinfo}{host}{port}{path}")
        assert cleaned == f"{scheme}://{host}{port}{path}"


@given(SCHEMES, HOSTS, PATHS, SECRETS, st.sampled_from(["?", "#", "?a=1&", "/?"]))
def test_query_and_fragment_tokens_are_dropped(
    scheme: str, host: str, path: str, secret: str, separator: str
) -> None:
    cleaned = without_credentials(f"{scheme}://{host}{path}{separator}token={secret}")
    assert secret not in cleaned
    assert cleaned.startswith(f"{scheme}://{host}{path}")


@given(USERS, SECRETS, HOSTS, PATHS)
def test_scp_like_remotes_keep_the_host_and_path_only(user: str, secret: str, host: str, path: str) -> None:
    for userinfo in (f"{user}@", f"{user}:{secret}@", ""):
        assert without_credentials(f"{userinfo}{host}:org{path}") == f"{host}:org{path}"


@pytest.mark.parametrize(
    "path", ["/srv/git/repo.git", "./repo@2", "../a/b", "repo@host", "file:///srv/r.git"]
)
def test_local_paths_are_kept(path: str) -> None:
    assert without_credentials(path) == path


def test_an_ssh_remote_password_reaches_neither_the_annotation_nor_the_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if shutil.which("git") is None:
        pytest.skip("needs git")
    source = tmp_path / "app"
    source.mkdir()
    (source / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    env = os.environ | {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    for command in (
        ["init", "-q"],
        ["add", "."],
        ["commit", "-q", "-m", "init"],
        ["remote", "add", "origin", "ssh://deploy:hunter2@git.example.com:2222/org/app.git"],
    ):
        subprocess.run(["git", "-C", str(source), *command], check=True, env=env)
    built = build_artifact(source, version="0.1.0")
    assert built.annotations["org.opencontainers.image.source"] == "ssh://git.example.com:2222/org/app.git"
    (tmp_path / "ksail.yaml").write_text(
        "apiVersion: ksail.io/v1alpha1\nkind: Cluster\nmetadata: {name: t}\n"
        "spec: {workloads: [{name: app, sourceDirectory: app, version: 0.1.0}]}\n"
    )
    assert main(["-c", str(tmp_path / "ksail.yaml"), "-o", "json", "workload", "build"]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out and "deploy" not in out
    assert json.loads(out)["annotations"]["org.opencontainers.image.source"].startswith("ssh://git.example")
