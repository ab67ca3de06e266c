"""The emulator's pure parts: selectors, JSONPath, patches, protobuf, AGE, manifests."""

from __future__ import annotations

from typing import Any

import pytest

from ksail_sim.apiserver.patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from ksail_sim.apiserver.protobuf import ProtobufError, decode
from ksail_sim.apiserver.query import (
    Selector,
    SelectorError,
    compile_jsonpath,
    evaluate_jsonpath,
    parse_label_selector,
)
from ksail_sim.apiserver.server import human_duration, load_manifests


def labelled(**labels: str) -> dict[str, Any]:
    return {"metadata": {"name": "x", "labels": labels}}


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("app=web", {"app": "web"}, True),
        ("app=web", {}, False),
        ("app!=web", {}, True),
        ("app!=web", {"app": "db"}, True),
        ("app in (web, db)", {"app": "db"}, True),
        ("app notin (web,db)", {"app": "db"}, False),
        ("app notin (web,db)", {}, True),
        ("app.kubernetes.io/name", {"app.kubernetes.io/name": "x"}, True),
        ("!app", {"app": "x"}, False),
        ("app=web,tier in (front),!debug", {"app": "web", "tier": "front"}, True),
        ("", {"any": "thing"}, True),
    ],
)
def test_label_selectors(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert Selector.parse(selector, None).matches(labelled(**labels)) is expected


@pytest.mark.parametrize("broken", ["app in (web", "=web", "a b", "app in web"])
def test_unparsable_label_selectors(broken: str) -> None:
    with pytest.raises(SelectorError):
        parse_label_selector(broken)


def test_field_selectors_compare_strings_at_a_path() -> None:
    event = {"metadata": {"name": "e", "namespace": "ns"}, "involvedObject": {"kind": "Pod", "name": "p"}}
    assert Selector.parse(None, "involvedObject.kind=Pod,metadata.namespace==ns").matches(event)
    assert not Selector.parse(None, "involvedObject.name!=p").matches(event)
    assert Selector.parse(None, "spec.missing=").matches(event)
    assert Selector.parse(None, "spec.unschedulable=true").matches({"spec": {"unschedulable": True}})
    with pytest.raises(SelectorError):
        Selector.parse(None, "metadata.name")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (".spec.url", ["oci://x"]),
        ('.status.conditions[?(@.type=="Ready")].status', ["False"]),
        (".status.conditions[?(@.type=='Healthy')].message", ["fine"]),
        (".status.conditions[1].type", ["Healthy"]),
        (".status.conditions[*].type", ["Ready", "Healthy"]),
        ("{.metadata.labels['app.kubernetes.io/name']}", ["demo"]),
        (".status.missing", []),
    ],
)
def test_jsonpath_subset(path: str, expected: list[Any]) -> None:
    obj = {
        "metadata": {"labels": {"app.kubernetes.io/name": "demo"}},
        "spec": {"url": "oci://x"},
        "status": {
            "conditions": [
                {"type": "Ready", "status": "False"},
                {"type": "Healthy", "status": "True", "message": "fine"},
            ]
        },
    }
    assert evaluate_jsonpath(compile_jsonpath(path), obj) == expected


def test_unsupported_jsonpath_is_an_error() -> None:
    with pytest.raises(SelectorError):
        compile_jsonpath(".a[?(@.b > 1)]")


def test_merge_patch_follows_rfc_7386() -> None:
    target = {"a": "b", "c": {"d": "e", "f": "g"}, "list": [1, 2]}
    patch = {"a": "z", "c": {"f": None}, "list": [3], "new": {"x": 1}}
    assert merge_patch(target, patch) == {"a": "z", "c": {"d": "e"}, "list": [3], "new": {"x": 1}}


def test_strategic_merge_patch_merges_keyed_lists_and_drops_directives() -> None:
    target = {
        "containers": [
            {"name": "app", "image": "a:1", "ports": [{"containerPort": 80}]},
            {"name": "sidecar", "image": "s:1"},
        ],
        "finalizers": ["a", "b"],
    }
    patch = {
        "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
        "containers": [{"name": "app", "image": "a:2"}, {"name": "sidecar", "$patch": "delete"}],
        "$deleteFromPrimitiveList/finalizers": ["a"],
    }
    assert strategic_merge_patch(target, patch) == {
        "containers": [{"name": "app", "image": "a:2", "ports": [{"containerPort": 80}]}],
        "finalizers": ["b"],
    }
    assert strategic_merge_patch({"a": 1, "b": 2}, {"$retainKeys": ["b"], "b": 3}) == {"b": 3}


def test_json_patch_operations() -> None:
    doc = {"a": {"b": [1, 2]}, "c": "d"}
    ops = [
        {"op": "add", "path": "/a/b/-", "value": 3},
        {"op": "add", "path": "/a/b/0", "value": 0},
        {"op": "replace", "path": "/c", "value": "e"},
        {"op": "copy", "from": "/c", "path": "/f"},
        {"op": "move", "from": "/f", "path": "/g~1h"},
        {"op": "remove", "path": "/a/b/1"},
        {"op": "test", "path": "/c", "value": "e"},
    ]
    assert json_patch(doc, ops) == {"a": {"b": [0, 2, 3]}, "c": "e", "g/h": "e"}
    for bad in (
        [{"op": "test", "path": "/c", "value": "nope"}],
        [{"op": "remove", "path": "/missing"}],
        [{"op": "replace", "path": "/a/b/9", "value": 1}],
        [{"op": "frobnicate", "path": "/c"}],
        [{"op": "remove", "path": ""}],  # the whole document cannot go
        [{"op": "move", "from": "", "path": "/x"}],
        {"op": "add"},
    ):
        with pytest.raises(PatchError):
            json_patch({"a": {"b": [1]}, "c": "e"}, bad)


def _field(number: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return bytes([number << 3 | 2, len(data)]) + data


def test_protobuf_bodies_decode_to_json_objects() -> None:
    meta = (
        _field(1, "creds") + _field(3, "demo") + _field(11, _field(1, "app") + _field(2, "x")) + _field(5, "")
    )
    secret = _field(1, meta) + _field(2, _field(1, "token") + _field(2, b"\x00\x01")) + _field(3, "Opaque")
    body = b"k8s\x00" + _field(1, _field(1, "v1") + _field(2, "Secret")) + _field(2, secret)
    assert decode(body) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": "demo", "labels": {"app": "x"}},
        "data": {"token": "AAE="},
        "type": "Opaque",
    }
    deployment = b"k8s\x00" + _field(1, _field(1, "apps/v1") + _field(2, "Deployment"))
    with pytest.raises(ProtobufError, match="Deployment"):
        decode(deployment)
    with pytest.raises(ProtobufError):
        decode(b'{"kind": "Secret"}')


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(-5, "<invalid>"), (5, "5s"), (119, "119s"), (150, "2m30s"), (600, "10m"), (3 * 3600 + 60, "3h1m"),
     (30 * 3600, "30h"), (3 * 86400 + 3600, "3d1h"), (400 * 86400, "400d"), (3 * 365 * 86400, "3y")],
)  # fmt: skip
def test_age_is_printed_like_kubectl(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def test_manifests_keep_timestamps_as_strings_and_expand_lists() -> None:
    text = (
        "kind: List\nitems:\n- {kind: A, metadata: {name: a}}\n---\n"
        "kind: B\nmetadata:\n  name: b\n  creationTimestamp: 2024-01-01T00:00:00Z\n---\n"
    )
    objects = load_manifests(text)
    assert [o["kind"] for o in objects] == ["A", "B"]
    assert objects[1]["metadata"]["creationTimestamp"] == "2024-01-01T00:00:00Z"
    with pytest.raises(ValueError):
        load_manifests("- just\n- a list\n")
