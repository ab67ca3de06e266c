"""One deadline for a whole command: every request it makes gets at most what is left of it."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Deadline:
    """A point on the monotonic clock and the budget it was made from (for messages)."""

    expires_at: float
    seconds: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds, seconds)

    def remaining(self) -> float:
        return self.expires_at - time.monotonic()

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0

    def cap(self, seconds: float) -> float:
        """``seconds``, or less when the deadline comes first (never below zero)."""
        return max(0.0, min(seconds, self.remaining()))

    def earliest(self, other: Deadline | None) -> Deadline:
        return self if other is None or self.expires_at <= other.expires_at else other
