"""Flux's OCI artifact format: media types, annotations, and the structural check before a push."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zlib
from dataclasses import dataclass
from typing import Any

from ksail_tui.errors import InvalidInput
from ksail_tui.humanize import parse_time

MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_MEDIA_TYPE = "application/vnd.cncf.flux.config.v1+json"
CONTENT_MEDIA_TYPE = "application/vnd.cncf.flux.content.v1.tar+gzip"
# What a registry may answer for a tag; only the first is a Flux artifact.
ACCEPTED_MANIFEST_TYPES = (
    MANIFEST_MEDIA_TYPE,
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)

CREATED_ANNOTATION = "org.opencontainers.image.created"
SOURCE_ANNOTATION = "org.opencontainers.image.source"
REVISION_ANNOTATION = "org.opencontainers.image.revision"
VERSION_ANNOTATION = "org.opencontainers.image.version"
REQUIRED_ANNOTATIONS = (CREATED_ANNOTATION, SOURCE_ANNOTATION, REVISION_ANNOTATION, VERSION_ANNOTATION)

EMPTY_CONFIG = b"{}"


def sha256_digest(data: bytes | memoryview) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def descriptor(media_type: str, data: bytes) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256_digest(data), "size": len(data)}


def manifest_bytes(config: bytes, layer_digest: str, layer_size: int, annotations: dict[str, str]) -> bytes:
    """The image manifest, serialised compactly and in a fixed key order so its digest is stable."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": descriptor(CONFIG_MEDIA_TYPE, config),
        "layers": [{"mediaType": CONTENT_MEDIA_TYPE, "digest": layer_digest, "size": layer_size}],
        "annotations": annotations,
    }
    return json.dumps(manifest, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class LayerFile:
    path: str  # relative, "/"-separated, as in the tarball
    size: int
    digest: str  # sha256:<hex> of the content


# A layer expands to at most this much, in at most this many entries: a pushed version may come
# from anyone who can push to the registry, and a gzip bomb must not take the machine's memory.
MAX_LAYER_CONTENT_BYTES = 1024 * 1024 * 1024
MAX_LAYER_ENTRIES = 100_000
_HASH_CHUNK = 1024 * 1024


def read_layer_files(layer: bytes) -> dict[str, LayerFile]:
    """The regular files of a Flux content layer, refusing what source-controller would refuse."""
    files: dict[str, LayerFile] = {}
    expanded = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(layer), mode="r:gz") as archive:
            for count, member in enumerate(archive, start=1):
                if count > MAX_LAYER_ENTRIES:
                    raise InvalidInput(f"the layer holds more than {MAX_LAYER_ENTRIES} entries")
                name = member.name.removeprefix("./")
                if name.startswith("/") or ".." in name.split("/"):
                    raise InvalidInput(f"the layer holds an unsafe path {member.name!r}")
                if not member.isreg():
                    continue
                expanded += member.size
                if expanded > MAX_LAYER_CONTENT_BYTES:
                    raise InvalidInput(
                        f"the layer expands to more than {MAX_LAYER_CONTENT_BYTES // (1024 * 1024)} MiB"
                    )
                digest, size = hashlib.sha256(), 0
                content = archive.extractfile(member)
                while content is not None and (chunk := content.read(_HASH_CHUNK)):
                    digest.update(chunk)
                    size += len(chunk)
                files[name] = LayerFile(name, size, "sha256:" + digest.hexdigest())
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise InvalidInput(f"the layer is not a readable tar.gz: {error}") from None
    return files


def check_artifact(manifest: bytes, config: bytes, layer_digest: str, layer_size: int) -> None:
    """Refuse a manifest that Flux could not use, before it leaves the machine.

    The layer is described by its digest and size, taken as it was written: reading it back would
    cost as much as compressing it."""
    problems: list[str] = []
    try:
        data = json.loads(manifest)
    except ValueError as error:
        raise InvalidInput(f"the artifact manifest is not JSON: {error}") from None
    if data.get("schemaVersion") != 2 or data.get("mediaType") != MANIFEST_MEDIA_TYPE:
        problems.append(f"manifest must be schemaVersion 2 of {MANIFEST_MEDIA_TYPE}")
    if data.get("config") != descriptor(CONFIG_MEDIA_TYPE, config):
        problems.append(f"config must be a {CONFIG_MEDIA_TYPE} descriptor of the config blob")
    layers = data.get("layers") or []
    if len(layers) != 1:
        problems.append(f"expected exactly one layer, found {len(layers)}")
    elif layers[0] != {"mediaType": CONTENT_MEDIA_TYPE, "digest": layer_digest, "size": layer_size}:
        problems.append(f"the layer must be a {CONTENT_MEDIA_TYPE} descriptor of the layer blob")
    annotations = data.get("annotations") or {}
    missing = [key for key in REQUIRED_ANNOTATIONS if not annotations.get(key)]
    if missing:
        problems.append(f"missing annotations: {', '.join(missing)}")
    elif not _is_rfc3339(annotations[CREATED_ANNOTATION]):
        problems.append(f"{CREATED_ANNOTATION} is not an RFC 3339 time")
    if problems:
        raise InvalidInput("the built artifact is not a valid Flux artifact: " + "; ".join(problems))


def _is_rfc3339(text: str) -> bool:
    parsed = parse_time(text)
    return "T" in text and parsed is not None and parsed.tzinfo is not None
