"""What the simulated source-controller needs from a registry: the OCI distribution API.

Part of the simulated Flux controllers (``ksail_sim.flux``). Errors read like the ones
go-containerregistry gives source-controller, and name the registry as the OCIRepository does
(its in-cluster host), because that is the host a real controller would report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import requests

from ksail_tui.oci.artifact_format import ACCEPTED_MANIFEST_TYPES, MANIFEST_MEDIA_TYPE, sha256_digest

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_ACCEPT = ", ".join(ACCEPTED_MANIFEST_TYPES)
OCI_PREFIX = "oci://"

# go-containerregistry's name rules: the registry part is kept only when it looks like a host.
_REPOSITORY_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_-./")


class RegistryError(Exception):
    """A registry request failed; the message is what the controller reports."""


class UrlInvalid(ValueError):
    """``spec.url`` is not ``oci://<host>/<repository>`` without a tag."""


@dataclass(frozen=True)
class Repository:
    host: str  # as written in spec.url (the in-cluster name)
    path: str
    insecure: bool

    @property
    def shown(self) -> str:
        """Base URL as the controller would report it."""
        return f"{'http' if self.insecure else 'https'}://{self.host}/v2/{self.path}"


def parse_oci_url(url: str, *, insecure: bool) -> Repository:
    """Validate ``oci://host/repo`` like source-controller's parseRepository."""
    if not url.startswith(OCI_PREFIX):
        raise UrlInvalid("URL must be in format 'oci://<domain>/<org>/<repo>'")
    reference = url.removeprefix(OCI_PREFIX)
    host, _, path = reference.partition("/")
    if not path or not ("." in host or ":" in host or host == "localhost"):
        # Docker Hub shorthand: the whole reference is the repository.
        host, path = "index.docker.io", reference
    if ":" in path:
        raise UrlInvalid(f"URL must not contain a tag; remove ':{path.split(':', 1)[1]}'")
    if not path or not set(path) <= _REPOSITORY_CHARS or len(path) > 255:
        raise UrlInvalid(
            f"repository can only contain the characters `{''.join(sorted(_REPOSITORY_CHARS))}`: {path}"
        )
    return Repository(host=host, path=path, insecure=insecure)


class RegistryReader:
    """The distribution API over ``requests``; ``registry_hosts`` maps in-cluster hosts to reachable ones."""

    def __init__(self, registry_hosts: dict[str, str] | None = None, timeout: float = 10.0) -> None:
        self.registry_hosts = dict(registry_hosts or {})
        self.timeout = timeout
        self._session = requests.Session()

    def close(self) -> None:
        self._session.close()

    def _url(self, repository: Repository, suffix: str) -> tuple[str, str]:
        """The URL to request and the URL to show in messages."""
        scheme = "http" if repository.insecure else "https"
        reachable = self.registry_hosts.get(repository.host, repository.host)
        path = f"/v2/{repository.path}/{suffix}"
        return f"{scheme}://{reachable}{path}", f"{scheme}://{repository.host}{path}"

    def _request(
        self, method: str, url: str, shown: str, headers: dict[str, str] | None = None
    ) -> requests.Response:
        try:
            response = self._session.request(method, url, headers=headers, timeout=self.timeout)
        except requests.ConnectionError:
            host = shown.split("/")[2]
            raise RegistryError(
                f'{method.title()} "{shown}": dial tcp {host}: connect: connection refused'
            ) from None
        except requests.Timeout:
            raise RegistryError(
                f'{method.title()} "{shown}": context deadline exceeded (Client.Timeout exceeded)'
            ) from None
        except requests.RequestException as error:
            raise RegistryError(f'{method.title()} "{shown}": {error}') from None
        if response.status_code >= 400:
            raise RegistryError(f"{method} {shown}: {_describe_error(response)}")
        return response

    def resolve_digest(self, repository: Repository, reference: str) -> str:
        """The manifest digest of a tag, like crane.Digest: HEAD, then GET for the details."""
        url, shown = self._url(repository, f"manifests/{reference}")
        headers = {"Accept": MANIFEST_ACCEPT}
        try:
            head = self._request("HEAD", url, shown, headers)
            digest = head.headers.get("Docker-Content-Digest")
            if digest:
                return digest
        except RegistryError:
            pass  # fall back on GET, whose error body says why
        response = self._request("GET", url, shown, headers)
        return response.headers.get("Docker-Content-Digest") or sha256_digest(response.content)

    def manifest(self, repository: Repository, digest: str) -> dict[str, Any]:
        url, shown = self._url(repository, f"manifests/{digest}")
        response = self._request("GET", url, shown, {"Accept": MANIFEST_ACCEPT})
        if sha256_digest(response.content) != digest:
            raise RegistryError(f"GET {shown}: manifest digest mismatch")
        document = response.json()
        media_type = document.get("mediaType") or response.headers.get("Content-Type", "")
        if media_type not in (MANIFEST_MEDIA_TYPE, DOCKER_MANIFEST):
            raise RegistryError(
                f"unsupported manifest media type {media_type!r} (an artifact has one manifest)"
            )
        return document

    def blob(self, repository: Repository, digest: str) -> bytes:
        url, shown = self._url(repository, f"blobs/{digest}")
        data = self._request("GET", url, shown).content
        if sha256_digest(data) != digest:
            raise RegistryError(f"GET {shown}: blob digest mismatch")
        return data

    def tags(self, repository: Repository) -> list[str]:
        url, shown = self._url(repository, "tags/list")
        found: list[str] = []
        while url:
            response = self._request("GET", url, shown)
            found.extend((response.json() or {}).get("tags") or [])
            following = response.links.get("next", {}).get("url")
            url = urljoin(url, following) if following else ""
        return found


def _describe_error(response: requests.Response) -> str:
    """go-containerregistry's transport.Error text: ``CODE: message; detail``."""
    try:
        errors = response.json().get("errors") or []
    except ValueError:
        errors = []
    if not errors:
        suffix = (
            " (HEAD responses have no body, use GET for details)" if response.request.method == "HEAD" else ""
        )
        return f"unexpected status code {response.status_code} {response.reason}{suffix}"
    parts = []
    for error in errors:
        text = f"{error.get('code', 'UNKNOWN')}: {error.get('message', '')}"
        detail = error.get("detail")
        if isinstance(detail, dict) and detail:
            text += "; map[" + " ".join(f"{key}:{value}" for key, value in sorted(detail.items())) + "]"
        elif detail:
            text += f"; {detail}"
        parts.append(text)
    return "; ".join(parts) if len(parts) == 1 else "multiple errors returned: " + "; ".join(parts)
