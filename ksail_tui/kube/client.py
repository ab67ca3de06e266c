"""A small REST client for the Kubernetes API.

It takes authentication and TLS from the official ``kubernetes`` client's kubeconfig loader, so it
works unchanged against a real cluster, and speaks the REST API directly for what the generated
client makes awkward: server-side apply of any kind, merge patches, and streaming watches that
can be shut down from another thread.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import urllib3

from ksail_tui.errors import InvalidInput, OperationFailed, Unavailable

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
CRDS = Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False)

WELL_KNOWN = {
    (r.api_version, r.kind): r
    for r in (OCI_REPOSITORIES, KUSTOMIZATIONS, NAMESPACES, NODES, EVENTS, DEPLOYMENTS, CRDS)
}


class ApiError(OperationFailed):
    """The API server answered with an error status."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{message} ({status} {reason})" if message else f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.api_message = message


class ClusterUnreachable(Unavailable):
    """The API server cannot be reached."""


class KubeClient:
    """One connection to one cluster (a kubeconfig context)."""

    def __init__(
        self, kubeconfig: str | Path, context: str | None = None, request_timeout: float = 10.0
    ) -> None:
        from kubernetes import config as kube_config

        path = Path(kubeconfig).expanduser()
        if not path.is_file():
            raise Unavailable(
                f"kubeconfig {path} does not exist",
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
        self._timeout = request_timeout
        self._discovery: dict[tuple[str, str], Resource] = dict(WELL_KNOWN)
        self._discovery_lock = threading.Lock()

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
        stream: bool = False,
    ) -> urllib3.BaseHTTPResponse:
        data = None if body is None else json.dumps(body).encode()
        try:
            response = self._pool.request(
                method,
                self._url(path, query),
                body=data,
                headers=self._headers(content_type if body is not None else None),
                timeout=timeout if timeout is not None else self._timeout,
                retries=False,
                preload_content=not stream,
            )
        except urllib3.exceptions.HTTPError as error:
            raise ClusterUnreachable(
                f"the cluster at {self.host} (context {self.context or 'default'}) is unreachable: "
                f"{type(error).__name__}",
                hint="start the cluster or check spec.cluster.connection in ksail.yaml",
            ) from None
        if response.status >= 400:
            payload = response.data if not stream else response.read()
            response.release_conn()
            raise self._error(response.status, payload)
        return response

    def _error(self, status: int, payload: bytes) -> ApiError | ClusterUnreachable:
        if status in (502, 503, 504):
            return ClusterUnreachable(
                f"the cluster at {self.host} is not serving requests ({status})",
                hint="wait for the API server to come up, or check the cluster",
            )
        try:
            document = json.loads(payload)
        except ValueError:
            document = {}
        return ApiError(status, str(document.get("reason", "")), str(document.get("message", "")))

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
        return json.loads(response.data) if response.data else {}

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
    ) -> dict[str, Any]:
        """A list whose items carry kind and apiVersion (the API server leaves them out)."""
        listing = self.request(
            "GET",
            resource.path(namespace),
            query={"labelSelector": label_selector, "fieldSelector": field_selector},
        )
        for item in listing.get("items") or []:
            item.setdefault("kind", resource.kind)
            item.setdefault("apiVersion", resource.api_version)
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
        with self._discovery_lock:
            for entry in listing.get("resources") or []:
                if "/" in entry["name"]:
                    continue
                found = Resource(group, version, entry["name"], entry["kind"], bool(entry.get("namespaced")))
                self._discovery.setdefault((api_version, entry["kind"]), found)
            if key not in self._discovery:
                raise InvalidInput(f"the cluster does not serve kind {kind} in {api_version}")
            return self._discovery[key]

    def forget_discovery(self) -> None:
        """Drop cached discovery (after CRDs were installed)."""
        with self._discovery_lock:
            self._discovery = dict(WELL_KNOWN)

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
            stream=True,
        )
        return WatchStream(response, resource)


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
                        event = json.loads(line)
                        obj = event.get("object")
                        if isinstance(obj, dict) and event.get("type") != "ERROR":
                            obj.setdefault("kind", self._resource.kind)
                            obj.setdefault("apiVersion", self._resource.api_version)
                        yield event
        except (urllib3.exceptions.HTTPError, OSError, AttributeError, ValueError):
            if not self._closed:
                raise ClusterUnreachable("the watch connection was lost") from None
        finally:
            self._response.release_conn()

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(Exception):  # already closed: nothing left to stop
            self._response.shutdown()
        self._response.close()
