"""Label selectors, field selectors and the small JSONPath subset of printer columns.

Kept free of HTTP and storage concerns so the emulator's matching rules can be read (and
tested) on their own.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class SelectorError(ValueError):
    """A selector or JSONPath that cannot be parsed (the server answers 400)."""


@dataclass(frozen=True)
class LabelRequirement:
    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: frozenset[str] = frozenset()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        match self.operator:
            case "=" | "in":
                return present and value in self.values
            case "!=" | "notin":
                # Like the real API: a missing label satisfies a negative requirement.
                return not present or value not in self.values
            case "exists":
                return present
            case _:
                return not present


_SET_REQUIREMENT = re.compile(r"^([^\s!=(),]+)\s+(in|notin)\s*\(([^()]*)\)$")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside ``in (...)`` value lists."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


def _checked_key(key: str, text: str) -> str:
    if not _LABEL_KEY.match(key):
        raise SelectorError(f"unable to parse requirement: invalid label key {key!r} in {text!r}")
    return key


def parse_label_selector(text: str | None) -> tuple[LabelRequirement, ...]:
    requirements: list[LabelRequirement] = []
    for part in _split_top_level(text or ""):
        if part.startswith("!"):
            requirements.append(LabelRequirement(_checked_key(part[1:].strip(), part), "!exists"))
        elif match := _SET_REQUIREMENT.match(part):
            values = frozenset(value.strip() for value in match.group(3).split(",") if value.strip())
            requirements.append(LabelRequirement(_checked_key(match.group(1), part), match.group(2), values))
        elif "!=" in part:
            key, value = part.split("!=", 1)
            requirements.append(
                LabelRequirement(_checked_key(key.strip(), part), "!=", frozenset([value.strip()]))
            )
        elif "=" in part:
            key, value = part.replace("==", "=", 1).split("=", 1)
            requirements.append(
                LabelRequirement(_checked_key(key.strip(), part), "=", frozenset([value.strip()]))
            )
        else:
            requirements.append(LabelRequirement(_checked_key(part, part), "exists"))
    return tuple(requirements)


@dataclass(frozen=True)
class FieldRequirement:
    path: tuple[str, ...]
    value: str
    negated: bool

    def matches(self, obj: dict[str, Any]) -> bool:
        current: Any = obj
        for step in self.path:
            current = current.get(step) if isinstance(current, dict) else None
        if isinstance(current, bool):
            actual = "true" if current else "false"
        else:
            actual = "" if current is None else str(current)
        return (actual == self.value) != self.negated


def parse_field_selector(text: str | None) -> tuple[FieldRequirement, ...]:
    requirements: list[FieldRequirement] = []
    for part in (piece.strip() for piece in (text or "").split(",")):
        if not part:
            continue
        negated = "!=" in part
        separator = "!=" if negated else ("==" if "==" in part else "=")
        if separator not in part:
            raise SelectorError(f"invalid selector: {part!r}; can't understand {part!r}")
        key, value = part.split(separator, 1)
        if not key.strip():
            raise SelectorError(f"invalid field selector: {part!r}")
        requirements.append(FieldRequirement(tuple(key.strip().split(".")), value.strip(), negated))
    return tuple(requirements)


@dataclass(frozen=True)
class Selector:
    """A parsed ``labelSelector`` plus ``fieldSelector`` pair."""

    labels: tuple[LabelRequirement, ...] = ()
    fields: tuple[FieldRequirement, ...] = ()

    @classmethod
    def parse(cls, label_selector: str | None, field_selector: str | None) -> Selector:
        return cls(parse_label_selector(label_selector), parse_field_selector(field_selector))

    def matches(self, obj: dict[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(req.matches(labels) for req in self.labels) and all(
            req.matches(obj) for req in self.fields
        )


# JSONPath: only the forms CRD additionalPrinterColumns use in practice, e.g.
# `.spec.url`, `.spec.ports[0].port`, `.status.conditions[?(@.type=="Ready")].status`.
_JSONPATH_STEP = re.compile(
    r"""\.(?P<field>[A-Za-z0-9_\-$]+)
      | \[(?P<index>-?\d+|\*)\]
      | \[['"](?P<quoted>[^'"]+)['"]\]
      | \[\?\(@\.(?P<fpath>[A-Za-z0-9_.\-]+)\s*==\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^)\s]+))\)\]
    """,
    re.VERBOSE,
)

Step = Callable[[Any], list[Any]]


def _field_step(name: str) -> Step:
    return lambda node: [node[name]] if isinstance(node, dict) and name in node else []


def _index_step(index: str) -> Step:
    def step(node: Any) -> list[Any]:
        if not isinstance(node, list):
            return []
        if index == "*":
            return list(node)
        position = int(index)
        return [node[position]] if -len(node) <= position < len(node) else []

    return step


def _filter_step(path: str, expected: str) -> Step:
    keys = path.split(".")

    def step(node: Any) -> list[Any]:
        matches = []
        for item in node if isinstance(node, list) else []:
            value: Any = item
            for key in keys:
                value = value.get(key) if isinstance(value, dict) else None
            if value is not None and format_value(value) == expected:
                matches.append(item)
        return matches

    return step


@functools.lru_cache(maxsize=256)
def compile_jsonpath(expression: str) -> tuple[Step, ...]:
    text = expression.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    text = text.removeprefix("$")
    steps: list[Step] = []
    position = 0
    while position < len(text):
        match = _JSONPATH_STEP.match(text, position)
        if not match:
            raise SelectorError(f"unsupported JSONPath {expression!r} at {text[position:]!r}")
        if match.group("field") is not None:
            steps.append(_field_step(match.group("field")))
        elif match.group("quoted") is not None:
            steps.append(_field_step(match.group("quoted")))
        elif match.group("index") is not None:
            steps.append(_index_step(match.group("index")))
        else:
            expected = next(
                g for g in (match.group("dq"), match.group("sq"), match.group("bare")) if g is not None
            )
            steps.append(_filter_step(match.group("fpath"), expected))
        position = match.end()
    return tuple(steps)


def evaluate_jsonpath(steps: tuple[Step, ...], obj: Any) -> list[Any]:
    nodes = [obj]
    for step in steps:
        nodes = [found for node in nodes for found in step(node)]
    return nodes


def format_value(value: Any) -> str:
    """Print a value the way kubectl's JSONPath printer does."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)
