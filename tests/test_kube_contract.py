"""The Kubernetes behaviours the product and the emulator rely on, checked on both targets.

Each test runs against the emulator (ksail_sim.apiserver.server) and against a real kube-apiserver
v1.20.2 with its controller manager (needs_kube). A behaviour that differs and is not fixed in the
emulator is listed in the emulator's module docstring instead of being tested here.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from ksail_sim.flux.crds import flux_crds
from ksail_tui.kube.client import (
    KUSTOMIZATIONS,
    NAMESPACES,
    OCI_REPOSITORIES,
    ApiError,
    KubeClient,
    Resource,
)
from tests.fixtures.flux_manifests import kustomization, oci_repository
from tests.fixtures.kube_real import real_flux_crds

CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap")
REPLICASETS = Resource("apps", "v1", "replicasets", "ReplicaSet")
FINALIZER = "ksail.io/contract-test"
# On this label the watches select the tests' own objects (a real controller manager adds more,
# such as the kube-root-ca.crt ConfigMap in every namespace).
LABEL = "ksail.io/contract-test"


@dataclass
class Target:
    name: str
    kube: KubeClient
    namespace: str  # created for this test
    # Makes every resourceVersion before now too old to resume a watch from.
    expire_history: Callable[[], None]

    def eventually(self, check: Callable[[], bool], timeout: float = 30.0) -> None:
        """Wait until ``check()`` holds: the real server's controllers act asynchronously."""
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: condition not reached within {timeout}s")
            time.sleep(0.1)


def install_crds(kube: KubeClient, crds: list[dict[str, Any]]) -> None:
    for crd in crds:
        kube.apply(crd, field_manager="contract-test")
    kube.forget_discovery()
    deadline = time.monotonic() + 30
    for resource in (OCI_REPOSITORIES, KUSTOMIZATIONS):
        while True:
            try:
                kube.list(resource, "default")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


@pytest.fixture(params=["emulator", pytest.param("kube", marks=pytest.mark.needs_kube)])
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    if request.param == "emulator":
        server = request.getfixturevalue("apiserver")
        kube = KubeClient(request.getfixturevalue("kubeconfig"))
        install_crds(kube, flux_crds())
        expire = server.compact
    else:
        kube = KubeClient(request.getfixturevalue("real_kube").kubeconfig)
        install_crds(kube, real_flux_crds())

        def expire() -> None:
            """A custom resource's watch cache starts with its CRD, long after resourceVersion 1."""

    namespace = f"contract-{uuid.uuid4().hex[:8]}"
    kube.create(NAMESPACES, {"metadata": {"name": namespace}})
    try:
        yield Target(request.param, kube, namespace, expire)
    finally:
        kube.delete(NAMESPACES, namespace)


def configmap(name: str, namespace: str, **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": {LABEL: "yes"}},
        "data": data,
    }


def api_error(call: Callable[[], Any]) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call()
    return caught.value


# --- CRUD ---------------------------------------------------------------------------------------


def test_create_get_list_delete(target: Target) -> None:
    kube, ns = target.kube, target.namespace
    created = kube.create(CONFIGMAPS, configmap("settings", ns, a="1"), ns)
    meta = created["metadata"]
    assert meta["uid"] and meta["resourceVersion"] and meta["creationTimestamp"]
    assert kube.get(CONFIGMAPS, "settings", ns)["data"] == {"a": "1"}
    listing = kube.list(CONFIGMAPS, ns)
    assert "settings" in [item["metadata"]["name"] for item in listing["items"]]
    assert int(listing["metadata"]["resourceVersion"]) >= int(meta["resourceVersion"])

    again = api_error(lambda: kube.create(CONFIGMAPS, configmap("settings", ns), ns))
    assert (again.status, again.reason) == (409, "AlreadyExists")
    assert again.api_message == 'configmaps "settings" already exists'

    kube.delete(CONFIGMAPS, "settings", ns)
    gone = api_error(lambda: kube.get(CONFIGMAPS, "settings", ns))
    assert (gone.status, gone.reason, gone.api_message) == (
        404,
        "NotFound",
        'configmaps "settings" not found',
    )


def test_invalid_name_is_422(target: Target) -> None:
    error = api_error(
        lambda: target.kube.create(CONFIGMAPS, configmap("Not_Valid", target.namespace), target.namespace)
    )
    assert (error.status, error.reason) == (422, "Invalid")
    assert error.api_message.startswith('ConfigMap "Not_Valid" is invalid: metadata.name: Invalid value')


def test_apply_creates_updates_and_a_no_op_keeps_the_resource_version(target: Target) -> None:
    kube, ns = target.kube, target.namespace
    first = kube.apply(configmap("applied", ns, a="1"), field_manager="contract-test")
    again = kube.apply(configmap("applied", ns, a="1"), field_manager="contract-test")
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    changed = kube.apply(configmap("applied", ns, a="2"), field_manager="contract-test")
    assert changed["data"] == {"a": "2"}
    assert int(changed["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    assert changed["metadata"]["uid"] == first["metadata"]["uid"]


def test_merge_patch_merges_and_null_removes(target: Target) -> None:
    kube, ns = target.kube, target.namespace
    kube.create(CONFIGMAPS, configmap("patched", ns, a="1", b="2"), ns)
    patched = kube.merge_patch(
        CONFIGMAPS, "patched", {"metadata": {"labels": {"x": "y"}}, "data": {"b": None, "c": "3"}}, ns
    )
    assert patched["data"] == {"a": "1", "c": "3"}
    assert patched["metadata"]["labels"] == {LABEL: "yes", "x": "y"}
    missing = api_error(lambda: kube.merge_patch(CONFIGMAPS, "absent", {"data": {}}, ns))
    assert missing.status == 404


def test_stale_resource_version_conflicts(target: Target) -> None:
    kube, ns = target.kube, target.namespace
    created = kube.create(CONFIGMAPS, configmap("raced", ns, a="1"), ns)
    kube.merge_patch(CONFIGMAPS, "raced", {"data": {"a": "2"}}, ns)
    stale = created | {"data": {"a": "3"}}
    error = api_error(lambda: kube.request("PUT", CONFIGMAPS.path(ns, "raced"), body=stale))
    assert (error.status, error.reason) == (409, "Conflict")
    assert "the object has been modified" in error.api_message


# --- namespaces ---------------------------------------------------------------------------------


def test_objects_need_an_existing_namespace(target: Target) -> None:
    kube = target.kube
    missing = f"missing-{uuid.uuid4().hex[:6]}"
    created = api_error(lambda: kube.create(CONFIGMAPS, configmap("c", missing), missing))
    applied = api_error(lambda: kube.apply(configmap("c", missing), field_manager="contract-test"))
    for error in (created, applied):
        assert (error.status, error.reason, error.api_message) == (
            404,
            "NotFound",
            f'namespaces "{missing}" not found',
        )


def test_deleting_a_namespace_deletes_its_objects(target: Target) -> None:
    kube = target.kube
    doomed = f"doomed-{uuid.uuid4().hex[:6]}"
    kube.create(NAMESPACES, {"metadata": {"name": doomed}})
    kube.create(CONFIGMAPS, configmap("inside", doomed), doomed)
    assert kube.get(NAMESPACES, doomed)["status"]["phase"] == "Active"
    kube.delete(NAMESPACES, doomed)
    target.eventually(lambda: kube.get_or_none(NAMESPACES, doomed) is None)
    assert kube.get_or_none(CONFIGMAPS, "inside", doomed) is None


# --- custom resources: status subresource, generation, defaults ---------------------------------


def test_crd_schema_defaults_are_applied(target: Target) -> None:
    kube, ns = target.kube, target.namespace
    source = kube.apply(oci_repository("app", ns), field_manager="contract-test")
    assert source["spec"]["provider"] == "generic"
    assert source["spec"]["timeout"] == "60s"
    assert kube.get(OCI_REPOSITORIES, "app", ns)["status"] == {"observedGeneration": -1}
    applied = kube.apply(kustomization("app", ns), field_manager="contract-test")
    assert applied["spec"]["force"] is False
    assert applied["status"] == {"observedGeneration": -1}
    # The default is for a missing status as a whole: a status without observedGeneration stays so.
    written = kube.merge_patch(
        KUSTOMIZATIONS, "app", {"status": {"observedGeneration": None, "lastAppliedRevision": "r"}}, ns,
        subresource="status",
    )  # fmt: skip
    assert written["status"] == {"lastAppliedRevision": "r"}


def test_status_subresource_and_generation(target: Target) -> None:
    kube, ns = target.kube, target.namespace
    created = kube.create(
        OCI_REPOSITORIES, oci_repository("app", ns) | {"status": {"observedGeneration": 7}}, ns
    )
    assert created["metadata"]["generation"] == 1
    assert created["status"] == {"observedGeneration": -1}  # status on create is dropped

    status = {"observedGeneration": 1, "conditions": [_ready_condition()]}
    written = kube.merge_patch(OCI_REPOSITORIES, "app", {"status": status, "spec": {"suspend": True}}, ns,
                               subresource="status")  # fmt: skip
    assert written["status"]["observedGeneration"] == 1
    assert "suspend" not in written["spec"]  # a status write changes status only
    assert written["metadata"]["generation"] == 1

    main = kube.merge_patch(OCI_REPOSITORIES, "app", {"status": {"observedGeneration": 9}}, ns)
    assert main["status"]["observedGeneration"] == 1  # the main resource cannot write status
    assert main["metadata"]["generation"] == 1

    labelled = kube.merge_patch(OCI_REPOSITORIES, "app", {"metadata": {"labels": {"a": "b"}}}, ns)
    assert labelled["metadata"]["generation"] == 1  # metadata is not spec
    respecced = kube.merge_patch(OCI_REPOSITORIES, "app", {"spec": {"interval": "2m"}}, ns)
    assert respecced["metadata"]["generation"] == 2


def _ready_condition() -> dict[str, Any]:
    return {
        "type": "Ready",
        "status": "True",
        "reason": "Succeeded",
        "message": "stored artifact",
        "lastTransitionTime": "2024-01-01T00:00:00Z",
        "observedGeneration": 1,
    }


def test_custom_resources_reject_strategic_merge_patch(target: Target) -> None:
    kube, ns = target.kube, target.namespace
    kube.create(OCI_REPOSITORIES, oci_repository("app", ns), ns)
    error = api_error(
        lambda: kube.request(
            "PATCH",
            OCI_REPOSITORIES.path(ns, "app"),
            body={"spec": {"suspend": True}},
            content_type="application/strategic-merge-patch+json",
        )
    )
    assert error.status == 415


# --- finalizers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", [CONFIGMAPS, OCI_REPOSITORIES], ids=lambda r: r.kind)
def test_finalizers_hold_a_deletion_until_removed(target: Target, resource: Resource) -> None:
    kube, ns = target.kube, target.namespace
    body = configmap("held", ns) if resource is CONFIGMAPS else oci_repository("held", ns)
    body["metadata"]["finalizers"] = [FINALIZER]
    created = kube.create(resource, body, ns)
    kube.delete(resource, "held", ns)
    marked = kube.get(resource, "held", ns)
    assert marked["metadata"]["deletionTimestamp"]
    assert marked["metadata"]["finalizers"] == [FINALIZER]
    if "generation" in created["metadata"]:  # marking for deletion is a new generation
        assert marked["metadata"]["generation"] == created["metadata"]["generation"] + 1
    kube.merge_patch(resource, "held", {"metadata": {"finalizers": None}}, ns)
    assert kube.get_or_none(resource, "held", ns) is None


# --- garbage collection --------------------------------------------------------------------------


def test_deleting_the_owner_deletes_its_dependents(target: Target) -> None:
    kube, ns = target.kube, target.namespace
    owner = kube.create(CONFIGMAPS, configmap("owner", ns), ns)
    reference = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    dependent = configmap("dependent", ns)
    dependent["metadata"]["ownerReferences"] = [reference]
    kube.create(CONFIGMAPS, dependent, ns)
    kube.create(CONFIGMAPS, configmap("bystander", ns), ns)
    kube.delete(CONFIGMAPS, "owner", ns)
    target.eventually(lambda: kube.get_or_none(CONFIGMAPS, "dependent", ns) is None)
    assert kube.get_or_none(CONFIGMAPS, "bystander", ns) is not None


# --- watches ------------------------------------------------------------------------------------


def _events(kube: KubeClient, resource: Resource, ns: str, rv: str | None, until: Callable[[list[Any]], bool],
            timeout_seconds: int = 10) -> list[dict[str, Any]]:  # fmt: skip
    events: list[dict[str, Any]] = []
    stream = kube.watch(
        resource, ns, resource_version=rv, timeout_seconds=timeout_seconds, label_selector=f"{LABEL}=yes"
    )
    try:
        for event in stream:
            events.append(event)
            if until(events):
                break
    finally:
        stream.close()
    return events


def _changes(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"].get("name", "")) for e in events if e["type"] != "BOOKMARK"]


def test_watch_resumes_from_a_resource_version(target: Target) -> None:
    kube, ns = target.kube, target.namespace
    rv = kube.list(CONFIGMAPS, ns)["metadata"]["resourceVersion"]
    kube.create(CONFIGMAPS, configmap("one", ns), ns)
    kube.merge_patch(CONFIGMAPS, "one", {"data": {"a": "1"}}, ns)
    kube.delete(CONFIGMAPS, "one", ns)
    events = _events(kube, CONFIGMAPS, ns, rv, lambda seen: len(_changes(seen)) >= 3)
    assert _changes(events) == [("ADDED", "one"), ("MODIFIED", "one"), ("DELETED", "one")]
    deleted = events[-1]["object"]
    assert deleted["kind"] == "ConfigMap" and deleted["metadata"]["resourceVersion"]


def test_watch_without_a_resource_version_starts_with_the_current_objects(target: Target) -> None:
    kube, ns = target.kube, target.namespace
    kube.create(CONFIGMAPS, configmap("a", ns), ns)
    kube.create(CONFIGMAPS, configmap("b", ns), ns)
    events = _events(kube, CONFIGMAPS, ns, None, lambda seen: len(_changes(seen)) >= 2)
    assert sorted(_changes(events)) == [("ADDED", "a"), ("ADDED", "b")]


def test_watch_from_an_expired_resource_version_gets_410(target: Target) -> None:
    kube, ns = target.kube, target.namespace
    kube.create(OCI_REPOSITORIES, oci_repository("app", ns), ns)
    target.expire_history()
    events = _events(kube, OCI_REPOSITORIES, ns, "1", lambda seen: True)
    (error,) = events
    assert error["type"] == "ERROR"
    assert error["object"]["code"] == 410 and error["object"]["reason"] == "Expired"
    assert error["object"]["message"].startswith("too old resource version: 1 (")


def test_watch_sends_a_bookmark_before_its_timeout(target: Target, request: pytest.FixtureRequest) -> None:
    if target.name == "emulator":
        request.getfixturevalue("apiserver").bookmark_interval = 0.5
    kube, ns = target.kube, target.namespace
    rv = kube.list(CONFIGMAPS, ns)["metadata"]["resourceVersion"]
    # Open before the write: a real server bookmarks only a resourceVersion newer than what the
    # watch began with, 2 s before its deadline.
    stream = kube.watch(CONFIGMAPS, ns, resource_version=rv, timeout_seconds=5, label_selector=f"{LABEL}=yes")
    try:
        unselected = kube.create(CONFIGMAPS, {"metadata": {"name": "unselected"}}, ns)
        events = []
        for event in stream:
            events.append(event)
            if event["type"] == "BOOKMARK":
                break
    finally:
        stream.close()
    assert [event["type"] for event in events] == ["BOOKMARK"]  # the unselected change is not sent
    bookmark = events[-1]["object"]
    assert bookmark["kind"] == "ConfigMap"
    assert int(bookmark["metadata"]["resourceVersion"]) >= int(unselected["metadata"]["resourceVersion"])
