"""What kustomize-controller does to built objects before applying them (simulated, not Flux):
``spec.images`` (kustomize's image transformer) and ``spec.postBuild.substitute`` (Flux's
envsubst of ``${var}`` and ``${var:=default}``).

Part of the simulated Flux controllers (``ksail_sim.flux.kustomize``); ``substituteFrom``
(variables from ConfigMaps and Secrets) is not simulated and is refused by the caller.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

Obj = dict[str, Any]

# Flux's variable names; ${var} and ${var:=default}.
_VARIABLE = re.compile(r"\$\{([_a-zA-Z][_a-zA-Z0-9]*)(?::=([^}]*))?\}")
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


def split_image(image: str) -> tuple[str, str]:
    """(name, suffix): the name without its tag or digest, and ``:tag``/``@digest`` as written."""
    name, at, digest = image.partition("@")
    if at:
        return name, f"@{digest}"
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon:]
    return name, ""


def _pod_specs(obj: Obj) -> Iterator[Obj]:
    """The pod specs of an object: a Pod's own, a template's, a CronJob's job template's."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if obj.get("kind") == "Pod":
        yield spec
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        yield template["spec"]
    job = spec.get("jobTemplate")
    if isinstance(job, dict):
        yield from _pod_specs({"spec": job.get("spec")})


def set_images(objects: list[Obj], images: list[Mapping[str, Any]]) -> list[Obj]:
    """Rewrite container images as kustomize's ``images:`` does: match by name, then
    ``newName``, and ``digest`` over ``newTag`` over the tag already there."""
    by_name = {str(entry.get("name", "")): entry for entry in images}
    for obj in objects:
        for pod_spec in _pod_specs(obj):
            for list_name in _CONTAINER_LISTS:
                for container in pod_spec.get(list_name) or []:
                    name, suffix = split_image(str(container.get("image", "")))
                    entry = by_name.get(name)
                    if entry is None:
                        continue
                    if entry.get("digest"):
                        suffix = f"@{entry['digest']}"
                    elif entry.get("newTag"):
                        suffix = f":{entry['newTag']}"
                    container["image"] = f"{entry.get('newName') or name}{suffix}"
    return objects


def substitute(objects: list[Obj], variables: Mapping[str, str]) -> list[Obj]:
    """Replace ``${var}`` (empty when unset) and ``${var:=default}`` in every string of each
    object, as Flux's postBuild does on the object's text."""

    def replace(match: re.Match[str]) -> str:
        value = variables.get(match.group(1))
        return value if value is not None else (match.group(2) or "")

    # On the JSON text, each value escaped as a JSON string: the object stays well-formed.
    return [
        json.loads(_VARIABLE.sub(lambda m: json.dumps(replace(m))[1:-1], json.dumps(obj))) for obj in objects
    ]


def transform(objects: list[Obj], spec: Mapping[str, Any]) -> list[Obj]:
    """``spec.images``, then ``spec.postBuild.substitute``, in kustomize-controller's order."""
    objects = set_images(objects, list(spec.get("images") or []))
    variables = (spec.get("postBuild") or {}).get("substitute") or {}
    return substitute(objects, {str(k): str(v) for k, v in variables.items()}) if variables else objects
