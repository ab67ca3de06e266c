"""The simulated Flux's building blocks, without a server: ranges, tarballs, builds, the queue."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import threading
from pathlib import Path

import pytest

from ksail_sim.flux.artifact import ArtifactError, BuildError, PathNotFound, build, build_root, extract
from ksail_sim.flux.crds import all_flux_crds, flux_crds
from ksail_sim.flux.registry import UrlInvalid, parse_oci_url
from ksail_sim.flux.runtime import Conditions, WorkQueue, go_duration, merge_patch_between
from ksail_tui.flux.semver_range import SemverRangeError, highest_matching

BUNDLED_CRDS = Path(__file__).resolve().parents[1] / "ksail_sim" / "flux" / "crds"
# sha256 of the upstream files named in SOURCE.md: a changed CRD must come with a new upstream copy.
CRD_CHECKSUMS = Path(__file__).resolve().parent / "data" / "flux-crds.sha256"


def test_bundled_crds_are_the_upstream_files_byte_for_byte() -> None:
    expected = {name: checksum for checksum, name in map(str.split, CRD_CHECKSUMS.read_text().splitlines())}
    bundled = sorted(p.name for p in BUNDLED_CRDS.iterdir() if p.suffix in (".md", ".yaml"))
    assert bundled == sorted(expected)
    for name, checksum in expected.items():
        assert hashlib.sha256((BUNDLED_CRDS / name).read_bytes()).hexdigest() == checksum, name
    kinds = [crd["spec"]["names"]["kind"] for crd in flux_crds()]
    assert kinds == ["OCIRepository", "Kustomization"]
    others = [crd["spec"]["names"]["kind"] for crd in all_flux_crds()[2:]]
    assert others == ["GitRepository", "HelmRepository", "HelmChart", "Bucket", "HelmRelease"]


TAGS = ["0.1.0", "0.1.1", "0.2.0-dev.1", "1.0.0", "1.5.2", "v2.0.0", "latest", "0.1.2-rc.1"]


@pytest.mark.parametrize(
    ("constraint", "expected"),
    [
        (">=0.1.0-0", "v2.0.0"),
        (">=0.1.0-0 <1.0.0", "0.1.1"),  # Masterminds: '<1.0.0' has no prerelease, so it excludes them
        (">=0.2.0-0 <0.3.0-0", "0.2.0-dev.1"),
        (">=1.0.0 <2.0.0", "1.5.2"),
        (">=1.0.0, <2.0.0", "1.5.2"),
        ("0.1.x", "0.1.1"),
        ("~0.1", "0.1.1"),
        ("~1", "1.5.2"),
        ("^0.1.0", "0.1.1"),
        ("^1.2", "1.5.2"),
        ("*", "v2.0.0"),
        ("<=0.1", "0.1.1"),
        ("0.1.0 - 0.2", "0.1.1"),
        ("1.0.0 || >=3.0.0", "1.0.0"),
        (">=3.0.0", None),
    ],
)
def test_semver_ranges_pick_the_highest_matching_tag(constraint: str, expected: str | None) -> None:
    assert highest_matching(TAGS, constraint) == expected


def test_semver_filter_applies_to_the_tag_text() -> None:
    assert highest_matching(TAGS, ">=0.0.0-0", r"^0\.1\.") == "0.1.2-rc.1"


def test_semver_filter_is_read_as_go_reads_it(capfd: pytest.CaptureFixture[str]) -> None:
    # Python's re accepts a lookahead; Go's regexp, which source-controller compiles it with, does not.
    with pytest.raises(SemverRangeError, match=r"semverFilter '\(\?=0\)' is not a Go regular expression"):
        highest_matching(TAGS, ">=0.0.0", "(?=0)")
    assert capfd.readouterr().err == ""  # RE2 keeps its own report of the error to itself


def test_a_backtracking_semver_filter_finishes() -> None:
    # Python's re backtracks for ages on this filter and tag; RE2, like Go, matches in linear time.
    tags = ["0.1.0-" + "a" * 40 + "!"]
    assert highest_matching(tags, ">=0.0.0-0", r"^0\.1\.0-(a|a)*$") is None


def test_oci_urls_are_validated_like_source_controller() -> None:
    repository = parse_oci_url("oci://local-registry:5000/t/app", insecure=True)
    assert (repository.host, repository.path, repository.insecure) == ("local-registry:5000", "t/app", True)
    with pytest.raises(UrlInvalid, match=r"^URL must not contain a tag; remove ':v1'$"):
        parse_oci_url("oci://ghcr.io/test/test:v1", insecure=False)
    with pytest.raises(UrlInvalid, match="oci://"):
        parse_oci_url("https://ghcr.io/test/test", insecure=False)


def tarball(entries: list[tarfile.TarInfo | tuple[str, bytes]], *, compress: bool = True) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                archive.addfile(entry)
            else:
                info = tarfile.TarInfo(entry[0])
                info.size = len(entry[1])
                archive.addfile(info, io.BytesIO(entry[1]))
    data = buffer.getvalue()
    return gzip.compress(data) if compress else data


def test_extraction_skips_symlinks_and_refuses_escaping_paths() -> None:
    link = tarfile.TarInfo("link.yaml")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    tree = extract(tarball([("apps/a.yaml", b"x"), link]))
    assert tree.files == {"apps/a.yaml": b"x"}
    assert tree.is_dir("apps")
    for bad in ("../evil.yaml", "/abs.yaml", "a/../../evil.yaml"):
        with pytest.raises(ArtifactError, match="tar contained invalid name"):
            extract(tarball([(bad, b"x")]))
    with pytest.raises(ArtifactError, match="requires gzip-compressed body: gzip: invalid header"):
        extract(tarball([("a.yaml", b"x")], compress=False))


CONFIGMAP = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s}\n"


def test_build_without_kustomization_takes_every_yaml_file() -> None:
    tree = extract(
        tarball(
            [
                ("b.yaml", CONFIGMAP % b"b"),
                ("a.yml", CONFIGMAP % b"a" + b"---\n" + CONFIGMAP % b"a2"),
                ("README.md", b"# not a manifest"),
                ("sub/c.yaml", CONFIGMAP % b"c"),
            ]
        )
    )
    names = [obj["metadata"]["name"] for obj in build(tree, build_root("./"))]
    assert names == ["a", "a2", "b", "c"]
    assert [obj["metadata"]["name"] for obj in build(tree, build_root("./sub"))] == ["c"]
    with pytest.raises(PathNotFound):
        build(tree, build_root("./missing"))


def test_build_follows_kustomization_resources() -> None:
    tree = extract(
        tarball(
            [
                ("kustomization.yaml", b"resources: [one.yaml, base]\n"),
                ("one.yaml", CONFIGMAP % b"one"),
                ("unused.yaml", CONFIGMAP % b"unused"),
                ("base/kustomization.yaml", b"resources: [two.yaml]\n"),
                ("base/two.yaml", CONFIGMAP % b"two"),
            ]
        )
    )
    assert [obj["metadata"]["name"] for obj in build(tree, "")] == ["one", "two"]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"bad.yaml": b"kind: ConfigMap\nmetadata: {name: x\n"},
            r"from 'bad.yaml': MalformedYAMLError.*bad.yaml",
        ),
        (
            {"x.yaml": b"apiVersion: v1\nmetadata: {name: x}\n"},
            "from 'x.yaml': missing Resource metadata: kind",
        ),
        ({"x.yaml": b"apiVersion: v1\nkind: ConfigMap\n"}, "from 'x.yaml': missing metadata.name"),
        ({"kustomization.yaml": b"resources: [gone.yaml]\n"}, "from 'gone.yaml'"),
        ({"kustomization.yaml": b"patches: []\n"}, "supports only 'resources'"),
    ],
)
def test_build_failures_name_the_file(files: dict[str, bytes], message: str) -> None:
    tree = extract(tarball(list(files.items())))
    with pytest.raises(BuildError, match=f"^kustomize build failed: .*{message}"):
        build(tree, "")


def test_go_durations() -> None:
    assert [go_duration(s) for s in (0, 0.12, 1.5, 30, 60, 90.25, 3600)] == [
        "0s",
        "120ms",
        "1.5s",
        "30s",
        "1m0s",
        "1m30.25s",
        "1h0m0s",
    ]


def test_status_patches_carry_only_the_difference() -> None:
    old = {"a": 1, "artifact": {"metadata": {"x": "1", "y": "2"}}, "conditions": [{"type": "Ready"}]}
    new = {"a": 1, "artifact": {"metadata": {"x": "1"}}, "conditions": [{"type": "Ready", "status": "True"}]}
    assert merge_patch_between(old, new) == {
        "artifact": {"metadata": {"y": None}},
        "conditions": [{"type": "Ready", "status": "True"}],
    }
    assert merge_patch_between(new, new) is None


def test_conditions_keep_transition_time_while_the_status_holds() -> None:
    conditions = Conditions([{"type": "Ready", "status": "True", "lastTransitionTime": "then"}], 3)
    conditions.set("Ready", "True", "Succeeded", "again")
    conditions.set("Reconciling", "True", "Progressing", "working")
    ready = conditions.get("Ready")
    assert ready is not None and ready["lastTransitionTime"] == "then" and ready["observedGeneration"] == 3
    conditions.mark_retrying("failed")
    assert conditions.get("Reconciling") == {
        **conditions.get("Reconciling"),  # type: ignore[dict-item]
        "reason": "ProgressingWithRetry",
        "message": "working",
    }
    assert [c["type"] for c in conditions.as_list()] == ["Ready", "Reconciling"]


def test_work_queue_never_runs_one_key_twice_at_once_and_replays_requests() -> None:
    queue = WorkQueue()
    running: set[tuple[str, str]] = set()
    overlaps: list[tuple[str, str]] = []
    runs: list[tuple[str, str]] = []
    progress = threading.Condition()
    first_run_started = threading.Event()
    release_first_run = threading.Event()

    def worker() -> None:
        while (key := queue.get()) is not None:
            with progress:
                if key in running:
                    overlaps.append(key)
                running.add(key)
                runs.append(key)
            if key == ("ns", "a") and not first_run_started.is_set():
                first_run_started.set()
                release_first_run.wait(5)  # "a" stays busy until the requests below have arrived
            with progress:
                running.discard(key)
                progress.notify_all()
            queue.done(key)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    queue.add(("ns", "a"))
    assert first_run_started.wait(5)
    for _ in range(5):  # arrive while "a" runs: one more run, not five, and never in parallel
        queue.add(("ns", "a"))
    queue.add_after(("ns", "b"), 0.05)
    release_first_run.set()
    with progress:
        assert progress.wait_for(
            lambda: runs.count(("ns", "a")) >= 2 and ("ns", "b") in runs and not running, 5
        )
    queue.close()
    for thread in threads:
        thread.join(2)
    assert overlaps == []
    assert runs.count(("ns", "a")) == 2
    assert runs.count(("ns", "b")) == 1
