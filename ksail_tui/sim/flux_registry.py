"""What the simulated source-controller needs from a registry: the OCI distribution API and semver.

Part of the simulated Flux controllers (``ksail_tui.sim.flux``). Errors read like the ones
go-containerregistry gives source-controller, and name the registry as the OCIRepository does
(its in-cluster host), because that is the host a real controller would report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import requests
import semver

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


# --- semver ranges, the way Masterminds/semver (Flux's library) reads them ---------------------

_PARTIAL_VERSION = re.compile(
    r"^v?(?P<major>\d+|[xX*])(?:\.(?P<minor>\d+|[xX*]))?(?:\.(?P<patch>\d+|[xX*]))?"
    r"(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+(?P<build>[0-9A-Za-z.-]+))?$"
)
_COMPARATOR = re.compile(r"^(?P<op>>=|<=|!=|=>|=<|==|=|>|<|~>|~|\^)?\s*(?P<version>\S+)$")
_WILDCARD = {"x", "X", "*"}


@dataclass(frozen=True)
class _Bound:
    op: str  # one of >=, >, <=, <, =, !=
    version: semver.Version
    allows_prerelease: bool  # Masterminds: a comparator without a prerelease excludes prereleases

    def admits(self, version: semver.Version) -> bool:
        if version.prerelease and not self.allows_prerelease:
            return False
        comparison = version.compare(self.version)
        return {
            ">=": comparison >= 0,
            ">": comparison > 0,
            "<=": comparison <= 0,
            "<": comparison < 0,
            "=": comparison == 0,
            "!=": comparison != 0,
        }[self.op]


class SemverRangeError(ValueError):
    """The range cannot be parsed."""


def parse_version(text: str) -> semver.Version | None:
    """A tag as Masterminds' NewVersion reads it: ``v`` prefix and missing parts allowed."""
    match = _PARTIAL_VERSION.match(text)
    if not match or any(part in _WILDCARD for part in match.group("major", "minor", "patch") if part):
        return None
    return semver.Version(
        int(match["major"]),
        int(match["minor"] or 0),
        int(match["patch"] or 0),
        match["pre"],
        match["build"],
    )


def _comparator_bounds(op: str, text: str) -> list[_Bound]:
    match = _PARTIAL_VERSION.match(text)
    if not match:
        raise SemverRangeError(f"improper constraint: {text}")
    parts = [match["major"], match["minor"], match["patch"]]
    # The number of leading concrete parts; "1.2" and "1.2.x" both fix two.
    fixed = 0
    for part in parts:
        if part is None or part in _WILDCARD:
            break
        fixed += 1
    numbers = [int(part) if index < fixed else 0 for index, part in enumerate(parts)]
    pre = match["pre"]
    allows_pre = pre is not None
    base = semver.Version(*numbers, prerelease=pre if fixed == 3 else None)

    def bound(kind: str, version: semver.Version) -> _Bound:
        return _Bound(kind, version, allows_pre)

    def next_after_fixed(count: int) -> semver.Version:
        if count == 0:
            return semver.Version(0x7FFFFFFF, 0, 0)
        if count == 1:
            return semver.Version(numbers[0] + 1, 0, 0)
        return semver.Version(numbers[0], numbers[1] + 1, 0)

    op = {"=>": ">=", "=<": "<=", "==": "=", "~>": "~"}.get(op, op or "=")
    if fixed == 0 and op in ("=", "^", "~", ">=", "<="):
        return [bound(">=", semver.Version(0, 0, 0))]  # "*": any release
    if op == "=" and fixed == 3:
        return [bound("=", base)]
    if op == "=":
        return [bound(">=", base), bound("<", next_after_fixed(fixed))]
    if op == "!=":
        if fixed == 3:
            return [bound("!=", base)]
        raise SemverRangeError(f"wildcards in '!=' constraints are not supported by the simulator: {text}")
    if op == ">=":
        return [bound(">=", base)]
    if op == "<":
        return [bound("<", base)]
    if op == ">":
        return [bound(">", base)] if fixed == 3 else [bound(">=", next_after_fixed(fixed))]
    if op == "<=":
        return [bound("<=", base)] if fixed == 3 else [bound("<", next_after_fixed(fixed))]
    if op == "~":
        return [bound(">=", base), bound("<", next_after_fixed(min(fixed, 2)))]
    # Caret: up to the next change of the leftmost non-zero part.
    if numbers[0] > 0 or fixed == 1:
        upper = semver.Version(numbers[0] + 1, 0, 0)
    elif numbers[1] > 0 or fixed == 2:
        upper = semver.Version(0, numbers[1] + 1, 0)
    else:
        upper = semver.Version(0, 0, numbers[2] + 1)
    return [bound(">=", base), bound("<", upper)]


def parse_range(text: str) -> list[list[_Bound]]:
    """``||`` separates alternatives; comparators inside one are ANDed (space or comma separated)."""
    alternatives: list[list[_Bound]] = []
    for alternative in text.split("||"):
        tokens = [token for token in re.split(r"[\s,]+", alternative.strip()) if token]
        bounds: list[_Bound] = []
        index = 0
        while index < len(tokens):
            token = tokens[index]
            if index + 2 < len(tokens) and tokens[index + 1] == "-":  # hyphen range "1.2 - 1.4.5"
                bounds += _comparator_bounds(">=", token) + _comparator_bounds("<=", tokens[index + 2])
                index += 3
                continue
            if token in {">=", "<=", ">", "<", "=", "!=", "~", "^", "~>", "=>", "=<", "=="}:
                if index + 1 >= len(tokens):
                    raise SemverRangeError(f"improper constraint: {text}")
                token += tokens[index + 1]
                index += 1
            match = _COMPARATOR.match(token)
            if not match:
                raise SemverRangeError(f"improper constraint: {text}")
            bounds += _comparator_bounds(match["op"] or "", match["version"])
            index += 1
        if not tokens:
            raise SemverRangeError(f"improper constraint: {text}")
        alternatives.append(bounds)
    return alternatives


def highest_matching(tags: list[str], constraint: str, tag_filter: str | None = None) -> str | None:
    """The tag with the highest version inside ``constraint`` (source-controller's getTagBySemver)."""
    alternatives = parse_range(constraint)
    pattern = re.compile(tag_filter) if tag_filter else None
    best: tuple[semver.Version, str] | None = None
    for tag in tags:
        if pattern is not None and not pattern.search(tag):
            continue
        version = parse_version(tag)
        if version is None:
            continue
        if not any(all(b.admits(version) for b in bounds) for bounds in alternatives):
            continue
        if best is None or version.compare(best[0]) > 0:
            best = (version, tag)
    return best[1] if best else None
