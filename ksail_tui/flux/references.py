"""Which registry tags the cluster's OCIRepositories use, so prune never deletes them."""

from __future__ import annotations

from ksail_tui.config import ClusterConfig
from ksail_tui.errors import KsailError
from ksail_tui.kube.client import OCI_REPOSITORIES


def referenced_tags(config: ClusterConfig, repository: str) -> set[str] | None:
    """Tags of ``repository`` referenced by any OCIRepository; None when the cluster is unreachable."""
    from ksail_tui.flux.service import open_kube

    try:
        items = open_kube(config, request_timeout=3.0).list(OCI_REPOSITORIES)["items"]
    except KsailError:
        return None
    tags: set[str] = set()
    for item in items:
        url = (item.get("spec") or {}).get("url", "")
        if not url.rstrip("/").endswith("/" + repository):
            continue
        tag = ((item.get("spec") or {}).get("ref") or {}).get("tag")
        if tag:
            tags.add(tag)
        revision = ((item.get("status") or {}).get("artifact") or {}).get("revision", "")
        if "@" in revision:
            tags.add(revision.split("@", 1)[0])
    return tags
