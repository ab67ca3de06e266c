"""The simulated kustomize-controller's images and postBuild.substitute, as Flux does them."""

from __future__ import annotations

import pytest

from ksail_sim.flux.transform import split_image, substitute, transform


def _deployment(image: str) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"env": "${env_name}"}},
        "spec": {
            "replicas": "${replicas:=1}",
            "template": {"spec": {"containers": [{"name": "web", "image": image}], "initContainers": []}},
        },
    }


@pytest.mark.parametrize(
    ("image", "parts"),
    [
        ("nginx", ("nginx", "")),
        ("nginx:1.27", ("nginx", ":1.27")),
        ("local-registry:5000/shop/web", ("local-registry:5000/shop/web", "")),
        ("local-registry:5000/shop/web:abc", ("local-registry:5000/shop/web", ":abc")),
        ("r:5000/web@sha256:" + "a" * 64, ("r:5000/web", "@sha256:" + "a" * 64)),
    ],
)
def test_split_image(image: str, parts: tuple[str, str]) -> None:
    assert split_image(image) == parts


def test_images_match_by_name_and_prefer_the_digest() -> None:
    digest = "sha256:" + "b" * 64
    spec = {
        "images": [
            {"name": "web", "newName": "local-registry:5000/shop/web-pr1", "digest": digest},
            {"name": "other", "newTag": "2"},
        ]
    }
    (web,) = transform([_deployment("web:latest")], spec)
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == (
        f"local-registry:5000/shop/web-pr1@{digest}"
    )
    (unmatched,) = transform([_deployment("nginx:1")], spec)
    assert unmatched["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1"


def test_substitute_sets_variables_and_defaults() -> None:
    (web,) = transform([_deployment("web")], {"postBuild": {"substitute": {"env_name": "pr-1"}}})
    assert web["metadata"]["labels"]["env"] == "pr-1"
    assert web["spec"]["replicas"] == "1"


def test_substitute_keeps_the_object_readable_with_quotes_in_values() -> None:
    (web,) = substitute([_deployment("web")], {"env_name": 'a "quoted" \\ value'})
    assert web["metadata"]["labels"]["env"] == 'a "quoted" \\ value'
