"""The official kubernetes Python client against the emulated API server: CRUD semantics."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from ksail_sim.apiserver.server import ApiServer
from ksail_sim.apiserver.store import INITIAL_NAMESPACES
from ksail_sim.flux.crds import flux_crds

GROUP, VERSION, PLURAL = "source.toolkit.fluxcd.io", "v1", "ocirepositories"


@pytest.fixture
def core(kube_api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(kube_api_client)


@pytest.fixture
def custom(kube_api_client: client.ApiClient, apiserver: ApiServer) -> client.CustomObjectsApi:
    for crd in flux_crds():
        apiserver.apply(crd)
    apiserver.apply(namespace("apps"))
    return client.CustomObjectsApi(kube_api_client)


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def ocirepo(name: str = "podinfo", **fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "OCIRepository",
        "metadata": {"name": name},
        "spec": {"interval": "1m", "url": "oci://registry.local/podinfo", "ref": {"tag": "1.0.0"}},
        **fields,
    }


def error_of(call: Any, *args: Any, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(ApiException) as caught:
        call(*args, **kwargs)
    return caught.value.status, json.loads(caught.value.body)


def wait_until(condition: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_create_stamps_metadata_and_answers_201(custom: client.CustomObjectsApi) -> None:
    data, code, _ = custom.create_namespaced_custom_object_with_http_info(
        GROUP, VERSION, "apps", PLURAL, ocirepo()
    )
    assert code == 201
    meta = data["metadata"]
    assert meta["namespace"] == "apps"
    assert meta["generation"] == 1
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z")
    assert int(meta["resourceVersion"]) > 0
    assert custom.get_namespaced_custom_object(GROUP, VERSION, "apps", PLURAL, "podinfo") == data


def test_duplicates_are_409_already_exists(custom: client.CustomObjectsApi, core: client.CoreV1Api) -> None:
    custom.create_namespaced_custom_object(GROUP, VERSION, "apps", PLURAL, ocirepo())
    status, body = error_of(custom.create_namespaced_custom_object, GROUP, VERSION, "apps", PLURAL, ocirepo())
    assert status == 409
    assert body["kind"] == "Status" and body["reason"] == "AlreadyExists"
    assert body["message"] == 'ocirepositories.source.toolkit.fluxcd.io "podinfo" already exists'

    core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cfg")))
    status, body = error_of(core.create_namespaced_config_map, "default", {"metadata": {"name": "cfg"}})
    assert (status, body["message"]) == (409, 'configmaps "cfg" already exists')


def test_missing_objects_are_404_not_found(custom: client.CustomObjectsApi, core: client.CoreV1Api) -> None:
    status, body = error_of(custom.get_namespaced_custom_object, GROUP, VERSION, "apps", PLURAL, "nope")
    assert status == 404
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'ocirepositories.source.toolkit.fluxcd.io "nope" not found',
        "reason": "NotFound",
        "details": {"name": "nope", "group": GROUP, "kind": PLURAL},
        "code": 404,
    }
    assert error_of(core.read_namespaced_secret, "nope", "default")[0] == 404
    assert error_of(core.delete_namespaced_config_map, "nope", "default")[0] == 404
    assert error_of(custom.list_namespaced_custom_object, GROUP, VERSION, "apps", "unknowns")[0] == 404


def test_generate_name_gives_unique_names(core: client.CoreV1Api) -> None:
    names = {
        core.create_namespaced_config_map("default", {"metadata": {"generateName": "run-"}}).metadata.name
        for _ in range(5)
    }
    assert len(names) == 5
    assert all(name.startswith("run-") and len(name) == len("run-") + 5 for name in names)
    status, body = error_of(core.create_namespaced_config_map, "default", {"metadata": {}})
    assert (status, body["reason"]) == (422, "Invalid")


def test_replace_with_a_stale_resource_version_is_409_conflict(core: client.CoreV1Api) -> None:
    first = core.create_namespaced_config_map("default", {"metadata": {"name": "cfg"}, "data": {"a": "1"}})
    second = core.replace_namespaced_config_map(
        "cfg", "default", {"metadata": {"name": "cfg", "resourceVersion": first.metadata.resource_version},
                           "data": {"a": "2"}},
    )  # fmt: skip
    assert int(second.metadata.resource_version) > int(first.metadata.resource_version)
    assert second.data == {"a": "2"}
    stale = {
        "metadata": {"name": "cfg", "resourceVersion": first.metadata.resource_version},
        "data": {"a": "3"},
    }
    status, body = error_of(core.replace_namespaced_config_map, "cfg", "default", stale)
    assert (status, body["reason"]) == (409, "Conflict")
    assert "the object has been modified" in body["message"]
    # A merge patch that carries a resourceVersion is a precondition too.
    status, _ = error_of(
        core.patch_namespaced_config_map, "cfg", "default", {"metadata": {"resourceVersion": "1"}, "data": {}}
    )
    assert status == 409
    assert core.read_namespaced_config_map("cfg", "default").data == {"a": "2"}


def test_resource_versions_grow_across_all_kinds(
    core: client.CoreV1Api, custom: client.CustomObjectsApi
) -> None:
    versions = [
        core.create_namespaced_config_map("default", {"metadata": {"name": "a"}}).metadata.resource_version,
        custom.create_namespaced_custom_object(GROUP, VERSION, "apps", PLURAL, ocirepo())["metadata"][
            "resourceVersion"
        ],
        core.create_namespace({"metadata": {"name": "extra"}}).metadata.resource_version,
        core.patch_namespaced_config_map("a", "default", {"data": {"k": "v"}}).metadata.resource_version,
    ]
    assert all(isinstance(v, str) for v in versions)
    assert [int(v) for v in versions] == sorted(int(v) for v in versions)
    assert len(set(versions)) == 4
    # A write that changes nothing is not a write: same resourceVersion, no event.
    again = core.patch_namespaced_config_map("a", "default", {"data": {"k": "v"}})
    assert again.metadata.resource_version == versions[-1]


def test_merge_json_and_strategic_patches(custom: client.CustomObjectsApi, core: client.CoreV1Api) -> None:
    custom.create_namespaced_custom_object(GROUP, VERSION, "apps", PLURAL, ocirepo())
    merged = custom.patch_namespaced_custom_object(
        GROUP, VERSION, "apps", PLURAL, "podinfo", {"spec": {"ref": {"tag": None, "semver": ">=1.0.0"}}}
    )
    assert merged["spec"]["ref"] == {"semver": ">=1.0.0"}
    patched = custom.patch_namespaced_custom_object(
        GROUP, VERSION, "apps", PLURAL, "podinfo",
        [{"op": "replace", "path": "/spec/interval", "value": "5m"},
         {"op": "add", "path": "/metadata/labels", "value": {"team": "a"}}],
        _content_type="application/json-patch+json",
    )  # fmt: skip
    assert patched["spec"]["interval"] == "5m"
    assert patched["metadata"]["labels"] == {"team": "a"}
    status, _ = error_of(
        custom.patch_namespaced_custom_object, GROUP, VERSION, "apps", PLURAL, "podinfo",
        [{"op": "test", "path": "/spec/interval", "value": "1h"}],
        _content_type="application/json-patch+json",
    )  # fmt: skip
    assert status == 422
    # Custom resources have no strategic merge patch, as on a real server.
    status, _ = error_of(
        custom.patch_namespaced_custom_object, GROUP, VERSION, "apps", PLURAL, "podinfo", {"spec": {}},
        _content_type="application/strategic-merge-patch+json",
    )  # fmt: skip
    assert status == 415

    # The core client sends dict patches as strategic merge patches.
    core.create_namespaced_config_map("default", {"metadata": {"name": "cfg"}, "data": {"a": "1", "b": "2"}})
    assert core.patch_namespaced_config_map("cfg", "default", {"data": {"a": None, "c": "3"}}).data == {
        "b": "2",
        "c": "3",
    }


def test_status_subresource_and_generation_rules(custom: client.CustomObjectsApi) -> None:
    def get() -> dict[str, Any]:
        return custom.get_namespaced_custom_object(GROUP, VERSION, "apps", PLURAL, "podinfo")

    ready = {"conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded", "message": "ok"}]}
    created = custom.create_namespaced_custom_object(GROUP, VERSION, "apps", PLURAL, ocirepo(status=ready))
    # Create ignores status when there is a status subresource; the CRD's default fills it in.
    assert created["status"] == {"observedGeneration": -1}

    custom.patch_namespaced_custom_object(GROUP, VERSION, "apps", PLURAL, "podinfo", {"status": ready})
    assert get()["status"] == {"observedGeneration": -1}
    assert get()["metadata"]["generation"] == 1

    after_status = custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, "apps", PLURAL, "podinfo", {"status": ready, "spec": {"url": "oci://elsewhere"}}
    )
    defaulted = ready | {"observedGeneration": -1}  # merged into the defaulted status
    assert after_status["status"] == defaulted
    assert after_status["spec"]["url"] == "oci://registry.local/podinfo"  # status writes change status only
    assert after_status["metadata"]["generation"] == 1

    custom.patch_namespaced_custom_object(
        GROUP, VERSION, "apps", PLURAL, "podinfo", {"metadata": {"labels": {"a": "b"}}}
    )
    assert get()["metadata"]["generation"] == 1  # metadata is not spec
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, "apps", PLURAL, "podinfo", {"spec": {"suspend": True}}
    )
    assert get()["metadata"]["generation"] == 2
    assert get()["status"] == defaulted  # a spec write keeps the status

    replaced = get()
    replaced["status"] = {"conditions": []}
    replaced["spec"]["interval"] = "2m"
    result = custom.replace_namespaced_custom_object(GROUP, VERSION, "apps", PLURAL, "podinfo", replaced)
    assert result["status"] == defaulted
    assert result["metadata"]["generation"] == 3
    replaced = get()
    replaced["status"] = {"conditions": []}
    result = custom.replace_namespaced_custom_object_status(
        GROUP, VERSION, "apps", PLURAL, "podinfo", replaced
    )
    assert result["status"] == {"conditions": []}
    assert result["metadata"]["generation"] == 3


def test_finalizers_delay_deletion(custom: client.CustomObjectsApi, core: client.CoreV1Api) -> None:
    body = ocirepo()
    body["metadata"]["finalizers"] = ["finalizers.fluxcd.io"]
    custom.create_namespaced_custom_object(GROUP, VERSION, "apps", PLURAL, body)
    marked, code, _ = custom.delete_namespaced_custom_object_with_http_info(
        GROUP, VERSION, "apps", PLURAL, "podinfo"
    )
    assert code == 200
    assert marked["metadata"]["deletionTimestamp"]
    assert marked["metadata"]["generation"] == 2
    still = custom.get_namespaced_custom_object(GROUP, VERSION, "apps", PLURAL, "podinfo")
    assert still["metadata"]["deletionTimestamp"] == marked["metadata"]["deletionTimestamp"]
    # Deleting again changes nothing; removing the last finalizer completes the deletion.
    again = custom.delete_namespaced_custom_object(GROUP, VERSION, "apps", PLURAL, "podinfo")
    assert again["metadata"]["resourceVersion"] == still["metadata"]["resourceVersion"]
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, "apps", PLURAL, "podinfo", {"metadata": {"finalizers": None}}
    )
    assert error_of(custom.get_namespaced_custom_object, GROUP, VERSION, "apps", PLURAL, "podinfo")[0] == 404

    # Without finalizers: custom resources answer with the object, built-ins with a Status.
    custom.create_namespaced_custom_object(GROUP, VERSION, "apps", PLURAL, ocirepo("plain"))
    gone = custom.delete_namespaced_custom_object(GROUP, VERSION, "apps", PLURAL, "plain")
    assert gone["metadata"]["name"] == "plain"
    core.create_namespaced_config_map("default", {"metadata": {"name": "cfg"}})
    status = core.delete_namespaced_config_map("cfg", "default")  # v37 returns it as a dict
    assert (status["kind"], status["status"], status["details"]["name"]) == ("Status", "Success", "cfg")


def test_label_and_field_selectors(core: client.CoreV1Api) -> None:
    labels = {
        "web": {"app": "web", "tier": "front"},
        "db": {"app": "db"},
        "bare": {},
        "cache": {"app": "cache"},
    }
    for name, label_set in labels.items():
        core.create_namespaced_config_map("default", {"metadata": {"name": name, "labels": label_set}})
    core.create_namespace(namespace("other"))
    core.create_namespaced_config_map("other", {"metadata": {"name": "web", "labels": {"app": "web"}}})

    def names(selector: str = "", fields: str = "", namespace: str = "default") -> list[str]:
        items = core.list_namespaced_config_map(
            namespace, label_selector=selector, field_selector=fields
        ).items
        return [item.metadata.name for item in items]

    assert names("app=web") == ["web"]
    assert names("app==web") == ["web"]
    assert names("app!=web") == ["bare", "cache", "db"]
    assert names("app in (web, db)") == ["db", "web"]
    assert names("app notin (web,db)") == ["bare", "cache"]
    assert names("tier") == ["web"]
    assert names("!app") == ["bare"]
    assert names("app,!tier") == ["cache", "db"]
    assert names(fields="metadata.name=db") == ["db"]
    assert names(fields="metadata.name!=db,metadata.namespace=default") == ["bare", "cache", "web"]
    everywhere = core.list_config_map_for_all_namespaces(label_selector="app=web").items
    assert sorted((i.metadata.namespace, i.metadata.name) for i in everywhere) == [
        ("default", "web"),
        ("other", "web"),
    ]
    status, body = error_of(core.list_namespaced_config_map, "default", label_selector="app in (web")
    assert (status, body["reason"]) == (400, "BadRequest")


def test_lists_carry_kind_api_version_and_resource_version(
    apiserver: ApiServer, core: client.CoreV1Api
) -> None:
    core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    with urllib.request.urlopen(f"{apiserver.url}/api/v1/configmaps") as response:
        listing = json.load(response)
    assert listing["kind"] == "ConfigMapList"
    assert listing["apiVersion"] == "v1"
    assert listing["metadata"]["resourceVersion"] == apiserver.store.resource_version
    assert [item["kind"] for item in listing["items"]] == ["ConfigMap"]


def test_lists_serve_the_stored_objects_after_each_write(
    apiserver: ApiServer, custom: client.CustomObjectsApi, core: client.CoreV1Api
) -> None:
    # Lists reuse each stored object's JSON: after a write, a delete and with a selector they
    # must still serve exactly what is stored.
    def listed(version: str = VERSION, selector: str = "") -> list[tuple[str, str, str]]:
        query = f"?labelSelector={selector}" if selector else ""
        url = f"{apiserver.url}/apis/{GROUP}/{version}/namespaces/apps/ocirepositories{query}"
        with urllib.request.urlopen(url) as response:
            items = json.load(response)["items"]
        return [(i["apiVersion"], i["metadata"]["name"], i["spec"]["ref"]["tag"]) for i in items]

    for name in ("a", "b"):
        custom.create_namespaced_custom_object(GROUP, VERSION, "apps", "ocirepositories", ocirepo(name))
    api_version = f"{GROUP}/{VERSION}"
    assert listed() == [(api_version, "a", "1.0.0"), (api_version, "b", "1.0.0")]
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, "apps", "ocirepositories", "a", {"spec": {"ref": {"tag": "2.0.0"}}}
    )
    assert listed() == [(api_version, "a", "2.0.0"), (api_version, "b", "1.0.0")]
    custom.delete_namespaced_custom_object(GROUP, VERSION, "apps", "ocirepositories", "b")
    assert listed() == [(api_version, "a", "2.0.0")]
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, "apps", "ocirepositories", "a", {"metadata": {"labels": {"tier": "web"}}}
    )
    assert listed(selector="tier=web") == [(api_version, "a", "2.0.0")]
    assert listed(selector="tier=db") == []


def test_lists_of_a_custom_resource_name_the_version_asked_for(
    apiserver: ApiServer, core: client.CoreV1Api
) -> None:
    schema = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    apiserver.apply(
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com",
                "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                "versions": [
                    {"name": "v1", "served": True, "storage": True, "schema": schema},
                    {"name": "v2", "served": True, "storage": False, "schema": schema},
                ],
            },
        }
    )
    apiserver.apply(
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "default"}}
    )

    def versions(version: str) -> list[str]:
        url = f"{apiserver.url}/apis/example.com/{version}/namespaces/default/widgets"
        with urllib.request.urlopen(url) as response:
            return [item["apiVersion"] for item in json.load(response)["items"]]

    assert versions("v2") == ["example.com/v2"]
    assert versions("v1") == ["example.com/v1"]
    assert versions("v2") == ["example.com/v2"]


def test_events_are_selected_by_involved_object(core: client.CoreV1Api) -> None:
    def event(name: str, kind: str, target: str, uid: str) -> dict[str, Any]:
        return {
            "metadata": {"name": name},
            "involvedObject": {"kind": kind, "name": target, "namespace": "flux-system", "uid": uid},
            "reason": "Progressing",
            "message": f"{target} progressing",
            "type": "Normal",
        }

    core.create_namespace(namespace("flux-system"))
    core.create_namespaced_event("flux-system", event("e1", "Kustomization", "apps", "u1"))
    core.create_namespaced_event("flux-system", event("e2", "OCIRepository", "apps", "u2"))
    core.create_namespaced_event("flux-system", event("e3", "Kustomization", "infra", "u3"))

    def names(fields: str) -> list[str]:
        return [
            e.metadata.name for e in core.list_namespaced_event("flux-system", field_selector=fields).items
        ]

    assert names("involvedObject.name=apps") == ["e1", "e2"]
    assert names("involvedObject.kind=Kustomization,involvedObject.name=apps") == ["e1"]
    assert names("involvedObject.uid=u3") == ["e3"]
    assert names("involvedObject.namespace=flux-system") == ["e1", "e2", "e3"]


def test_deployments_become_available_through_the_simulated_controller(
    kube_api_client: client.ApiClient,
) -> None:
    apps = client.AppsV1Api(kube_api_client)
    body = {
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "w", "image": "x"}]},
            },
        },
        "status": {"readyReplicas": 99},
    }
    created = apps.create_namespaced_deployment("default", body)
    assert created.status is None or not created.status.ready_replicas  # create ignores status

    def available() -> client.V1Deployment | None:
        deployment = apps.read_namespaced_deployment("web", "default")
        conditions = {c.type: c.status for c in ((deployment.status and deployment.status.conditions) or [])}
        return deployment if conditions.get("Available") == "True" else None

    deployment = wait_until(available)
    assert deployment.status.ready_replicas == deployment.status.available_replicas == 3
    assert deployment.status.observed_generation == 1

    apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 1}})
    deployment = wait_until(lambda: (d := available()) and d.status.observed_generation == 2 and d)
    assert deployment.metadata.generation == 2
    assert deployment.status.replicas == 1


def test_nodes_keep_status_on_create_and_have_a_status_subresource(core: client.CoreV1Api) -> None:
    ready = {"conditions": [{"type": "Ready", "status": "True"}]}
    node = core.create_node({"metadata": {"name": "node-1"}, "status": ready})
    assert node.status.conditions[0].status == "True"
    core.patch_node("node-1", {"status": {"conditions": [{"type": "Ready", "status": "False"}]}})
    assert core.read_node("node-1").status.conditions[0].status == "True"
    core.patch_node_status("node-1", {"status": {"conditions": [{"type": "Ready", "status": "False"}]}})
    assert core.read_node("node-1").status.conditions[0].status == "False"


def test_crds_register_types_and_deleting_them_removes_objects(kube_api_client: client.ApiClient) -> None:
    extensions = client.ApiextensionsV1Api(kube_api_client)
    custom = client.CustomObjectsApi(kube_api_client)
    crd = flux_crds()[0]
    created = extensions.create_custom_resource_definition(crd)
    conditions = {c.type: c.status for c in created.status.conditions}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert created.status.accepted_names.short_names == ["ocirepo"]
    assert created.status.stored_versions == ["v1"]

    resources = custom.api_client.call_api(
        *custom.api_client.param_serialize("GET", f"/apis/{GROUP}/{VERSION}")
    ).read()
    by_name = {r["name"]: r for r in json.loads(resources)["resources"]}
    assert by_name["ocirepositories"]["shortNames"] == ["ocirepo"]
    assert by_name["ocirepositories"]["namespaced"] is True
    assert by_name["ocirepositories/status"]["verbs"] == ["get", "patch", "update"]

    client.CoreV1Api(kube_api_client).create_namespace(namespace("apps"))
    custom.create_namespaced_custom_object(GROUP, VERSION, "apps", PLURAL, ocirepo())
    extensions.delete_custom_resource_definition(crd["metadata"]["name"])
    assert error_of(custom.list_namespaced_custom_object, GROUP, VERSION, "apps", PLURAL)[0] == 404
    extensions.create_custom_resource_definition(crd)
    assert custom.list_namespaced_custom_object(GROUP, VERSION, "apps", PLURAL)["items"] == []


def test_deleting_a_namespace_deletes_its_objects(
    core: client.CoreV1Api, custom: client.CustomObjectsApi
) -> None:
    core.create_namespace({"metadata": {"name": "team"}})
    assert core.read_namespace("team").status.phase == "Active"
    core.create_namespaced_config_map("team", {"metadata": {"name": "a"}})
    custom.create_namespaced_custom_object(GROUP, VERSION, "team", PLURAL, ocirepo())
    core.create_namespaced_config_map("default", {"metadata": {"name": "kept"}})
    core.delete_namespace("team")
    assert core.list_namespaced_config_map("team").items == []
    assert custom.list_namespaced_custom_object(GROUP, VERSION, "team", PLURAL)["items"] == []
    assert [cm.metadata.name for cm in core.list_namespaced_config_map("default").items] == ["kept"]
    assert {ns.metadata.name for ns in core.list_namespace().items} == {*INITIAL_NAMESPACES, "apps"}


def test_server_side_apply_creates_then_merges(custom: client.CustomObjectsApi) -> None:
    def apply(body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        data, code, _ = custom.patch_namespaced_custom_object_with_http_info(
            GROUP, VERSION, "apps", PLURAL, "podinfo", body,
            field_manager="ksail", _content_type="application/apply-patch+yaml",
        )  # fmt: skip
        return data, code

    _, code = apply(ocirepo())
    assert code == 201  # the client only deserializes 200 answers to a patch
    created = custom.get_namespaced_custom_object(GROUP, VERSION, "apps", PLURAL, "podinfo")
    assert created["metadata"]["generation"] == 1
    merged, code = apply({**ocirepo(), "spec": {"suspend": True}})
    assert code == 200
    assert merged["spec"]["suspend"] is True
    assert merged["spec"]["url"] == "oci://registry.local/podinfo"
    assert merged["metadata"]["generation"] == 2

    status, body = error_of(
        custom.patch_namespaced_custom_object, GROUP, VERSION, "apps", PLURAL, "podinfo", ocirepo(),
        _content_type="application/apply-patch+yaml",
    )  # fmt: skip
    assert status == 422
    assert "fieldManager" in body["message"]


def test_dry_run_writes_nothing(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_config_map("default", {"metadata": {"name": "cfg"}}, dry_run="All")
    assert created.metadata.name == "cfg"
    assert error_of(core.read_namespaced_config_map, "cfg", "default")[0] == 404


def test_table_output_uses_crd_printer_columns(apiserver: ApiServer, custom: client.CustomObjectsApi) -> None:
    custom.create_namespaced_custom_object(GROUP, VERSION, "apps", PLURAL, ocirepo())
    ready = {
        "conditions": [{"type": "Ready", "status": "False", "reason": "Failed", "message": "pull failed"}]
    }
    custom.patch_namespaced_custom_object_status(GROUP, VERSION, "apps", PLURAL, "podinfo", {"status": ready})
    request = urllib.request.Request(
        f"{apiserver.url}/apis/{GROUP}/{VERSION}/namespaces/apps/{PLURAL}",
        headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"},
    )
    with urllib.request.urlopen(request) as response:
        table = json.load(response)
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "URL", "Ready", "Status", "Age"]
    (row,) = table["rows"]
    assert row["cells"][:4] == ["podinfo", "oci://registry.local/podinfo", "False", "pull failed"]
    assert row["cells"][4].endswith("s")
    assert row["object"]["kind"] == "PartialObjectMetadata"
    assert row["object"]["metadata"]["namespace"] == "apps"


def test_an_outage_answers_503_until_restored(apiserver: ApiServer, core: client.CoreV1Api) -> None:
    apiserver.set_unavailable(True)
    assert error_of(core.list_namespace)[0] == 503
    apiserver.set_unavailable(False)
    assert len(core.list_namespace().items) == len(INITIAL_NAMESPACES)


def json_patch_of(custom: client.CustomObjectsApi, operations: list[dict[str, Any]]) -> Any:
    return custom.patch_namespaced_custom_object(
        GROUP, VERSION, "apps", PLURAL, "podinfo", operations, _content_type="application/json-patch+json"
    )


def test_json_patch_follows_rfc_6901_and_6902(custom: client.CustomObjectsApi) -> None:
    custom.create_namespaced_custom_object(
        GROUP, VERSION, "apps", PLURAL, ocirepo(metadata={"name": "podinfo", "finalizers": ["a", "b"]})
    )
    # A normal patch: insert into a list by index, then append.
    patched = json_patch_of(
        custom,
        [
            {"op": "add", "path": "/metadata/finalizers/1", "value": "x"},
            {"op": "add", "path": "/metadata/finalizers/-", "value": "z"},
            {"op": "test", "path": "/metadata/finalizers/0", "value": "a"},
        ],
    )
    assert patched["metadata"]["finalizers"] == ["a", "x", "b", "z"]
    version = patched["metadata"]["resourceVersion"]

    # RFC 6901: an array index has no leading zeros, so "01" is not index 1.
    status, body = error_of(
        json_patch_of, custom, [{"op": "replace", "path": "/metadata/finalizers/01", "value": "y"}]
    )
    assert (status, body["reason"]) == (422, "Invalid")
    assert "'01' is not a valid sequence index" in body["message"]

    # A failing test op refuses the whole patch: the add before it is not kept either.
    status, body = error_of(
        json_patch_of,
        custom,
        [
            {"op": "add", "path": "/metadata/labels", "value": {"team": "a"}},
            {"op": "test", "path": "/spec/interval", "value": "1h"},
        ],
    )
    assert (status, body["reason"]) == (422, "Invalid")
    assert "is not equal to tested value 1h" in body["message"]
    stored = custom.get_namespaced_custom_object(GROUP, VERSION, "apps", PLURAL, "podinfo")
    assert stored["metadata"]["resourceVersion"] == version
    assert "labels" not in stored["metadata"]
    assert stored["metadata"]["finalizers"] == ["a", "x", "b", "z"]
