"""What the dev loop reports: one immutable ``LoopState`` per workload, sent on every change."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal


class Phase(StrEnum):
    IDLE = "idle"  # watching; the cluster runs the last good change (or nothing changed yet)
    BUILDING = "building"  # validating and packing the folder
    PUSHING = "pushing"  # uploading a new dev version
    RECONCILING = "reconciling"  # pointing the OCIRepository at it and waiting for the Kustomization
    PAUSED = "paused"  # the registry or the cluster is unreachable; retrying, the change is kept
    ERROR = "error"  # the last change failed (bad manifests, or Flux could not apply it); waiting for a save


ProblemKind = Literal["invalid", "unavailable", "failed"]


@dataclass(frozen=True, slots=True)
class LoopProblem:
    """Why the last attempt did not get the change applied."""

    kind: ProblemKind  # invalid: fix the files; unavailable: retried on its own; failed: Flux said no
    message: str
    file: str | None = None  # absolute path of the first bad manifest
    line: int | None = None
    hint: str | None = None

    @property
    def location(self) -> str | None:
        """``file:line`` (or just the file) of an invalid manifest."""
        if self.file is None:
            return None
        return f"{self.file}:{self.line}" if self.line else self.file

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "hint": self.hint,
        }


@dataclass(frozen=True, slots=True)
class CycleResult:
    """The end of one save → build → push → reconcile cycle."""

    version: str  # the dev version the cluster was pointed at
    revision: str | None  # as Flux reports it: <tag>@sha256:<manifest digest>
    pushed: bool  # False when the folder built to the layer already pushed
    ok: bool
    message: str
    save_to_pushed: float | None = None  # seconds from the change being seen to the push done
    save_to_ready: float | None = None  # ... to the Kustomization Ready at this revision
    pruned: tuple[str, ...] = ()  # old dev versions deleted after this push

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "revision": self.revision,
            "pushed": self.pushed,
            "ok": self.ok,
            "message": self.message,
            "save_to_pushed": self.save_to_pushed,
            "save_to_ready": self.save_to_ready,
            "pruned": list(self.pruned),
        }


@dataclass(frozen=True, slots=True)
class LoopState:
    workload: str
    phase: Phase = Phase.IDLE
    message: str = ""  # one line about the phase, for a status bar
    dev_version: str | None = None  # the newest dev version pushed (or found in the registry)
    applied_revision: str | None = None  # the revision the loop last saw applied
    pending: bool = False  # a change waits: for the debounce, the current cycle, or a retry
    last_result: CycleResult | None = None
    last_error: LoopProblem | None = None  # cleared by the next cycle that succeeds
    retry_in: float | None = None  # seconds until the next attempt, when paused
    pushes: int = 0  # dev versions pushed since the loop started
    warning: str | None = None  # e.g. the last prune failed; never stops the loop

    def to_json(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "phase": self.phase.value,
            "message": self.message,
            "dev_version": self.dev_version,
            "applied_revision": self.applied_revision,
            "pending": self.pending,
            "last_result": self.last_result.to_json() if self.last_result else None,
            "last_error": self.last_error.to_json() if self.last_error else None,
            "retry_in": self.retry_in,
            "pushes": self.pushes,
            "warning": self.warning,
        }
