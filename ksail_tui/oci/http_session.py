"""HTTP/1.1 exchanges on ``http.client``, with kept-alive connections: the registry client's transport.

It replaces ``requests`` there because importing requests and urllib3 was ~70 ms of every registry
command's ~0.35 s start-up, for a few methods of an API this module covers: connections pooled per
origin and reused, bodies sent with a progress callback, bodies read a receive at a time so that the
caller can check its deadline and size limit on each, redirects followed (dropping the
Authorization header when they lead to another origin, as requests does), and proxies from
``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` for endpoints that are not on this machine.

Failures are three exception types; the caller words them. A failure before the answer's headers
were read is :class:`Unreachable` (the server could not be talked to, or does not speak HTTP), one
while reading the body :class:`Unreadable`, and a TLS failure :class:`TlsFailed`.
"""

from __future__ import annotations

import base64
import http.client
import re
import select
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import quote, unquote, urljoin, urlsplit

USER_AGENT = "ksail-tui"
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 30  # requests' limit
_READ_BYTES = 4 * 1024 * 1024  # at most this per receive; a receive is what the socket has
_PROGRESS_STEP = 256 * 1024  # report upload progress at most every 256 KiB
_SEND_BLOCK = 64 * 1024
# What a URL may hold unquoted (requests' requote_uri): anything else is percent-encoded, so a
# Location with spaces or non-ASCII text is sent as a valid request line.
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"

_LINK_SEPARATOR = re.compile(r",\s*(?=<)")  # between links, not inside a URL that holds a comma

Origin = tuple[str, str, int]  # scheme, host, port
Proxy = tuple[str, int, dict[str, str]]  # host, port, the headers it wants


class HttpFailure(Exception):
    """An exchange that did not give a complete answer; ``str()`` says why, in a few words."""


class Unreachable(HttpFailure):
    """No answer: the connection failed, timed out or closed, or what came back was not HTTP."""


class Unreadable(HttpFailure):
    """An answer that cannot be read to its end: a broken body, a redirect loop, a bad Location."""


class TlsFailed(HttpFailure):
    """The TLS handshake or a certificate check failed."""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """An answer read to its end."""

    method: str
    url: str
    status_code: int
    headers: http.client.HTTPMessage
    content: bytes

    def link(self, relation: str) -> str:
        """The target of the ``Link: <url>; rel="relation"`` header, or "" when there is none."""
        for header in self.headers.get_all("Link") or ():
            for part in _LINK_SEPARATOR.split(header):
                target, _, parameters = part.partition(";")
                target = target.strip()
                if not (target.startswith("<") and target.endswith(">")):
                    continue
                for parameter in parameters.split(";"):
                    name, _, value = parameter.partition("=")
                    if name.strip().lower() == "rel" and relation in value.strip(" '\"").split():
                        return target[1:-1]
        return ""


class _ProgressBody:
    """A request body that reports how many of its bytes have been sent."""

    def __init__(self, data: bytes, on_sent: Callable[[int], None]) -> None:
        self._view = memoryview(data)
        self._on_sent = on_sent

    def __iter__(self) -> Iterator[bytes]:
        reported = 0
        for start in range(0, len(self._view), _SEND_BLOCK):
            end = min(start + _SEND_BLOCK, len(self._view))
            yield self._view[start:end].tobytes()
            if end - reported >= _PROGRESS_STEP or end == len(self._view):
                reported = end
                self._on_sent(end)


class HttpSession:
    """Kept-alive connections, at most ``pool_size`` idle ones per origin; safe to share between threads."""

    def __init__(self, pool_size: int = 8) -> None:
        self._pool_size = pool_size
        self._idle: dict[Origin, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        body: bytes | None = None,
        on_sent: Callable[[int], None] | None = None,
        connect_timeout: float,
        read_timeout: float,
        follow_redirects: bool = True,
        on_received: Callable[[int], None] = lambda _: None,
    ) -> HttpResponse:
        """One exchange and the redirects it leads to; the last answer, its body read.

        ``on_received`` is called with the body's size so far after every receive; what it raises
        (a deadline, a size limit) ends the exchange and closes its connection.
        """
        for _ in range(_MAX_REDIRECTS + 1):
            response = self._exchange(
                method, url, headers, body, on_sent, connect_timeout, read_timeout, on_received
            )
            location = response.headers.get("Location")
            if not (follow_redirects and response.status_code in _REDIRECTS and location):
                return response
            target = _absolute(url, location)
            if _origin(target) != _origin(url):
                # Credentials are for the server that asked for them, never for one it points to.
                headers = {key: value for key, value in headers.items() if key.lower() != "authorization"}
            if (response.status_code == 303 and method != "HEAD") or (
                response.status_code in (301, 302) and method == "POST"
            ):
                method, body = "GET", None  # what browsers and requests do
            url = target
        raise Unreadable(f"more than {_MAX_REDIRECTS} redirects")

    def _exchange(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        on_sent: Callable[[int], None] | None,
        connect_timeout: float,
        read_timeout: float,
        on_received: Callable[[int], None],
    ) -> HttpResponse:
        origin = _origin(url)
        proxy = _proxy_for(origin)
        connection = self._take(origin)
        headers = {"User-Agent": USER_AGENT, "Connection": "keep-alive", **headers}
        payload: bytes | _ProgressBody | None = body
        if body is not None and on_sent is not None:
            payload = _ProgressBody(body, on_sent)
            headers["Content-Length"] = str(len(body))
        try:
            try:
                if connection is None:
                    connection = _connect(origin, proxy, connect_timeout)
                if connection.sock is not None:
                    connection.sock.settimeout(read_timeout)
                connection.request(method, _request_target(url, origin, proxy), body=payload, headers=headers)
                answer = connection.getresponse()
            except BaseException as error:
                raise _failure(error, Unreachable) from None
            try:
                content = _read_body(answer, on_received)
            except (OSError, http.client.HTTPException) as error:
                raise _failure(error, Unreadable) from None
        except BaseException:
            if connection is not None:
                connection.close()
            raise
        response = HttpResponse(method, url, answer.status, answer.headers, content)
        if answer.will_close:
            connection.close()
        else:
            self._give_back(origin, connection)
        return response

    def _take(self, origin: Origin) -> http.client.HTTPConnection | None:
        while True:
            with self._lock:
                idle = self._idle.get(origin)
                if not idle:
                    return None
                connection = idle.pop()
            if _still_open(connection):
                return connection
            connection.close()

    def _give_back(self, origin: Origin, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if not self._closed and len(idle) < self._pool_size:
                idle.append(connection)
                return
        connection.close()


def basic_authorization(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def _origin(url: str) -> Origin:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:  # a port that is not a number, brackets that do not close
        raise Unreadable(f"{url!r} is not a URL: {error}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Unreadable(f"{url!r} is not an http or https URL")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _absolute(base: str, location: str) -> str:
    try:
        return urljoin(base, location)
    except ValueError as error:
        raise Unreadable(f"the redirect to {location!r} is not a URL: {error}") from None


def _request_target(url: str, origin: Origin, proxy: Proxy | None) -> str:
    """The request line's target: the path and query, or the whole URL through an HTTP proxy."""
    parts = urlsplit(url)
    if origin[0] == "http" and proxy is not None:
        return quote(url.split("#", 1)[0], safe=_URL_SAFE)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return quote(target, safe=_URL_SAFE)


def _connect(origin: Origin, proxy: Proxy | None, timeout: float) -> http.client.HTTPConnection:
    scheme, host, port = origin
    connection: http.client.HTTPConnection
    if scheme == "https":
        import ssl  # only for registries off this machine: ~10 ms of every command otherwise

        context = ssl.create_default_context()
        if proxy is None:
            connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
        else:
            connection = http.client.HTTPSConnection(proxy[0], proxy[1], timeout=timeout, context=context)
            connection.set_tunnel(host, port, headers=proxy[2])
    elif proxy is None:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    else:
        connection = http.client.HTTPConnection(proxy[0], proxy[1], timeout=timeout)
    connection.connect()
    return connection


def _proxy_for(origin: Origin) -> Proxy | None:
    """The proxy (host, port, headers for it) that the environment names for an origin, if any.

    Loopback registries never go through one: a proxy cannot reach this machine's 127.0.0.1.
    """
    scheme, host, port = origin
    if host in LOOPBACK_HOSTS:
        return None
    # Read as requests reads them: the environment's, else the system's. Loaded only here (~15 ms).
    from urllib.request import getproxies, proxy_bypass

    proxy = getproxies().get(scheme)
    if not proxy or proxy_bypass(f"{host}:{port}"):
        return None
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if not parts.hostname:
        return None
    headers = {}
    if parts.username is not None:
        headers["Proxy-Authorization"] = basic_authorization(
            unquote(parts.username), unquote(parts.password or "")
        )
    return parts.hostname, parts.port or 80, headers


def _still_open(connection: http.client.HTTPConnection) -> bool:
    """False when the server closed a kept-alive connection: it is readable (EOF, or bytes that no
    request asked for)."""
    sock = connection.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _read_body(answer: http.client.HTTPResponse, on_received: Callable[[int], None]) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := answer.read1(_READ_BYTES):
        size += len(chunk)
        chunks.append(chunk)
        on_received(size)
    if answer.length:  # http.client ends a body cut short without a word
        raise Unreadable(f"the answer ended {answer.length} bytes before its Content-Length")
    answer.close()  # read1 leaves a body read to its length open, and the connection unusable
    return b"".join(chunks)


def _failure(error: BaseException, kind: type[HttpFailure]) -> BaseException:
    """The HttpFailure an exception of http.client, socket or ssl stands for; others unchanged."""
    ssl = sys.modules.get("ssl")
    if ssl is not None and isinstance(error, ssl.SSLError):
        return TlsFailed(str(error))
    if isinstance(error, ConnectionRefusedError):
        return Unreachable("connection refused")
    if isinstance(error, socket.gaierror):
        return Unreachable("name or service not known")
    if isinstance(error, TimeoutError):
        return Unreachable("timed out")
    if isinstance(error, http.client.RemoteDisconnected):
        return Unreachable("the server closed the connection without answering")
    if isinstance(error, http.client.BadStatusLine):
        return Unreachable(f"the server does not speak HTTP (it answered {_short(error)})")
    if isinstance(error, OSError | http.client.HTTPException):
        return kind(_short(error) or type(error).__name__)
    if isinstance(error, UnicodeError | ValueError):  # a header value http.client cannot send
        return Unreadable(f"the request cannot be sent: {_short(error)}")
    return error


def _short(error: BaseException, limit: int = 200) -> str:
    text = str(error)
    return text if len(text) <= limit else text[:limit] + "..."
