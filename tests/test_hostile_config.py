"""Hostile ksail.yaml files: whatever the bytes, loading raises ConfigError naming the file, or loads.

Two generators: YAML-ish text assembled from the tokens that break parsers (anchors, aliases,
tags, merge keys, flow and block mixes, odd scalars), and mutations of a valid file (lines
dropped, duplicated, swapped, re-indented, values replaced). Any other exception, a hang or an
error without the file's name fails the test.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ksail_tui.config import ClusterConfig, load_config, parse_config
from ksail_tui.errors import ConfigError
from tests.test_config import FULL

VALID = (
    FULL
    + """\
    - name: web
      sourceDirectory: k8s/web
      version: 1.2.3-rc.1
      follow: ">=1.0.0-0"
      timeout: 2m
      ignore: [drafts/, "*.bak"]
"""
)

SHOWN = Path("/work/ksail.yaml")

TOKENS = [
    "apiVersion: ksail.io/v1alpha1",
    "kind: Cluster",
    "spec:",
    "metadata:",
    "  name: x",
    "  workloads:",
    "    - {name: a, sourceDirectory: x}",
    "&a",
    "*a",
    "&b [*a, *a, *a]",
    "<<: *a",
    "<<: {x: 1}",
    "!!python/object:os.system",
    "!!binary aGVsbG8=",
    "!!set {a, b}",
    "!!omap [a: 1]",
    "!ksail",
    "? [complex, key]",
    "---",
    "...",
    "%YAML 1.1",
    "{",
    "}",
    "[",
    "]",
    "'quoted: value'",
    '"\\u0000"',
    "|",
    ">-",
    "port: true",
    "port: 0x1F",
    "port: 1e400",
    "version: 1.0.0+build",
    "interval: 99999999999h",
    "timeout: .inf",
    "2024-01-01",
    "~",
    "null",
    ":",
    "-",
    "#",
    "\t",
    "\ufeff",
    "é",
]

yamlish = st.lists(
    st.tuples(st.sampled_from(["", "  ", "    ", "- ", "  - "]), st.sampled_from(TOKENS)),
    max_size=30,
).map(lambda parts: "\n".join(indent + token for indent, token in parts))


def assert_only_config_error(text: str) -> None:
    try:
        config = parse_config(text, path=SHOWN)
    except ConfigError as error:
        assert error.path == str(SHOWN)
        assert str(error).startswith(f"{SHOWN}"), str(error)
        if error.line is not None:
            assert 1 <= error.line <= max(1, text.count("\n") + 2), (error.line, text)
        return
    assert isinstance(config, ClusterConfig)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(yamlish)
def test_yamlish_text_only_raises_config_error(text: str) -> None:
    assert_only_config_error(text)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    lines = VALID.splitlines()
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        index = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        operation = draw(st.sampled_from(["drop", "duplicate", "swap", "indent", "dedent", "value", "token"]))
        line = lines[index]
        if operation == "drop":
            del lines[index]
        elif operation == "duplicate":
            lines.insert(index, line)
        elif operation == "swap":
            other = draw(st.integers(min_value=0, max_value=len(lines) - 1))
            lines[index], lines[other] = lines[other], line
        elif operation == "indent":
            lines[index] = "  " + line
        elif operation == "dedent":
            lines[index] = line.removeprefix("  ")
        elif operation == "value" and ":" in line:
            key = line.split(":", 1)[0]
            value = draw(st.one_of(st.sampled_from(TOKENS), st.text(max_size=12)))
            lines[index] = f"{key}: {value}"
        else:
            lines.insert(index, draw(st.sampled_from(TOKENS)))
        if not lines:
            lines = [""]
    return "\n".join(lines) + "\n"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutations_of_a_valid_file_only_raise_config_error(text: str) -> None:
    assert_only_config_error(text)


def test_the_unmutated_file_loads() -> None:
    config = parse_config(VALID, path=SHOWN)
    assert [w.name for w in config.workloads] == ["app", "web"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_arbitrary_bytes_in_a_file_only_raise_config_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "ksail.yaml"
    path.write_bytes(data)
    try:
        load_config(path)
    except ConfigError as error:
        assert error.path == str(path)
