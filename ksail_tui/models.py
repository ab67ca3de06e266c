"""Typed entities that the services share and the CLI and the dashboard display.

They are plain values: services build them from the registry, Docker or the Kubernetes API,
and nothing here performs IO.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from ksail_tui.errors import BadResponse
from ksail_tui.owners import environment_of

OCI_REPOSITORY_KIND = "OCIRepository"
KUSTOMIZATION_KIND = "Kustomization"
RECONCILE_ANNOTATION = "reconcile.fluxcd.io/requestedAt"


class _Value(BaseModel):
    # Built at first use: a command uses two or three of these, and building each is ~1 ms of start-up.
    model_config = ConfigDict(frozen=True, defer_build=True)


class RegistryStatus(StrEnum):
    NOT_PROVISIONED = "NotProvisioned"
    PROVISIONING = "Provisioning"
    RUNNING = "Running"
    ERROR = "Error"


class OCIRegistry(_Value):
    name: str
    endpoint: str  # what the workstation pushes to, e.g. localhost:5050
    cluster_endpoint: str  # what pods pull from, e.g. local-registry:5000
    port: int
    volume: str
    status: RegistryStatus = RegistryStatus.NOT_PROVISIONED
    last_error: str | None = None
    backend: str = "docker"
    image: str | None = None


class OCIArtifact(_Value):
    name: str  # the workload
    version: str
    registry_endpoint: str
    repository: str
    tag: str
    source_path: Path | None = None
    created: datetime | None = None
    digest: str | None = None  # manifest digest, sha256:<hex>
    layer_digest: str | None = None
    size: int | None = None  # manifest + config + layer bytes
    source: str | None = None  # org.opencontainers.image.source
    revision: str | None = None  # org.opencontainers.image.revision

    @property
    def reference(self) -> str:
        return f"{self.registry_endpoint}/{self.repository}:{self.tag}"

    @property
    def flux_revision(self) -> str | None:
        """The revision Flux reports once it stores this artifact: ``<tag>@sha256:<hex>``."""
        return f"{self.tag}@{self.digest}" if self.digest else None


class Condition(_Value):
    type: str
    status: str  # "True" | "False" | "Unknown"
    reason: str = ""
    message: str = ""
    last_transition_time: str | None = None
    observed_generation: int | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Condition:
        return cls(
            type=str(data.get("type", "")),
            status=str(data.get("status", "Unknown")),
            reason=str(data.get("reason") or ""),
            message=str(data.get("message") or ""),
            last_transition_time=data.get("lastTransitionTime"),
            observed_generation=data.get("observedGeneration"),
        )


class ObjectRef(_Value):
    kind: str
    name: str
    namespace: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


_Parsed = TypeVar("_Parsed")


def parse_outside(parse: Callable[[dict[str, Any]], _Parsed], obj: dict[str, Any]) -> _Parsed:
    """``parse(obj)`` for an object the API server sent: a field of the wrong type (a string
    generation, a list where a mapping belongs) is the server's fault, reported as such."""
    try:
        return parse(obj)
    except (TypeError, ValueError, AttributeError, KeyError) as error:  # ValidationError included
        metadata = obj.get("metadata") if isinstance(obj, dict) else None
        name = metadata.get("name") if isinstance(metadata, dict) else None
        raise BadResponse(
            f"the API server sent a {obj.get('kind') if isinstance(obj, dict) else 'object'} "
            f"{name!r} that is not well-formed: {type(error).__name__}: {str(error)[:200]}"
        ) from None


class _FluxObject(_Value):
    kind: str
    name: str
    namespace: str
    generation: int = 0
    observed_generation: int | None = None
    suspended: bool = False
    conditions: tuple[Condition, ...] = ()
    requested_at: str | None = None
    last_handled_reconcile_at: str | None = None
    deletion_timestamp: str | None = None
    resource_version: str | None = None
    creation_timestamp: str | None = None
    # The preview Environment whose operator made this object (its labels), "" for a workload's.
    environment: str = ""

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef(kind=self.kind, name=self.name, namespace=self.namespace)

    @staticmethod
    def _common(obj: dict[str, Any]) -> dict[str, Any]:
        metadata = obj.get("metadata") or {}
        status = obj.get("status") or {}
        spec = obj.get("spec") or {}
        return {
            "name": metadata.get("name", ""),
            "namespace": metadata.get("namespace", ""),
            "generation": int(metadata.get("generation") or 0),
            "observed_generation": status.get("observedGeneration"),
            "suspended": bool(spec.get("suspend", False)),
            "conditions": tuple(Condition.from_dict(c) for c in status.get("conditions") or ()),
            "requested_at": (metadata.get("annotations") or {}).get(RECONCILE_ANNOTATION),
            "last_handled_reconcile_at": status.get("lastHandledReconcileAt"),
            "deletion_timestamp": metadata.get("deletionTimestamp"),
            "resource_version": metadata.get("resourceVersion"),
            "creation_timestamp": metadata.get("creationTimestamp"),
            "environment": environment_of(metadata.get("labels") or {}),
        }


class FluxOCIRepository(_FluxObject):
    kind: str = OCI_REPOSITORY_KIND
    url: str = ""
    ref_tag: str | None = None
    ref_semver: str | None = None
    interval: str = ""
    insecure: bool = False
    artifact_revision: str | None = None
    artifact_metadata: dict[str, str] = {}

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> FluxOCIRepository:
        return parse_outside(cls._from_object, obj)

    @classmethod
    def _from_object(cls, obj: dict[str, Any]) -> FluxOCIRepository:
        spec = obj.get("spec") or {}
        ref = spec.get("ref") or {}
        artifact = (obj.get("status") or {}).get("artifact") or {}
        return cls(
            **cls._common(obj),
            url=spec.get("url", ""),
            ref_tag=ref.get("tag"),
            ref_semver=ref.get("semver"),
            interval=spec.get("interval", ""),
            insecure=bool(spec.get("insecure", False)),
            artifact_revision=artifact.get("revision"),
            artifact_metadata=dict(artifact.get("metadata") or {}),
        )


class FluxKustomization(_FluxObject):
    kind: str = KUSTOMIZATION_KIND
    source_kind: str = OCI_REPOSITORY_KIND
    source_name: str = ""
    source_namespace: str = ""
    path: str = ""
    prune: bool = False
    interval: str = ""
    target_namespace: str | None = None
    last_applied_revision: str | None = None
    last_attempted_revision: str | None = None
    inventory: tuple[str, ...] = ()

    @property
    def source_ref(self) -> ObjectRef:
        return ObjectRef(kind=self.source_kind, name=self.source_name, namespace=self.source_namespace)

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> FluxKustomization:
        return parse_outside(cls._from_object, obj)

    @classmethod
    def _from_object(cls, obj: dict[str, Any]) -> FluxKustomization:
        common = cls._common(obj)
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        source = spec.get("sourceRef") or {}
        entries = ((status.get("inventory") or {}).get("entries")) or ()
        return cls(
            **common,
            source_kind=source.get("kind", OCI_REPOSITORY_KIND),
            source_name=source.get("name", ""),
            source_namespace=source.get("namespace") or common["namespace"],
            path=spec.get("path", ""),
            prune=bool(spec.get("prune", False)),
            interval=spec.get("interval", ""),
            target_namespace=spec.get("targetNamespace"),
            last_applied_revision=status.get("lastAppliedRevision"),
            last_attempted_revision=status.get("lastAttemptedRevision"),
            inventory=tuple(str(entry.get("id", "")) for entry in entries),
        )


class ReconcileMode(StrEnum):
    AUTOMATIC = "Automatic"
    MANUAL = "Manual"


class ReconciliationRequest(_Value):
    targets: tuple[ObjectRef, ...]
    mode: ReconcileMode = ReconcileMode.MANUAL
    requested_at: datetime
    token: str  # the value written to reconcile.fluxcd.io/requestedAt


class FluxResource(_FluxObject):
    """Any other Flux kind (GitRepository, HelmRepository, HelmChart, Bucket, HelmRelease, the
    image-automation kinds): what the table, the status and reconcile need of it."""

    artifact_revision: str | None = None  # a source's stored artifact
    applied_revision: str | None = None  # what a HelmRelease installed (its chart version)
    source: ObjectRef | None = None  # what it is made from (a HelmRelease's HelmChart or chartRef)

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> FluxResource:
        return parse_outside(cls._from_object, obj)

    @classmethod
    def _from_object(cls, obj: dict[str, Any]) -> FluxResource:
        common = cls._common(obj)
        status = obj.get("status") or {}
        history = status.get("history") or ()
        applied = status.get("lastAppliedRevision") or (
            history[0].get("chartVersion") if history and isinstance(history[0], dict) else None
        )
        return cls(
            **common,
            kind=str(obj.get("kind", "")),
            artifact_revision=(status.get("artifact") or {}).get("revision"),
            applied_revision=applied,
            source=_source_of(obj, common["namespace"]),
        )


def _source_of(obj: dict[str, Any], namespace: str) -> ObjectRef | None:
    """The object a Flux object reconciles from, as ``flux reconcile --with-source`` finds it."""
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    ref = spec.get("sourceRef") or spec.get("chartRef")
    if not ref and obj.get("kind") == "HelmRelease":
        chart = status.get("helmChart")  # "<namespace>/<name>" of the HelmChart it made
        if isinstance(chart, str) and "/" in chart:
            chart_namespace, _, chart_name = chart.partition("/")
            return ObjectRef(kind="HelmChart", name=chart_name, namespace=chart_namespace)
        ref = ((spec.get("chart") or {}).get("spec") or {}).get("sourceRef")
    if not isinstance(ref, dict) or not ref.get("kind") or not ref.get("name"):
        return None
    return ObjectRef(
        kind=str(ref["kind"]), name=str(ref["name"]), namespace=str(ref.get("namespace") or namespace)
    )
