"""Which versions the cluster's OCIRepositories can resolve to: what prune and the dev loop never delete."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ksail_tui.config import ClusterConfig
from ksail_tui.errors import Unavailable
from ksail_tui.flux.references import (
    SourceReference,
    cluster_references,
    protected_versions,
    repository_of_url,
)
from ksail_tui.kube.client import OCI_REPOSITORIES, KubeClient


def source(name: str, url: str, tag: str) -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "OCIRepository",
        "metadata": {"name": name, "namespace": "flux-system"},
        "spec": {"interval": "1m", "url": url, "ref": {"tag": tag}},
    }


def test_repository_of_url() -> None:
    assert repository_of_url("oci://t-registry:5000/t/app") == "t/app"
    assert repository_of_url("oci://ghcr.io/org/team/app/") == "org/team/app"
    assert repository_of_url("https://example.com/t/app") is None
    assert repository_of_url("oci://host-only") is None


def test_tags_of_exactly_this_repository_and_what_flux_last_fetched(
    kube: KubeClient, flux_config: ClusterConfig
) -> None:
    kube.apply(source("app", "oci://t-registry:5000/t/app", "0.2.0"))
    kube.merge_patch(
        OCI_REPOSITORIES,
        "app",
        {"status": {"artifact": {"revision": "0.1.0@sha256:" + "a" * 64}}},
        "flux-system",
        subresource="status",
    )
    kube.apply(source("other", "oci://t-registry:5000/x/t/app", "9.9.9"))  # same suffix, other repository
    references = cluster_references(flux_config, "t/app")
    assert [reference.source for reference in references] == ["flux-system/app"]
    listing = {"0.1.0": "sha256:" + "a" * 64, "0.2.0": "sha256:b", "9.9.9": "sha256:c"}
    assert set(protected_versions(references, listing)) == {"0.2.0", "0.1.0"}


def test_an_unreachable_cluster_raises_with_the_reason(tmp_path: Path) -> None:
    from ksail_tui.config import parse_config

    config = parse_config(
        "apiVersion: ksail.io/v1alpha1\nkind: Cluster\n"
        f"spec: {{cluster: {{connection: {{kubeconfig: {tmp_path / 'missing'}}}}}}}\n"
    )
    with pytest.raises(Unavailable, match="does not exist"):
        cluster_references(config, "t/app")


LISTING = {
    "0.1.0": "sha256:1",
    "0.1.1": "sha256:2",
    "v0.1.2": "sha256:3",
    "0.2.0": "sha256:4",
    "latest": "sha256:4",
}


@pytest.mark.parametrize(
    ("ref", "revision", "protected"),
    [
        ({"tag": "0.1.0"}, None, {"0.1.0"}),
        ({"digest": "sha256:4"}, None, {"0.2.0", "latest"}),  # every tag holding the pinned manifest
        ({"semver": "~0.1"}, None, {"0.1.0", "0.1.1", "v0.1.2"}),  # Masterminds reads a leading v
        ({"semver": ">=0.1.0", "semverFilter": "^0"}, None, {"0.1.0", "0.1.1", "0.2.0"}),
        ({"semver": "not a range"}, None, set(LISTING)),  # unreadable: nobody can say, keep all
        ({}, None, {"latest"}),  # Flux's default ref
        ({"tag": "0.2.0"}, "0.1.1@sha256:2", {"0.2.0", "0.1.1"}),
        ({"tag": "0.2.0"}, "sha256:1", {"0.2.0", "0.1.0"}),
        ({"tag": "0.2.0"}, "0.1.0/1", {"0.2.0", "0.1.0"}),  # Flux before 2.0
        ({"tag": "9.9.9"}, None, set()),  # not in the registry: nothing to keep
    ],
)
def test_what_one_source_can_resolve_to(
    ref: dict[str, str], revision: str | None, protected: set[str]
) -> None:
    obj: dict[str, Any] = {"metadata": {"name": "s", "namespace": "n"}, "spec": {"ref": ref}}
    if revision:
        obj["status"] = {"artifact": {"revision": revision}}
    assert set(SourceReference.from_object(obj).protects(LISTING)) == protected


@pytest.mark.parametrize("obj", [{}, {"spec": "x"}, {"spec": {"ref": ["tag"]}}, {"status": {"artifact": 7}}])
def test_a_malformed_object_reads_as_the_default_ref(obj: dict[str, Any]) -> None:
    assert set(SourceReference.from_object(obj).protects(LISTING)) == {"latest"}
