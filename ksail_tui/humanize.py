"""Digests, revisions and times as people read them; shared by the CLI and the dashboard."""

from __future__ import annotations

from datetime import datetime

AGE_UNITS = (("d", 86400), ("h", 3600), ("m", 60))


def short_digest(digest: str | None, length: int = 12, *, missing: str = "-") -> str:
    """``sha256:0123456789ab``: the algorithm and the first ``length`` hex digits."""
    if not digest:
        return missing
    algorithm, _, hex_part = digest.partition(":")
    return f"{algorithm}:{hex_part[:length]}" if hex_part else digest[:length]


def short_revision(revision: str | None, length: int = 12) -> str:
    """``0.1.0@sha256:0123456789ab`` instead of the 64-hex form."""
    if not revision:
        return "-"
    tag, at, digest = revision.rpartition("@")
    if not at:
        return short_digest(revision, length)
    return f"{tag}@{short_digest(digest, length)}"


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 time (``Z`` or an offset), or None when there is none or it is not one."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def age(since: datetime | str | None, now: datetime) -> str:
    """Kubernetes-style age: 45s, 12m, 3h, 5d."""
    moment = parse_time(since) if isinstance(since, str) else since
    if moment is None:
        return "-"
    seconds = max(0, int((now - moment).total_seconds()))
    for unit, size in AGE_UNITS:
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """``1 file``, ``2 files``: the count with the noun in the form it takes."""
    return f"{count} {noun if count == 1 else plural_noun or noun + 's'}"
