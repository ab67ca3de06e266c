"""A client for the OCI distribution API (``/v2/...``), on ``requests``.

oras-py is installed and was the first choice, but its Registry cannot do what this product needs:
``upload_manifest`` validates with jsonschema and re-serialises the manifest (``json=``), so the bytes
stored are not the bytes whose digest we computed and report; ``upload_blob`` reads a file path whole
and has no progress hook for the dashboard; its retry decorator sleeps 3 s, 5 s, 11 s, 29 s, 83 s on
any exception, so an unreachable local registry would take minutes to report instead of a quick exit
4; there is no HEAD or delete of a manifest by digest; and importing ``oras.provider`` costs about
150 ms (jsonschema), a third of the 0.5 s budget of ``workload push``. So this module speaks the API
directly: plain HTTP for loopback endpoints, HTTPS elsewhere, Basic or Bearer-token auth answered
from the challenge with credentials from the environment or the Docker config, and retries with
exponential backoff on connection errors, 5xx and 429.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests
from requests.adapters import HTTPAdapter

from ksail_tui.errors import InvalidInput, OperationFailed, Unavailable
from ksail_tui.oci.artifact_format import (
    ACCEPTED_MANIFEST_TYPES,
    CONTENT_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    sha256_digest,
)

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
USERNAME_VARIABLE = "KSAIL_REGISTRY_USERNAME"
PASSWORD_VARIABLE = "KSAIL_REGISTRY_PASSWORD"
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_CHALLENGE_PARAMETER = re.compile(r'(\w+)="([^"]*)"')
_PROGRESS_STEP = 256 * 1024  # report upload progress at most every 256 KiB
_MAX_RETRY_AFTER_SECONDS = 10.0

Credentials = tuple[str, str]


def registry_host(endpoint: str) -> str:
    """The host of ``host[:port]`` (IPv6 in brackets), as credentials and the loopback check use it."""
    if endpoint.startswith("["):
        return endpoint[1 : endpoint.index("]")]
    return endpoint.rsplit(":", 1)[0] if endpoint.count(":") == 1 else endpoint


def is_loopback(endpoint: str) -> bool:
    return registry_host(endpoint) in LOOPBACK_HOSTS


def find_credentials(endpoint: str) -> Credentials | None:
    """Username and password from KSAIL_REGISTRY_USERNAME/PASSWORD, else from the Docker config."""
    username, password = os.environ.get(USERNAME_VARIABLE), os.environ.get(PASSWORD_VARIABLE)
    if username and password:
        return username, password
    config_path = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"
    try:
        docker_config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(docker_config, dict):
        return None
    for key, entry in _mapping(docker_config.get("auths")).items():
        # Keys come as "ghcr.io", "https://ghcr.io" or "https://index.docker.io/v1/".
        if key.split("://", 1)[-1].split("/", 1)[0] == endpoint and isinstance(entry, dict):
            if entry.get("auth"):
                try:
                    user, _, secret = base64.b64decode(entry["auth"]).decode().partition(":")
                except (ValueError, TypeError):
                    raise InvalidInput(
                        f"the auth of {key} in {config_path} is not user:password in base64",
                        hint=f"run `docker login {endpoint}` again",
                    ) from None
                return user, secret
            if entry.get("username") and entry.get("password"):
                return entry["username"], entry["password"]
    helper = _mapping(docker_config.get("credHelpers")).get(endpoint) or docker_config.get("credsStore")
    return _from_credential_helper(helper, endpoint) if isinstance(helper, str) and helper else None


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _from_credential_helper(helper: str, endpoint: str) -> Credentials | None:
    try:
        result = subprocess.run(
            [f"docker-credential-{helper}", "get"],
            input=endpoint,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        answer = _mapping(json.loads(result.stdout)) if result.returncode == 0 else {}
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    if answer.get("Username") and answer.get("Secret"):
        return answer["Username"], answer["Secret"]
    return None


@dataclass(frozen=True, slots=True)
class RemoteManifest:
    """A manifest as the registry holds it: its digest, the exact bytes, and the parsed JSON."""

    digest: str
    media_type: str
    raw: bytes
    data: dict[str, Any]

    @property
    def annotations(self) -> dict[str, str]:
        annotations = self.data.get("annotations")
        if not isinstance(annotations, dict):
            return {}
        return {key: value for key, value in annotations.items() if isinstance(value, str)}

    @property
    def layers(self) -> list[dict[str, Any]]:
        """The layer descriptors (entries that are not descriptors left out)."""
        layers = self.data.get("layers")
        return [layer for layer in layers if isinstance(layer, dict)] if isinstance(layers, list) else []

    @property
    def blobs(self) -> list[dict[str, Any]]:
        """Descriptors of the config and the layers: what garbage collection can reclaim."""
        config = self.data.get("config")
        return ([config] if isinstance(config, dict) else []) + self.layers

    @property
    def size(self) -> int:
        return len(self.raw) + sum(blob_size(blob) for blob in self.blobs)

    @property
    def layer_digest(self) -> str | None:
        """The Flux content layer (the first one, as source-controller takes it)."""
        layers = self.layers
        content = [layer for layer in layers if layer.get("mediaType") == CONTENT_MEDIA_TYPE]
        chosen = (content or layers)[:1]
        return chosen[0].get("digest") if chosen else None


def blob_size(descriptor: dict[str, Any]) -> int:
    """The ``size`` of a descriptor; 0 when it has none that is a number of bytes."""
    size = descriptor.get("size")
    return size if isinstance(size, int) and size > 0 else 0


class _ProgressBody:
    """A request body that reports how many of its bytes have been sent."""

    def __init__(self, data: bytes, on_sent: Callable[[int], None]) -> None:
        self._view = memoryview(data)
        self._offset = 0
        self._reported = 0
        self._on_sent = on_sent

    def __len__(self) -> int:
        return len(self._view)

    def read(self, size: int = -1) -> bytes:
        end = len(self._view) if size < 0 else min(len(self._view), self._offset + size)
        chunk = self._view[self._offset : end].tobytes()
        self._offset = end
        if end - self._reported >= _PROGRESS_STEP or end == len(self._view):
            self._reported = end
            self._on_sent(end)
        return chunk

    def __iter__(self) -> Iterator[bytes]:  # makes requests stream the body with a Content-Length
        while chunk := self.read(_PROGRESS_STEP):
            yield chunk


class RegistryClient:
    """One registry endpoint (``host[:port]``); safe to share between threads."""

    def __init__(
        self,
        endpoint: str,
        *,
        credentials: Credentials | None = None,
        retries: int = 2,
        backoff_seconds: float = 0.2,
        connect_timeout: float = 3.0,
        read_timeout: float = 60.0,
        pool_size: int = 8,
    ) -> None:
        self.endpoint = endpoint
        self.base_url = f"{'http' if is_loopback(endpoint) else 'https'}://{endpoint}"
        self._credentials = credentials
        self._credentials_looked_up = credentials is not None
        self._retries = retries
        self._backoff = backoff_seconds
        self._timeout = (connect_timeout, read_timeout)
        self._authorization: str | None = None
        self._auth_lock = threading.Lock()
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size)
        self._session.mount(self.base_url + "/", adapter)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- the API ------------------------------------------------------------------------------

    def blob_exists(self, repository: str, digest: str) -> bool:
        response = self._request("HEAD", f"/v2/{repository}/blobs/{digest}")
        if response.status_code == 404:
            return False
        self._check(response, f"check blob {digest}")
        return True

    def upload_blob(
        self, repository: str, digest: str, data: bytes, on_sent: Callable[[int], None] | None = None
    ) -> None:
        """POST an upload session, then PUT the whole blob; retried as a pair since a failed PUT
        can leave the session unusable."""
        for attempt in range(self._retries + 1):
            start = self._request("POST", f"/v2/{repository}/blobs/uploads/", headers={"Content-Length": "0"})
            self._check(start, f"start the upload of {digest}")
            location = urljoin(self.base_url + "/", start.headers.get("Location", ""))
            separator = "&" if "?" in location else "?"
            response = self._request(
                "PUT",
                f"{location}{separator}digest={digest}",
                headers={"Content-Type": "application/octet-stream"},
                body=data,
                on_sent=on_sent,
                retry=False,
            )
            if response.status_code in _RETRY_STATUSES and attempt < self._retries:
                self._pause(attempt, response)
                continue
            self._check(response, f"upload blob {digest}")
            return

    def get_blob(self, repository: str, digest: str) -> bytes:
        response = self._request("GET", f"/v2/{repository}/blobs/{digest}")
        self._check(response, f"download blob {digest}")
        if sha256_digest(response.content) != digest:
            raise OperationFailed(f"blob {digest} of {self.endpoint}/{repository} does not match its digest")
        return response.content

    def get_manifest(self, repository: str, reference: str) -> RemoteManifest | None:
        """The manifest a tag or digest names, or None when there is none."""
        accept = {"Accept": ", ".join(ACCEPTED_MANIFEST_TYPES)}
        response = self._request("GET", f"/v2/{repository}/manifests/{reference}", headers=accept)
        if response.status_code == 404:
            return None
        self._check(response, f"read manifest {repository}:{reference}")
        data = self._json_object(response, f"the manifest of {repository}:{reference}")
        media_type = data.get("mediaType") or response.headers.get("Content-Type", "").split(";")[0]
        return RemoteManifest(sha256_digest(response.content), str(media_type), response.content, data)

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        """HEAD the manifest a tag names: its digest, or None when there is none."""
        accept = {"Accept": ", ".join(ACCEPTED_MANIFEST_TYPES)}
        response = self._request("HEAD", f"/v2/{repository}/manifests/{reference}", headers=accept)
        if response.status_code == 404:
            return None
        self._check(response, f"check manifest {repository}:{reference}")
        digest = response.headers.get("Docker-Content-Digest")
        if not digest:
            raise OperationFailed(
                f"the registry at {self.endpoint} named no digest for {repository}:{reference}"
            )
        return digest

    def put_manifest(self, repository: str, reference: str, manifest: bytes) -> str:
        """Store the exact manifest bytes under a tag; the digest the registry computed."""
        response = self._request(
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            headers={"Content-Type": MANIFEST_MEDIA_TYPE},
            body=manifest,
        )
        self._check(response, f"push manifest {repository}:{reference}")
        expected = sha256_digest(manifest)
        stored = response.headers.get("Docker-Content-Digest", expected)
        if stored != expected:
            raise OperationFailed(
                f"the registry stored {repository}:{reference} as {stored}, expected {expected}"
            )
        return stored

    def delete_manifest(self, repository: str, digest: str) -> None:
        """Delete a manifest by digest, and with it every tag that points at it."""
        response = self._request("DELETE", f"/v2/{repository}/manifests/{digest}")
        if response.status_code == 405:
            raise OperationFailed(
                f"the registry at {self.endpoint} does not allow deletes (405 Method Not Allowed)",
                hint="enable them: storage.delete.enabled=true, or REGISTRY_STORAGE_DELETE_ENABLED=true",
            )
        self._check(response, f"delete manifest {repository}@{digest}")

    def list_tags(self, repository: str) -> list[str]:
        """Every tag of the repository, following ``Link`` pagination; empty when it does not exist."""
        tags: list[str] = []
        url = f"/v2/{repository}/tags/list"
        while url:
            response = self._request("GET", url)
            if response.status_code == 404:
                return tags
            self._check(response, f"list the tags of {repository}")
            listed = self._json_object(response, f"the tag list of {repository}").get("tags") or []
            tags.extend(tag for tag in listed if isinstance(tag, str))
            url = response.links.get("next", {}).get("url", "")
        return tags

    # --- plumbing -----------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path_or_url: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        on_sent: Callable[[int], None] | None = None,
        retry: bool = True,
    ) -> requests.Response:
        url = path_or_url if "://" in path_or_url else self.base_url + path_or_url
        attempts = self._retries + 1 if retry else 1
        for attempt in range(attempts):
            try:
                response = self._send(method, url, headers or {}, body, on_sent)
            except requests.exceptions.SSLError as error:
                raise OperationFailed(
                    f"TLS with {self.endpoint} failed: {error}",
                    hint="check the registry's certificate, or use a loopback endpoint for plain HTTP",
                ) from None
            except (requests.ConnectionError, requests.Timeout) as error:
                if attempt + 1 < attempts:
                    self._pause(attempt, None)
                    continue
                raise Unavailable(
                    f"the registry at {self.endpoint} cannot be reached: {_reason(error)}",
                    hint=self._unavailable_hint(),
                ) from None
            if response.status_code in _RETRY_STATUSES and attempt + 1 < attempts:
                self._pause(attempt, response)
                continue
            return response
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        on_sent: Callable[[int], None] | None,
    ) -> requests.Response:
        def attempt(authorization: str | None) -> requests.Response:
            # A fresh progress body per attempt: the one sent before the 401 is used up.
            data = _ProgressBody(body, on_sent) if body is not None and on_sent else body
            return self._session.request(
                method, url, headers=_with_auth(headers, authorization), data=data, timeout=self._timeout
            )

        authorization = self._authorization
        response = attempt(authorization)
        if response.status_code == 401 and self._authenticate(response, authorization):
            response = attempt(self._authorization)
        return response

    def _authenticate(self, challenge: requests.Response, used: str | None) -> bool:
        """Answer a 401 challenge; True when there is a new Authorization to retry with."""
        header = challenge.headers.get("WWW-Authenticate", "")
        scheme = header.split(" ", 1)[0].lower()
        with self._auth_lock:
            if self._authorization != used:
                return True  # another thread already answered this challenge
            credentials = self._lookup_credentials()
            if scheme == "basic" and credentials:
                token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
                self._authorization = f"Basic {token}"
            elif scheme == "bearer":
                bearer = self._fetch_token(dict(_CHALLENGE_PARAMETER.findall(header)), credentials)
                if bearer is None:
                    return False
                self._authorization = f"Bearer {bearer}"
            else:
                return False
            return self._authorization != used

    def _fetch_token(self, challenge: dict[str, str], credentials: Credentials | None) -> str | None:
        realm = challenge.get("realm")
        if not realm:
            return None
        params = {key: challenge[key] for key in ("service", "scope") if challenge.get(key)}
        try:
            response = self._session.get(realm, params=params, auth=credentials, timeout=self._timeout)
        except requests.RequestException as error:
            raise Unavailable(f"the token service {realm} cannot be reached: {_reason(error)}") from None
        if response.status_code != 200:
            return None
        answer = self._json_object(response, f"the answer of the token service {realm}")
        token = answer.get("token") or answer.get("access_token")
        return token if isinstance(token, str) else None

    def _lookup_credentials(self) -> Credentials | None:
        # Looked up only when a registry asks, so that a push to a local registry never reads them.
        if not self._credentials_looked_up:
            self._credentials = find_credentials(self.endpoint)
            self._credentials_looked_up = True
        return self._credentials

    def _pause(self, attempt: int, response: requests.Response | None) -> None:
        delay = self._backoff * 2**attempt
        retry_after = response.headers.get("Retry-After", "") if response is not None else ""
        if retry_after.isdigit():
            delay = min(float(retry_after), _MAX_RETRY_AFTER_SECONDS)
        time.sleep(delay)

    def _check(self, response: requests.Response, action: str) -> None:
        if response.status_code < 300:
            return
        detail = _error_detail(response)
        if response.status_code in (401, 403):
            raise OperationFailed(
                f"cannot {action} at {self.endpoint}: access denied ({response.status_code}{detail})",
                hint=f"run `docker login {self.endpoint}` or set {USERNAME_VARIABLE}/{PASSWORD_VARIABLE}",
            )
        if response.status_code == 400 and "NAME_INVALID" in detail:
            raise InvalidInput(f"cannot {action}: the registry rejects the repository name{detail}")
        raise OperationFailed(f"cannot {action} at {self.endpoint}: HTTP {response.status_code}{detail}")

    def _json_object(self, response: requests.Response, what: str) -> dict[str, Any]:
        """The body as a JSON object; a server that answers anything else is no OCI registry."""
        try:
            data = json.loads(response.content)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise OperationFailed(
                f"{what} at {self.endpoint} is not a JSON object: the server there does not speak "
                "the OCI distribution API",
                hint=f"check that {self.endpoint} is an OCI registry (`ksail-tui registry status` "
                "for the local one)",
            )
        return data

    def _unavailable_hint(self) -> str:
        if is_loopback(self.endpoint):
            return "start the local registry with `ksail-tui registry up`"
        return f"check that {self.endpoint} is the right endpoint and that the network reaches it"


def _with_auth(headers: dict[str, str], authorization: str | None) -> dict[str, str]:
    return {**headers, "Authorization": authorization} if authorization else headers


def _error_detail(response: requests.Response) -> str:
    """The OCI error body (``{"errors": [{"code", "message"}]}``) as a short suffix."""
    try:
        body = response.json()
    except ValueError:
        return ""
    errors = body.get("errors") if isinstance(body, dict) else None
    parts = [
        f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")
        for error in (errors if isinstance(errors, list) else [])
        if isinstance(error, dict)
    ]
    return f" - {'; '.join(parts)}" if parts else ""


def _reason(error: Exception) -> str:
    """The innermost cause of a connection error, without urllib3's object reprs."""
    text = str(error)
    for known in ("Connection refused", "Name or service not known", "timed out", "No route to host"):
        if known in text:
            return known.lower()
    return text
