"""`registry gc` reclaims deleted artifacts and never breaks a multi-arch image in any repository."""

from __future__ import annotations

import json
import os

import requests

from tests.fixtures.registry_env import RegistrySetup
from tests.fixtures.registry_push import (
    TIMEOUT_SECONDS,
    blob_exists,
    delete_manifest,
    digest_of,
    push_artifact,
    push_blob,
    put_manifest,
)

IMAGE_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
IMAGE_INDEX = "application/vnd.oci.image.index.v1+json"


def push_multi_arch_image(endpoint: str, repository: str, tag: str) -> dict[str, str]:
    """An image index under ``tag`` whose per-platform manifests carry no tag; platform -> digest."""
    children: dict[str, str] = {}
    entries = []
    for architecture in ("amd64", "arm64"):
        config = json.dumps({"architecture": architecture, "os": "linux"}).encode()
        layer = os.urandom(2048)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": IMAGE_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": push_blob(endpoint, repository, config),
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": push_blob(endpoint, repository, layer),
                        "size": len(layer),
                    }
                ],
            }
        ).encode()
        digest = digest_of(manifest)
        put_manifest(endpoint, repository, digest, manifest, IMAGE_MANIFEST)
        children[architecture] = digest
        entries.append(
            {
                "mediaType": IMAGE_MANIFEST,
                "digest": digest,
                "size": len(manifest),
                "platform": {"architecture": architecture, "os": "linux"},
            }
        )
    index = json.dumps({"schemaVersion": 2, "mediaType": IMAGE_INDEX, "manifests": entries}).encode()
    put_manifest(endpoint, repository, tag, index, IMAGE_INDEX)
    return children


def _get_manifest(endpoint: str, repository: str, reference: str) -> dict:
    response = requests.get(
        f"http://{endpoint}/v2/{repository}/manifests/{reference}",
        headers={"Accept": f"{IMAGE_MANIFEST}, {IMAGE_INDEX}"},
        timeout=TIMEOUT_SECONDS,
    )
    assert response.status_code == 200, f"{repository}:{reference} does not resolve: {response.status_code}"
    return response.json()


def test_gc_keeps_the_platform_manifests_of_an_index_in_another_repository(
    registry_setup: RegistrySetup, registry_backend: str
) -> None:
    service = registry_setup.service(registry_backend)
    endpoint = registry_setup.config.registry_endpoint
    service.up()
    children = push_multi_arch_image(endpoint, "tools/multiarch", "1.0")
    pruned = push_artifact(endpoint, "t/app", "0.1.0", os.urandom(64 * 1024))
    delete_manifest(endpoint, "t/app", pruned.manifest_digest)

    service.garbage_collect()

    index = _get_manifest(endpoint, "tools/multiarch", "1.0")
    assert [entry["digest"] for entry in index["manifests"]] == list(children.values())
    for digest in children.values():
        for layer in _get_manifest(endpoint, "tools/multiarch", digest)["layers"]:
            assert blob_exists(endpoint, "tools/multiarch", layer["digest"])
    # What prune deleted is still reclaimed.
    assert not blob_exists(endpoint, "t/app", pruned.layer_digest)
