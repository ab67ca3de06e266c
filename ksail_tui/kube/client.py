"""A small REST client for the Kubernetes API.

It takes authentication and TLS from the official ``kubernetes`` client's kubeconfig loader, so it
works unchanged against a real cluster, and speaks the REST API directly for what the generated
client makes awkward: server-side apply of any kind, merge patches, and streaming watches that
can be shut down from another thread.
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import urllib3

from ksail_tui.deadline import Deadline
from ksail_tui.errors import (
    BadResponse,
    InvalidInput,
    KsailError,
    OperationFailed,
    TimedOut,
    Unavailable,
)

FIELD_MANAGER = "ksail-tui"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
        if subresource:
            base += f"/{subresource}"
        return base


OCI_REPOSITORIES = Resource("source.toolkit.fluxcd.io", "v1", "ocirepositories", "OCIRepository")
KUSTOMIZATIONS = Resource("kustomize.toolkit.fluxcd.io", "v1", "kustomizations", "Kustomization")
NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
NODES = Resource("", "v1", "nodes", "Node", namespaced=False)
EVENTS = Resource("", "v1", "events", "Event")
DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
PODS = Resource("", "v1", "pods", "Pod")
CRDS = Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False)

WELL_KNOWN = {
    (r.api_version, r.kind): r
    for r in (OCI_REPOSITORIES, KUSTOMIZATIONS, NAMESPACES, NODES, EVENTS, DEPLOYMENTS, PODS, CRDS)
}


class ApiError(OperationFailed):
    """The API server answered with an error status."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        status_text = f"{status} {reason}".strip()
        super().__init__(
            f"{message} ({status_text})" if message else f"the API server answered {status_text}"
        )
        self.status = status
        self.reason = reason
        self.api_message = message

    @classmethod
    def from_status(cls, status: int, document: Any) -> ApiError:
        """From a Status object the server sent, whatever its fields hold."""
        reason, message = _status_text(document)
        return cls(status, reason, message)


class ClusterUnreachable(Unavailable):
    """The API server cannot be reached."""


# Far more than any list a local cluster returns; a hostile server cannot exhaust memory.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
_CHUNK_BYTES = 64 * 1024
# A body is read a receive at a time, up to this much: while the UI thread draws, each read waits
# for the GIL, so 64 KiB reads made a list of 5,000 objects arrive 0.25 s late.
_READ_BYTES = 4 * 1024 * 1024
# A log line longer than this is cut there (a server that never sends a newline cannot exhaust memory).
MAX_LOG_LINE_BYTES = 256 * 1024
# How much of an unexpected body an error quotes.
_QUOTED_BYTES = 80


def _quote(payload: bytes) -> str:
    text = payload[:_QUOTED_BYTES].decode("utf-8", "replace")
    return repr(text) + ("..." if len(payload) > _QUOTED_BYTES else "")


def _status_text(document: Any) -> tuple[str, str]:
    """The reason and message of a Status object, or of whatever else the server sent."""
    if not isinstance(document, dict):
        return "", ""
    reason, message = document.get("reason"), document.get("message")
    return (reason if isinstance(reason, str) else ""), (message if isinstance(message, str) else "")


def _is_object(item: Any) -> bool:
    """A Kubernetes object as far as every caller relies on: a mapping with a named metadata."""
    if not isinstance(item, dict):
        return False
    metadata = item.get("metadata")
    return isinstance(metadata, dict) and isinstance(metadata.get("name"), str)


def _cause(error: urllib3.exceptions.HTTPError | OSError) -> str:
    """The innermost reason urllib3 gives (e.g. the certificate problem), in a few words."""
    reason = getattr(error, "reason", None)
    text = str(reason or error)
    return f"{type(reason or error).__name__}: {text[:200]}"


class KubeClient:
    """One connection to one cluster (a kubeconfig context)."""

    def __init__(
        self,
        kubeconfig: str | Path,
        context: str | None = None,
        request_timeout: float = 10.0,
        deadline: Deadline | None = None,
    ) -> None:
        from kubernetes import config as kube_config

        path = Path(kubeconfig).expanduser()
        if not path.is_file():
            raise Unavailable(
                f"kubeconfig {path} " + ("is not a regular file" if path.exists() else "does not exist"),
                hint="create a cluster (`ksail-tui cluster create`) "
                "or set spec.cluster.connection.kubeconfig",
            )
        contexts: list[dict[str, Any]] = []
        try:
            contexts, current = kube_config.list_kube_config_contexts(config_file=str(path))
            api_client = kube_config.new_client_from_config(
                config_file=str(path), context=context, persist_config=False
            )
        except kube_config.ConfigException as error:
            names = ", ".join(c["name"] for c in contexts) or "none"
            raise Unavailable(
                f"kubeconfig {path}: {error}",
                hint=f"contexts in that file: {names}; set spec.cluster.connection.context",
            ) from None
        except Exception as error:  # malformed YAML and the like: the loader raises many types
            raise InvalidInput(f"kubeconfig {path} cannot be read: {error}") from None
        self.kubeconfig = path
        self.context = context or (current or {}).get("name", "")
        self.configuration = api_client.configuration
        self.host = self.configuration.host.rstrip("/")
        self._pool = api_client.rest_client.pool_manager
        if not self.configuration.verify_ssl:
            # The kubeconfig itself says insecure-skip-tls-verify: the user chose it, so urllib3's
            # warning on every request (3-5 per command) says nothing new. Verified TLS (the
            # kubeconfig's CA) never warns.
            warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
        self._timeout = request_timeout
        self.deadline = deadline
        self.max_response_bytes = MAX_RESPONSE_BYTES
        self._discovery: dict[tuple[str, str], Resource] = dict(WELL_KNOWN)
        self._discovery_lock = threading.Lock()

    def within(self, deadline: Deadline | None) -> KubeClient:
        """This client (same connections and discovery) with every request bounded by ``deadline``
        as well as by the client's own."""
        bounded = copy.copy(self)
        bounded.deadline = deadline.earliest(self.deadline) if deadline else self.deadline
        return bounded

    # --- raw requests ---------------------------------------------------------------------

    def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "ksail-tui"}
        if content_type:
            headers["Content-Type"] = content_type
        for setting in self.configuration.auth_settings().values():
            if setting["in"] == "header" and setting["value"]:
                headers[setting["key"]] = setting["value"]
        return headers

    def _url(self, path: str, query: dict[str, Any] | None) -> str:
        params = {k: v for k, v in (query or {}).items() if v is not None}
        return self.host + path + (f"?{urlencode(params)}" if params else "")

    def _send(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str | None = None,
        timeout: urllib3.Timeout | float | None = None,
    ) -> urllib3.BaseHTTPResponse:
        """The response, its body not read yet; an error status raises with the body's message."""
        data = None if body is None else json.dumps(body).encode()
        try:
            response = self._pool.request(
                method,
                self._url(path, query),
                body=data,
                headers=self._headers(content_type if body is not None else None),
                timeout=self._bounded(timeout if timeout is not None else self._timeout, method, path),
                retries=False,
                preload_content=False,
            )
        except urllib3.exceptions.HTTPError as error:
            raise self._transport_error(error, method, path) from None
        if response.status >= 400:
            try:
                payload = self._body(response, method, path)
            except KsailError:
                payload = b""
            raise self._error(response.status, payload)
        return response

    def _transport_error(
        self, error: urllib3.exceptions.HTTPError | OSError, method: str, path: str
    ) -> TimedOut | ClusterUnreachable:
        if self.deadline is not None and self.deadline.expired:
            return self._deadline_passed(method, path)
        return ClusterUnreachable(
            f"the cluster at {self.host} (context {self.context or 'default'}) is unreachable: "
            f"{_cause(error)}",
            hint="start the cluster or check spec.cluster.connection in ksail.yaml",
        )

    def _body(self, response: urllib3.BaseHTTPResponse, method: str, path: str) -> bytes:
        """The whole body, refused past ``max_response_bytes`` and ended by the deadline (a
        server that drips a byte at a time would otherwise reset every read's timeout): each
        read returns what one receive got, so the deadline is checked after every one."""
        chunks: list[bytes] = []
        size = 0
        try:
            while chunk := response.read1(_READ_BYTES):
                size += len(chunk)
                if size > self.max_response_bytes:
                    raise BadResponse(
                        f"the server at {self.host} answered {method} {path} with more than "
                        f"{self.max_response_bytes} bytes",
                        hint="check that the kubeconfig's server is a Kubernetes API server",
                    )
                if self.deadline is not None and self.deadline.expired:
                    raise self._deadline_passed(method, path)
                chunks.append(chunk)
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise self._transport_error(error, method, path) from None
        finally:
            response.release_conn()
        return b"".join(chunks)

    def _bounded(self, timeout: urllib3.Timeout | float, method: str, path: str) -> urllib3.Timeout | float:
        """The request's timeout, cut to what is left of the deadline."""
        if self.deadline is None:
            return timeout
        remaining = self.deadline.remaining()
        if remaining <= 0:
            raise self._deadline_passed(method, path)
        if isinstance(timeout, urllib3.Timeout):
            # A watch: connecting is bounded; its reads are ended by whoever waits on it.
            connect = timeout.connect_timeout
            connect_seconds = connect if isinstance(connect, int | float) else self._timeout
            return urllib3.Timeout(connect=min(connect_seconds, remaining), read=timeout.read_timeout)
        return min(timeout, remaining)

    def _deadline_passed(self, method: str, path: str) -> TimedOut:
        assert self.deadline is not None
        return TimedOut(
            f"timed out after {self.deadline.seconds:g}s: the cluster at {self.host} did not answer "
            f"{method} {path} in time",
            hint="check that the API server is up, or pass a longer --timeout",
        )

    def _error(self, status: int, payload: bytes) -> ApiError | ClusterUnreachable:
        if status in (502, 503, 504):
            return ClusterUnreachable(
                f"the cluster at {self.host} is not serving requests ({status})",
                hint="wait for the API server to come up, or check the cluster",
            )
        try:
            document = json.loads(payload)
        except ValueError:
            document = None
        if document is None and payload:
            return ApiError(status, "", f"the API server answered with {_quote(payload)}")
        return ApiError.from_status(status, document)

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str | None = None,
    ) -> dict[str, Any]:
        response = self._send(method, path, query=query, body=body, content_type=content_type)
        return self._document(response, self._body(response, method, path), method, path)

    def _document(
        self, response: urllib3.BaseHTTPResponse, payload: bytes, method: str, path: str
    ) -> dict[str, Any]:
        """The JSON object a successful response carries; anything else is a BadResponse."""
        if not payload:
            return {}
        try:
            document = json.loads(payload)
        except (ValueError, RecursionError):
            document = None
        if not isinstance(document, dict):
            content_type = response.headers.get("Content-Type") or "no content type"
            raise BadResponse(
                f"the server at {self.host} answered {method} {path} with something that is not a "
                f"Kubernetes object ({content_type}, {len(payload)} bytes: {_quote(payload)})",
                hint="check that the kubeconfig's server is a Kubernetes API server",
            )
        return document

    # --- typed verbs ----------------------------------------------------------------------

    def get(self, resource: Resource, name: str, namespace: str | None = None) -> dict[str, Any]:
        return self.request("GET", resource.path(namespace, name))

    def get_or_none(
        self, resource: Resource, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        try:
            return self.get(resource, name, namespace)
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        """A list whose items carry kind and apiVersion (the API server leaves them out).
        ``resource_version="0"``: any version will do, so the API server answers from its cache
        instead of reading every object from etcd."""
        listing = self.request(
            "GET",
            resource.path(namespace),
            query={
                "labelSelector": label_selector,
                "fieldSelector": field_selector,
                "resourceVersion": resource_version,
            },
        )
        items = listing.get("items") or []
        if not isinstance(items, list) or not all(_is_object(item) for item in items):
            raise BadResponse(
                f"the server at {self.host} sent a {resource.kind} list whose items are not objects "
                "with metadata.name",
                hint="check that the kubeconfig's server is a Kubernetes API server",
            )
        for item in items:
            item.setdefault("kind", resource.kind)
            item.setdefault("apiVersion", resource.api_version)
        listing["items"] = items
        return listing

    def create(self, resource: Resource, obj: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        return self.request("POST", resource.path(namespace), body=obj)

    def merge_patch(
        self,
        resource: Resource,
        name: str,
        patch: dict[str, Any],
        namespace: str | None = None,
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        return self.request(
            "PATCH", resource.path(namespace, name, subresource), body=patch, content_type=MERGE_PATCH
        )

    def apply(
        self, obj: dict[str, Any], *, field_manager: str = FIELD_MANAGER, force: bool = True
    ) -> dict[str, Any]:
        """Server-side apply: create the object or take ownership of the fields we set."""
        resource = self.resolve(obj["apiVersion"], obj["kind"])
        metadata = obj.get("metadata") or {}
        namespace = metadata.get("namespace") if resource.namespaced else None
        if resource.namespaced and not namespace:
            namespace = "default"
        return self.request(
            "PATCH",
            resource.path(namespace, metadata["name"]),
            query={"fieldManager": field_manager, "force": "true" if force else None},
            body=obj,
            content_type=APPLY_PATCH,
        )

    def delete(self, resource: Resource, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        try:
            return self.request("DELETE", resource.path(namespace, name))
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    # --- discovery ------------------------------------------------------------------------

    def resolve(self, api_version: str, kind: str) -> Resource:
        """The REST resource of a kind, found through discovery and cached."""
        key = (api_version, kind)
        with self._discovery_lock:
            if key in self._discovery:
                return self._discovery[key]
        group, _, version = api_version.rpartition("/")
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            listing = self.request("GET", path)
        except ApiError as error:
            if error.status == 404:
                raise InvalidInput(
                    f"the cluster does not serve {api_version}; is the CRD installed?"
                ) from None
            raise
        entries = listing.get("resources") or []
        if not isinstance(entries, list):
            entries = []
        with self._discovery_lock:
            for entry in entries:
                if not isinstance(entry, dict):
                    continue
                name, found_kind = entry.get("name"), entry.get("kind")
                if not isinstance(name, str) or not isinstance(found_kind, str) or "/" in name:
                    continue
                found = Resource(group, version, name, found_kind, bool(entry.get("namespaced")))
                self._discovery.setdefault((api_version, found_kind), found)
            if key not in self._discovery:
                raise InvalidInput(f"the cluster does not serve kind {kind} in {api_version}")
            return self._discovery[key]

    def forget_discovery(self) -> None:
        """Drop cached discovery (after CRDs were installed)."""
        with self._discovery_lock:  # in place: clients made by within() share the cache
            self._discovery.clear()
            self._discovery.update(WELL_KNOWN)

    # --- watch ----------------------------------------------------------------------------

    def watch(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> WatchStream:
        response = self._send(
            "GET",
            resource.path(namespace),
            query={
                "watch": "true",
                "resourceVersion": resource_version,
                "allowWatchBookmarks": "true",
                "labelSelector": label_selector,
                "fieldSelector": field_selector,
                "timeoutSeconds": timeout_seconds,
            },
            # No read timeout beyond the server's own: bookmarks keep an idle stream alive.
            timeout=urllib3.Timeout(connect=self._timeout, read=timeout_seconds + 30),
        )
        return WatchStream(response, resource)

    # --- pod logs -------------------------------------------------------------------------

    def pod_log(
        self,
        namespace: str,
        pod: str,
        *,
        container: str | None = None,
        follow: bool = False,
        tail_lines: int | None = None,
        idle_timeout: float = 300.0,
    ) -> LogStream:
        """A Pod's log, line by line (``GET .../pods/{pod}/log``); with ``follow`` the stream stays
        open for new lines. A followed stream silent for ``idle_timeout`` seconds ends with
        ClusterUnreachable, so that a connection that died without a word is noticed."""
        response = self._send(
            "GET",
            PODS.path(namespace, pod, "log"),
            query={
                "container": container,
                "follow": "true" if follow else None,
                "tailLines": tail_lines,
                "timestamps": "false",
            },
            timeout=urllib3.Timeout(connect=self._timeout, read=idle_timeout if follow else self._timeout),
        )
        return LogStream(response, f"{namespace}/{pod}")


class LogStream:
    """The lines of one Pod log request (without their newline); ``close()`` from any thread ends
    the iteration. A stream that breaks raises ClusterUnreachable; one the server ends, stops."""

    def __init__(self, response: urllib3.BaseHTTPResponse, pod: str) -> None:
        self._response = response
        self._pod = pod
        self._closed = False

    def __iter__(self) -> Iterator[str]:
        buffer = b""
        try:
            for chunk in self._response.stream(amt=_CHUNK_BYTES, decode_content=True):
                *lines, buffer = (buffer + chunk).split(b"\n")
                for line in lines:
                    yield line[:MAX_LOG_LINE_BYTES].decode("utf-8", "replace")
                if len(buffer) > MAX_LOG_LINE_BYTES:
                    yield buffer[:MAX_LOG_LINE_BYTES].decode("utf-8", "replace")
                    buffer = b""
            if buffer:
                yield buffer.decode("utf-8", "replace")
        except urllib3.exceptions.ReadTimeoutError:
            if not self._closed:
                raise TimedOut(f"the log stream of pod {self._pod} was silent too long") from None
        except (urllib3.exceptions.HTTPError, OSError, AttributeError):
            if not self._closed:
                raise ClusterUnreachable(f"the log stream of pod {self._pod} was lost") from None
        finally:
            self._response.release_conn()

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(Exception):  # already closed: nothing left to stop
            self._response.shutdown()
        self._response.close()


class WatchStream:
    """The events of one watch request; ``close()`` from any thread ends the iteration."""

    def __init__(self, response: urllib3.BaseHTTPResponse, resource: Resource) -> None:
        self._response = response
        self._resource = resource
        self._closed = False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        buffer = b""
        try:
            for chunk in self._response.stream(amt=None, decode_content=True):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        yield self._event(line)
        except (urllib3.exceptions.HTTPError, OSError, AttributeError):
            if not self._closed:
                raise ClusterUnreachable("the watch connection was lost") from None
        finally:
            self._response.release_conn()

    def _event(self, line: bytes) -> dict[str, Any]:
        try:
            event = json.loads(line)
        except (ValueError, RecursionError):
            event = None
        if not isinstance(event, dict) or not isinstance(event.get("object"), dict):
            raise BadResponse(
                f"the {self._resource.kind} watch sent something that is not a watch event: {_quote(line)}"
            )
        obj = event["object"]
        # A BOOKMARK carries only metadata.resourceVersion; an ERROR carries a Status.
        if event.get("type") == "BOOKMARK":
            if not isinstance(obj.get("metadata"), dict):
                raise BadResponse(f"the {self._resource.kind} watch sent a bookmark without metadata")
        elif event.get("type") != "ERROR":
            if not _is_object(obj):
                raise BadResponse(f"the {self._resource.kind} watch sent an object without metadata.name")
            obj.setdefault("kind", self._resource.kind)
            obj.setdefault("apiVersion", self._resource.api_version)
        return event

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(Exception):  # already closed: nothing left to stop
            self._response.shutdown()
        self._response.close()
