"""Flux artifact tarballs: safe extraction and a deliberately small ``kustomize build``.

Part of the simulated Flux controllers (``ksail_sim.flux``). Extraction follows fluxcd/pkg's
tar rules (gzip required, no absolute paths or ``..``, symlinks skipped). The build understands
plain manifests and ``kustomization.yaml`` files with ``resources:``; anything fancier is reported
as a build failure instead of being silently ignored.
"""

from __future__ import annotations

import gzip
import io
import posixpath
import tarfile
import zlib
from dataclasses import dataclass, field
from typing import Any

import yaml

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# Keys of kustomization.yaml the simulated build honours (apiVersion/kind are just identification).
SUPPORTED_KUSTOMIZATION_KEYS = {"apiVersion", "kind", "resources"}


class ArtifactError(Exception):
    """The tarball is unusable (not gzip, not tar, unsafe paths)."""


class PathNotFound(Exception):
    """``spec.path`` does not exist in the artifact."""


class BuildError(Exception):
    """A manifest cannot be built; the message names the file."""


@dataclass
class ArtifactTree:
    """The regular files of an extracted artifact, by normalized relative path."""

    files: dict[str, bytes] = field(default_factory=dict)
    directories: set[str] = field(default_factory=lambda: {""})

    def is_dir(self, path: str) -> bool:
        return path in self.directories

    def is_file(self, path: str) -> bool:
        return path in self.files

    def children(self, directory: str) -> list[str]:
        """Files directly or indirectly under ``directory``, in lexical order."""
        prefix = f"{directory}/" if directory else ""
        return sorted(path for path in self.files if path.startswith(prefix))


def extract(blob: bytes) -> ArtifactTree:
    """Read a Flux content layer (gzip'd tar) in memory."""
    try:
        data = gzip.decompress(blob)
    except (OSError, EOFError, zlib.error) as error:
        raise ArtifactError(f"requires gzip-compressed body: gzip: {_gzip_reason(error)}") from None
    tree = ArtifactTree()
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            for member in archive:
                name = member.name
                normalized = posixpath.normpath(name).removeprefix("./")
                if name.startswith("/") or normalized == ".." or normalized.startswith("../"):
                    raise ArtifactError(f'tar contained invalid name error "{name}"')
                if normalized == ".":
                    continue
                if member.isdir():
                    _add_parents(tree, normalized + "/x")
                    continue
                if not member.isfile():
                    continue  # symlinks, hard links, devices: skipped like Flux does
                handle = archive.extractfile(member)
                tree.files[normalized] = handle.read() if handle else b""
                _add_parents(tree, normalized)
    except tarfile.TarError as error:
        raise ArtifactError(f"failed to read tar: {error}") from None
    return tree


def _gzip_reason(error: BaseException) -> str:
    return "invalid header" if "Not a gzipped file" in str(error) else str(error)


def _add_parents(tree: ArtifactTree, path: str) -> None:
    parent = posixpath.dirname(path)
    while parent and parent not in tree.directories:
        tree.directories.add(parent)
        parent = posixpath.dirname(parent)


def build_root(spec_path: str | None) -> str:
    """``spec.path`` as a path inside the artifact; like securejoin, it cannot climb out."""
    parts: list[str] = []
    for part in (spec_path or "./").split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/".join(parts)


def build(tree: ArtifactTree, root: str) -> list[dict[str, Any]]:
    """The objects ``kustomize build`` would produce for the artifact at ``root``."""
    if not tree.is_dir(root):
        raise PathNotFound(root)
    try:
        return _build_directory(tree, root, generated=True)
    except BuildError as error:
        raise BuildError(f"kustomize build failed: {error}") from None


def _kustomization_file(tree: ArtifactTree, directory: str) -> str | None:
    for name in KUSTOMIZATION_FILES:
        path = posixpath.join(directory, name) if directory else name
        if tree.is_file(path):
            return path
    return None


def _build_directory(tree: ArtifactTree, directory: str, *, generated: bool) -> list[dict[str, Any]]:
    kustomization = _kustomization_file(tree, directory)
    if kustomization is not None:
        return _build_kustomization(tree, directory, kustomization)
    if not generated:
        raise BuildError(
            "accumulating resources: unable to find one of 'kustomization.yaml', 'kustomization.yml' "
            f"or 'Kustomization' in directory '{directory or '.'}'"
        )
    # Like kustomize-controller's generator: every YAML file, and sub-folders with their own
    # kustomization.yaml as a unit.
    objects: list[dict[str, Any]] = []
    claimed: set[str] = set()
    for path in tree.children(directory):
        if any(path.startswith(prefix) for prefix in claimed):
            continue
        folder = posixpath.dirname(path)
        if folder != directory and (nested := _nested_kustomization_dir(tree, directory, folder)):
            claimed.add(f"{nested}/")
            objects += _build_directory(tree, nested, generated=False)
            continue
        if path.endswith((".yaml", ".yml")):
            objects += _parse_documents(tree, path)
    return objects


def _nested_kustomization_dir(tree: ArtifactTree, root: str, folder: str) -> str | None:
    """The outermost folder between ``root`` and ``folder`` that holds a kustomization file."""
    relative = folder.removeprefix(f"{root}/") if root else folder
    current = root
    for part in relative.split("/"):
        current = posixpath.join(current, part) if current else part
        if _kustomization_file(tree, current) is not None:
            return current
    return None


def _build_kustomization(tree: ArtifactTree, directory: str, path: str) -> list[dict[str, Any]]:
    try:
        document = yaml.safe_load(tree.files[path]) or {}
    except yaml.YAMLError as error:
        raise BuildError(f"{path}: {_yaml_problem(error)}") from None
    if not isinstance(document, dict):
        raise BuildError(f"{path}: expected a mapping")
    unsupported = sorted(set(document) - SUPPORTED_KUSTOMIZATION_KEYS)
    if unsupported:
        raise BuildError(
            f"{path}: the simulated kustomize-controller supports only 'resources', "
            f"not {', '.join(repr(key) for key in unsupported)}"
        )
    objects: list[dict[str, Any]] = []
    for entry in document.get("resources") or []:
        target = posixpath.normpath(posixpath.join(directory, str(entry))).removeprefix("./")
        if target == "." or target.startswith("../"):
            raise BuildError(f"accumulating resources: '{entry}' is outside the artifact")
        if tree.is_file(target):
            objects += _parse_documents(tree, target)
        elif tree.is_dir(target):
            objects += _build_directory(tree, target, generated=False)
        else:
            raise BuildError(
                f"accumulating resources: accumulating resources from '{entry}': "
                f"open {target}: no such file or directory"
            )
    return objects


def _yaml_problem(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        return f"MalformedYAMLError: yaml: line {error.problem_mark.line + 1}: {error.problem}"
    return f"MalformedYAMLError: yaml: {error}"


def _parse_documents(tree: ArtifactTree, path: str) -> list[dict[str, Any]]:
    where = f"accumulating resources: accumulating resources from '{path}'"
    try:
        documents = list(yaml.safe_load_all(tree.files[path]))
    except yaml.YAMLError as error:
        raise BuildError(f"{where}: {_yaml_problem(error)} in File: {path}") from None
    objects: list[dict[str, Any]] = []
    for index, document in enumerate(documents, start=1):
        if document is None:
            continue
        if not isinstance(document, dict):
            raise BuildError(f"{where}: document {index} is a {type(document).__name__}, not an object")
        items = document.get("items") if str(document.get("kind", "")).endswith("List") else None
        for obj in items if isinstance(items, list) else [document]:
            objects.append(_checked_object(obj, where, index))
    return objects


def _checked_object(obj: Any, where: str, index: int) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise BuildError(f"{where}: document {index} is not an object")
    for key in ("apiVersion", "kind"):
        if not isinstance(obj.get(key), str) or not obj[key]:
            raise BuildError(f"{where}: missing Resource metadata: {key} is missing in document {index}")
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str) or not metadata["name"]:
        raise BuildError(f"{where}: missing metadata.name in object {obj['kind']} (document {index})")
    return obj
