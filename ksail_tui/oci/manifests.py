"""Validation of the manifests in a source folder before anything leaves the machine (FR-017).

Every ``.yaml``/``.yml``/``.json`` file must parse, and each non-empty document must be a Kubernetes
object with ``apiVersion``, ``kind`` and ``metadata.name``. Kustomize's own files are the exception:
a ``kustomization.yaml`` may omit all three (kustomize fills in apiVersion and kind), and a document of
kind Kustomization or Component in ``kustomize.config.k8s.io`` needs no name. A ``kind: List`` is
checked item by item.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from ksail_tui.errors import InvalidInput

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
KUSTOMIZATION_FILES = frozenset({"kustomization.yaml", "kustomization.yml", "Kustomization"})
KUSTOMIZE_GROUP = "kustomize.config.k8s.io"
KUSTOMIZE_KINDS = frozenset({"Kustomization", "Component"})

# libyaml is ten times faster than the pure-Python parser; fall back when PyYAML was built without it.
_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STR_TAG = "tag:yaml.org,2002:str"
_NULL_TAG = "tag:yaml.org,2002:null"
# Deep enough for a List's items[i].metadata.name.
_CHECKED_DEPTH = 4

# Beyond this many problems, listing more does not help anyone fix the folder.
_MAX_REPORTED = 20


@dataclass(frozen=True, slots=True)
class ManifestProblem:
    path: str  # relative to the source folder, with "/" separators
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


def is_manifest(name: str) -> bool:
    return name in KUSTOMIZATION_FILES or name.endswith(MANIFEST_SUFFIXES)


def check_manifest(path: str, data: bytes) -> tuple[int, list[ManifestProblem]]:
    """The number of non-empty documents in one file, and what is wrong with them."""
    is_kustomization_file = path.rsplit("/", 1)[-1] in KUSTOMIZATION_FILES
    try:
        documents = [(1, json.loads(data))] if path.endswith(".json") else list(_yaml_documents(data))
    except json.JSONDecodeError as error:
        return 0, [ManifestProblem(path, error.lineno, f"not valid JSON: {error.msg}")]
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = error.problem or error.context or "syntax error"
        return 0, [ManifestProblem(path, mark.line + 1 if mark else None, f"not valid YAML: {problem}")]
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as error:
        return 0, [ManifestProblem(path, None, f"cannot be parsed: {error}")]
    problems: list[ManifestProblem] = []
    count = 0
    for line, document in documents:
        if document is None:
            continue
        count += 1
        problems.extend(
            ManifestProblem(path, line, message)
            for message in _object_problems(document, kustomization_file=is_kustomization_file)
        )
    return count, problems


# Files that passed, by path and content digest: a long-running watch re-checks only what changed.
_PASSED: OrderedDict[tuple[str, str], int] = OrderedDict()
_PASSED_LIMIT = 50_000
_passed_lock = threading.Lock()


def check_manifest_once(path: str, data: bytes, digest: str) -> tuple[int, list[ManifestProblem]]:
    """:func:`check_manifest`, remembering content that passed under the same path."""
    key = (path, digest)
    with _passed_lock:
        count = _PASSED.get(key)
        if count is not None:
            _PASSED.move_to_end(key)
            return count, []
    count, problems = check_manifest(path, data)
    if not problems:
        with _passed_lock:
            _PASSED[key] = count
            if len(_PASSED) > _PASSED_LIMIT:
                _PASSED.popitem(last=False)
    return count, problems


def forget_passed_files() -> None:
    """Check every file again on the next build (what a new process does)."""
    with _passed_lock:
        _PASSED.clear()


def _yaml_documents(data: bytes) -> Iterable[tuple[int, Any]]:
    """Each document with its first line, as values down to the depth the checks look at.

    Parsing finds every syntax error ``yaml.safe_load_all`` would; the documents are composed but
    not constructed, which halves the cost on large trees and, like kustomize, leaves custom tags be.
    """
    loader = _YamlLoader(data)
    try:
        while loader.check_node():
            node = loader.get_node()
            yield node.start_mark.line + 1, _shallow(node, _CHECKED_DEPTH)
    finally:
        loader.dispose()


def _shallow(node: yaml.Node, depth: int) -> Any:
    """Strings, None, and lists and dicts down to ``depth``; other scalars stay nodes (never text)."""
    if isinstance(node, yaml.ScalarNode):
        if node.tag == _NULL_TAG:
            return None
        return node.value if node.tag == _STR_TAG else node
    if isinstance(node, yaml.SequenceNode):
        return [_shallow(item, depth - 1) for item in node.value] if depth > 0 else []
    if isinstance(node, yaml.MappingNode):
        if depth <= 0:
            return {}
        return {
            key.value: _shallow(value, depth - 1)
            for key, value in node.value
            if isinstance(key, yaml.ScalarNode)
        }
    return node


def _object_problems(document: Any, *, kustomization_file: bool) -> list[str]:
    if not isinstance(document, dict):
        found = "a list" if isinstance(document, list) else "a single value"
        return [f"expected a Kubernetes object (a mapping with apiVersion and kind), found {found}"]
    api_version, kind = document.get("apiVersion"), document.get("kind")
    is_kustomize_kind = (
        isinstance(api_version, str)
        and api_version.startswith(KUSTOMIZE_GROUP + "/")
        and kind in KUSTOMIZE_KINDS
    )
    if kustomization_file or is_kustomize_kind:
        return []
    missing = [field for field, value in (("apiVersion", api_version), ("kind", kind)) if not _text(value)]
    if kind == "List" and isinstance(document.get("items"), list):
        return missing + [
            f"items[{index}]: {problem}"
            for index, item in enumerate(document["items"])
            for problem in _object_problems(item, kustomization_file=False)
        ]
    metadata = document.get("metadata")
    if not isinstance(metadata, dict) or not _text(metadata.get("name")):
        missing.append("metadata.name")
    if not missing:
        return []
    name = metadata.get("name") if isinstance(metadata, dict) else None
    named = f" ({kind} {name})" if _text(kind) and _text(name) else f" ({kind})" if _text(kind) else ""
    return [f"document{named} has no {', '.join(missing)}"]


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def raise_for_problems(problems: list[ManifestProblem], *, manifest_count: int, source: str) -> None:
    """InvalidInput listing every problem (up to a limit), or for a folder without any manifest."""
    if problems:
        listed = "\n  ".join(str(problem) for problem in problems[:_MAX_REPORTED])
        more = len(problems) - _MAX_REPORTED
        if more > 0:
            listed += f"\n  ... and {more} more"
        raise InvalidInput(
            f"{source} has invalid manifests:\n  {listed}",
            hint="fix them before pushing: Flux would fail to apply this artifact",
        )
    if manifest_count == 0:
        raise InvalidInput(
            f"{source} holds no Kubernetes manifests (.yaml, .yml or .json files with objects)",
            hint="add manifests to the folder, or point sourceDirectory in ksail.yaml at the right one",
        )
