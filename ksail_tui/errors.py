"""Typed errors shared by the CLI and the dashboard.

Every error carries the exit code the CLI uses and a hint that says what to do next,
so callers never need to parse messages.
"""

from __future__ import annotations


class KsailError(Exception):
    """Base of every error the product reports to a user."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None, remedy_action: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        # The dashboard action (its binding id) that fixes this: the dashboard names its key instead
        # of the hint's command-line flags.
        self.remedy_action = remedy_action

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class OperationFailed(KsailError):
    """The operation or the reconciliation failed (exit 1)."""

    exit_code = 1


class InvalidInput(KsailError):
    """Bad input or usage: config, manifests, versions, names (exit 2)."""

    exit_code = 2


class ConfigError(InvalidInput):
    """ksail.yaml is missing or invalid; names the file, the field path and the line."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        field: str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        location = path or "<config>"
        if line is not None:
            location += f":{line}"
        prefix = f"{location}: " + (f"{field}: " if field else "")
        super().__init__(prefix + message, hint=hint)
        self.path = path
        self.field = field
        self.line = line


class TimedOut(KsailError):
    """Waited past the deadline (exit 3)."""

    exit_code = 3


class Unavailable(KsailError):
    """The cluster, the registry or Flux cannot be reached or is missing (exit 4)."""

    exit_code = 4


class BadResponse(Unavailable):
    """What answered is not a working server of its kind: not JSON, or not the expected shape
    (exit 4: the cluster or registry at that address is unusable, whatever the input)."""
