"""Which Environment made an object: the labels the Environment operator puts on everything it
owns (:mod:`ksail_tui.operator.naming` uses these), read back by :mod:`ksail_tui.models` so that a
front end can tell an Environment's Flux objects from a workload's. No imports: the emulator's
controllers parse Flux objects too."""

from __future__ import annotations

from collections.abc import Mapping

ENVIRONMENT_LABEL = "catalyst.dev/environment"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "ksail-tui-operator"


def environment_of(labels: Mapping[str, object]) -> str:
    """The Environment an object belongs to when the Environment operator made it, else ""."""
    if labels.get(MANAGED_BY_LABEL) != MANAGED_BY:
        return ""
    return str(labels.get(ENVIRONMENT_LABEL) or "")
