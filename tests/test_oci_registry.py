"""Push, list, diff and prune against the real CNCF registry binary."""

from __future__ import annotations

import io
import json
import random
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from ksail_tui.cli.main import main
from ksail_tui.config import ClusterConfig, load_config
from ksail_tui.errors import Unavailable
from ksail_tui.oci.build import build_artifact
from ksail_tui.oci.registry_client import RegistryClient
from ksail_tui.oci.service import diff_workload, list_versions, prune_versions, push_workload
from tests.fixtures.registry import RegistryProcess, start_registry, stop_registry, write_ksail_config

pytestmark = pytest.mark.needs_registry

REPOSITORY = "oci/app"  # <metadata.name>/<workload> in write_ksail_config's file


def configmap(name: str, value: str = "1") -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: '{value}'\n"


@pytest.fixture
def project(tmp_path: Path, registry_process: RegistryProcess) -> tuple[Path, ClusterConfig]:
    source = tmp_path / "app"
    (source / "base").mkdir(parents=True)
    (source / "base" / "a.yaml").write_text(configmap("a"))
    (source / "b.yaml").write_text(configmap("b"))
    path = write_ksail_config(tmp_path, port=registry_process.port, workloads={"app": "app"})
    return path, load_config(path)


def source_of(config: ClusterConfig) -> Path:
    return config.source_path(config.workload("app"))


def cli(config_path: Path, *argv: str) -> int:
    return main(["-c", str(config_path), "workload", *argv])


def test_push_two_versions_list_newest_first_and_pull_back(project: tuple[Path, ClusterConfig]) -> None:
    _, config = project
    first = push_workload(config, "app")
    (source_of(config) / "b.yaml").write_text(configmap("b", "2"))
    second = push_workload(config, "app", version="0.2.0")
    assert first.pushed and second.pushed

    versions = list_versions(config, "app")
    assert [artifact.tag for artifact in versions] == ["0.2.0", "0.1.0"]
    assert [artifact.digest for artifact in versions] == [second.artifact.digest, first.artifact.digest]
    assert versions[0].revision == second.artifact.layer_digest  # not in git: the content digest
    assert versions[0].size == second.artifact.size and versions[0].created is not None

    built = build_artifact(source_of(config), version="0.2.0")
    with RegistryClient(config.registry_endpoint) as client:
        manifest = client.get_manifest(REPOSITORY, "0.2.0")
        assert manifest is not None and manifest.layer_digest == built.layer_digest
        layer = client.get_blob(REPOSITORY, manifest.layer_digest)
    assert layer == built.layer
    with tarfile.open(fileobj=io.BytesIO(layer), mode="r:gz") as archive:
        pulled = {
            member.name: archive.extractfile(member).read()  # type: ignore[union-attr]
            for member in archive
            if member.isfile()
        }
    on_disk = {
        str(path.relative_to(source_of(config))): path.read_bytes()
        for path in source_of(config).rglob("*")
        if path.is_file()
    }
    assert pulled == on_disk


def test_same_content_again_is_a_noop_that_keeps_the_manifest(project: tuple[Path, ClusterConfig]) -> None:
    _, config = project
    first = push_workload(config, "app")
    again = push_workload(config, "app")
    assert not again.pushed
    assert again.artifact.digest == first.artifact.digest


def test_a_pushed_version_is_immutable_unless_forced(
    project: tuple[Path, ClusterConfig], capsys: pytest.CaptureFixture[str]
) -> None:
    config_path, config = project
    assert cli(config_path, "push") == 0
    (source_of(config) / "b.yaml").write_text(configmap("b", "changed"))
    assert cli(config_path, "push") == 1
    error = capsys.readouterr().err
    assert "0.1.0 of oci/app is already in the registry with different content" in error
    assert "--force" in error and "bump the version" in error

    assert cli(config_path, "push", "--force", "-o", "json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["pushed"] is True and result["overwritten"] is True
    with RegistryClient(config.registry_endpoint) as client:
        manifest = client.get_manifest(REPOSITORY, "0.1.0")
    assert manifest is not None
    assert manifest.layer_digest == build_artifact(source_of(config), version="0.1.0").layer_digest


def test_also_tag_points_a_second_tag_at_the_manifest(
    project: tuple[Path, ClusterConfig], capsys: pytest.CaptureFixture[str]
) -> None:
    config_path, config = project
    assert cli(config_path, "push", "--also-tag", "latest", "-o", "json") == 0
    result = json.loads(capsys.readouterr().out)
    assert {"repository", "tag", "digest", "layer_digest", "size", "pushed"} <= result.keys()
    assert (result["repository"], result["tag"], result["pushed"]) == (REPOSITORY, "0.1.0", True)
    with RegistryClient(config.registry_endpoint) as client:
        latest = client.get_manifest(REPOSITORY, "latest")
    assert latest is not None and latest.digest == result["digest"]
    assert cli(config_path, "push", "--also-tag", "2.0.0") == 2  # versions are not moving tags


def test_diff_by_layer_digest_then_file_by_file(project: tuple[Path, ClusterConfig]) -> None:
    _, config = project
    push_workload(config, "app")
    assert diff_workload(config, "app").same_layer

    source = source_of(config)
    (source / "b.yaml").write_text(configmap("b", "2"))
    (source / "c.yaml").write_text(configmap("c"))
    (source / "base" / "a.yaml").unlink()
    diff = diff_workload(config, "app")
    assert not diff.identical
    assert (diff.added, diff.removed, diff.modified) == (("c.yaml",), ("base/a.yaml",), ("b.yaml",))


def test_diff_of_a_version_that_was_never_pushed_is_bad_input(
    project: tuple[Path, ClusterConfig], capsys: pytest.CaptureFixture[str]
) -> None:
    config_path, _ = project
    assert cli(config_path, "diff", "--version", "9.9.9") == 2
    assert "oci/app:9.9.9 is not in the registry" in capsys.readouterr().err


def test_prune_keeps_the_newest_protected_and_shared_versions(project: tuple[Path, ClusterConfig]) -> None:
    _, config = project
    source = source_of(config)
    built = {}
    for version in ("0.1.0", "0.2.0", "0.3.0", "0.4.0"):
        (source / "b.yaml").write_text(configmap("b", version))
        push_workload(config, "app", version=version, also_tags=["latest"] if version == "0.1.0" else ())
        built[version] = build_artifact(source, version=version)
    with RegistryClient(config.registry_endpoint) as client:
        newest = client.get_manifest(REPOSITORY, "0.4.0")
        assert newest is not None
        client.put_manifest(REPOSITORY, "0.0.9", newest.raw)  # an old tag sharing the kept manifest
        doomed = client.get_manifest(REPOSITORY, "0.3.0")
        assert doomed is not None

    preview = prune_versions(
        config, "app", keep=1, protected_tags={"0.2.0"}, dry_run=True, ignore_cluster_references=True
    )
    assert [artifact.tag for artifact in preview.deleted] == ["0.3.0"]
    assert preview.kept == ("0.4.0",)
    assert preview.protected == ("0.2.0",)
    assert set(preview.shared) == {"0.1.0", "0.0.9"}  # 0.1.0 is also `latest`, 0.0.9 is 0.4.0's manifest
    assert preview.reclaimable_bytes == len(doomed.raw) + len(built["0.3.0"].layer)
    assert len(list_versions(config, "app")) == 6  # a dry run deletes nothing

    result = prune_versions(config, "app", keep=1, protected_tags={"0.2.0"}, ignore_cluster_references=True)
    assert result.deleted_digests == (doomed.digest,)
    assert [artifact.tag for artifact in list_versions(config, "app")] == [
        "0.4.0",
        "0.2.0",
        "0.1.0",
        "0.0.9",
        "latest",
    ]


def test_prune_deletes_only_what_the_preview_showed(project: tuple[Path, ClusterConfig]) -> None:
    _, config = project
    source = source_of(config)
    for version in ("0.1.0", "0.2.0"):
        (source / "b.yaml").write_text(configmap("b", version))
        push_workload(config, "app", version=version)
    preview = prune_versions(config, "app", keep=1, dry_run=True, ignore_cluster_references=True)
    assert [artifact.tag for artifact in preview.deleted] == ["0.1.0"]
    # Someone pushes while the user reads the question: 0.2.0 now falls outside --keep 1 too.
    (source / "b.yaml").write_text(configmap("b", "0.3.0"))
    push_workload(config, "app", version="0.3.0")
    result = prune_versions(
        config, "app", keep=1, confirmed_digests=preview.deleted_digests, ignore_cluster_references=True
    )
    assert [artifact.tag for artifact in result.deleted] == ["0.1.0"]  # not 0.2.0: nobody agreed to that
    assert [artifact.tag for artifact in list_versions(config, "app")] == ["0.3.0", "0.2.0"]


def test_prune_through_the_cli_refuses_when_the_cluster_cannot_be_asked(
    project: tuple[Path, ClusterConfig], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config_path, config = project

    def unreachable(*_: object) -> tuple[()]:
        raise Unavailable("the cluster at https://127.0.0.1:6443 is unreachable: MaxRetryError")

    monkeypatch.setattr("ksail_tui.flux.references.cluster_references", unreachable)
    for version in ("0.1.0", "0.2.0"):
        (source_of(config) / "b.yaml").write_text(configmap("b", version))
        push_workload(config, "app", version=version)
    capsys.readouterr()
    assert cli(config_path, "prune", "--keep", "1") == 2  # neither --yes nor --dry-run, and no terminal
    for flags in (["--dry-run"], ["--yes"]):
        assert cli(config_path, "prune", "--keep", "1", *flags) == 4
        captured = capsys.readouterr()
        assert "nothing pruned" in captured.err
        assert "https://127.0.0.1:6443 is unreachable" in captured.err  # the reason, not only the fact
        assert "--ignore-cluster-references" in captured.err  # and the way out, with its risk
    assert [artifact.tag for artifact in list_versions(config, "app")] == ["0.2.0", "0.1.0"]
    assert cli(config_path, "prune", "--keep", "1", "--yes", "--ignore-cluster-references") == 0
    captured = capsys.readouterr()
    assert "deleted 0.1.0" in captured.out
    assert "the cluster is not consulted" in captured.err
    assert [artifact.tag for artifact in list_versions(config, "app")] == ["0.2.0"]


def test_prune_says_so_when_the_registry_refuses_deletes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    process, registry = start_registry(tmp_path / "no-delete", delete_enabled=False)
    try:
        (tmp_path / "app").mkdir()
        (tmp_path / "app" / "a.yaml").write_text(configmap("a"))
        config_path = write_ksail_config(tmp_path, port=registry.port, workloads={"app": "app"})
        monkeypatch.setattr("ksail_tui.flux.references.cluster_references", lambda *_: ())
        assert cli(config_path, "push") == 0
        assert cli(config_path, "push", "--version", "0.2.0") == 0
        (tmp_path / "app" / "a.yaml").write_text(configmap("a", "2"))
        assert cli(config_path, "push", "--version", "0.3.0") == 0
        capsys.readouterr()
        assert cli(config_path, "prune", "--keep", "1", "--yes") == 1
        assert "does not allow deletes" in capsys.readouterr().err
    finally:
        stop_registry(process)


def test_sixty_versions_are_listed_in_semver_order(project: tuple[Path, ClusterConfig]) -> None:
    _, config = project
    pushed = push_workload(config, "app")
    # 60 releases (0.1.0, pushed above, among them), two pre-releases and a moving tag.
    versions = [f"{major}.{minor}.0" for major in range(3) for minor in range(20)] + [
        "1.0.0-rc.1",
        "1.0.0-rc.2",
    ]
    tags = [*versions, "latest"]
    random.Random(7).shuffle(tags)
    with RegistryClient(config.registry_endpoint) as client:
        manifest = client.get_manifest(REPOSITORY, "0.1.0")
        assert manifest is not None
        for tag in tags:
            client.put_manifest(REPOSITORY, tag, manifest.raw)
    listed = list_versions(config, "app")
    names = [artifact.tag for artifact in listed]
    assert len(names) == 63
    assert names[:3] == ["2.19.0", "2.18.0", "2.17.0"]
    assert (
        names.index("1.0.0") < names.index("1.0.0-rc.2") < names.index("1.0.0-rc.1") < names.index("0.19.0")
    )
    assert names.index("0.10.0") < names.index("0.9.0")
    assert names[-1] == "latest"
    assert all(artifact.digest == pushed.artifact.digest for artifact in listed)


@pytest.mark.needs_skopeo
def test_skopeo_sees_the_flux_media_types_and_annotations(project: tuple[Path, ClusterConfig]) -> None:
    _, config = project
    push_workload(config, "app")
    reference = f"docker://{config.registry_endpoint}/{REPOSITORY}:0.1.0"
    raw = subprocess.run(
        [shutil.which("skopeo") or "skopeo", "inspect", "--raw", "--tls-verify=false", reference],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    manifest = json.loads(raw)
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["config"]["mediaType"] == "application/vnd.cncf.flux.config.v1+json"
    assert [layer["mediaType"] for layer in manifest["layers"]] == [
        "application/vnd.cncf.flux.content.v1.tar+gzip"
    ]
    annotations = manifest["annotations"]
    for key in ("created", "source", "revision", "version"):
        assert annotations[f"org.opencontainers.image.{key}"]


class Terminal(io.StringIO):
    """A terminal on stdin whose user types ``self.getvalue()`` (nothing: Ctrl-D)."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("typed", "deleted"), [("", False), ("n\n", False), ("y\n", True)])
def test_prune_asks_on_a_terminal_and_ctrl_d_is_no(
    project: tuple[Path, ClusterConfig],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    typed: str,
    deleted: bool,
) -> None:
    config_path, config = project
    monkeypatch.setattr("ksail_tui.flux.references.cluster_references", lambda *_: ())
    for version in ("0.1.0", "0.2.0"):
        (source_of(config) / "b.yaml").write_text(configmap("b", version))
        push_workload(config, "app", version=version)
    monkeypatch.setattr("sys.stdin", Terminal(typed))

    assert cli(config_path, "prune", "--keep", "1") == (0 if deleted else 1)

    captured = capsys.readouterr()
    assert "internal error" not in captured.err
    assert ("deleted 0.1.0" in captured.out) is deleted
    remaining = [artifact.tag for artifact in list_versions(config, "app")]
    assert remaining == (["0.2.0"] if deleted else ["0.2.0", "0.1.0"])
