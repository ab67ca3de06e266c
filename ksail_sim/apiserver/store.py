"""In-memory object store of the Kubernetes API emulator.

It owns the resource types (built-in ones plus those registered by CustomResourceDefinitions),
the objects, the global resourceVersion counter, a bounded history of changes for watch
resumption, and the open watches. One re-entrant lock guards all of it: writes are rare and
small, and a single lock makes "commit, then fan out to every watcher" atomic, so a watch that
resumes from a resourceVersion can never miss or duplicate a change.

Objects are plain JSON-like dicts. Stored objects are never mutated after a commit (every
write stores a new dict), so watchers may serialize them outside the lock, and a list encodes
each stored object once, not once per list (as the real API server's watch cache keeps its
objects decoded and ready to serve).
"""

from __future__ import annotations

import builtins
import copy
import enum
import json
import queue
import re
import secrets
import threading
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ksail_sim.apiserver.patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from ksail_sim.apiserver.query import Selector, SelectorError, compile_jsonpath

Obj = dict[str, Any]

# What a new cluster has; the product writes into kube-public (the local-registry-hosting ConfigMap).
INITIAL_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
STATUS_VERBS = ("get", "patch", "update")


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    type: str
    json_path: str
    description: str = ""
    format: str = ""
    priority: int = 0


AGE = PrinterColumn(
    "Age",
    "date",
    ".metadata.creationTimestamp",
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
)


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status_subresource: bool = False
    # Nodes are registered by the kubelet together with their status, so create keeps it.
    keep_status_on_create: bool = False
    # Columns after NAME in `kubectl get`; CRDs without additionalPrinterColumns get AGE only.
    printer_columns: tuple[PrinterColumn, ...] = (AGE,)
    custom: bool = False
    list_kind_name: str = ""

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    api_version = group_version

    @property
    def list_kind(self) -> str:
        return self.list_kind_name or f"{self.kind}List"

    @property
    def qualified(self) -> str:
        """How error messages name it: ``configmaps``, ``ocirepositories.source.toolkit.fluxcd.io``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def storage_key(self) -> tuple[str, str]:
        # Every served version of a CRD shares one storage, as on a real server.
        return (self.group, self.plural)


def _column(name: str, json_path: str, type_: str = "string", priority: int = 0) -> PrinterColumn:
    return PrinterColumn(name, type_, json_path, priority=priority)


_READY = '.status.conditions[?(@.type=="Ready")].status'

NAMESPACES = ResourceType(
    "", "v1", "namespaces", "namespace", "Namespace", False, ("ns",),
    printer_columns=(_column("Status", ".status.phase"), AGE),
)  # fmt: skip
CRDS = ResourceType(
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", "customresourcedefinition",
    "CustomResourceDefinition", False, ("crd", "crds"), categories=("api-extensions",),
    status_subresource=True,
)  # fmt: skip
DEPLOYMENTS = ResourceType(
    "apps", "v1", "deployments", "deployment", "Deployment", True, ("deploy",), ("all",),
    status_subresource=True,
    printer_columns=(
        _column("Ready", ".status.readyReplicas", "integer"),
        _column("Up-to-date", ".status.updatedReplicas", "integer"),
        _column("Available", ".status.availableReplicas", "integer"),
        AGE,
    ),
)  # fmt: skip

BUILTIN_TYPES: tuple[ResourceType, ...] = (
    NAMESPACES,
    ResourceType(
        "", "v1", "nodes", "node", "Node", False, ("no",),
        status_subresource=True, keep_status_on_create=True,
        printer_columns=(
            _column("Ready", _READY), AGE, _column("Version", ".status.nodeInfo.kubeletVersion"),
        ),
    ),
    ResourceType(
        "", "v1", "pods", "pod", "Pod", True, ("po",), ("all",),
        status_subresource=True, keep_status_on_create=True,
        printer_columns=(
            _column("Status", ".status.phase"), AGE, _column("Node", ".spec.nodeName", priority=1),
        ),
    ),
    ResourceType(
        "", "v1", "services", "service", "Service", True, ("svc",), ("all",),
        printer_columns=(_column("Type", ".spec.type"), _column("Cluster-IP", ".spec.clusterIP"), AGE),
    ),
    ResourceType("", "v1", "configmaps", "configmap", "ConfigMap", True, ("cm",)),
    ResourceType(
        "", "v1", "secrets", "secret", "Secret", True, printer_columns=(_column("Type", ".type"), AGE)
    ),
    ResourceType(
        "", "v1", "events", "event", "Event", True, ("ev",),
        printer_columns=(
            _column("Type", ".type"), _column("Reason", ".reason"),
            _column("Object", ".involvedObject.name"), _column("Message", ".message"), AGE,
        ),
    ),
    ResourceType("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", True, ("sa",)),
    # Stored, not enforced: the emulator has no admission (see the module docstring of apiserver).
    ResourceType("", "v1", "resourcequotas", "resourcequota", "ResourceQuota", True, ("quota",)),
    ResourceType("coordination.k8s.io", "v1", "leases", "lease", "Lease", True),
    ResourceType("", "v1", "limitranges", "limitrange", "LimitRange", True, ("limits",)),
    ResourceType(
        "networking.k8s.io", "v1", "networkpolicies", "networkpolicy", "NetworkPolicy", True, ("netpol",)
    ),
    DEPLOYMENTS,
    ResourceType(
        "batch", "v1", "jobs", "job", "Job", True, (), ("all",), status_subresource=True,
        printer_columns=(_column("Completions", ".status.succeeded", "integer"), AGE),
    ),
    ResourceType(
        "networking.k8s.io", "v1", "ingresses", "ingress", "Ingress", True, ("ing",),
        status_subresource=True,
        printer_columns=(_column("Class", ".spec.ingressClassName"), AGE),
    ),
    CRDS,
)  # fmt: skip


class StatusError(Exception):
    """An error the API answers with a ``Status`` object."""

    def __init__(self, code: int, reason: str, message: str, details: Obj | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> Obj:
        status: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            status["details"] = self.details
        return status


def _details(rt: ResourceType, name: str) -> Obj:
    details: Obj = {"name": name, "kind": rt.plural}
    if rt.group:
        details["group"] = rt.group
    return details


def not_found(rt: ResourceType, name: str) -> StatusError:
    return StatusError(404, "NotFound", f'{rt.qualified} "{name}" not found', _details(rt, name))


def bad_request(message: str) -> StatusError:
    return StatusError(400, "BadRequest", message)


def invalid(rt: ResourceType, name: str, field: str, detail: str) -> StatusError:
    details = _details(rt, name) | {"kind": rt.kind, "causes": [{"field": field, "message": detail}]}
    return StatusError(422, "Invalid", f'{rt.kind} "{name}" is invalid: {field}: {detail}', details)


class ChangeType(enum.StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"


@dataclass(frozen=True)
class Change:
    """One committed write: the unit of the history and of watch fan-out."""

    rv: int
    type: ChangeType
    key: tuple[str, str]
    obj: Obj
    old: Obj | None


class Signal(enum.Enum):
    END = "end"  # finish the stream cleanly
    DROP = "drop"  # cut the connection without finishing the stream
    STALL = "stall"  # keep the connection open but send nothing more until the request times out


WatchItem = tuple[str, Obj] | Signal


class Subscription:
    """The server side of one watch: a queue the store fills under its lock."""

    def __init__(self, rt: ResourceType, namespace: str, selector: Selector) -> None:
        self.rt = rt
        self.namespace = namespace
        self.selector = selector
        self._queue: queue.SimpleQueue[WatchItem] = queue.SimpleQueue()

    def _visible(self, obj: Obj) -> bool:
        if self.namespace and obj["metadata"].get("namespace") != self.namespace:
            return False
        return self.selector.matches(obj)

    def offer(self, change: Change) -> None:
        if change.key != self.rt.storage_key:
            return
        was_visible = change.old is not None and self._visible(change.old)
        if change.type is ChangeType.DELETED:
            if was_visible:
                self._queue.put(("DELETED", change.obj))
            return
        # Like the watch cache: an object that stops (starts) matching the selector is
        # reported as DELETED (ADDED) to this watcher.
        visible = self._visible(change.obj)
        if visible and was_visible:
            self._queue.put(("MODIFIED", change.obj))
        elif visible:
            self._queue.put(("ADDED", change.obj))
        elif was_visible:
            self._queue.put(("DELETED", change.obj))

    def put(self, item: WatchItem) -> None:
        self._queue.put(item)

    def get(self, timeout: float | None) -> WatchItem | None:
        """The next event or signal; None when ``timeout`` passes first."""
        try:
            return self._queue.get(timeout=None if timeout is None else max(0.0, timeout))
        except queue.Empty:
            return None

    def empty(self) -> bool:
        return self._queue.empty()


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_GENERATED_SUFFIX = "bcdfghjklmnpqrstvwxz2456789"  # the apiserver's alphabet: no vowels, no lookalikes


def _spec_part(obj: Obj) -> Obj:
    """What counts as a spec change for metadata.generation: all but metadata and status."""
    return {
        key: value for key, value in obj.items() if key not in ("metadata", "status", "apiVersion", "kind")
    }


def _without_volatile(obj: Obj) -> Obj:
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k not in ("resourceVersion", "managedFields")}
    return obj | {"metadata": meta}


def crd_types(crd: Obj) -> tuple[ResourceType, ...]:
    """The resource types a CustomResourceDefinition serves; raises 422 when it is unusable."""
    name = crd.get("metadata", {}).get("name", "")
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group, plural, kind = spec.get("group"), names.get("plural"), names.get("kind")

    def fail(field: str, detail: str) -> StatusError:
        return invalid(CRDS, name, field, detail)

    if not group or not plural or not kind:
        raise fail("spec", "spec.group, spec.names.plural and spec.names.kind are required")
    if name != f"{plural}.{group}":
        raise fail("metadata.name", f'must be spec.names.plural+"."+spec.group: "{plural}.{group}"')
    versions = [version for version in spec.get("versions") or [] if version.get("served", True)]
    if not versions:
        raise fail("spec.versions", "must have at least one served version")
    types = []
    for version in versions:
        columns = []
        for column in version.get("additionalPrinterColumns") or []:
            try:
                compile_jsonpath(column["jsonPath"])
            except (KeyError, SelectorError) as error:
                raise fail("spec.versions.additionalPrinterColumns", str(error)) from None
            columns.append(
                PrinterColumn(
                    column.get("name", ""),
                    column.get("type", "string"),
                    column["jsonPath"],
                    column.get("description", ""),
                    column.get("format", ""),
                    int(column.get("priority", 0)),
                )
            )
        types.append(
            ResourceType(
                group,
                version["name"],
                plural,
                names.get("singular") or kind.lower(),
                kind,
                spec.get("scope", "Namespaced") == "Namespaced",
                tuple(names.get("shortNames") or ()),
                tuple(names.get("categories") or ()),
                status_subresource="status" in (version.get("subresources") or {}),
                printer_columns=tuple(columns) or (AGE,),
                custom=True,
                list_kind_name=names.get("listKind") or "",
            )
        )
    return tuple(types)


def crd_schemas(crd: Obj) -> dict[str, Obj]:
    """Each served version's openAPIV3Schema, by version name."""
    return {
        str(version.get("name")): (version.get("schema") or {}).get("openAPIV3Schema") or {}
        for version in (crd.get("spec") or {}).get("versions") or []
    }


def apply_schema_defaults(value: Any, schema: Obj) -> None:
    """Structural defaulting as the API server does it: a missing property with a ``default`` gets
    a copy of it, top-down, so defaults inside a defaulted object apply too."""
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for key, sub in properties.items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                apply_schema_defaults(value[key], sub)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, item in value.items():
                if key not in properties:
                    apply_schema_defaults(item, extra)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            apply_schema_defaults(item, schema["items"])


def _crd_status(crd: Obj, previous: Obj | None) -> Obj:
    """A CRD is accepted and established the moment it is written: no controller to wait for."""
    spec = crd["spec"]
    names = dict(spec["names"])
    names.setdefault("singular", names["kind"].lower())
    names.setdefault("listKind", f"{names['kind']}List")
    old_conditions = {
        c.get("type"): c for c in ((previous or {}).get("status") or {}).get("conditions") or []
    }
    now = now_rfc3339()

    def condition(type_: str, reason: str, message: str) -> Obj:
        since = old_conditions.get(type_, {}).get("lastTransitionTime", now)
        return {
            "type": type_,
            "status": "True",
            "lastTransitionTime": since,
            "reason": reason,
            "message": message,
        }

    stored = [v["name"] for v in spec.get("versions") or [] if v.get("storage")]
    old_stored = ((previous or {}).get("status") or {}).get("storedVersions") or []
    return {
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "acceptedNames": names,
        "storedVersions": list(dict.fromkeys([*old_stored, *stored])),
    }


class Store:
    """Objects, types, resourceVersions, history and watches of one emulated cluster."""

    def __init__(self, history_size: int = 1000) -> None:
        self._lock = threading.RLock()
        self._watchers_changed = threading.Condition(self._lock)
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        self._schemas: dict[tuple[str, str, str], Obj] = {}  # of custom resources, for defaults
        self._owners_seen = False  # no object had ownerReferences yet: deletes need no GC scan
        self._objects: defaultdict[tuple[str, str], dict[tuple[str, str], Obj]] = defaultdict(dict)
        # The JSON of stored objects as lists serve them, with the object and the served version
        # it was made from: a stored object never changes, so an entry is good while that same
        # object is stored and the list asks for that version.
        self._encoded: dict[tuple[str, str, str, str], tuple[Obj, str, bytes]] = {}
        self._rv = 0
        self._history: deque[Change] = deque()
        self._history_size = max(1, history_size)
        self._compacted_rv = 0  # changes up to this resourceVersion are forgotten
        self._watchers: set[Subscription] = set()
        self._listeners: list[Callable[[Change], None]] = []
        for rt in BUILTIN_TYPES:
            self._types[(rt.group, rt.version, rt.plural)] = rt
        for namespace in INITIAL_NAMESPACES:
            self.create(NAMESPACES, "", {"metadata": {"name": namespace}})

    # -- types -----------------------------------------------------------------------------

    def types(self) -> list[ResourceType]:
        with self._lock:
            return list(self._types.values())

    def find_type(self, group: str, version: str, plural: str) -> ResourceType | None:
        with self._lock:
            return self._types.get((group, version, plural))

    def type_for(self, api_version: str, kind: str) -> ResourceType | None:
        with self._lock:
            return next(
                (rt for rt in self._types.values() if rt.api_version == api_version and rt.kind == kind),
                None,
            )

    def add_listener(self, listener: Callable[[Change], None]) -> None:
        """Call ``listener`` for every commit, under the store lock: it must not block."""
        with self._lock:
            self._listeners.append(listener)

    @property
    def resource_version(self) -> str:
        with self._lock:
            return str(self._rv)

    # -- reads -----------------------------------------------------------------------------

    @staticmethod
    def _out(rt: ResourceType, obj: Obj) -> Obj:
        return copy.deepcopy(obj) | {"apiVersion": rt.api_version}

    def _stored(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        obj = self._objects[rt.storage_key].get((namespace if rt.namespaced else "", name))
        if obj is None:
            raise not_found(rt, name)
        return obj

    def get(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        with self._lock:
            return self._out(rt, self._stored(rt, namespace, name))

    def list(self, rt: ResourceType, namespace: str, selector: Selector) -> tuple[list[Obj], str]:
        """Matching objects sorted by namespace and name, and the list's resourceVersion."""
        with self._lock:
            items = [
                self._out(rt, obj)
                for (ns, _), obj in sorted(self._objects[rt.storage_key].items())
                if (not namespace or ns == namespace) and selector.matches(obj)
            ]
            return items, str(self._rv)

    def list_encoded(
        self, rt: ResourceType, namespace: str, selector: Selector
    ) -> tuple[builtins.list[bytes], str]:
        """``list``, with each object as the JSON a list response carries."""
        with self._lock:
            items = []
            for (ns, name), obj in sorted(self._objects[rt.storage_key].items()):
                if (namespace and ns != namespace) or not selector.matches(obj):
                    continue
                key = (*rt.storage_key, ns, name)
                cached = self._encoded.get(key)
                if cached is None or cached[0] is not obj or cached[1] != rt.api_version:
                    cached = self._encode(rt, key, obj)
                items.append(cached[2])
            return items, str(self._rv)

    def _encode(self, rt: ResourceType, key: tuple[str, str, str, str], obj: Obj) -> tuple[Obj, str, bytes]:
        out = obj | {"apiVersion": rt.api_version}
        encoded = self._encoded[key] = (obj, rt.api_version, json.dumps(out, separators=(",", ":")).encode())
        return encoded

    # -- writes ----------------------------------------------------------------------------

    def create(self, rt: ResourceType, namespace: str, body: Obj, *, dry_run: bool = False) -> Obj:
        with self._lock:
            return self._create(rt, namespace, copy.deepcopy(body), dry_run)

    def replace(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Obj,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        with self._lock:
            current = self._stored(rt, namespace, name)
            return self._update(rt, current, copy.deepcopy(body), subresource, dry_run)

    def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        patch_type: str,
        patch: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        """Apply a ``merge``, ``strategic``, ``json`` or ``apply`` patch; True when it created."""
        with self._lock:
            try:
                current = self._stored(rt, namespace, name)
            except StatusError:
                if patch_type != "apply" or subresource:
                    raise
                # Server-side apply of a missing object creates it.
                if not isinstance(patch, dict):
                    raise bad_request("an apply patch must be an object") from None
                body = copy.deepcopy(patch)
                if body.setdefault("metadata", {}).setdefault("name", name) != name:
                    raise bad_request("the name in the apply configuration does not match the URL") from None
                return self._create(rt, namespace, body, dry_run), True
            try:
                if patch_type == "json":
                    new = json_patch(copy.deepcopy(current), patch)
                elif not isinstance(patch, dict):
                    raise PatchError(f"a {patch_type} patch must be an object")
                elif patch_type == "strategic":
                    new = strategic_merge_patch(copy.deepcopy(current), patch)
                else:
                    if patch_type == "apply" and patch.get("metadata", {}).get("name", name) != name:
                        raise bad_request("the name in the apply configuration does not match the URL")
                    new = merge_patch(copy.deepcopy(current), patch)
            except PatchError as error:
                raise StatusError(422, "Invalid", f"the server rejected our request: {error}") from None
            if not isinstance(new, dict):
                raise StatusError(422, "Invalid", "the patch did not produce an object")
            return self._update(rt, current, new, subresource, dry_run), False

    def mutate(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        change: Callable[[Obj], Obj | None],
        *,
        subresource: str | None = None,
    ) -> Obj | None:
        """Read-modify-write without a conflict window: ``change`` gets a copy, returns the new
        object or None to leave it alone. None when the object does not exist."""
        with self._lock:
            current = self._objects[rt.storage_key].get((namespace if rt.namespaced else "", name))
            if current is None:
                return None
            new = change(copy.deepcopy(current))
            return None if new is None else self._update(rt, current, new, subresource, False)

    def delete(
        self, rt: ResourceType, namespace: str, name: str, *, dry_run: bool = False
    ) -> tuple[Obj, bool]:
        """Delete, or with finalizers mark for deletion; True when the object is gone."""
        with self._lock:
            return self._delete(rt, self._stored(rt, namespace, name), dry_run)

    def delete_collection(
        self, rt: ResourceType, namespace: str, selector: Selector, *, dry_run: bool = False
    ) -> builtins.list[Obj]:  # builtins: inside the class, "list" is Store.list
        with self._lock:
            victims = [
                obj
                for (ns, _), obj in sorted(self._objects[rt.storage_key].items())
                if (not namespace or ns == namespace) and selector.matches(obj)
            ]
            return [self._delete(rt, obj, dry_run)[0] for obj in victims]

    # -- write internals (lock held) -------------------------------------------------------

    def _create(self, rt: ResourceType, namespace: str, obj: Obj, dry_run: bool) -> Obj:
        if not isinstance(obj.get("metadata", {}), dict):
            raise bad_request("metadata must be an object")
        meta = obj.setdefault("metadata", {})
        if rt.namespaced:
            if meta.get("namespace", namespace) != namespace:
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = namespace
            if namespace and ("", namespace) not in self._objects[NAMESPACES.storage_key]:
                raise not_found(NAMESPACES, namespace)
        else:
            meta.pop("namespace", None)
        storage = self._objects[rt.storage_key]
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise invalid(rt, "", "metadata.name", "Required value: name or generateName is required")
            while True:
                candidate = meta["generateName"] + "".join(
                    secrets.choice(_GENERATED_SUFFIX) for _ in range(5)
                )
                if (meta.get("namespace", ""), candidate) not in storage:
                    meta["name"] = candidate
                    break
        name = meta["name"]
        if len(name) > 253 or not _NAME.match(name):
            raise invalid(
                rt, name, "metadata.name",
                f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower case '
                "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            )  # fmt: skip
        if (meta.get("namespace", ""), name) in storage:
            raise StatusError(
                409, "AlreadyExists", f'{rt.qualified} "{name}" already exists', _details(rt, name)
            )
        for volatile in (
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "managedFields",
        ):
            meta.pop(volatile, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        meta["generation"] = 1
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        if rt.status_subresource and not rt.keep_status_on_create:
            obj.pop("status", None)
        self._apply_defaults(rt, obj, None)
        return self._commit(rt, obj, ChangeType.ADDED, None, dry_run)

    def _update(
        self, rt: ResourceType, current: Obj, new: Obj, subresource: str | None, dry_run: bool
    ) -> Obj:
        meta = new.get("metadata")
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        old_meta = current["metadata"]
        name = old_meta["name"]
        if meta.get("name", name) != name:
            raise bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
            )
        if meta.get("resourceVersion") not in (None, "", old_meta["resourceVersion"]):
            raise StatusError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {rt.qualified} "{name}": the object has been modified; '
                "please apply your changes to the latest version and try again",
                _details(rt, name),
            )
        if subresource == "status":
            # A status write changes status and nothing else.
            result = copy.deepcopy(current)
            if "status" in new:
                result["status"] = new["status"]
            else:
                result.pop("status", None)
            self._apply_schema_defaults(rt, result)
        else:
            result = new
            result["apiVersion"], result["kind"] = rt.api_version, rt.kind
            if rt.status_subresource:
                # With a status subresource, writes to the main resource cannot change status.
                if "status" in current:
                    result["status"] = copy.deepcopy(current["status"])
                else:
                    result.pop("status", None)
            for field in ("uid", "creationTimestamp", "namespace", "deletionTimestamp",
                          "deletionGracePeriodSeconds", "generation"):  # fmt: skip
                if field in old_meta:
                    meta[field] = old_meta[field]
                else:
                    meta.pop(field, None)
            meta["name"] = name
            if _spec_part(result) != _spec_part(current):
                meta["generation"] = old_meta.get("generation", 0) + 1
            self._apply_defaults(rt, result, current)
        if _without_volatile(result) == _without_volatile(current):
            # Like the real server, a no-op write neither bumps the resourceVersion nor notifies.
            return self._out(rt, current)
        if "deletionTimestamp" in old_meta and not result["metadata"].get("finalizers"):
            # The last finalizer is gone: the deletion that was waiting for it completes now.
            return self._commit(rt, result, ChangeType.DELETED, current, dry_run)
        return self._commit(rt, result, ChangeType.MODIFIED, current, dry_run)

    def _delete(self, rt: ResourceType, current: Obj, dry_run: bool) -> tuple[Obj, bool]:
        if current["metadata"].get("finalizers"):
            if "deletionTimestamp" in current["metadata"]:
                return self._out(rt, current), False
            marked = copy.deepcopy(current)
            meta = marked["metadata"]
            meta["deletionTimestamp"] = now_rfc3339()
            meta["deletionGracePeriodSeconds"] = 0
            if "generation" in meta:
                meta["generation"] += 1  # as the real server does when it sets deletionTimestamp
            return self._commit(rt, marked, ChangeType.MODIFIED, current, dry_run), False
        return self._commit(rt, copy.deepcopy(current), ChangeType.DELETED, current, dry_run), True

    def _apply_defaults(self, rt: ResourceType, obj: Obj, previous: Obj | None) -> None:
        """The few defaults and derived fields clients of this product look at."""
        self._apply_schema_defaults(rt, obj)
        if rt is NAMESPACES:
            obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
            obj.setdefault("status", {}).setdefault("phase", "Active")
        elif rt.storage_key == DEPLOYMENTS.storage_key:
            spec = obj.setdefault("spec", {})
            if spec.get("replicas") is None:
                spec["replicas"] = 1
        elif rt.storage_key == ("", "pods"):
            obj.setdefault("status", {}).setdefault("phase", "Pending")
        elif rt.storage_key == ("", "secrets"):
            obj["type"] = obj.get("type") or "Opaque"
        elif rt.storage_key == CRDS.storage_key:
            crd_types(obj)  # validates before anything is stored
            obj["status"] = _crd_status(obj, previous)

    def _apply_schema_defaults(self, rt: ResourceType, obj: Obj) -> None:
        schema = self._schemas.get((rt.group, rt.version, rt.plural)) if rt.custom else None
        if schema:
            apply_schema_defaults(obj, schema)

    def _commit(
        self, rt: ResourceType, obj: Obj, change_type: ChangeType, old: Obj | None, dry_run: bool
    ) -> Obj:
        if dry_run:
            return self._out(rt, obj)
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        storage = self._objects[rt.storage_key]
        key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        if change_type is ChangeType.DELETED:
            storage.pop(key, None)
            self._encoded.pop((*rt.storage_key, *key), None)
        else:
            storage[key] = obj
            # Encoded now, while a write costs a millisecond anyway, not when thousands are
            # listed at once (a dashboard starting).
            self._encode(rt, (*rt.storage_key, *key), obj)
        change = Change(self._rv, change_type, rt.storage_key, obj, old)
        if len(self._history) >= self._history_size:
            self._compacted_rv = self._history.popleft().rv
        self._history.append(change)
        for watcher in self._watchers:
            watcher.offer(change)
        for listener in self._listeners:
            listener(change)
        if obj["metadata"].get("ownerReferences"):
            self._owners_seen = True
        if rt.storage_key == CRDS.storage_key:
            self._sync_crd(obj, change_type)
        elif rt is NAMESPACES and change_type is ChangeType.DELETED:
            self._purge_namespace(obj["metadata"]["name"])
        if change_type is ChangeType.DELETED and self._owners_seen:
            self._collect_dependents(obj["metadata"]["uid"])
        return self._out(rt, obj)

    def _collect_dependents(self, owner_uid: str) -> None:
        """The garbage collector's background deletion, done at once: an object whose
        ownerReferences name only owners that no longer exist is deleted."""
        by_key = {rt.storage_key: rt for rt in self._types.values()}
        live: set[str] | None = None
        for storage_key, objects in list(self._objects.items()):
            rt = by_key.get(storage_key)
            for obj in list(objects.values()):
                references = obj["metadata"].get("ownerReferences") or []
                if rt is None or not any(ref.get("uid") == owner_uid for ref in references):
                    continue
                if live is None:
                    live = {
                        o["metadata"]["uid"] for stored in self._objects.values() for o in stored.values()
                    }
                if not any(ref.get("uid") in live for ref in references):
                    self._delete(rt, obj, False)

    def _sync_crd(self, crd: Obj, change_type: ChangeType) -> None:
        spec = crd["spec"]
        storage_key = (spec["group"], spec["names"]["plural"])
        for type_key in [
            key for key, rt in self._types.items() if rt.custom and rt.storage_key == storage_key
        ]:
            del self._types[type_key]
            self._schemas.pop(type_key, None)
        if change_type is not ChangeType.DELETED:
            schemas = crd_schemas(crd)
            for rt in crd_types(crd):
                self._types[(rt.group, rt.version, rt.plural)] = rt
                self._schemas[(rt.group, rt.version, rt.plural)] = schemas.get(rt.version) or {}
            return
        # Deleting a CRD deletes its objects and ends the watches on them.
        served = next(iter(crd_types(crd)))
        for obj in list(self._objects[storage_key].values()):
            self._commit(served, copy.deepcopy(obj), ChangeType.DELETED, obj, False)
        del self._objects[storage_key]
        for watcher in self._watchers:
            if watcher.rt.storage_key == storage_key:
                watcher.put(Signal.END)

    def _purge_namespace(self, namespace: str) -> None:
        # The namespace controller's job, done at once: delete everything in the namespace.
        for rt in {rt.storage_key: rt for rt in self._types.values() if rt.namespaced}.values():
            for (ns, _), obj in sorted(self._objects[rt.storage_key].items()):
                if ns == namespace:
                    self._delete(rt, obj, False)

    # -- watches ---------------------------------------------------------------------------

    def watch(
        self, rt: ResourceType, namespace: str, selector: Selector, resource_version: str | None
    ) -> Subscription:
        """Open a watch; raises StatusError 410 when ``resource_version`` is older than the history."""
        watcher = Subscription(rt, namespace, selector)
        with self._lock:
            if resource_version in (None, "", "0"):
                # Like the real server: start with the current state as synthetic ADDED events.
                for (ns, _), obj in sorted(self._objects[rt.storage_key].items()):
                    if (not namespace or ns == namespace) and selector.matches(obj):
                        watcher.put(("ADDED", obj))
            else:
                try:
                    since = int(resource_version)
                except ValueError:
                    raise bad_request(f"invalid resource version {resource_version!r}") from None
                if since < self._compacted_rv:
                    raise StatusError(
                        410, "Expired", f"too old resource version: {since} ({self._compacted_rv + 1})"
                    )
                for change in self._history:
                    if change.rv > since:
                        watcher.offer(change)
            self._watchers.add(watcher)
        return watcher

    def watch_count(self, rt: ResourceType) -> int:
        """How many watches on ``rt``'s objects are open: what a test waits for instead of sleeping
        while a client (kubectl, a watch thread) connects."""
        with self._lock:
            return sum(watcher.rt.storage_key == rt.storage_key for watcher in self._watchers)

    def unwatch(self, watcher: Subscription) -> None:
        with self._watchers_changed:
            self._watchers.discard(watcher)
            self._watchers_changed.notify_all()

    def bookmark_rv(self, watcher: Subscription) -> str | None:
        """The resourceVersion a bookmark may announce: only once the watcher has sent
        everything up to it, i.e. its queue is empty while writes are held off."""
        with self._lock:
            return str(self._rv) if watcher.empty() else None

    def signal_watches(self, signal: Signal, timeout: float = 5.0) -> None:
        """Send ``signal`` to every open watch and wait until those watches have closed."""
        with self._watchers_changed:
            signalled = set(self._watchers)
            for watcher in signalled:
                watcher.put(signal)
            self._watchers_changed.wait_for(lambda: not (signalled & self._watchers), timeout)

    def compact(self) -> None:
        """Forget the history: watches from any resourceVersion before now get 410 Expired."""
        with self._lock:
            self._history.clear()
            self._compacted_rv = self._rv
