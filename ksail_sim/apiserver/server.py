"""A Kubernetes API server emulator for tests and the demo dashboard.

It speaks the subset of the Kubernetes REST API this product uses, over real HTTP, so that
``kubectl`` and the official ``kubernetes`` Python client work against it unchanged:
discovery, CRUD with the real status codes and ``Status`` errors, the four patch formats,
finalizers, the ``/status`` subresource, Pods' ``/log`` (what a test or the demo writes, with
``follow`` and ``tailLines``; :mod:`ksail_sim.apiserver.logs`), label and field selectors,
watches (resume from a resourceVersion, 410 Expired, bookmarks, timeouts) and ``Table`` output
for ``kubectl get``.

Like a real server, it refuses objects in a namespace that does not exist (404 ``namespaces "x"
not found``), applies the structural defaults of a CRD's schema (Flux's ``provider: generic``,
``timeout: 60s``, ``force: false``, and ``status: {observedGeneration: -1}`` for a status never
written) and deletes an object whose ownerReferences name only deleted owners.

What it does not do: authentication, admission, schema validation and OpenAPI schemas (so no
``kubectl explain``), aggregated discovery (clients fall back to the legacy endpoints),
protobuf beyond the request bodies of ``kubectl create namespace|configmap|secret|
serviceaccount``, pagination (``limit`` is ignored, lists come whole), managedFields, and
controllers other than the clearly simulated deployment controller in
:mod:`ksail_sim.apiserver.controllers`.

tests/test_kube_contract.py holds it to a real kube-apiserver v1.20.2 with its controller
manager. The differences that remain, none of which the product relies on:

- Validation: a real server validates built-in kinds and custom resources against their schemas
  (422 ``Invalid``), and server-side apply there needs every key of an associative list (a
  Service port without ``protocol`` fails with 500); the emulator checks names only.
- Namespaces: deletion is immediate here; a real namespace is ``Terminating`` (with
  ``spec.finalizers: [kubernetes]``) until the namespace controller has emptied it, and refuses
  new objects meanwhile (403). A real cluster also has a ``kube-root-ca.crt`` ConfigMap in
  every namespace.
- Garbage collection happens at once here and only as background deletion of an object whose
  owners are all gone; a real controller manager does it asynchronously, also honours the
  foreground and orphan propagation policies, and strips dangling references from an object
  that keeps another owner.
- Workloads: the simulated deployment controller marks a Deployment available at once; a real
  one creates a ReplicaSet and Pods, which stay Pending without a scheduler and kubelet.
- ``metadata.generation`` is set on every object here; a real server sets it only for kinds
  with a spec it tracks (custom resources, Deployments, ...), not for ConfigMaps or Secrets.
- Secrets keep ``stringData`` as written; a real server folds it into base64 ``data``.
- JSON patches follow RFC 6901 here (the ``jsonpatch`` library): an array index with a leading
  zero (``/metadata/finalizers/01``) is refused with 422; a real server (evanphx/json-patch)
  reads it as index 1 (seen on v1.20.2). Both refuse a failing ``test`` op with 422.
- Watches: the emulator keeps one history for all kinds (``history_size`` changes), a real
  server one watch cache per resource, started with it; bookmarks come every
  ``bookmark_interval`` here, and on a real server 2 s before a watch's timeout (or each
  minute) and only once the resource changed after the watch began.
- The version it reports (1.32) is newer than the contract's reference (1.20): behaviour added
  since, such as the ``kubernetes.io/metadata.name`` namespace label, is not checked there.

Usage::

    server = ApiServer(port=0)
    server.start()
    server.write_kubeconfig(path)
    ...
    server.stop()
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import select
import selectors
import socket
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

from ksail_sim.apiserver import protobuf
from ksail_sim.apiserver.controllers import DeploymentController
from ksail_sim.apiserver.logs import PodLogs
from ksail_sim.apiserver.query import (
    Selector,
    SelectorError,
    compile_jsonpath,
    evaluate_jsonpath,
    format_value,
)
from ksail_sim.apiserver.store import (
    ALL_VERBS,
    STATUS_VERBS,
    Change,
    ChangeType,
    Obj,
    PrinterColumn,
    ResourceType,
    Signal,
    StatusError,
    Store,
    Subscription,
    bad_request,
)
from ksail_tui.errors import InvalidInput, Unavailable

logger = logging.getLogger(__name__)

KUBERNETES_VERSION = ("1", "32", "v1.32.0+ksail.sim")
_NAME_COLUMN = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "description": "Name must be unique within a namespace. "
    "More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
    "priority": 0,
}
_PATCH_TYPES = {
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/json-patch+json": "json",
    "application/apply-patch+yaml": "apply",
}
_RETURN_DELETED = {("", "pods"), ("", "services")}
_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


class _YamlLoader(yaml.SafeLoader):
    """YAML read as Kubernetes reads it: timestamps stay strings, so objects stay JSON."""


_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_manifests(text: str) -> list[Obj]:
    """The objects of a multi-document YAML (or JSON) manifest; ``kind: List`` is expanded.

    Raises yaml.YAMLError when the text is not YAML, ValueError when a document is not an object.
    """
    objects: list[Obj] = []
    for document in yaml.load_all(text, Loader=_YamlLoader):
        if document is None:
            continue
        if not isinstance(document, dict):
            raise ValueError("a manifest document must be an object")
        if document.get("kind") == "List":
            objects.extend(document.get("items") or [])
        else:
            objects.append(document)
    return objects


def _not_routed() -> StatusError:
    return StatusError(404, "NotFound", "the server could not find the requested resource", {})


def _version_priority(version: str) -> tuple[int, int, int, str]:
    """Kubernetes version order: GA before beta before alpha, higher numbers first."""
    match = _VERSION.match(version)
    if not match:
        return (3, 0, 0, version)
    stage = {None: 0, "beta": 1, "alpha": 2}[match.group(2)]
    return (stage, -int(match.group(1)), -int(match.group(3) or 0), version)


def human_duration(seconds: float) -> str:
    """kubectl's AGE format (k8s.io/apimachinery/pkg/util/duration.HumanDuration)."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes, hours = s // 60, s // 3600
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def _cell(column: PrinterColumn, obj: Obj) -> Any:
    results = evaluate_jsonpath(compile_jsonpath(column.json_path), obj)
    if not results:
        return None
    value = results[0]
    if column.type == "date":
        try:
            stamp = datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return "<invalid>"
        return human_duration((datetime.now(UTC) - stamp).total_seconds())
    if column.type == "string":
        return format_value(value)
    return value


def table(rt: ResourceType, objects: list[Obj], resource_version: str, include_object: str) -> Obj:
    """A meta.k8s.io/v1 Table as ``kubectl get`` asks for: NAME, the printer columns, AGE."""
    rows = []
    for obj in objects:
        row: Obj = {"cells": [obj["metadata"]["name"], *(_cell(c, obj) for c in rt.printer_columns)]}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [
            _NAME_COLUMN,
            *(
                {
                    "name": c.name,
                    "type": c.type,
                    "format": c.format,
                    "description": c.description,
                    "priority": c.priority,
                }
                for c in rt.printer_columns
            ),
        ],
        "rows": rows,
    }


def _resource_list(group_version: str, types: list[ResourceType]) -> Obj:
    resources: list[Obj] = []
    for rt in sorted(types, key=lambda t: t.plural):
        entry: Obj = {
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": list(ALL_VERBS),
        }
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        resources.append(entry)
        if rt.status_subresource:
            resources.append(
                {
                    "name": f"{rt.plural}/status",
                    "singularName": "",
                    "namespaced": rt.namespaced,
                    "kind": rt.kind,
                    "verbs": list(STATUS_VERBS),
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }


def _groups(types: list[ResourceType]) -> list[Obj]:
    versions: dict[str, set[str]] = {}
    custom: dict[str, bool] = {}
    for rt in types:
        if rt.group:
            versions.setdefault(rt.group, set()).add(rt.version)
            custom[rt.group] = custom.get(rt.group, True) and rt.custom
    groups = []
    # Built-in groups first, then custom ones by name, like the real server's priorities.
    for group in sorted(versions, key=lambda g: (custom[g], g)):
        ordered = sorted(versions[group], key=_version_priority)
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in ordered]
        groups.append({"name": group, "versions": entries, "preferredVersion": entries[0]})
    return groups


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    timeout = 0  # handle_request() must not block: serve() has already seen the socket readable

    def __init__(self, address: tuple[str, int], api: ApiServer) -> None:
        self.api = api
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        # Before binding: a failed bind calls server_close(), which closes this pair too.
        self._wakeup = socket.socketpair()
        super().__init__(address, _Handler)

    def serve(self) -> None:
        """Accept connections until stop_serving(); it waits on sockets and never polls, so
        an idle server costs nothing and stopping is immediate."""
        reader = self._wakeup[0]
        with selectors.DefaultSelector() as selector:
            selector.register(self, selectors.EVENT_READ)
            selector.register(reader, selectors.EVENT_READ)
            while not any(key.fileobj is reader for key, _ in selector.select()):
                self.handle_request()

    def stop_serving(self) -> None:
        self._wakeup[1].send(b"\0")

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-request (a test's teardown, a closed dashboard) is normal
        # here; anything else still gets socketserver's traceback on stderr.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def server_close(self) -> None:
        super().server_close()
        for end in self._wakeup:
            end.close()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Cut idle keep-alive connections too, so that no handler thread outlives the server."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked watch streams
    disable_nagle_algorithm = True  # watch events are small writes that must leave at once
    server: _HttpServer

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # -- plumbing --------------------------------------------------------------------------

    @property
    def api(self) -> ApiServer:
        return self.server.api

    @property
    def store(self) -> Store:
        return self.server.api.store

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.api.unavailable:
            self._send_status(
                StatusError(503, "ServiceUnavailable", "the server is currently unable to handle the request")
            )
            return
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query, keep_blank_values=True).items()}
        parts = [unquote(part) for part in url.path.split("/") if part]
        try:
            self._route(method, parts, query, body)
        except StatusError as error:
            self._send_status(error)
        except SelectorError as error:
            self._send_status(bad_request(str(error)))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as error:
            logger.exception("emulated API server failed on %s %s", method, self.path)
            self._send_status(StatusError(500, "InternalError", f"Internal error occurred: {error}"))

    def _send_json(self, code: int, obj: Any) -> None:
        self._send_bytes(code, json.dumps(obj, separators=(",", ":")).encode())

    def _send_bytes(self, code: int, data: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_status(self, error: StatusError) -> None:
        self._send_json(error.code, error.status())

    def _parse_body(self, body: bytes) -> Any:
        content_type = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip()
        if content_type == "application/vnd.kubernetes.protobuf":
            try:
                return protobuf.decode(body)
            except protobuf.ProtobufError as error:
                raise StatusError(415, "UnsupportedMediaType", str(error)) from None
        try:
            if "yaml" in content_type:
                return yaml.load(body.decode(), Loader=_YamlLoader)
            return json.loads(body or b"null")
        except (ValueError, yaml.YAMLError) as error:
            raise bad_request(f"the request body is not valid {content_type}: {error}") from None

    def _wants_table(self) -> bool:
        accept = self.headers.get("Accept") or ""
        return any("as=Table" in part and "g=meta.k8s.io" in part for part in accept.split(","))

    # -- routing ---------------------------------------------------------------------------

    def _route(self, method: str, parts: list[str], query: dict[str, str], body: bytes) -> None:
        if method == "GET" and parts in (["healthz"], ["livez"], ["readyz"]):
            data = b"ok"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if method == "GET" and parts == ["version"]:
            major, minor, git_version = KUBERNETES_VERSION
            self._send_json(
                200,
                {
                    "major": major,
                    "minor": minor,
                    "gitVersion": git_version,
                    "gitCommit": "0000000000000000000000000000000000000000",
                    "gitTreeState": "clean",
                    "buildDate": "2025-01-01T00:00:00Z",
                    "goVersion": "go1.23.0",
                    "compiler": "gc",
                    "platform": "linux/amd64",
                },
            )
            return
        if method == "GET" and parts == ["openapi", "v2"]:
            # kubectl apply validates against the protobuf OpenAPI v2 document and fails when it
            # cannot download it; an empty body decodes as a document without schemas, so every
            # kind goes unvalidated. /openapi/v3 stays 404, which kubectl tolerates.
            self.send_response(200)
            self.send_header("Content-Type", "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if not parts or parts[0] not in ("api", "apis"):
            raise _not_routed()
        if parts[0] == "api":
            if len(parts) == 1:
                self._get_only(method)
                host, port = self.server.server_address[:2]
                host = host.decode() if isinstance(host, bytes) else host  # typeshed allows bytes
                address = {"clientCIDR": "0.0.0.0/0", "serverAddress": f"{host}:{port}"}
                self._send_json(
                    200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [address]}
                )
                return
            group, version, rest = "", parts[1], parts[2:]
        else:
            if len(parts) == 1:
                self._get_only(method)
                groups = _groups(self.store.types())
                self._send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
                return
            if len(parts) == 2:
                self._get_only(method)
                found = [g for g in _groups(self.store.types()) if g["name"] == parts[1]]
                if not found:
                    raise _not_routed()
                self._send_json(200, {"kind": "APIGroup", "apiVersion": "v1", **found[0]})
                return
            group, version, rest = parts[1], parts[2], parts[3:]
        served = [rt for rt in self.store.types() if rt.group == group and rt.version == version]
        if not served:
            raise _not_routed()
        if not rest:
            self._get_only(method)
            self._send_json(200, _resource_list(f"{group}/{version}" if group else version, served))
            return
        namespace = ""
        if (
            rest[0] == "namespaces"
            and len(rest) >= 3
            and any(rt.namespaced and rt.plural == rest[2] for rt in served)
        ):
            namespace, rest = rest[1], rest[2:]
        if len(rest) > 3:
            raise _not_routed()
        rt = next((t for t in served if t.plural == rest[0]), None)
        if rt is None or (namespace and not rt.namespaced):
            raise _not_routed()
        name = rest[1] if len(rest) > 1 else None
        subresource = rest[2] if len(rest) > 2 else None
        if subresource == "log" and rt.storage_key == ("", "pods") and name is not None and namespace:
            self._get_only(method)
            self._pod_log(namespace, name, query)
            return
        if subresource is not None and (subresource != "status" or not rt.status_subresource):
            raise _not_routed()
        if name is not None and rt.namespaced and not namespace:
            raise _not_routed()
        if name is None:
            self._collection(method, rt, namespace, query, body)
        else:
            self._item(method, rt, namespace, name, subresource, query, body)

    def _get_only(self, method: str) -> None:
        if method != "GET":
            raise StatusError(
                405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
            )

    def _collection(
        self, method: str, rt: ResourceType, namespace: str, query: dict[str, str], body: bytes
    ) -> None:
        selector = Selector.parse(query.get("labelSelector"), query.get("fieldSelector"))
        dry_run = query.get("dryRun") == "All"
        if method == "GET" and query.get("watch") in ("1", "true"):
            self._watch(rt, namespace, selector, query)
        elif method == "GET":
            if self._wants_table():
                items, resource_version = self.store.list(rt, namespace, selector)
                self._send_json(200, table(rt, items, resource_version, query.get("includeObject", "")))
                return
            encoded, resource_version = self.store.list_encoded(rt, namespace, selector)
            head = {
                "kind": rt.list_kind,
                "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": resource_version},
            }
            fields = json.dumps(head, separators=(",", ":")).encode()[:-1]  # "}" comes after the items
            self._send_bytes(200, fields + b',"items":[' + b",".join(encoded) + b"]}")
        elif method == "POST" and (namespace or not rt.namespaced):
            obj = self._parse_body(body)
            if not isinstance(obj, dict):
                raise bad_request("the request body must be an object")
            self._send_json(201, self.store.create(rt, namespace, obj, dry_run=dry_run))
        elif method == "DELETE":
            items = self.store.delete_collection(rt, namespace, selector, dry_run=dry_run)
            self._send_json(
                200,
                {
                    "kind": rt.list_kind,
                    "apiVersion": rt.api_version,
                    "metadata": {"resourceVersion": self.store.resource_version},
                    "items": items,
                },
            )
        else:
            self._get_only("")

    def _item(
        self,
        method: str,
        rt: ResourceType,
        namespace: str,
        name: str,
        subresource: str | None,
        query: dict[str, str],
        body: bytes,
    ) -> None:
        dry_run = query.get("dryRun") == "All"
        if method == "GET":
            obj = self.store.get(rt, namespace, name)
            if self._wants_table():
                obj = table(rt, [obj], obj["metadata"]["resourceVersion"], query.get("includeObject", ""))
            self._send_json(200, obj)
        elif method == "PUT":
            obj = self._parse_body(body)
            if not isinstance(obj, dict):
                raise bad_request("the request body must be an object")
            self._send_json(
                200, self.store.replace(rt, namespace, name, obj, subresource=subresource, dry_run=dry_run)
            )
        elif method == "PATCH":
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            patch_type = _PATCH_TYPES.get(content_type)
            if patch_type is None or (patch_type == "strategic" and rt.custom):
                accepted = [t for t, kind in _PATCH_TYPES.items() if not (rt.custom and kind == "strategic")]
                raise StatusError(
                    415,
                    "UnsupportedMediaType",
                    f"the body of the request was in an unknown format - accepted media types include: "
                    f"{', '.join(accepted)}",
                )
            if patch_type == "apply" and not query.get("fieldManager"):
                raise StatusError(
                    422,
                    "Invalid",
                    'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
                    "is required for apply patch",
                )
            obj, created = self.store.patch(
                rt,
                namespace,
                name,
                patch_type,
                self._parse_body(body),
                subresource=subresource,
                dry_run=dry_run,
            )
            self._send_json(201 if created else 200, obj)
        elif method == "DELETE" and subresource is None:
            obj, gone = self.store.delete(rt, namespace, name, dry_run=dry_run)
            if gone and not rt.custom and rt.storage_key not in _RETURN_DELETED:
                # Built-in resources answer a completed delete with a Status; custom ones, Pods and
                # Services (ReturnDeletedObject in their registries) with the object.
                details: Obj = {"name": name, "kind": rt.plural, "uid": obj["metadata"]["uid"]}
                if rt.group:
                    details["group"] = rt.group
                self._send_json(
                    200,
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "metadata": {},
                        "status": "Success",
                        "details": details,
                    },
                )
            else:
                self._send_json(200, obj)
        else:
            self._get_only("")

    # -- pod logs --------------------------------------------------------------------------

    def _pod_log(self, namespace: str, name: str, query: dict[str, str]) -> None:
        """``GET .../pods/{name}/log``: what a test or the demo wrote for the Pod, as text."""
        rt = self.store.type_for("v1", "Pod")
        assert rt is not None
        pod = self.store.get(rt, namespace, name)
        containers = [str(c.get("name", "")) for c in (pod.get("spec") or {}).get("containers") or ()]
        container = query.get("container") or ""
        if container and container not in containers:
            raise bad_request(f"container {container} is not valid for pod {name}")
        if not container and len(containers) > 1:
            raise bad_request(
                f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]"
            )
        container = container or (containers[0] if containers else "")
        logs = self.api.pod_logs
        if not logs.has_log(namespace, name):
            if not (pod.get("spec") or {}).get("nodeName"):
                # A real server answers an unscheduled Pod's log with an empty body (no kubelet to ask).
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            # What a kubelet says of a container that has not started.
            raise bad_request(
                f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating'
            )
        tail_lines = None
        if query.get("tailLines"):
            try:
                tail_lines = int(query["tailLines"])
            except ValueError:
                value = query["tailLines"]
                raise bad_request(f'strconv.ParseInt: parsing "{value}": invalid syntax') from None
            if tail_lines < 0:
                raise StatusError(422, "Invalid", f'Pod "{name}" is invalid: tailLines: must be >= 0')
        stamped = query.get("timestamps") in ("1", "true")
        generation = logs.generation()
        kept, position = logs.tail(namespace, name, tail_lines)

        def text(lines: list[tuple[str, str]]) -> bytes:
            return "".join(f"{stamp} {line}\n" if stamped else f"{line}\n" for stamp, line in lines).encode()

        if query.get("follow") not in ("1", "true"):
            data = text(kept)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            if kept:
                self._write_chunk(text(kept))
            while True:
                more = logs.wait(namespace, name, position, generation, timeout=1.0)
                if more is None:
                    break
                lines, position = more
                if lines:
                    self._write_chunk(text(lines))
                elif self._client_gone():
                    self.close_connection = True
                    return
            if logs.has_log(namespace, name) and logs.generation() != generation:
                # cut(): the connection drops without the stream's end, as a restarting kubelet's.
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            self._write_chunk(b"")  # the Pod is gone: its log ends
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -- watch -----------------------------------------------------------------------------

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))

    def _write_event(self, event_type: str, obj: Obj) -> None:
        self._write_chunk(
            json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n"
        )

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _client_gone(self) -> bool:
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _watch(self, rt: ResourceType, namespace: str, selector: Selector, query: dict[str, str]) -> None:
        try:
            # An integer, as the real server parses it: "60.0" is a 400 there too.
            timeout = float(int(query["timeoutSeconds"])) if query.get("timeoutSeconds") else None
        except ValueError:
            value = query["timeoutSeconds"]
            raise bad_request(f'strconv.ParseInt: parsing "{value}": invalid syntax') from None
        try:
            watcher = self.store.watch(rt, namespace, selector, query.get("resourceVersion"))
        except StatusError as error:
            if error.code != 410:
                raise
            # As from the watch cache: the stream opens, then carries one ERROR event.
            self._start_stream()
            self._write_event("ERROR", error.status())
            self._write_chunk(b"")
            return
        self._start_stream()
        try:
            bookmarks = query.get("allowWatchBookmarks") in ("1", "true")
            if self._pump(rt, watcher, timeout, bookmarks, query.get("includeObject", "")):
                self._write_chunk(b"")
            else:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            self.store.unwatch(watcher)

    def _pump(
        self,
        rt: ResourceType,
        watcher: Subscription,
        timeout: float | None,
        bookmarks: bool,
        include_object: str,
    ) -> bool:
        """Stream events until the timeout or a signal; False when the connection must be cut."""
        as_table = self._wants_table()
        interval = self.api.bookmark_interval
        now = time.monotonic()
        deadline = now + timeout if timeout is not None else None
        next_bookmark = now + interval if bookmarks else None
        next_liveness_check = now + 1.0  # notice clients that went away while nothing happens
        stalled = False
        while True:
            wakeup = min(t for t in (deadline, next_bookmark, next_liveness_check) if t is not None)
            item = watcher.get(wakeup - time.monotonic())
            if item is Signal.DROP:
                return False
            if item is Signal.END:
                return True
            if item is Signal.STALL:
                stalled, next_bookmark = True, None
                continue
            if item is None:
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    return True
                if next_bookmark is not None and now >= next_bookmark:
                    # When events are still queued the next get returns them at once, and the
                    # bookmark follows after them.
                    resource_version = self.store.bookmark_rv(watcher)
                    if resource_version is not None:
                        bookmark = {
                            "kind": rt.kind,
                            "apiVersion": rt.api_version,
                            "metadata": {"resourceVersion": resource_version},
                        }
                        self._write_event("BOOKMARK", bookmark)
                        next_bookmark = now + interval
                if now >= next_liveness_check:
                    if self._client_gone():
                        return False
                    next_liveness_check = now + 1.0
                continue
            if stalled:
                continue  # lost, as on a stuck connection; a watch resumed elsewhere gets it again
            event_type, obj = item
            obj = obj | {"apiVersion": rt.api_version}
            if as_table:
                obj = table(rt, [obj], obj["metadata"]["resourceVersion"], include_object)
            self._write_event(event_type, obj)


class ApiServer:
    """The emulated Kubernetes API server (see the module docstring for its scope).

    ``history_size`` changes are remembered for watches that resume from a resourceVersion;
    older ones get 410 Expired. ``bookmark_interval`` (seconds, may be changed at any time,
    applies to watches opened afterwards) paces bookmarks of watches that allow them.
    ``deployment_controller`` (on by default) runs the SIMULATED deployment controller of
    :class:`ksail_sim.apiserver.controllers.DeploymentController`, which marks Deployments as
    rolled out and available ``deployment_delay`` seconds after each change. ``store`` gives
    direct access to the objects, for tests.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        history_size: int = 1000,
        bookmark_interval: float = 5.0,
        *,
        deployment_controller: bool = True,
        deployment_delay: float = 0.05,
    ) -> None:
        self.host = host
        self.port = port
        self.bookmark_interval = bookmark_interval
        self.store = Store(history_size)
        self.pod_logs = PodLogs()
        self.store.add_listener(self._forget_deleted_pods)
        self.unavailable = False
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._controller = (
            DeploymentController(self.store, deployment_delay) if deployment_controller else None
        )

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        """Listen and serve in a background thread; raises Unavailable when the port is taken."""
        try:
            self._httpd = _HttpServer((self.host, self.port), self)
        except OSError as error:
            raise Unavailable(
                f"cannot listen on {self.host}:{self.port}: {error.strerror or error}",
                hint="pick another --port, or stop whatever is using this one",
            ) from None
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve, name="sim-apiserver", daemon=True)
        self._thread.start()
        if self._controller is not None:
            self._controller.start()

    def stop(self) -> None:
        """Stop serving: end open watches, close every connection, release the port."""
        if self._httpd is None:
            return
        self._httpd.stop_serving()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.store.signal_watches(Signal.END, timeout=2.0)
        self.pod_logs.cut()
        self._httpd.close_connections()
        self._httpd.server_close()
        if self._controller is not None:
            self._controller.stop()
        self._httpd = None

    def __enter__(self) -> ApiServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def write_kubeconfig(
        self, path: str | os.PathLike[str], context: str = "ksail-sim", cluster: str = "ksail-sim"
    ) -> Path:
        """Write a kubeconfig without credentials for kubectl and kubernetes.config.load_kube_config."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster, "cluster": {"server": self.url}}],
            "users": [{"name": cluster, "user": {}}],
            "contexts": [
                {"name": context, "context": {"cluster": cluster, "user": cluster, "namespace": "default"}}
            ],
            "current-context": context,
            "preferences": {},
        }
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(config, sort_keys=False))
        target.chmod(0o600)
        return target

    def apply(self, manifest: Obj) -> Obj:
        """Create or merge one object, like a server-side apply (for seeding data and CRDs)."""
        api_version, kind = manifest.get("apiVersion", ""), manifest.get("kind", "")
        rt = self.store.type_for(api_version, kind)
        if rt is None:
            raise InvalidInput(
                f"the emulated API server does not serve {kind or '?'} in {api_version or '?'}"
            )
        meta = manifest.get("metadata") or {}
        namespace = meta.get("namespace", "default") if rt.namespaced else ""
        try:
            obj, _ = self.store.patch(rt, namespace, meta.get("name", ""), "apply", manifest)
        except StatusError as error:
            raise InvalidInput(f"{kind} {meta.get('name', '?')}: {error.message}") from None
        return obj

    def write_pod_log(self, namespace: str, pod: str, text: str) -> None:
        """Append to what the Pod logged (served by ``pods/{name}/log``; the Pod must exist to be
        asked for it)."""
        self.pod_logs.write(namespace, pod, text)

    def cut_log_streams(self) -> None:
        """Drop every following ``pods/{name}/log`` connection, as a restarting kubelet would."""
        self.pod_logs.cut()

    def _forget_deleted_pods(self, change: Change) -> None:
        if change.type is ChangeType.DELETED and change.key == ("", "pods"):
            metadata = change.obj["metadata"]
            self.pod_logs.forget(metadata.get("namespace", ""), metadata["name"])

    def drop_watches(self) -> None:
        """Cut every open watch connection without ending its stream, as a crashing server would."""
        self.store.signal_watches(Signal.DROP)

    def stall_watches(self) -> None:
        """Make every open watch go silent, connection kept: no events, no bookmarks, until
        each request's timeoutSeconds ends it (never, for a watch without one), as a stuck
        proxy or a lost watch-cache subscription does."""
        self.store.signal_watches(Signal.STALL, timeout=0)

    def compact(self) -> None:
        """Forget the event history: a watch from any earlier resourceVersion gets 410 Expired."""
        self.store.compact()

    def set_unavailable(self, unavailable: bool) -> None:
        """Simulate an outage: answer 503 to every request and cut open watches; False restores."""
        self.unavailable = unavailable
        if unavailable:
            self.drop_watches()
            self.cut_log_streams()
