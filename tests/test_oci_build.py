"""Building a folder into a Flux artifact: format, reproducibility, ignore rules, symlinks, validation."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from ksail_tui.errors import InvalidInput
from ksail_tui.oci.artifact_format import (
    CONFIG_MEDIA_TYPE,
    CONTENT_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    check_artifact,
    sha256_digest,
)
from ksail_tui.oci.build import build_artifact, validate_version

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  key: value\n"


@pytest.fixture
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "app"
    (folder / "base").mkdir(parents=True)
    (folder / "base" / "cm.yaml").write_text(CONFIGMAP.format(name="base"))
    (folder / "kustomization.yaml").write_text("resources:\n  - base/cm.yaml\n")
    (folder / "z-last.yaml").write_text(CONFIGMAP.format(name="last"))
    return folder


def members(layer: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(layer), mode="r:gz") as archive:
        return archive.getmembers()


def test_layer_is_a_normalised_tar_gz_in_flux_order(source: Path) -> None:
    built = build_artifact(source, version="1.0.0")
    entries = members(built.layer)
    assert [entry.name for entry in entries] == ["base", "base/cm.yaml", "kustomization.yaml", "z-last.yaml"]
    for entry in entries:
        assert (entry.uid, entry.gid, entry.uname, entry.gname, entry.mtime) == (0, 0, "", "", 0)
        assert entry.mode == (0o755 if entry.isdir() else 0o644)
    # The gzip header carries no timestamp and no file name.
    assert built.layer[4:8] == b"\0\0\0\0"
    assert not built.layer[3] & 0x08  # FNAME flag
    assert gzip.decompress(built.layer)  # and it is plain gzip


def test_manifest_has_flux_media_types_and_annotations(source: Path) -> None:
    built = build_artifact(source, version="1.2.3-rc.1")
    manifest = json.loads(built.manifest)
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == MANIFEST_MEDIA_TYPE
    assert manifest["config"] == {"mediaType": CONFIG_MEDIA_TYPE, "digest": sha256_digest(b"{}"), "size": 2}
    assert manifest["layers"] == [
        {"mediaType": CONTENT_MEDIA_TYPE, "digest": built.layer_digest, "size": len(built.layer)}
    ]
    annotations = manifest["annotations"]
    assert annotations["org.opencontainers.image.version"] == "1.2.3-rc.1"
    assert annotations["org.opencontainers.image.created"].endswith("Z")
    assert annotations["org.opencontainers.image.source"] == source.resolve().as_uri()
    # Not in a git repository: the revision is the content digest.
    assert annotations["org.opencontainers.image.revision"] == built.layer_digest
    assert built.manifest_digest == sha256_digest(built.manifest)
    check_artifact(built.manifest, built.config, built.layer_digest, built.layer_size)


def test_same_content_gives_the_same_layer_digest(source: Path, tmp_path: Path) -> None:
    first = build_artifact(source, version="1.0.0")
    copy = tmp_path / "copy"
    shutil.copytree(source, copy)
    os.utime(copy / "z-last.yaml", (1, 1))
    (copy / "base" / "cm.yaml").chmod(0o600)
    assert build_artifact(copy, version="2.0.0").layer_digest == first.layer_digest
    os.utime(source / "base" / "cm.yaml")
    assert build_artifact(source, version="1.0.0").layer_digest == first.layer_digest
    (source / "z-last.yaml").write_text(CONFIGMAP.format(name="changed"))
    assert build_artifact(source, version="1.0.0").layer_digest != first.layer_digest


def test_revision_comes_from_git_when_the_folder_is_in_a_repository(source: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("needs git")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@t"
    for command in (
        ["init", "-q", "-b", "trunk"],
        ["add", "."],
        ["commit", "-q", "-m", "init"],
        ["remote", "add", "origin", "https://user:secret@example.com/org/repo.git"],
    ):
        subprocess.run(["git", "-C", str(source), *command], check=True, env=env)
    sha = subprocess.run(
        ["git", "-C", str(source), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    built = build_artifact(source, version="1.0.0")
    assert built.revision == f"trunk@sha1:{sha}"
    assert built.annotations["org.opencontainers.image.source"] == "https://example.com/org/repo.git"
    assert ".git" not in {entry.name.split("/")[0] for entry in members(built.layer)}


def test_ignore_rules_defaults_sourceignore_and_config(source: Path) -> None:
    (source / "logo.png").write_bytes(b"\x89PNG")
    (source / ".gitignore").write_text("*.tmp\n")
    (source / "base" / ".sourceignore").write_text("drafts/\n")
    (source / "base" / "drafts").mkdir()
    (source / "base" / "drafts" / "wip.yaml").write_text("not: [valid")
    (source / "notes.md").write_text("# notes")
    built = build_artifact(source, version="1.0.0", ignore=["*.md"])
    paths = {file.path for file in built.files}
    assert paths == {"base/.sourceignore", "base/cm.yaml", "kustomization.yaml", "z-last.yaml"}


def test_symlink_inside_the_folder_is_skipped_like_flux(source: Path) -> None:
    (source / "link.yaml").symlink_to("z-last.yaml")
    built = build_artifact(source, version="1.0.0")
    assert built.skipped_symlinks == ("link.yaml",)
    assert "link.yaml" not in {entry.name for entry in members(built.layer)}


def test_symlink_out_of_the_folder_is_refused(source: Path, tmp_path: Path) -> None:
    (tmp_path / "outside.yaml").write_text(CONFIGMAP.format(name="outside"))
    (source / "base" / "escape.yaml").symlink_to("../../outside.yaml")
    with pytest.raises(InvalidInput, match=r"escape\.yaml is a symlink to \.\./\.\./outside\.yaml, outside"):
        build_artifact(source, version="1.0.0")


def test_symlink_to_an_absolute_path_is_refused(source: Path) -> None:
    (source / "abs.yaml").symlink_to(source / "z-last.yaml")
    with pytest.raises(InvalidInput, match=r"abs\.yaml is a symlink to the absolute path"):
        build_artifact(source, version="1.0.0")


def test_fifo_is_refused(source: Path) -> None:
    os.mkfifo(source / "pipe")
    with pytest.raises(InvalidInput, match="pipe is a FIFO"):
        build_artifact(source, version="1.0.0")


def test_yaml_error_names_file_and_line(source: Path) -> None:
    broken = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n labels: {}\n"  # line 5 is misindented
    (source / "base" / "broken.yaml").write_text(broken)
    with pytest.raises(InvalidInput, match=r"base/broken\.yaml:5: not valid YAML"):
        build_artifact(source, version="1.0.0")


def test_every_document_needs_api_version_kind_and_name(source: Path) -> None:
    (source / "multi.yaml").write_text(
        CONFIGMAP.format(name="ok") + "---\n---\napiVersion: v1\nmetadata:\n  name: nokind\n"
        "---\napiVersion: v1\nkind: Secret\nmetadata: {}\n"
    )
    with pytest.raises(InvalidInput) as caught:
        build_artifact(source, version="1.0.0")
    message = str(caught.value)
    assert "multi.yaml:9: document has no kind" in message
    assert "multi.yaml:13: document (Secret) has no metadata.name" in message


def test_kustomize_files_need_no_name_and_json_is_checked(source: Path) -> None:
    (source / "component.yaml").write_text("apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n")
    namespace = '{\n\t"apiVersion": "v1",\n\t"kind": "Namespace",\n\t"metadata": {"name": "x"}\n}'
    (source / "ns.json").write_text(namespace)  # tabs: valid JSON, though YAML would reject them
    build_artifact(source, version="1.0.0")
    (source / "bad.json").write_text('{\n  "apiVersion": "v1",\n  "kind": \n}')
    with pytest.raises(InvalidInput, match=r"bad\.json:4: not valid JSON"):
        build_artifact(source, version="1.0.0")


def test_folder_without_manifests_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "README.md").write_text("nothing here")
    with pytest.raises(InvalidInput, match="holds no Kubernetes manifests"):
        build_artifact(tmp_path / "empty", version="1.0.0")


def test_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        build_artifact(tmp_path / "nope", version="1.0.0")


@pytest.mark.parametrize("version", ["1.0", "v1.0.0", "latest", "1.0.0+build.1"])
def test_versions_must_be_semver_tags(version: str) -> None:
    with pytest.raises(InvalidInput):
        validate_version(version)


def test_unreadable_file_is_bad_input_naming_it(source: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    (source / "z-last.yaml").chmod(0)
    with pytest.raises(InvalidInput, match=r"cannot read .*z-last\.yaml"):
        build_artifact(source, version="1.0.0")


def test_document_checks_look_at_types_lists_and_leave_custom_tags_be(source: Path) -> None:
    (source / "tagged.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: !custom y\n"
    )
    build_artifact(source, version="1.0.0")  # kustomize keeps unknown tags; so do we
    (source / "odd.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: 123\n"
        "---\njust a string\n"
        "---\napiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Secret\n    metadata: {}\n"
    )
    with pytest.raises(InvalidInput) as caught:
        build_artifact(source, version="1.0.0")
    message = str(caught.value)
    assert "odd.yaml:1: document (ConfigMap) has no metadata.name" in message  # a number is no name
    assert "odd.yaml:6: expected a Kubernetes object" in message and "found a single value" in message
    assert "odd.yaml:8: items[0]: document (Secret) has no metadata.name" in message


def test_unchanged_files_are_not_parsed_again_but_a_broken_edit_is_caught(
    source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ksail_tui.oci import manifests

    build_artifact(source, version="0.1.0")
    parsed: list[str] = []
    real_check = manifests.check_manifest
    monkeypatch.setattr(
        manifests, "check_manifest", lambda path, data: parsed.append(path) or real_check(path, data)
    )
    build_artifact(source, version="0.1.0")
    assert parsed == []  # every file passed before with the same content
    target = next(p for p in sorted(source.rglob("*.yaml")) if p.name != "kustomization.yaml")
    target.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: [broken\n")
    with pytest.raises(InvalidInput, match=target.name):
        build_artifact(source, version="0.1.0")
    assert parsed == [target.relative_to(source).as_posix()]
