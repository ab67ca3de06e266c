"""The ResourceQuota an Environment gets and the LimitRange that makes it livable.

Precedence, per entry of ``spec.hard``: the Environment's ``spec.quota`` over the Project's
``spec.resources.defaultQuota`` over :data:`DEFAULT_QUOTA`. ``cpu`` and ``memory`` are
Kubernetes' own aliases of ``requests.cpu`` and ``requests.memory`` and are stored as those,
so an alias and its long name never both land in the quota.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

DEFAULT_QUOTA: Mapping[str, str] = {
    "requests.cpu": "2",
    "limits.cpu": "4",
    "requests.memory": "4Gi",
    "limits.memory": "8Gi",
    "pods": "20",
}
_ALIASES = {"cpu": "requests.cpu", "memory": "requests.memory"}

# What a container without resources gets, so a compute quota does not reject its Pod.
DEFAULT_REQUESTS: Mapping[str, str] = {"cpu": "100m", "memory": "128Mi"}
DEFAULT_LIMITS: Mapping[str, str] = {"cpu": "500m", "memory": "512Mi"}


class QuotaError(ValueError):
    """A quota entry is not a Kubernetes quantity; the message names the field."""


def parse_quantity(value: Any) -> Decimal:
    """A Kubernetes quantity ("500m", "4Gi", 20) as a number; ValueError when it is not one."""
    from kubernetes.utils.quantity import parse_quantity as parse

    return Decimal(parse(value))


def _layer(source: Mapping[str, Any] | None, field: str) -> dict[str, str]:
    entries: dict[str, str] = {}
    for key, value in (source or {}).items():
        text = str(value)
        try:
            parse_quantity(text)
        except ValueError:
            raise QuotaError(f"{field}.{key}: {text!r} is not a Kubernetes quantity") from None
        entries[_ALIASES.get(key, key)] = text
    return entries


def effective_quota(
    environment_quota: Mapping[str, Any] | None, project_quota: Mapping[str, Any] | None
) -> dict[str, str]:
    """``spec.hard`` of the Environment's ResourceQuota; raises QuotaError naming a bad entry."""
    return (
        dict(DEFAULT_QUOTA)
        | _layer(project_quota, "Project spec.resources.defaultQuota")
        | _layer(environment_quota, "spec.quota")
    )
