"""Is the registry answering? ``GET /v2/`` must return 200 the way a distribution registry does."""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from ksail_tui.errors import TimedOut
from ksail_tui.oci.registry_client import api_version_problem
from ksail_tui.registry.ports import LOOPBACK

PROBE_TIMEOUT_SECONDS = 2.0
POLL_INTERVAL_SECONDS = 0.25
_MAX_PROBE_BODY = 64 * 1024


class Answer(StrEnum):
    REGISTRY = "registry"  # an OCI registry answers 200
    OTHER = "other"  # something answers, but it is no registry (or not a healthy one)
    NONE = "none"  # nothing answers


@dataclass(frozen=True)
class ProbeResult:
    answer: Answer
    problem: str | None = None  # in words, when the answer is not a healthy registry


def health_url(port: int) -> str:
    # 127.0.0.1 rather than localhost: the registry never listens on ::1, and trying it first costs time.
    return f"http://{LOOPBACK}:{port}/v2/"


def check(port: int, timeout: float = PROBE_TIMEOUT_SECONDS) -> ProbeResult:
    """What answers ``GET /v2/`` on the port: a registry, another server, or nothing."""
    url = health_url(port)
    try:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                status, headers, body = response.status, response.headers, response.read(_MAX_PROBE_BODY)
        except urllib.error.HTTPError as error:
            status, headers, body = error.code, error.headers, error.read(_MAX_PROBE_BODY)
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as error:
        reason = getattr(error, "reason", error)
        return ProbeResult(Answer.NONE, f"{url} does not answer: {reason}")
    problem = api_version_problem(status, headers, body)
    if problem is not None:
        return ProbeResult(Answer.OTHER, f"{LOOPBACK}:{port} {problem}")
    if status != 200:  # a registry, but one that wants credentials: not the local one
        return ProbeResult(Answer.OTHER, f"{url} answered HTTP {status}")
    return ProbeResult(Answer.REGISTRY)


def probe(port: int, timeout: float = PROBE_TIMEOUT_SECONDS) -> str | None:
    """None when the registry answers 200, else why not, in words."""
    return check(port, timeout).problem


def wait_until_healthy(
    port: int,
    timeout: float,
    *,
    check_still_starting: Callable[[], None],
    logs_hint: str,
) -> None:
    """Poll until the registry answers.

    ``check_still_starting`` raises when the registry has died, so a crash is reported at once
    instead of after the timeout. Raises :class:`TimedOut` with the last probe result otherwise.
    """
    deadline = time.monotonic() + timeout
    while True:
        problem = probe(port)
        if problem is None:
            return
        check_still_starting()
        if time.monotonic() >= deadline:
            raise TimedOut(
                f"the registry did not become healthy within {timeout:g}s: {problem}", hint=logs_hint
            )
        time.sleep(POLL_INTERVAL_SECONDS)
