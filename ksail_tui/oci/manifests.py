"""Validation of the manifests in a source folder before anything leaves the machine (FR-017).

Every ``.yaml``/``.yml``/``.json`` file must parse, and each non-empty document must be a Kubernetes
object with ``apiVersion``, ``kind`` and ``metadata.name``. Kustomize's own files are the exception:
a ``kustomization.yaml`` may omit all three (kustomize fills in apiVersion and kind), and a document of
kind Kustomization or Component in ``kustomize.config.k8s.io`` needs no name. A ``kind: List`` is
checked item by item.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
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
_RawParser: Any = getattr(getattr(yaml, "_yaml", None), "CParser", None)

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
            quick = _quick_count(data, kustomization_file=is_kustomization_file)
            if quick is not None:
                return quick, []
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
    except (yaml.YAMLError, UnicodeDecodeError) as error:
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
    count = passed_before(path, digest)
    if count is not None:
        return count, []
    count, problems = check_manifest(path, data)
    if not problems:
        remember_passed(path, digest, count)
    return count, problems


def passed_before(path: str, digest: str) -> int | None:
    """The number of documents of content that passed under this path before; None if it did not."""
    key = (path, digest)
    with _passed_lock:
        count = _PASSED.get(key)
        if count is not None:
            _PASSED.move_to_end(key)
        return count


def remember_passed(path: str, digest: str, count: int) -> None:
    with _passed_lock:
        _PASSED[(path, digest)] = count
        if len(_PASSED) > _PASSED_LIMIT:
            _PASSED.popitem(last=False)


class _AliasBomb(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _alias_ratio(decoded: int) -> float:
    if decoded <= _ALIAS_RATIO_LOW:
        return 0.99
    if decoded >= _ALIAS_RATIO_HIGH:
        return 0.10
    return 0.99 - 0.89 * (decoded - _ALIAS_RATIO_LOW) / (_ALIAS_RATIO_HIGH - _ALIAS_RATIO_LOW)


# --- the quick verdict ------------------------------------------------------------------------------
#
# Python objects for every parser event cost several times what libyaml's own parse does, so the
# common manifest (block style, top-level keys at column 0, `apiVersion: v1`, `kind: X` and
# `metadata:` with a one-line `name: y`, no anchors) is read in pieces: the lines that say apiVersion,
# kind and metadata.name are read as text, everything else is only parsed, by libyaml without Python
# objects. The pieces are cut where a key of the same mapping begins, and each is parsed as a
# document of its own, so a piece that does not end where the cut says (a quoted scalar or a flow
# collection going on past the next key line) is a syntax error there. Whatever does not fit, and
# any file with a problem, goes to the full walk, which gives the exact messages.

_KEY = rb"[A-Za-z0-9_][-A-Za-z0-9_./]*"
# Each line at column 0 but comments: a document marker, a top-level key, a `- ` entry of an
# indentless list (part of the key before it), or anything else, which the cut does not understand.
# Searched for as a newline and what follows (a literal first byte is found far faster than `^`).
_CUT = re.compile(rb"\n(?:(---)(?=\n)|(" + _KEY + rb"):(?=[ \n])|-(?=[ \n])|([^ \n#]))")
_BLANK_OR_COMMENTS = re.compile(rb"(?:[ ]*(?:#[^\n]*)?\n)*")
_VALUE = rb" (?:([A-Za-z0-9][-A-Za-z0-9_./]*)|\"([-A-Za-z0-9_./]*)\"|'([-A-Za-z0-9_./]*)')"
_ONE_LINE = re.compile(rb"(?:apiVersion|kind):" + _VALUE + rb"\n(?:[ ]*(?:#[^\n]*)?\n)*")
_METADATA = b"metadata:\n"
_DOCUMENT_START = b"---\n"
_PLAIN = (True, False)


def _quick_count(data: bytes, *, kustomization_file: bool) -> int | None:
    """The number of documents when the file is certainly fine; None when the full walk must decide.

    Anchors and aliases (counted by the full walk), other line breaks than LF, and anything not
    ASCII (a BOM, YAML 1.1's NEL/LS/PS breaks) go to the full walk.
    """
    if _RawParser is None or not data.isascii() or b"&" in data or b"*" in data or b"\r" in data:
        return None
    # A newline before the first line, so that it is found like the others; positions count from it.
    data = b"\n" + data if data.endswith(b"\n") else b"\n" + data + b"\n"
    pieces: list[bytes] = []  # each parsed as a document of its own
    documents = 0
    keys: list[tuple[bytes, int]] = []  # the current document's top-level keys and where they start
    document_start = 1
    for match in _CUT.finditer(data):
        marker, key, odd = match.groups()
        if odd is not None:
            return None
        if key is not None:
            keys.append((key, match.start() + 1))
        elif marker is not None:
            if not _read_document(data, document_start, match.start() + 1, keys, pieces, kustomization_file):
                return None
            documents += bool(keys)
            keys = []
            document_start = match.end() + 1
    if not _read_document(data, document_start, len(data), keys, pieces, kustomization_file):
        return None
    documents += bool(keys)
    try:
        if pieces:
            _raw_parse(_DOCUMENT_START.join(pieces))
    except yaml.YAMLError:
        return None
    return documents


def _read_document(
    data: bytes, start: int, end: int, keys: list[tuple[bytes, int]], pieces: list[bytes], kustomization: bool
) -> bool:
    """Add the document's pieces to parse; False when the quick verdict cannot vouch for it."""
    if not _only_blank_or_comments(data, start, keys[0][1] if keys else end):
        return False  # a root that is not a mapping, or text before it
    if not keys:
        return True
    if kustomization:
        pieces.append(data[keys[0][1] : end])
        return True
    found: dict[str, Any] = {}
    run_start = keys[0][1]
    for index, (key, key_start) in enumerate(keys):
        key_end = keys[index + 1][1] if index + 1 < len(keys) else end
        if key == b"metadata":
            name, parts = _metadata_name(data, key_start, key_end)
            if parts is None or "metadata" in found:
                return False
            pieces.extend(parts)
            found["metadata"] = {"name": name}
        elif key in (b"apiVersion", b"kind"):
            line = _ONE_LINE.fullmatch(data, key_start, key_end)
            if line is None or key.decode() in found:
                return False
            found[key.decode()] = _simple_value(line)
        elif key == b"items":
            return False
        else:
            continue
        if key_start > run_start:
            pieces.append(data[run_start:key_start])
        run_start = key_end
    if end > run_start:
        pieces.append(data[run_start:end])
    return not _object_problems(found, kustomization_file=False)


def _metadata_name(data: bytes, start: int, end: int) -> tuple[Any, list[bytes] | None]:
    """metadata.name as text, and the rest of metadata as pieces to parse (None: not the usual shape).

    metadata must be a block mapping whose entries all start at one indentation, nothing in it less
    indented, with one ``name: <simple value>`` line among them; the entries before and after that
    line are parsed as metadata of their own.
    """
    if not data.startswith(_METADATA, start):
        return None, None
    first = _content_start(data, start + len(_METADATA), end)
    indent = 0
    while first + indent < end and data[first + indent] == 0x20:
        indent += 1
    if indent == 0 or _entry_at(indent).match(data, first, end) is None:
        return None, None
    if _less_indented(indent).search(data, first, end) is not None:
        return None, None
    names = list(_name_line(indent).finditer(data, first - 1, end))
    if len(names) != 1:
        return None, None
    line = names[0]
    parts = []
    # The match runs from the newline before the name line to the end of its value.
    for part_start, part_end in ((first, line.start() + 1), (line.end() + 1, end)):
        content = _content_start(data, part_start, part_end)
        if content == part_end:
            continue
        if _entry_at(indent).match(data, content, part_end) is None:
            return None, None  # what follows would not be entries of the same mapping
        parts.append(_METADATA + data[part_start:part_end])
    return _simple_value(line), parts


@functools.cache
def _entry_at(indent: int) -> re.Pattern[bytes]:
    return re.compile(rb" {%d}" % indent + _KEY + rb":[ \n]")


# These two look for a line by the newline before it: a pattern with a literal first byte is searched
# for far faster than one starting with `^`, which the regex engine tries at every position.
@functools.cache
def _less_indented(indent: int) -> re.Pattern[bytes]:
    return re.compile(rb"\n {0,%d}[^ \n#]" % (indent - 1))


@functools.cache
def _name_line(indent: int) -> re.Pattern[bytes]:
    # Up to the value's end, not its newline, so that the next line's newline is left to find.
    return re.compile(rb"\n {%d}name:" % indent + _VALUE + rb"(?=\n)")


def _simple_value(line: re.Match[bytes]) -> Any:
    """The value of a one-line scalar as the full walk builds it (quoted: a string)."""
    plain, double, single = line.groups()
    if plain is None:
        return (double if double is not None else single).decode()
    text = plain.decode()
    if not _ANY_FIRST_TYPED and text[0] not in _TYPED_FIRST:
        return text  # no implicit type starts this way: the resolver would say str
    tag = _resolver.resolve(yaml.ScalarNode, text, _PLAIN)
    if tag == _NULL_TAG:
        return None
    return text if tag == _STR_TAG else _OPAQUE


def _content_start(data: bytes, start: int, end: int) -> int:
    """Where the first line that is not blank or a comment starts (``end`` if none)."""
    return _BLANK_OR_COMMENTS.match(data, start, end).end()  # type: ignore[union-attr]


def _only_blank_or_comments(data: bytes, start: int, end: int) -> bool:
    return _content_start(data, start, end) == end


def _raw_parse(data: bytes) -> None:
    """Raise the parser's error for ``data``, building no Python object for its events."""
    parser = _RawParser(data)
    try:
        parser.raw_parse()
    finally:
        parser.dispose()


# --- the full walk ------------------------------------------------------------------------------------


class _Opaque:
    """A scalar that is neither a string nor null: never a name, whatever its text."""


_OPAQUE = _Opaque()
_NO_KEY = object()  # the entry's key is not a scalar: the checks never look it up


# The only keys the checks read (see _object_problems): other entries are parsed, never built.
_READ_KEYS = frozenset({"apiVersion", "kind", "metadata", "name", "items"})


@dataclass(slots=True)
class _Collection:
    """A mapping or sequence being read: its value so far, and its nodes for the alias budget."""

    is_mapping: bool
    depth: int  # how deep its value is built; < 0: not at all
    placed: int  # how deep its place wants it (an anchored value is built deeper, for its aliases)
    value: Any
    anchor: str | None
    nodes: int = 1
    key: Any = _NO_KEY
    expects_key: bool = True
    value_depth: int = -1  # how deep the next value is built

    def __post_init__(self) -> None:
        if not self.is_mapping:
            self.expects_key = False
            self.value_depth = self.child_depth

    @property
    def child_depth(self) -> int:
        return self.depth - 1 if self.depth > 0 else -1

    def read_key(self, text: str | None) -> None:
        self.key = _NO_KEY if text is None else text
        self.value_depth = self.child_depth if text in _READ_KEYS else -1
        self.expects_key = False

    def add(self, value: Any) -> None:
        if self.value_depth < 0:
            pass
        elif self.is_mapping:
            self.value[self.key] = value
        else:
            self.value.append(value)
        if self.is_mapping:
            self.expects_key = True
            self.value_depth = -1


@dataclass(frozen=True, slots=True)
class _Anchored:
    nodes: int
    value: Any  # built _CHECKED_DEPTH deep, cut to where an alias uses it
    text: str | None  # a scalar's text, for an alias used as a key


_UNDEFINED = _Anchored(0, None, None)  # what an undefined alias counts as until its error is raised


def _yaml_documents(data: bytes) -> Iterator[tuple[int, Any]]:
    """Each document with its first line, as values down to the depth the checks look at.

    One pass over the parser's events: it finds every syntax error ``yaml.safe_load_all`` would,
    and the composer's (undefined alias, duplicate anchor); it never expands an alias, and refuses
    a document Flux's parser (go-yaml) refuses for its aliases, naming the line. Only the values
    the checks read are built; scalars are resolved only there, and custom tags are left be, as
    kustomize does.
    """
    loader = _YamlLoader(data)
    try:
        yield from _walk_events(loader, _ComposerErrors(loader, has_aliases=b"*" in data))
    finally:
        loader.dispose()


class _ComposerErrors:
    """Raises the composer's errors (undefined alias, duplicate anchor) when PyYAML would.

    A file with aliases was checked for alias bombs in a pass of its own before it was composed, so
    any syntax error or bomb in the whole file came first; without aliases, the composer's error
    comes when it has read one event past it.
    """

    def __init__(self, loader: Any, *, has_aliases: bool) -> None:
        self._loader = loader
        self._has_aliases = has_aliases
        self.first: yaml.YAMLError | None = None

    def found(self, error: yaml.YAMLError) -> None:
        if not self._has_aliases:
            self._loader.check_event()
            raise error
        if self.first is None:
            self.first = error


def _walk_events(loader: Any, composer_errors: _ComposerErrors) -> Iterator[tuple[int, Any]]:
    get_event = loader.get_event
    scalar_event, alias_event = yaml.ScalarEvent, yaml.AliasEvent
    open_collections: list[_Collection] = []
    top: _Collection | None = None
    anchors: dict[str, _Anchored] = {}
    anchor_marks: dict[str, Any] = {}
    decoded = from_aliases = 0
    document: Any = None
    line = 0
    while True:
        event = get_event()
        kind = type(event)
        if kind is scalar_event:
            decoded += 1
            anchor = event.anchor
            if top is not None and anchor is None:
                top.nodes += 1
                if top.expects_key:  # the hot path: keys, and values nobody reads
                    top.read_key(event.value)
                elif top.value_depth < 0:
                    top.add(None)
                else:
                    top.add(_scalar_value(event))
                continue
            value: Any = _scalar_value(event)
            nodes, text = 1, event.value
            if anchor is not None:
                _remember_anchor(anchor, event, anchor_marks, composer_errors)
                anchors[anchor] = _Anchored(1, value, text)
        elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            decoded += 1
            if top is None:
                placed = _CHECKED_DEPTH
                line = event.start_mark.line + 1
            else:
                placed = -1 if top.expects_key else top.value_depth
            depth = placed
            anchor = event.anchor
            if anchor is not None:
                _remember_anchor(anchor, event, anchor_marks, composer_errors)
                depth = max(depth, _CHECKED_DEPTH)
            is_mapping = kind is yaml.MappingStartEvent
            built: Any = ({} if is_mapping else []) if depth >= 0 else None
            top = _Collection(is_mapping, depth, placed, built, anchor)
            open_collections.append(top)
            continue
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            done = open_collections.pop()
            top = open_collections[-1] if open_collections else None
            nodes, value, text = done.nodes, done.value, None
            if done.anchor is not None:
                anchors[done.anchor] = _Anchored(nodes, value, None)
                if done.placed < done.depth:
                    value = _cut(value, done.placed) if done.placed >= 0 else None
        elif kind is alias_event:
            name = event.anchor or ""
            line_here = event.start_mark.line + 1
            if any(open_.anchor == name for open_ in open_collections):
                raise _AliasBomb(line_here, f"anchor {name!r} value contains itself")
            target = anchors.get(name)
            if target is None:
                composer_errors.found(
                    yaml.composer.ComposerError(None, None, "found undefined alias", event.start_mark)
                )
                target = _UNDEFINED
            decoded += 1 + target.nodes
            from_aliases += target.nodes
            if from_aliases > 100 and decoded > 1000 and from_aliases / decoded > _alias_ratio(decoded):
                raise _AliasBomb(
                    line_here,
                    f"document contains excessive aliasing: {from_aliases} of its {decoded} nodes "
                    "come from aliases (refused before expanding them, as Flux's parser would)",
                )
            nodes, text = 1 + target.nodes, target.text
            if top is None:
                value = _cut(target.value, _CHECKED_DEPTH)
            else:
                value = _cut(target.value, top.value_depth) if top.value_depth >= 0 else None
        elif kind is yaml.DocumentStartEvent:  # anchors and counts are per document
            anchors.clear()
            anchor_marks.clear()
            decoded = from_aliases = 0
            continue
        elif kind is yaml.DocumentEndEvent:
            yield line, document
            document = None
            continue
        elif kind is yaml.StreamEndEvent:
            if composer_errors.first is not None:
                raise composer_errors.first
            return
        else:
            continue
        if top is None:
            if kind is scalar_event or kind is alias_event:
                line = event.start_mark.line + 1
            document = value
            continue
        top.nodes += nodes
        if top.expects_key:
            top.read_key(text)
        else:
            top.add(value)


def _remember_anchor(anchor: str, event: Any, marks: dict[str, Any], errors: _ComposerErrors) -> None:
    first = marks.get(anchor)
    if first is not None:
        errors.found(
            yaml.composer.ComposerError(
                "found duplicate anchor; first occurrence", first, "second occurrence", event.start_mark
            )
        )
    marks[anchor] = event.start_mark


_resolver = yaml.resolver.Resolver()
# The first characters of the implicit types (bool, int, float, null, timestamp...): the resolver
# tries those keyed by a plain scalar's first character, and those keyed by None for any.
_TYPED_FIRST = frozenset(key for key in _resolver.yaml_implicit_resolvers if key)
_ANY_FIRST_TYPED = None in _resolver.yaml_implicit_resolvers


def _scalar_value(event: Any) -> Any:
    """The scalar as the checks see it: its text when it is a string, None when null, else opaque."""
    tag = event.tag
    if tag is None or tag == "!":
        tag = _resolver.resolve(yaml.ScalarNode, event.value, event.implicit)
    if tag == _NULL_TAG:
        return None
    return event.value if tag == _STR_TAG else _OPAQUE


def _cut(value: Any, depth: int) -> Any:
    """An anchored value as deep as where an alias (or the anchor itself) puts it."""
    if isinstance(value, list):
        return [_cut(item, depth - 1) for item in value] if depth > 0 else []
    if isinstance(value, dict):
        return {key: _cut(item, depth - 1) for key, item in value.items()} if depth > 0 else {}
    return value


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
