"""The three patch formats the emulator accepts: JSON merge, strategic merge and JSON patch.

JSON patch (RFC 6902) is the ``jsonpatch`` library's; the two merge formats are the emulator's.

All functions take ownership of ``target`` (pass a copy) and return the patched document.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer


class PatchError(ValueError):
    """A patch that cannot be applied to the object (the server answers 422)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: maps merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = target if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# Merge keys of the list fields a strategic merge patch from kubectl is likely to touch;
# other lists are replaced, which is what the real server does for lists without a patch strategy.
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
    "conditions": "type",
}


def _merge_key(field: str, items: list[Any]) -> str | None:
    if not items or not all(isinstance(item, dict) for item in items):
        return None
    if field == "ports":
        return "containerPort" if any("containerPort" in item for item in items) else "port"
    return _MERGE_KEYS.get(field)


def _merge_list(current: list[Any], patch: list[dict[str, Any]], key: str) -> list[Any]:
    result = list(current)
    for item in patch:
        index = next(
            (i for i, old in enumerate(result) if isinstance(old, dict) and old.get(key) == item.get(key)),
            None,
        )
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
        elif index is None:
            result.append(strategic_merge_patch({}, item))
        else:
            result[index] = strategic_merge_patch(result[index], item)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """An approximation of Kubernetes' strategic merge patch.

    Behaves as a merge patch, except that lists of well-known fields (containers, env, ports,
    conditions...) merge by their key and that patch directives (``$patch``, ``$retainKeys``,
    ``$setElementOrder/...``, ``$deleteFromPrimitiveList/...``) are honoured or dropped instead
    of being stored.
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {key: copy.deepcopy(value) for key, value in patch.items() if not key.startswith("$")}
    result = target if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list):
                result[field] = [item for item in result[field] if item not in value]
        elif key.startswith("$"):
            continue
        elif value is None:
            result.pop(key, None)
        elif (
            isinstance(value, list)
            and isinstance(result.get(key), list)
            and (merge_key := _merge_key(key, value))
        ):
            result[key] = _merge_list(result[key], value, merge_key)
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    retained = patch.get("$retainKeys")
    if isinstance(retained, list):
        result = {key: value for key, value in result.items() if key in retained}
    return result


def json_patch(doc: Any, operations: Any) -> Any:
    """RFC 6902 JSON patch, by the ``jsonpatch`` library (its pointers follow RFC 6901, which
    refuses an array index with a leading zero such as ``01``)."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    try:
        return jsonpatch.JsonPatch(operations).apply(doc, in_place=True)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as error:
        raise PatchError(str(error)) from None
    except (TypeError, KeyError, AttributeError) as error:
        # An operation that is not an object, or lacks a field the library reads.
        raise PatchError(f"invalid JSON patch operation: {error}") from None
