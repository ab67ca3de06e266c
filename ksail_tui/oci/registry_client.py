"""A client for the OCI distribution API (``/v2/...``), on :mod:`ksail_tui.oci.http_session`.

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

Everything a registry sends is outside data: every operation of a client shares one deadline (retries
and backoff included), bodies are read in chunks against that deadline and a size limit, the first
request checks ``GET /v2/`` so that a web server that is not a registry is named as such, and
pagination that loops is refused. Failures are :mod:`ksail_tui.errors` types, never another exception.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urljoin, urlsplit

from ksail_tui.errors import InvalidInput, OperationFailed, TimedOut, Unavailable
from ksail_tui.oci.artifact_format import (
    ACCEPTED_MANIFEST_TYPES,
    CONTENT_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    sha256_digest,
)
from ksail_tui.oci.http_session import (
    LOOPBACK_HOSTS,
    HttpFailure,
    HttpResponse,
    HttpSession,
    TlsFailed,
    Unreachable,
    basic_authorization,
)

if TYPE_CHECKING:
    from email.message import Message

USERNAME_VARIABLE = "KSAIL_REGISTRY_USERNAME"
PASSWORD_VARIABLE = "KSAIL_REGISTRY_PASSWORD"
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_CHALLENGE_PARAMETER = re.compile(r'(\w+)="([^"]*)"')
DIGEST = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}")
_MAX_RETRY_AFTER_SECONDS = 10.0
DEFAULT_TIMEOUT_SECONDS = 60.0
API_VERSION_HEADER = "Docker-Distribution-API-Version"
# Limits on what a registry may send: the OCI spec's 4 MiB manifest, generous for the rest.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024  # tag lists, tokens, error bodies
MAX_BLOB_BYTES = 1024 * 1024 * 1024
_MAX_PAGES = 10_000

# The deadline (time.monotonic()) of the command that is running and its --timeout, when it set
# one: every client made meanwhile stops there, so one --timeout bounds all its registry requests.
_command_deadline: ContextVar[tuple[float, float] | None] = ContextVar(
    "registry_command_deadline", default=None
)


def time_left(at_most: float) -> float:
    """Seconds to the running command's deadline (a small floor, so a probe can still fail fast),
    at most ``at_most``."""
    command = _command_deadline.get()
    if command is None:
        return at_most
    return max(min(at_most, command[0] - time.monotonic()), 0.05)


@contextlib.contextmanager
def registry_deadline(seconds: float) -> Iterator[None]:
    """Bound every registry request made inside this block by one deadline ``seconds`` from now."""
    token = _command_deadline.set((time.monotonic() + seconds, seconds))
    try:
        yield
    finally:
        _command_deadline.reset(token)


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
                    user, _, secret = base64.b64decode(str(entry["auth"])).decode().partition(":")
                except (ValueError, TypeError):
                    raise InvalidInput(
                        f"the auth of {key} in {config_path} is not user:password in base64",
                        hint=f"run `docker login {endpoint}` again",
                    ) from None
                return user, secret
            if _both_text(entry.get("username"), entry.get("password")):
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
    if _both_text(answer.get("Username"), answer.get("Secret")):
        return answer["Username"], answer["Secret"]
    return None


def _both_text(user: object, secret: object) -> bool:
    return isinstance(user, str) and isinstance(secret, str) and bool(user) and bool(secret)


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
        digest = chosen[0].get("digest") if chosen else None
        # Only a well-formed digest: it becomes part of a URL (GET /v2/<repository>/blobs/<digest>).
        return digest if isinstance(digest, str) and DIGEST.fullmatch(digest) else None


def blob_size(descriptor: dict[str, Any]) -> int:
    """The ``size`` of a descriptor; 0 when it has none that is a number of bytes."""
    size = descriptor.get("size")
    return size if isinstance(size, int) and size > 0 else 0


class RegistryClient:
    """One registry endpoint (``host[:port]``); safe to share between threads.

    ``timeout`` bounds every request of this client together, retries and pauses included; without
    it the deadline of the running command (:func:`registry_deadline`) applies, else
    :data:`DEFAULT_TIMEOUT_SECONDS` from now.
    """

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
        timeout: float | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.base_url = f"{'http' if is_loopback(endpoint) else 'https'}://{endpoint}"
        self._credentials = credentials
        self._credentials_looked_up = credentials is not None
        self._retries = retries
        self._backoff = backoff_seconds
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        own_timeout = DEFAULT_TIMEOUT_SECONDS if timeout is None else timeout
        self._deadline, self._budget = time.monotonic() + own_timeout, own_timeout
        command = _command_deadline.get()
        if command is not None and (timeout is None or command[0] < self._deadline):
            self._deadline, self._budget = command
        self._authorization: str | None = None
        self._auth_lock = threading.Lock()
        self._verified = False
        self._verify_lock = threading.Lock()
        self._session = HttpSession(pool_size)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- the API ------------------------------------------------------------------------------

    def check_registry(self) -> None:
        """Raise :class:`Unavailable` unless the server answers ``GET /v2/`` as an OCI registry does.

        Every other call checks this first (once per client): a web server that is not a registry
        answers 404 to every tag list and would otherwise look like an empty registry.
        """
        if self._verified:
            return
        with self._verify_lock:
            if self._verified:
                return
            # Not following redirects: a registry answers /v2/ itself; a login page redirects.
            response = self._request("GET", "/v2/", authenticate=False, verified=False, redirects=False)
            problem = api_version_problem(response.status_code, response.headers, response.content)
            if problem is not None:
                raise Unavailable(
                    f"the server at {self.endpoint} {problem}",
                    hint=f"check the registry port in ksail.yaml; `ksail-tui registry status` shows "
                    f"what listens on {self.endpoint}",
                )
            self._verified = True

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
            location = self.start_upload(repository, digest)
            response = self._finish(location, digest, data, on_sent)
            if response.status_code in _RETRY_STATUSES and attempt < self._retries:
                self._pause(attempt, response)
                continue
            self._check(response, f"upload blob {digest}")
            return

    def start_upload(self, repository: str, what: str = "a blob") -> str:
        """Open a blob upload session (``POST .../blobs/uploads/``); the URL to send it to.

        Nothing in a session is a blob until :meth:`finish_upload` names its digest, and
        :meth:`cancel_upload` discards it: a session is how a layer can be sent while it is built.
        """
        start = self._request("POST", f"/v2/{repository}/blobs/uploads/", headers={"Content-Length": "0"})
        self._check(start, f"start the upload of {what}")
        return self._next_location(start, f"the upload of {what}")

    def upload_chunk(self, location: str, offset: int, data: bytes) -> str:
        """Append ``data`` at ``offset`` to an upload session (``PATCH`` with its ``Content-Range``);
        the URL the next request of the session goes to. Not retried: the registry may have kept part
        of a chunk whose answer was lost."""
        response = self._request(
            "PATCH",
            location,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{offset + len(data) - 1}",
            },
            body=data,
            retry=False,
        )
        self._check(response, "send a chunk of the upload")
        return self._next_location(response, "the upload")

    def finish_upload(self, location: str, digest: str, data: bytes = b"") -> None:
        """Send the last bytes of a session and commit it as the blob ``digest`` (``PUT ?digest=``);
        the registry refuses it if the bytes it got do not have that digest."""
        self._check(self._finish(location, digest, data, None), f"upload blob {digest}")

    def cancel_upload(self, location: str) -> None:
        """Discard an upload session (``DELETE``), so that none of its bytes stay in the registry.

        Best effort: a registry that cannot be reached now will purge the session itself (the CNCF
        registry after a week); its bytes were never addressable by digest either way."""
        with contextlib.suppress(Unavailable, TimedOut, OperationFailed, InvalidInput):
            self._request("DELETE", location, retry=False)

    def _finish(
        self, location: str, digest: str, data: bytes, on_sent: Callable[[int], None] | None
    ) -> HttpResponse:
        separator = "&" if "?" in location else "?"
        return self._request(
            "PUT",
            f"{location}{separator}digest={digest}",
            headers={"Content-Type": "application/octet-stream"},
            body=data,
            on_sent=on_sent,
            retry=False,
        )

    def _next_location(self, response: HttpResponse, what: str) -> str:
        location = response.headers.get("Location")
        if not location:
            raise OperationFailed(
                f"the registry at {self.endpoint} answered {what} without saying where to send it "
                "(no Location header)"
            )
        return self._resolve(location, f"the location of {what}")

    def get_blob(self, repository: str, digest: str) -> bytes:
        response = self._request("GET", f"/v2/{repository}/blobs/{digest}", limit=MAX_BLOB_BYTES)
        self._check(response, f"download blob {digest}")
        if sha256_digest(response.content) != digest:
            raise OperationFailed(f"blob {digest} of {self.endpoint}/{repository} does not match its digest")
        return response.content

    def get_manifest(self, repository: str, reference: str) -> RemoteManifest | None:
        """The manifest a tag or digest names, or None when there is none."""
        accept = {"Accept": ", ".join(ACCEPTED_MANIFEST_TYPES)}
        response = self._request(
            "GET", f"/v2/{repository}/manifests/{reference}", headers=accept, limit=MAX_MANIFEST_BYTES
        )
        if response.status_code == 404:
            return None
        self._check(response, f"read manifest {repository}:{reference}")
        data = self._json_object(response, f"the manifest of {repository}:{reference}")
        digest = sha256_digest(response.content)
        if DIGEST.fullmatch(reference) and reference.startswith("sha256:") and digest != reference:
            raise OperationFailed(
                f"the registry at {self.endpoint} answered {repository}@{reference} with a manifest "
                f"whose digest is {digest}"
            )
        media_type = data.get("mediaType")
        if not isinstance(media_type, str):
            media_type = response.headers.get("Content-Type", "").split(";")[0]
        return RemoteManifest(digest, media_type, response.content, data)

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

    def put_manifest(
        self, repository: str, reference: str, manifest: bytes, media_type: str = MANIFEST_MEDIA_TYPE
    ) -> str:
        """Store the exact manifest bytes under a tag (or their digest); the digest the registry computed."""
        response = self._request(
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            headers={"Content-Type": media_type},
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
        """Every tag of the repository, following ``Link`` pagination; empty when it does not exist.

        A next page that was already read, or a page with nothing new that points on, is a loop:
        refused rather than followed until the deadline.
        """
        tags: dict[str, None] = {}
        visited: set[str] = set()
        url = self._resolve(f"/v2/{repository}/tags/list", "the tag list")
        what = f"the tag list of {repository}"
        while url:
            if url in visited or len(visited) >= _MAX_PAGES:
                raise OperationFailed(
                    f"the pagination of {what} at {self.endpoint} loops: its Link header leads back to {url}",
                    hint="this is a fault of the registry; check its version and configuration",
                )
            visited.add(url)
            response = self._request("GET", url)
            if response.status_code == 404:
                return list(tags)
            self._check(response, f"list the tags of {repository}")
            listed = self._json_object(response, what).get("tags")
            if listed is None:
                listed = []
            if not isinstance(listed, list):
                raise OperationFailed(f"{what} at {self.endpoint} has a 'tags' that is not a list")
            new = [tag for tag in listed if isinstance(tag, str) and tag not in tags]
            next_url = response.link("next")
            if next_url and not new:
                raise OperationFailed(
                    f"the pagination of {what} at {self.endpoint} loops: a page with no new tags "
                    f"points on to {next_url}",
                    hint="this is a fault of the registry; check its version and configuration",
                )
            tags.update(dict.fromkeys(new))
            url = self._resolve(next_url, f"the next page of {what}") if next_url else ""
        return list(tags)

    # --- plumbing -----------------------------------------------------------------------------

    def _resolve(self, reference: str, what: str) -> str:
        """An absolute URL on this registry; a link to another server is refused."""
        url = urljoin(self.base_url + "/", reference)
        if not self._same_origin(url):
            raise OperationFailed(
                f"{what} at {self.endpoint} points to another server ({urlsplit(url).netloc or url}); "
                "not following it"
            )
        return url

    def _same_origin(self, url: str) -> bool:
        try:
            parts, base = urlsplit(url), urlsplit(self.base_url)
            return (parts.scheme, parts.hostname, parts.port) == (base.scheme, base.hostname, base.port)
        except ValueError:  # a port that is not a number
            return False

    def _request(
        self,
        method: str,
        path_or_url: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        on_sent: Callable[[int], None] | None = None,
        retry: bool = True,
        limit: int = MAX_DOCUMENT_BYTES,
        authenticate: bool = True,
        verified: bool = True,
        redirects: bool = True,
    ) -> HttpResponse:
        if verified:
            self.check_registry()
        url = path_or_url if "://" in path_or_url else self.base_url + path_or_url
        what = f"{method} {urlsplit(url).path}"
        attempts = self._retries + 1 if retry else 1
        for attempt in range(attempts):
            try:
                response = self._within_deadline(
                    lambda: self._send(
                        method, url, headers or {}, body, on_sent, limit, authenticate, redirects
                    ),
                    what,
                )
            except TlsFailed as error:
                raise OperationFailed(
                    f"TLS with {self.endpoint} failed: {error}",
                    hint="check the registry's certificate, or use a loopback endpoint for plain HTTP",
                ) from None
            except Unreachable as error:
                self.check_deadline(what)
                if attempt + 1 < attempts:
                    self._pause(attempt, None)
                    continue
                raise Unavailable(
                    f"the registry at {self.endpoint} cannot be reached: {_reason(error)}",
                    hint=self._unavailable_hint(),
                ) from None
            except HttpFailure as error:
                # Broken bodies, redirect loops, URLs that cannot be parsed.
                raise OperationFailed(
                    f"the registry at {self.endpoint} sent an answer to {what} that cannot be read: "
                    f"{_reason(error)}"
                ) from None
            if response.status_code in _RETRY_STATUSES and attempt + 1 < attempts:
                self._pause(attempt, response)
                continue
            return response
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _within_deadline(self, exchange: Callable[[], HttpResponse], what: str) -> HttpResponse:
        """Run one exchange (request, authentication, body) on a helper thread, and give up on it
        at the deadline.

        Socket timeouts bound each read, not the exchange: a server that trickles a byte of its
        headers or body now and then would keep every read alive forever.
        """
        outcome: Future[HttpResponse] = Future()

        def run() -> None:
            try:
                outcome.set_result(exchange())
            except BaseException as error:  # handed over to the caller, whatever it is
                outcome.set_exception(error)

        threading.Thread(target=run, name=f"registry {what}", daemon=True).start()
        try:
            return outcome.result(timeout=max(self._deadline - time.monotonic(), 0.0))
        except FutureTimeout:
            raise self._timed_out(what) from None

    def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        on_sent: Callable[[int], None] | None,
        limit: int,
        authenticate: bool,
        redirects: bool,
    ) -> HttpResponse:
        # Our credentials go to this registry only, never to a server another one points us to.
        same_origin = self._same_origin(url)

        def attempt(authorization: str | None) -> HttpResponse:
            return self._http(
                method,
                url,
                headers=_with_auth(headers, authorization if same_origin else None),
                body=body,
                on_sent=on_sent,
                limit=limit,
                redirects=redirects,
            )

        authorization = self._authorization
        response = attempt(authorization)
        if (
            authenticate
            and same_origin
            and response.status_code == 401
            and self._authenticate(response, authorization)
        ):
            response = attempt(self._authorization)
        return response

    def _http(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        limit: int,
        body: bytes | None = None,
        on_sent: Callable[[int], None] | None = None,
        redirects: bool = True,
    ) -> HttpResponse:
        """One HTTP exchange bounded by what is left of the deadline; its body is read in receives,
        each checked against the deadline and ``limit``, so that none can hang or flood."""
        what = f"{method} {urlsplit(url).path}"
        remaining = self.check_deadline(what)

        def received(size: int) -> None:
            if size > limit:
                raise OperationFailed(
                    f"the registry at {self.endpoint} sent more than {limit // (1024 * 1024)} MiB "
                    f"for {urlsplit(url).path}; refusing to read on"
                )
            self.check_deadline(what)

        return self._session.request(
            method,
            url,
            headers=headers,
            body=body,
            on_sent=on_sent,
            connect_timeout=min(self._connect_timeout, remaining),
            read_timeout=min(self._read_timeout, remaining),
            follow_redirects=redirects,
            on_received=received,
        )

    def check_deadline(self, what: str) -> float:
        """The seconds left; :class:`TimedOut`, naming the registry, when there are none."""
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise self._timed_out(what)
        return remaining

    def _timed_out(self, what: str) -> TimedOut:
        return TimedOut(
            f"the registry at {self.endpoint} did not answer within {self._budget:.3g}s ({what})",
            hint="check it with `ksail-tui registry status`, or allow more time with --timeout",
        )

    def _authenticate(self, challenge: HttpResponse, used: str | None) -> bool:
        """Answer a 401 challenge; True when there is a new Authorization to retry with."""
        header = challenge.headers.get("WWW-Authenticate", "")
        scheme = header.split(" ", 1)[0].lower()
        with self._auth_lock:
            if self._authorization != used:
                return True  # another thread already answered this challenge
            credentials = self._lookup_credentials()
            if scheme == "basic" and credentials:
                self._authorization = basic_authorization(*credentials)
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
        params = urlencode({key: challenge[key] for key in ("service", "scope") if challenge.get(key)})
        url = f"{realm}{'&' if '?' in realm else '?'}{params}" if params else realm
        headers = {"Authorization": basic_authorization(*credentials)} if credentials else {}
        try:
            response = self._http("GET", url, headers=headers, limit=MAX_DOCUMENT_BYTES)
        except HttpFailure as error:
            self.check_deadline(f"GET {realm}")
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

    def _pause(self, attempt: int, response: HttpResponse | None) -> None:
        delay = self._backoff * 2**attempt
        retry_after = response.headers.get("Retry-After", "") if response is not None else ""
        if retry_after.isascii() and retry_after.isdigit():
            delay = min(float(retry_after), _MAX_RETRY_AFTER_SECONDS)
        time.sleep(max(0.0, min(delay, self._deadline - time.monotonic())))

    def _check(self, response: HttpResponse, action: str) -> None:
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

    def _json_object(self, response: HttpResponse, what: str) -> dict[str, Any]:
        """The body as a JSON object; a server that answers anything else is no OCI registry."""
        data = _parse_json(response.content)
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


def api_version_problem(status: int, headers: Message, body: bytes) -> str | None:
    """What is wrong with a server, judged by its answer to ``GET /v2/``; None for a registry.

    A registry answers 200 (with the API version header, or at least an empty body or a JSON
    object), or 401 with an authentication challenge. Anything else (404, an HTML page) is some
    other server. The
    answer completes a sentence: "the server at <endpoint> <problem>".
    """
    if status == 200 and (
        API_VERSION_HEADER in headers or not body.strip() or isinstance(_parse_json(body), dict)
    ):
        return None
    if status == 401 and (API_VERSION_HEADER in headers or "WWW-Authenticate" in headers):
        return None
    if status >= 500:
        return f"is failing: GET /v2/ answered HTTP {status}"
    if status == 200:
        return (
            f"is not an OCI registry: GET /v2/ answered 200 with a body that is not JSON, and "
            f"without the {API_VERSION_HEADER} header"
        )
    return f"is not an OCI registry: GET /v2/ answered HTTP {status}, not 200 or 401 as a registry does"


def _parse_json(content: bytes) -> Any:
    """The JSON value of ``content``; None when it is not JSON (or nested too deep to parse)."""
    try:
        return json.loads(content)
    except (ValueError, RecursionError):
        return None


def _with_auth(headers: dict[str, str], authorization: str | None) -> dict[str, str]:
    return {**headers, "Authorization": authorization} if authorization else headers


_MAX_DETAIL_CHARS = 300


def _error_detail(response: HttpResponse) -> str:
    """The OCI error body (``{"errors": [{"code", "message"}]}``) as a short suffix."""
    body = _parse_json(response.content)
    errors = body.get("errors") if isinstance(body, dict) else None
    parts = [
        f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")
        for error in (errors if isinstance(errors, list) else [])
        if isinstance(error, dict)
    ]
    detail = "; ".join(parts)
    if len(detail) > _MAX_DETAIL_CHARS:
        detail = detail[:_MAX_DETAIL_CHARS] + "..."
    return f" - {detail}" if detail else ""


def _reason(error: Exception) -> str:
    """The innermost cause of a connection error, without urllib3's object reprs."""
    text = str(error)
    for known in ("Connection refused", "Name or service not known", "timed out", "No route to host"):
        if known in text:
            return known.lower()
    return text[:_MAX_DETAIL_CHARS]
