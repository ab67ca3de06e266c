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

# go-yaml v3, which Flux's kustomize-controller parses with, refuses a document whose aliases
# expand to most of it: up to 99% of the nodes decoded may come from aliases in a document of
# 400,000 nodes, scaling down to 10% at 4,000,000 (its allowedAliasRatio).
_ALIAS_RATIO_LOW = 400_000
_ALIAS_RATIO_HIGH = 4_000_000

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
        if path.endswith(".json"):
            documents = [(1, json.loads(data))]
        else:
            _refuse_alias_bombs(data)
            documents = list(_yaml_documents(data))
    except json.JSONDecodeError as error:
        return 0, [ManifestProblem(path, error.lineno, f"not valid JSON: {error.msg}")]
    except ValueError as error:  # e.g. an integer of more digits than Python converts
        return 0, [ManifestProblem(path, None, f"not valid JSON: {error}")]
    except _AliasBomb as bomb:
        return 0, [ManifestProblem(path, bomb.line, bomb.message)]
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


class _AliasBomb(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _refuse_alias_bombs(data: bytes) -> None:
    """Raise :class:`_AliasBomb` for a document Flux's parser refuses for its aliases.

    One pass over the parser's events, which never expands an alias: each anchor's value is
    counted once, and an alias adds that count. An alias inside the value of its own anchor
    would expand forever; aliases that expand to most of the document are a billion laughs.
    """
    if b"*" not in data:  # no alias indicator, in UTF-8 or UTF-16: nothing to count (a faster build)
        return
    loader = _YamlLoader(data)
    try:
        sizes: dict[str, int] = {}  # anchor -> nodes its value expands to
        open_nodes: list[list[Any]] = []  # [anchor, nodes so far] of each collection being read
        decoded = from_aliases = 0
        while loader.check_event():
            event = loader.get_event()
            line = event.start_mark.line + 1
            if isinstance(event, yaml.DocumentStartEvent):  # anchors and counts are per document
                sizes.clear()
                decoded = from_aliases = 0
                continue
            if isinstance(event, yaml.AliasEvent):
                if any(anchor == event.anchor for anchor, _ in open_nodes):
                    raise _AliasBomb(line, f"anchor {event.anchor!r} value contains itself")
                size = sizes.get(event.anchor or "", 0)  # an undefined alias is the composer's error
                decoded += 1 + size
                from_aliases += size
                if from_aliases > 100 and decoded > 1000 and from_aliases / decoded > _alias_ratio(decoded):
                    raise _AliasBomb(
                        line,
                        f"document contains excessive aliasing: {from_aliases} of its {decoded} nodes "
                        "come from aliases (refused before expanding them, as Flux's parser would)",
                    )
                nodes = 1 + size
            elif isinstance(event, yaml.CollectionStartEvent):
                decoded += 1
                open_nodes.append([event.anchor, 1])
                continue
            elif isinstance(event, yaml.CollectionEndEvent):
                anchor, nodes = open_nodes.pop()
                if anchor is not None:
                    sizes[anchor] = nodes
            elif isinstance(event, yaml.ScalarEvent):
                decoded += 1
                nodes = 1
                if event.anchor is not None:
                    sizes[event.anchor] = 1
            else:
                continue
            if open_nodes:
                open_nodes[-1][1] += nodes
    finally:
        loader.dispose()


def _alias_ratio(decoded: int) -> float:
    if decoded <= _ALIAS_RATIO_LOW:
        return 0.99
    if decoded >= _ALIAS_RATIO_HIGH:
        return 0.10
    return 0.99 - 0.89 * (decoded - _ALIAS_RATIO_LOW) / (_ALIAS_RATIO_HIGH - _ALIAS_RATIO_LOW)


def _yaml_documents(data: bytes) -> Iterable[tuple[int, Any]]:
    """Each document with its first line, as values down to the depth the checks look at.

    Parsing finds every syntax error ``yaml.safe_load_all`` would; the documents are composed but
    not constructed, which halves the cost on large trees and, like kustomize, leaves custom tags be.
    """
    loader = _YamlLoader(data)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:  # check_node said there is one
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
