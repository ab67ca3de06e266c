"""Which tags the cluster's OCIRepositories use: what prune and the dev loop must never delete."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ksail_tui.config import ClusterConfig
from ksail_tui.errors import Unavailable
from ksail_tui.flux.references import referenced_tags, repository_of_url
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
    assert referenced_tags(flux_config, "t/app") == {"0.2.0", "0.1.0"}


def test_an_unreachable_cluster_raises_with_the_reason(tmp_path: Path) -> None:
    from ksail_tui.config import parse_config

    config = parse_config(
        "apiVersion: ksail.io/v1alpha1\nkind: Cluster\n"
        f"spec: {{cluster: {{connection: {{kubeconfig: {tmp_path / 'missing'}}}}}}}\n"
    )
    with pytest.raises(Unavailable, match="does not exist"):
        referenced_tags(config, "t/app")
