"""Decoding of the protobuf bodies kubectl sends for a few built-in kinds.

``kubectl create namespace|configmap|secret|serviceaccount`` use typed clients that always
encode requests as Kubernetes protobuf and never fall back to JSON, so the emulator decodes
exactly those kinds (field numbers from k8s.io/api/core/v1/generated.proto). Answers stay
JSON, which those clients accept. Anything else is refused with a message naming the kind.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

MAGIC = b"k8s\x00"


class ProtobufError(ValueError):
    """A protobuf body the emulator cannot decode (the server answers 415)."""


# A field is (json name, kind); a kind is a scalar name, a message schema, or
# ("map", value kind) / ("list", item kind).
Kind = Any
Schema = dict[int, tuple[str, Kind]]

_TIME: Schema = {1: ("seconds", "int"), 2: ("nanos", "int")}
_OWNER_REFERENCE: Schema = {
    1: ("kind", "string"),
    3: ("name", "string"),
    4: ("uid", "string"),
    5: ("apiVersion", "string"),
    6: ("controller", "bool"),
    7: ("blockOwnerDeletion", "bool"),
}
_OBJECT_META: Schema = {
    1: ("name", "string"),
    2: ("generateName", "string"),
    3: ("namespace", "string"),
    4: ("selfLink", "string"),
    5: ("uid", "string"),
    6: ("resourceVersion", "string"),
    7: ("generation", "int"),
    8: ("creationTimestamp", "time"),
    9: ("deletionTimestamp", "time"),
    10: ("deletionGracePeriodSeconds", "int"),
    11: ("labels", ("map", "string")),
    12: ("annotations", ("map", "string")),
    13: ("ownerReferences", ("list", _OWNER_REFERENCE)),
    14: ("finalizers", ("list", "string")),
}
_OBJECT_REFERENCE: Schema = {
    1: ("kind", "string"),
    2: ("namespace", "string"),
    3: ("name", "string"),
    4: ("uid", "string"),
    5: ("apiVersion", "string"),
    6: ("resourceVersion", "string"),
    7: ("fieldPath", "string"),
}
SCHEMAS: dict[tuple[str, str], Schema] = {
    ("v1", "Namespace"): {
        1: ("metadata", _OBJECT_META),
        2: ("spec", {1: ("finalizers", ("list", "string"))}),
        3: ("status", {1: ("phase", "string")}),
    },
    ("v1", "ConfigMap"): {
        1: ("metadata", _OBJECT_META),
        2: ("data", ("map", "string")),
        3: ("binaryData", ("map", "bytes")),
        4: ("immutable", "bool"),
    },
    ("v1", "Secret"): {
        1: ("metadata", _OBJECT_META),
        2: ("data", ("map", "bytes")),
        3: ("type", "string"),
        4: ("stringData", ("map", "string")),
        5: ("immutable", "bool"),
    },
    ("v1", "ServiceAccount"): {
        1: ("metadata", _OBJECT_META),
        2: ("secrets", ("list", _OBJECT_REFERENCE)),
        3: ("imagePullSecrets", ("list", {1: ("name", "string")})),
        4: ("automountServiceAccountToken", "bool"),
    },
}
_ENVELOPE: Schema = {
    1: ("typeMeta", {1: ("apiVersion", "string"), 2: ("kind", "string")}),
    2: ("raw", "raw"),
    3: ("contentEncoding", "string"),
    4: ("contentType", "string"),
}


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, position


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, position = _varint(data, position)
            yield number, value
        elif wire_type == 2:
            length, position = _varint(data, position)
            if position + length > len(data):
                raise ProtobufError("truncated field")
            yield number, data[position : position + length]
            position += length
        else:
            raise ProtobufError(f"unexpected wire type {wire_type} for field {number}")


def _value(kind: Kind, raw: int | bytes) -> Any:
    if isinstance(kind, dict):
        return _message(_as_bytes(raw), kind)
    if kind == "int":
        if not isinstance(raw, int):
            raise ProtobufError("expected a varint")
        return raw - (1 << 64) if raw >= 1 << 63 else raw
    if kind == "bool":
        return bool(raw)
    data = _as_bytes(raw)
    if kind == "time":
        seconds = _message(data, _TIME).get("seconds")
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if seconds else None
    if kind == "bytes":
        return base64.b64encode(data).decode()  # the JSON form of []byte
    if kind == "raw":
        return data
    return data.decode()


def _as_bytes(raw: int | bytes) -> bytes:
    if not isinstance(raw, bytes):
        raise ProtobufError("expected a length-delimited field")
    return raw


def _message(data: bytes, schema: Schema) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for number, raw in _fields(data):
        if number not in schema:
            raise ProtobufError(f"field number {number} is not understood")
        name, kind = schema[number]
        if isinstance(kind, tuple) and kind[0] == "map":
            entry = _message(_as_bytes(raw), {1: ("key", "string"), 2: ("value", kind[1])})
            out.setdefault(name, {})[entry.get("key", "")] = entry.get("value", "")
        elif isinstance(kind, tuple):
            out.setdefault(name, []).append(_value(kind[1], raw))
        else:
            value = _value(kind, raw)
            # Go encodes every optional field; JSON omits the empty ones, and so do we.
            if value not in (None, "", 0, False, {}):
                out[name] = value
    return out


def decode(body: bytes) -> dict[str, Any]:
    """The JSON form of a Kubernetes protobuf request body."""
    if not body.startswith(MAGIC):
        raise ProtobufError("the body lacks the Kubernetes protobuf envelope")
    envelope = _message(body[len(MAGIC) :], _ENVELOPE)
    type_meta = envelope.get("typeMeta", {})
    api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
    schema = SCHEMAS.get((api_version, kind))
    if schema is None:
        known = ", ".join(k for _, k in SCHEMAS)
        raise ProtobufError(
            f"the emulated API server decodes protobuf only for {known}, not {kind or 'this kind'}: "
            "send it as JSON or YAML instead (kubectl apply -f / kubectl create -f)"
        )
    try:
        obj = _message(envelope.get("raw", b""), schema)
    except ProtobufError as error:
        raise ProtobufError(f"cannot decode {kind}: {error}") from None
    return {"apiVersion": api_version, "kind": kind, **obj}
