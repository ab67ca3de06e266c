"""Which registry tags the cluster's OCIRepositories use, so prune never deletes them."""

from __future__ import annotations

from ksail_tui.config import ClusterConfig
from ksail_tui.kube.client import OCI_REPOSITORIES


def repository_of_url(url: str) -> str | None:
    """``local/app`` of ``oci://host:5000/local/app``; None for anything that is not an OCI URL."""
    if not url.startswith("oci://"):
        return None
    _, _, path = url.removeprefix("oci://").partition("/")
    return path.rstrip("/") or None


def referenced_tags(config: ClusterConfig, repository: str) -> set[str]:
    """Tags of ``repository`` that any OCIRepository references or last fetched.

    Raises the client's Unavailable error when the cluster cannot be asked, so callers can say why.
    """
    from ksail_tui.flux.service import open_kube

    tags: set[str] = set()
    for item in open_kube(config, request_timeout=3.0).list(OCI_REPOSITORIES)["items"]:
        if repository_of_url((item.get("spec") or {}).get("url", "")) != repository:
            continue
        tag = ((item.get("spec") or {}).get("ref") or {}).get("tag")
        if tag:
            tags.add(tag)
        revision = ((item.get("status") or {}).get("artifact") or {}).get("revision", "")
        if "@" in revision:
            tags.add(revision.split("@", 1)[0])
    return tags
