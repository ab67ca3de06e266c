"""Is the registry answering? ``GET /v2/`` must return 200 (the distribution API's version check)."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable

from ksail_tui.errors import TimedOut
from ksail_tui.registry.ports import LOOPBACK

PROBE_TIMEOUT_SECONDS = 2.0
POLL_INTERVAL_SECONDS = 0.25


def health_url(port: int) -> str:
    # 127.0.0.1 rather than localhost: the registry never listens on ::1, and trying it first costs time.
    return f"http://{LOOPBACK}:{port}/v2/"


def probe(port: int, timeout: float = PROBE_TIMEOUT_SECONDS) -> str | None:
    """None when the registry answers 200, else why not, in words."""
    try:
        with urllib.request.urlopen(health_url(port), timeout=timeout) as response:
            if response.status == 200:
                return None
            return f"{health_url(port)} answered HTTP {response.status}"
    except urllib.error.HTTPError as error:
        return f"{health_url(port)} answered HTTP {error.code}"
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return f"{health_url(port)} does not answer: {reason}"


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
