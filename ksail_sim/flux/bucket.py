"""Simulated source-controller for Buckets: a local folder stands in for the bucket.

``spec.endpoint`` as a ``file://`` URL names a folder whose sub-folder ``spec.bucketName`` is the
bucket; its files are the objects (under ``spec.prefix``, when set). The revision is
``sha256:<digest>`` of the object list, each key with the digest of its content (Flux digests
the keys with their etags), so it moves when a file is added, removed or changed. Any other
endpoint fails as an unreachable bucket does (see :mod:`ksail_sim.flux.git`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from ksail_sim.flux.git import StatusController, artifact, local_path
from ksail_sim.flux.runtime import Failure
from ksail_tui.flux.kinds import BY_KIND
from ksail_tui.kube.client import KubeClient

BUCKETS = BY_KIND["Bucket"].resource
BUCKET_FAILED = "BucketOperationFailed"
MAX_OBJECTS = 100_000


def bucket_index(root: Path, prefix: str) -> dict[str, str]:
    """Object key -> sha256 of its content, for the files under ``root`` (symlinks not followed)."""
    index: dict[str, str] = {}
    stack = [root]
    while stack:
        folder = stack.pop()
        for entry in sorted(folder.iterdir()):
            if entry.is_symlink():
                continue
            if entry.is_dir():
                stack.append(entry)
                continue
            key = entry.relative_to(root).as_posix()
            if not key.startswith(prefix):
                continue
            if len(index) >= MAX_OBJECTS:
                raise Failure(BUCKET_FAILED, f"the bucket holds more than {MAX_OBJECTS} objects")
            digest = hashlib.sha256()
            with entry.open("rb") as file:
                while chunk := file.read(1 << 20):
                    digest.update(chunk)
            index[key] = digest.hexdigest()
    return index


def index_revision(index: dict[str, str]) -> str:
    listing = "".join(f"{key} {index[key]}\n" for key in sorted(index))
    return f"sha256:{hashlib.sha256(listing.encode()).hexdigest()}"


class BucketController(StatusController):
    component = "source-controller"

    def __init__(self, kube: KubeClient, *, retry_interval: float) -> None:
        super().__init__(kube, BUCKETS, retry_interval=retry_interval)

    def settle(self, obj: dict[str, Any], status: dict[str, Any]) -> tuple[str, str]:
        spec = obj.get("spec") or {}
        endpoint, name = str(spec.get("endpoint", "")), str(spec.get("bucketName", ""))
        folder = local_path(endpoint)
        if folder is None:
            raise Failure(
                BUCKET_FAILED, f"cannot reach endpoint '{endpoint}' from the simulated source-controller"
            )
        root = folder / name
        if not name or "/" in name or name in (".", "..") or not root.is_dir():
            raise Failure(BUCKET_FAILED, f"bucket '{name}' not found")
        try:
            index = bucket_index(root, str(spec.get("prefix") or ""))
        except OSError as error:
            raise Failure(BUCKET_FAILED, f"failed to list objects from bucket '{name}': {error}") from None
        revision = index_revision(index)
        status["artifact"] = artifact("bucket", obj, revision, revision, status.get("artifact") or {})
        return f"stored artifact: revision '{revision}'", "NewArtifact"
