"""The simulated source- and helm-controllers make nothing up: revisions come from local sources,
anything they cannot reach fails as source-controller reports it."""

from __future__ import annotations

import hashlib
import http.server
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from ksail_sim.demo_objects import bucket_folder, chart_index, other_kinds, platform_repository
from ksail_sim.flux import SimulatedFlux, install_simulated_flux
from ksail_sim.flux.bucket import bucket_index, index_revision
from ksail_sim.flux.git import resolve_git_ref
from ksail_sim.flux.helm import parse_index, resolve_chart_version
from ksail_sim.flux.runtime import Failure
from ksail_tui.flux.kinds import BY_KIND
from ksail_tui.kube.client import KubeClient

FLUX = "flux-system"


def git(folder: Path, *args: str) -> str:
    command = [
        "git",
        "-C",
        str(folder),
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "-c",
        "commit.gpgsign=false",
    ]
    return subprocess.run([*command, *args], check=True, capture_output=True, text=True).stdout.strip()


def commit(folder: Path, name: str, text: str) -> str:
    (folder / name).write_text(text)
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", f"{name}: {text}")
    return git(folder, "rev-parse", "HEAD")


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    folder = platform_repository(tmp_path / "platform")
    git(folder, "tag", "v1.0.0")  # a lightweight tag
    commit(folder, "b.yaml", "b")
    git(folder, "tag", "-a", "v1.2.0", "-m", "annotated")  # peeled to its commit
    commit(folder, "c.yaml", "c")
    git(folder, "tag", "v2.0.0-rc.1")
    return folder


# --- the rules, without a cluster -------------------------------------------------------


def test_git_refs_resolve_to_the_repositorys_own_commits(repository: Path) -> None:
    url = repository.as_uri()
    resolve = partial(resolve_git_ref, url, repository)
    head = git(repository, "rev-parse", "main")
    assert resolve({"branch": "main"}) == (head, f"main@sha1:{head}")
    v1 = git(repository, "rev-parse", "v1.0.0")
    assert resolve({"tag": "v1.0.0"}) == (v1, f"v1.0.0@sha1:{v1}")
    v12 = git(repository, "rev-parse", "v1.2.0^{commit}")
    assert resolve({"tag": "v1.2.0"})[0] == v12  # the commit, not the tag object
    assert resolve({"semver": ">=1.0.0"}) == (v12, f"v1.2.0@sha1:{v12}")  # no pre-releases
    assert resolve({"name": "refs/tags/v1.0.0"}) == (v1, f"refs/tags/v1.0.0@sha1:{v1}")
    first = git(repository, "rev-list", "--max-parents=0", "HEAD")
    assert resolve({"branch": "main", "commit": first[:12]}) == (first, f"main@sha1:{first}")
    assert resolve({"commit": first}) == (first, f"sha1:{first}")
    for ref, message in (
        ({"branch": "nope"}, 'couldn\'t find remote ref "refs/heads/nope"'),
        ({}, 'couldn\'t find remote ref "refs/heads/master"'),  # Flux's default branch
        ({"tag": "v9"}, 'couldn\'t find remote ref "refs/tags/v9"'),
        ({"semver": ">=3.0.0"}, "no match found for semver: >=3.0.0"),
        ({"commit": "0" * 40}, f"git commit '{'0' * 40}' not found"),
    ):
        with pytest.raises(Failure) as failed:
            resolve(ref)
        assert failed.value.reason == "GitOperationFailed"
        assert failed.value.message.startswith(
            f"failed to checkout and determine revision: unable to clone '{url}'"
        )
        assert message in failed.value.message
    missing = repository.parent / "missing"
    with pytest.raises(Failure, match="repository not found"):
        resolve_git_ref(missing.as_uri(), missing, {})


def test_chart_versions_resolve_from_the_index(tmp_path: Path) -> None:
    index = parse_index(
        (
            chart_index(tmp_path, versions=("6.5.3", "6.5.4", "6.6.0", "7.0.0-rc.1")) / "index.yaml"
        ).read_bytes()
    )
    assert resolve_chart_version(index, "podinfo", "*") == "6.6.0"
    assert resolve_chart_version(index, "podinfo", "6.5.x") == "6.5.4"
    assert resolve_chart_version(index, "podinfo", "6.5.3") == "6.5.3"
    with pytest.raises(Failure) as failed:
        resolve_chart_version(index, "podinfo", "9.9.9")
    assert failed.value.reason == "InvalidChartReference"
    assert failed.value.message == (
        "invalid chart reference: failed to get chart version for remote reference: "
        "no 'podinfo' chart with version matching '9.9.9' found"
    )
    with pytest.raises(Failure, match="no chart name found"):
        resolve_chart_version(index, "other", "*")
    with pytest.raises(Failure) as failed:
        parse_index(b"[not, an, index]")
    assert failed.value.reason == "IndexationFailed"


def test_a_buckets_revision_is_the_digest_of_its_object_list(tmp_path: Path) -> None:
    root = bucket_folder(tmp_path, "config") / "config"
    before = index_revision(bucket_index(root, ""))
    assert before.startswith("sha256:") and before == index_revision(bucket_index(root, ""))
    assert set(bucket_index(root, "")) == {"README.md", "app/settings.yaml"}
    assert set(bucket_index(root, "app/")) == {"app/settings.yaml"}
    (root / "app" / "settings.yaml").write_text("replicas: 3\n")
    assert index_revision(bucket_index(root, "")) != before  # content counts, not only names


# --- the controllers on the emulator ------------------------------------------------------


@pytest.fixture
def flux(apiserver: object, kubeconfig: Path) -> Iterator[KubeClient]:
    kube = KubeClient(kubeconfig, "ksail-sim")
    install_simulated_flux(kube)
    with SimulatedFlux(kube, namespace=FLUX, retry_interval=0.2):
        yield kube


def source(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": BY_KIND[kind].resource.api_version,
        "kind": kind,
        "metadata": {"name": name, "namespace": FLUX},
        "spec": {"interval": "1m", **spec},
    }


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions") or () if c["type"] == type_), {})


def wait_for(
    kube: KubeClient, kind: str, name: str, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    resource = BY_KIND[kind].resource
    deadline = time.monotonic() + 15
    obj: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        obj = kube.get_or_none(resource, name, FLUX)
        if obj is not None and done(obj):
            return obj
        time.sleep(0.05)
    raise AssertionError(f"{kind} {name}: {obj and obj.get('status')}")


def ready(obj: dict[str, Any]) -> bool:
    return condition(obj, "Ready").get("status") == "True"


def failed(obj: dict[str, Any]) -> bool:
    return condition(obj, "Ready").get("status") == "False"


def test_a_git_repository_follows_new_commits_of_its_local_repository(
    flux: KubeClient, repository: Path
) -> None:
    flux.create(
        BY_KIND["GitRepository"].resource,
        source("GitRepository", "platform", {"url": repository.as_uri(), "ref": {"branch": "main"}}),
        FLUX,
    )
    head = git(repository, "rev-parse", "main")
    obj = wait_for(flux, "GitRepository", "platform", ready)
    assert obj["status"]["artifact"]["revision"] == f"main@sha1:{head}"
    assert obj["status"]["artifact"]["digest"].startswith("sha256:")
    assert condition(obj, "Ready")["message"] == f"stored artifact for revision 'main@sha1:{head}'"
    assert condition(obj, "ArtifactInStorage")["status"] == "True"
    newer = commit(repository, "d.yaml", "d")
    # reconcile now, as `flux reconcile source git` asks
    flux.merge_patch(
        BY_KIND["GitRepository"].resource,
        "platform",
        {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "now"}}},
        FLUX,
    )
    obj = wait_for(
        flux,
        "GitRepository",
        "platform",
        lambda o: o["status"]["artifact"]["revision"] == f"main@sha1:{newer}",
    )
    assert not condition(obj, "FetchFailed")


def test_an_unreachable_git_url_fails_honestly_without_a_revision(flux: KubeClient) -> None:
    url = "https://github.com/example/platform"
    flux.create(BY_KIND["GitRepository"].resource, source("GitRepository", "remote", {"url": url}), FLUX)
    obj = wait_for(flux, "GitRepository", "remote", failed)
    for type_ in ("Ready", "FetchFailed"):
        assert condition(obj, type_)["reason"] == "GitOperationFailed"
        assert condition(obj, type_)["message"] == f"cannot reach {url} from the simulated source-controller"
    assert condition(obj, "FetchFailed")["status"] == "True"
    assert "artifact" not in obj["status"]


def test_helm_repository_chart_and_release_from_a_local_index(flux: KubeClient, tmp_path: Path) -> None:
    charts = chart_index(tmp_path / "charts")
    flux.create(
        BY_KIND["HelmRepository"].resource,
        source("HelmRepository", "podinfo", {"url": charts.as_uri()}),
        FLUX,
    )
    release = source(
        "HelmRelease",
        "podinfo",
        {
            "chart": {
                "spec": {
                    "chart": "podinfo",
                    "version": "6.5.x",
                    "sourceRef": {"kind": "HelmRepository", "name": "podinfo"},
                }
            }
        },
    )
    flux.create(BY_KIND["HelmRelease"].resource, release, FLUX)
    repository = wait_for(flux, "HelmRepository", "podinfo", ready)
    digest = hashlib.sha256((charts / "index.yaml").read_bytes()).hexdigest()
    assert repository["status"]["artifact"]["revision"] == f"sha256:{digest}"
    # helm-controller made the HelmChart; source-controller resolved its version from the index.
    chart = wait_for(flux, "HelmChart", "flux-system-podinfo", ready)
    assert (
        chart["spec"]["version"] == "6.5.x"
        and chart["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"] == "podinfo"
    )
    assert chart["status"]["artifact"]["revision"] == "6.5.4"
    assert condition(chart, "Ready")["message"] == "pulled 'podinfo' chart with version '6.5.4'"
    obj = wait_for(flux, "HelmRelease", "podinfo", ready)
    assert obj["status"]["helmChart"] == "flux-system/flux-system-podinfo"
    assert obj["status"]["history"][0]["chartVersion"] == "6.5.4"
    assert condition(obj, "Ready")["reason"] == "InstallSucceeded"
    # A new version in the index: the repository's new revision rebuilds the chart; the release upgrades.
    chart_index(tmp_path / "charts", versions=("6.5.4", "6.5.9"))
    flux.merge_patch(
        BY_KIND["HelmRepository"].resource,
        "podinfo",
        {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "1"}}},
        FLUX,
    )
    obj = wait_for(
        flux,
        "HelmRelease",
        "podinfo",
        lambda o: ready(o) and o["status"]["history"][0]["chartVersion"] == "6.5.9",
    )
    assert condition(obj, "Ready")["reason"] == "UpgradeSucceeded"
    # Deleting the release deletes its HelmChart, as helm-controller's finalizer does.
    flux.delete(BY_KIND["HelmRelease"].resource, "podinfo", FLUX)
    deadline = time.monotonic() + 10
    while (
        flux.get_or_none(BY_KIND["HelmChart"].resource, "flux-system-podinfo", FLUX)
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert flux.get_or_none(BY_KIND["HelmChart"].resource, "flux-system-podinfo", FLUX) is None


def test_a_missing_chart_version_fails_the_chart_and_the_release(flux: KubeClient, tmp_path: Path) -> None:
    flux.create(
        BY_KIND["HelmRepository"].resource,
        source("HelmRepository", "podinfo", {"url": chart_index(tmp_path).as_uri()}),
        FLUX,
    )
    flux.create(
        BY_KIND["HelmChart"].resource,
        source(
            "HelmChart",
            "pinned",
            {
                "chart": "podinfo",
                "version": "9.9.9",
                "sourceRef": {"kind": "HelmRepository", "name": "podinfo"},
            },
        ),
        FLUX,
    )
    chart = wait_for(
        flux,
        "HelmChart",
        "pinned",
        lambda o: failed(o) and condition(o, "Ready")["reason"] == "InvalidChartReference",
    )
    assert condition(chart, "FetchFailed")["status"] == "True"
    assert "no 'podinfo' chart with version matching '9.9.9' found" in condition(chart, "Ready")["message"]
    assert "artifact" not in chart["status"]


def test_helm_repositories_are_fetched_from_the_loopback_only(flux: KubeClient, tmp_path: Path) -> None:
    chart_index(tmp_path)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        served = f"http://127.0.0.1:{server.server_address[1]}"
        flux.create(
            BY_KIND["HelmRepository"].resource, source("HelmRepository", "local", {"url": served}), FLUX
        )
        assert wait_for(flux, "HelmRepository", "local", ready)["status"]["artifact"]["revision"].startswith(
            "sha256:"
        )
    finally:
        server.shutdown()
        server.server_close()
    remote = "https://stefanprodan.github.io/podinfo"
    flux.create(BY_KIND["HelmRepository"].resource, source("HelmRepository", "remote", {"url": remote}), FLUX)
    obj = wait_for(flux, "HelmRepository", "remote", failed)
    assert condition(obj, "Ready")["reason"] == "IndexationFailed"
    assert (
        condition(obj, "Ready")["message"] == "failed to fetch Helm repository index: "
        f"cannot reach {remote} from the simulated source-controller"
    )


def test_a_bucket_is_a_local_folder(flux: KubeClient, tmp_path: Path) -> None:
    root = bucket_folder(tmp_path, "config")
    buckets = BY_KIND["Bucket"].resource
    flux.create(
        buckets, source("Bucket", "config", {"endpoint": root.as_uri(), "bucketName": "config"}), FLUX
    )
    obj = wait_for(flux, "Bucket", "config", ready)
    revision = index_revision(bucket_index(root / "config", ""))
    assert obj["status"]["artifact"]["revision"] == revision
    assert condition(obj, "Ready")["message"] == f"stored artifact: revision '{revision}'"
    flux.create(buckets, source("Bucket", "gone", {"endpoint": root.as_uri(), "bucketName": "missing"}), FLUX)
    flux.create(
        buckets, source("Bucket", "s3", {"endpoint": "s3.amazonaws.com", "bucketName": "config"}), FLUX
    )
    assert (
        condition(wait_for(flux, "Bucket", "gone", failed), "Ready")["message"]
        == "bucket 'missing' not found"
    )
    s3 = wait_for(flux, "Bucket", "s3", failed)
    assert condition(s3, "FetchFailed")["reason"] == "BucketOperationFailed"
    assert (
        "cannot reach endpoint 's3.amazonaws.com' from the simulated source-controller"
        in condition(s3, "Ready")["message"]
    )


def test_the_demos_objects_all_become_ready_from_their_local_sources(
    flux: KubeClient, tmp_path: Path
) -> None:
    for obj in other_kinds(tmp_path / "sources"):
        flux.apply(obj)
    head = git(tmp_path / "sources" / "platform", "rev-parse", "main")
    assert (
        wait_for(flux, "GitRepository", "platform", ready)["status"]["artifact"]["revision"]
        == f"main@sha1:{head}"
    )
    for kind, name in (
        ("HelmRepository", "podinfo"),
        ("HelmChart", "flux-system-podinfo"),
        ("HelmRelease", "podinfo"),
        ("Bucket", "config"),
    ):
        wait_for(flux, kind, name, ready)
