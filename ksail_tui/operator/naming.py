"""Names and labels of what an Environment owns."""

from __future__ import annotations

import hashlib
import re

# Defined where the models read them back (an Environment's objects in the Flux table).
from ksail_tui.owners import ENVIRONMENT_LABEL, MANAGED_BY, MANAGED_BY_LABEL  # noqa: F401 (re-exported)

GROUP = "catalyst.catalyst.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

# Catalyst's identity labels: an Environment without them cannot be placed.
TEAM_LABEL = "catalyst.dev/team"
PROJECT_LABEL = "catalyst.dev/project"
REQUIRED_LABELS = (TEAM_LABEL, PROJECT_LABEL, ENVIRONMENT_LABEL)

# The Environment's uid on everything it owns: the proof that a namespace is ours to delete.
OWNER_UID_LABEL = "catalyst.dev/environment-uid"
# namespace/name of the owning Environment, to find it from a child's watch event.
OWNER_ANNOTATION = "catalyst.dev/environment-ref"
KEEP_ANNOTATION = "catalyst.dev/keep"  # "true": spec.ttl does not expire this Environment
FINALIZER = "catalyst.dev/environment-cleanup"
# On the OCIRepository: the commits and artifact it was pinned for (a new commit unpins it).
PIN_ANNOTATION = "catalyst.dev/pinned-for"

MAX_NAME_LENGTH = 63
_HASHED_PREFIX_LENGTH = 57  # + "-" + 5 hex = 63
_NOT_ALLOWED = re.compile(r"[^a-z0-9-]+")


def sanitize(text: str) -> str:
    """A fragment of a DNS label: lower case, runs of anything else turned into one dash."""
    return re.sub("-{2,}", "-", _NOT_ALLOWED.sub("-", text.lower())).strip("-")


def bounded(name: str) -> str:
    """``name`` if it fits a DNS label; longer, its first 57 characters, a dash and 5 hex digits
    of the SHA-256 of the whole name, as Catalyst shortens names."""
    if len(name) <= MAX_NAME_LENGTH:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:5]
    return f"{name[:_HASHED_PREFIX_LENGTH]}-{digest}"


def namespace_name(team: str, project: str, environment: str) -> str:
    """``<team>-<project>-<env>``, sanitised and :func:`bounded`."""
    return bounded("-".join(part for part in map(sanitize, (team, project, environment)) if part))
