"""The simulated Flux controllers against the API emulator and the real registry binary.

Objects come from the product's own generator (``workload_sources``) and artifacts from its own
builder (``ksail_tui.oci.build``), so these tests also check that the two fit Flux's semantics.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from ksail_sim.apiserver.server import ApiServer
from ksail_sim.flux import SimulatedFlux, install_simulated_flux
from ksail_tui.flux.sources import workload_sources
from ksail_tui.flux.status import Health, classify
from ksail_tui.kube.client import (
    CRDS,
    DEPLOYMENTS,
    EVENTS,
    KUSTOMIZATIONS,
    NAMESPACES,
    OCI_REPOSITORIES,
    KubeClient,
    Resource,
)
from ksail_tui.models import RECONCILE_ANNOTATION, FluxKustomization, FluxOCIRepository
from ksail_tui.oci.build import BuiltArtifact, build_artifact
from ksail_tui.oci.registry_client import RegistryClient
from tests.fixtures.sim_flux import IN_CLUSTER_REGISTRY, sim_flux_config

CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap")
T = TypeVar("T")

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{version: '{version}'}}\n"
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
"""


def wait_for(check: Callable[[], T | None], timeout: float = 5.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def wait_until(
    fetch: Callable[[], dict[str, Any]],
    check: Callable[[dict[str, Any]], Any],
    what: str,
    timeout: float = 5.0,
) -> dict[str, Any]:
    """The fetched object once ``check`` holds for it."""
    found: list[dict[str, Any]] = []

    def matches() -> bool:
        found[:] = [fetch()]
        return bool(check(found[0]))

    wait_for(matches, timeout, what)
    return found[0]


def push(
    registry: Any,
    tmp_path: Path,
    version: str,
    files: dict[str, str],
    *,
    repository: str = "t/app",
    tag: str = "",
) -> BuiltArtifact:
    """Build ``files`` with the product's builder (unvalidated, so broken manifests go too) and push."""
    source = tmp_path / f"src-{version}-{time.monotonic_ns()}"
    source.mkdir()
    for name, text in files.items():
        (source / name).write_text(text)
    built = build_artifact(source, version=version, validate_manifests=False)
    with RegistryClient(registry.endpoint) as client:
        for digest, data in ((built.config_digest, built.config), (built.layer_digest, built.layer)):
            client.upload_blob(repository, digest, data)
        client.put_manifest(repository, tag or version, built.manifest)
    return built


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    found = [c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == type_]
    return found[0] if found else {}


def source(kube: KubeClient, name: str = "app") -> dict[str, Any]:
    return kube.get(OCI_REPOSITORIES, name, "flux-system")


def kustomization(kube: KubeClient, name: str = "app") -> dict[str, Any]:
    return kube.get(KUSTOMIZATIONS, name, "flux-system")


def events(kube: KubeClient, name: str = "app") -> list[dict[str, Any]]:
    return [e for e in kube.list(EVENTS, "flux-system")["items"] if e["involvedObject"]["name"] == name]


def applied_revision(kube: KubeClient, revision: str) -> Callable[[], bool]:
    return lambda: (kustomization(kube).get("status") or {}).get("lastAppliedRevision") == revision


def deploy(kube: KubeClient, tmp_path: Path, registry: Any, *, tag: str | None = None) -> None:
    """Create the target namespace and apply the generated OCIRepository and Kustomization."""
    config = sim_flux_config(tmp_path, port=registry.port)
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}})
    for obj in workload_sources(config, config.workload("app"), tag=tag):
        kube.apply(obj)


def request_reconcile(kube: KubeClient, resource: Resource, name: str = "app") -> str:
    token = f"{time.time_ns()}"
    kube.merge_patch(
        resource, name, {"metadata": {"annotations": {RECONCILE_ANNOTATION: token}}}, "flux-system"
    )
    return token


# --- install ------------------------------------------------------------------------------------


def test_install_registers_the_crds_and_labelled_controllers(apiserver: ApiServer, kubeconfig: Path) -> None:
    kube = KubeClient(kubeconfig)
    install_simulated_flux(kube, version="v2.9.0")
    install_simulated_flux(kube, version="v2.9.0")  # idempotent
    for name in (
        "ocirepositories.source.toolkit.fluxcd.io",
        "kustomizations.kustomize.toolkit.fluxcd.io",
        "gitrepositories.source.toolkit.fluxcd.io",
        "helmreleases.helm.toolkit.fluxcd.io",
    ):
        crd = kube.get(CRDS, name)
        assert crd["metadata"]["labels"]["app.kubernetes.io/part-of"] == "flux"
    assert kube.get(NAMESPACES, "flux-system")["metadata"]["labels"]["app.kubernetes.io/version"] == "v2.9.0"
    deployments = kube.list(DEPLOYMENTS, "flux-system", label_selector="app.kubernetes.io/part-of=flux")
    by_name = {d["metadata"]["name"]: d for d in deployments["items"]}
    assert sorted(by_name) == ["helm-controller", "kustomize-controller", "source-controller"]
    for deployment in by_name.values():
        labels = deployment["metadata"]["labels"]
        assert labels["app.kubernetes.io/version"] == "v2.9.0"
        assert labels["ksail.io/simulated"] == "true"
    assert kube.list(OCI_REPOSITORIES, "flux-system")["items"] == []  # the CRDs are served


# --- the happy path, upgrades and pruning ---------------------------------------------------------


@pytest.mark.needs_registry
def test_a_pushed_workload_is_stored_applied_and_upgraded_with_pruning(
    simulated_flux: SimulatedFlux, flux_cluster: KubeClient, registry_process: Any, tmp_path: Path
) -> None:
    kube = flux_cluster
    first = push(
        registry_process,
        tmp_path,
        "0.1.0",
        {"cm.yaml": CONFIGMAP.format(name="settings", version="0.1.0"), "deploy.yaml": DEPLOYMENT},
    )
    deploy(kube, tmp_path, registry_process)
    revision = f"0.1.0@{first.manifest_digest}"
    wait_for(applied_revision(kube, revision), what=f"{revision} applied")

    repo = source(kube)
    assert repo["spec"]["url"] == f"oci://{IN_CLUSTER_REGISTRY}/t/app"
    artifact = repo["status"]["artifact"]
    assert artifact["revision"] == revision
    assert artifact["digest"] == first.layer_digest
    assert artifact["size"] == len(first.layer)
    assert artifact["metadata"] == first.annotations
    assert condition(repo, "Ready") | {"lastTransitionTime": ""} == {
        "type": "Ready",
        "status": "True",
        "reason": "Succeeded",
        "message": f"stored artifact for digest '{revision}'",
        "observedGeneration": 1,
        "lastTransitionTime": "",
    }
    assert condition(repo, "ArtifactInStorage")["status"] == "True"
    assert condition(repo, "Reconciling") == {} and condition(repo, "FetchFailed") == {}
    assert repo["status"]["observedGeneration"] == 1
    assert classify(FluxOCIRepository.from_object(repo)).health is Health.READY

    ks = kustomization(kube)
    assert ks["status"]["lastAttemptedRevision"] == revision
    assert ks["status"]["observedGeneration"] == ks["metadata"]["generation"]
    ready = condition(ks, "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "True",
        "ReconciliationSucceeded",
        f"Applied revision: {revision}",
    )
    assert condition(ks, "Healthy")["message"].startswith("Health check passed in ")
    assert ks["status"]["inventory"]["entries"] == [
        {"id": "apps_settings__ConfigMap", "v": "v1"},
        {"id": "apps_web_apps_Deployment", "v": "v1"},
    ]
    assert FluxKustomization.from_object(ks).inventory == (
        "apps_settings__ConfigMap",
        "apps_web_apps_Deployment",
    )
    assert classify(FluxKustomization.from_object(ks)).health is Health.READY
    settings = kube.get(CONFIGMAPS, "settings", "apps")
    assert settings["metadata"]["labels"] == {
        "kustomize.toolkit.fluxcd.io/name": "app",
        "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
        "ksail.io/simulated": "true",
    }
    assert kube.get(DEPLOYMENTS, "web", "apps")["metadata"]["labels"]["ksail.io/simulated"] == "true"

    # Upgrade by changing the ref: the renamed ConfigMap replaces the old one, which is pruned.
    second = push(
        registry_process,
        tmp_path,
        "0.1.1",
        {"cm.yaml": CONFIGMAP.format(name="settings-v2", version="0.1.1"), "deploy.yaml": DEPLOYMENT},
    )
    kube.merge_patch(OCI_REPOSITORIES, "app", {"spec": {"ref": {"tag": "0.1.1"}}}, "flux-system")
    upgraded = f"0.1.1@{second.manifest_digest}"
    wait_for(applied_revision(kube, upgraded), what=f"{upgraded} applied")
    assert source(kube)["status"]["observedGeneration"] == 2
    assert kube.get_or_none(CONFIGMAPS, "settings", "apps") is None
    assert kube.get(CONFIGMAPS, "settings-v2", "apps")["data"] == {"version": "0.1.1"}
    assert [e["id"] for e in kustomization(kube)["status"]["inventory"]["entries"]] == [
        "apps_settings-v2__ConfigMap",
        "apps_web_apps_Deployment",
    ]

    # Events are written after the status, so wait for the last one.
    wait_for(
        lambda: any(
            e["reason"] == "ReconciliationSucceeded"
            and e["metadata"]["annotations"].get("kustomize.toolkit.fluxcd.io/revision") == upgraded
            for e in events(kube)
        ),
        what="the upgrade's ReconciliationSucceeded event",
    )
    recorded = events(kube)
    for event in recorded:
        assert event["reportingComponent"].startswith("ksail-tui.sim/")
        assert event["involvedObject"]["uid"] in (repo["metadata"]["uid"], ks["metadata"]["uid"])
        assert event["count"] >= 1 and event["firstTimestamp"] and event["lastTimestamp"]
    summary = [(e["source"]["component"], e["type"], e["reason"], e["message"]) for e in recorded]
    new_artifact = f"stored artifact with revision '{upgraded}' from 'oci://{IN_CLUSTER_REGISTRY}/t/app'"
    assert ("source-controller", "Normal", "NewArtifact", new_artifact) in summary
    assert any(
        reason == "Progressing" and "ConfigMap/apps/settings deleted" in message.splitlines()
        for _, _, reason, message in summary
    )
    assert any(
        (component, reason) == ("kustomize-controller", "ReconciliationSucceeded")
        and message.startswith("Reconciliation finished in ")
        for component, _, reason, message in summary
    )

    # Deleting the Kustomization deletes what it applied (prune: true), as Flux's finalizer does.
    kube.delete(KUSTOMIZATIONS, "app", "flux-system")
    wait_for(lambda: kube.get_or_none(DEPLOYMENTS, "web", "apps") is None, what="garbage collection")
    assert kube.get_or_none(CONFIGMAPS, "settings-v2", "apps") is None


@pytest.mark.needs_registry
def test_requested_at_pulls_a_moved_tag_and_semver_follows_the_newest(
    simulated_flux: SimulatedFlux, flux_cluster: KubeClient, registry_process: Any, tmp_path: Path
) -> None:
    kube = flux_cluster
    push(registry_process, tmp_path, "0.1.0", {"cm.yaml": CONFIGMAP.format(name="settings", version="a")})
    config = sim_flux_config(
        tmp_path,
        port=registry_process.port,
        workloads="    - {name: app, sourceDirectory: app, targetNamespace: apps, follow: '>=0.1.0-0'}\n",
    )
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}})
    for obj in workload_sources(config, config.workload("app")):
        kube.apply(obj)
    wait_for(lambda: kube.get_or_none(CONFIGMAPS, "settings", "apps"), what="first version applied")

    newer = push(
        registry_process, tmp_path, "0.2.0-dev.1", {"cm.yaml": CONFIGMAP.format(name="settings", version="b")}
    )
    token = request_reconcile(kube, OCI_REPOSITORIES)
    revision = f"0.2.0-dev.1@{newer.manifest_digest}"
    # The source's new revision triggers the Kustomization by itself.
    wait_for(applied_revision(kube, revision), what="the pre-release applied")
    assert source(kube)["status"]["lastHandledReconcileAt"] == token
    assert kube.get(CONFIGMAPS, "settings", "apps")["data"] == {"version": "b"}


@pytest.mark.needs_registry
def test_requested_at_is_handled_at_once_and_even_when_suspended(
    simulated_flux: SimulatedFlux, flux_cluster: KubeClient, registry_process: Any, tmp_path: Path
) -> None:
    kube = flux_cluster
    first = push(
        registry_process, tmp_path, "0.1.0", {"cm.yaml": CONFIGMAP.format(name="settings", version="a")}
    )
    deploy(kube, tmp_path, registry_process)
    revision = f"0.1.0@{first.manifest_digest}"
    wait_for(applied_revision(kube, revision), what="ready")

    token = request_reconcile(kube, KUSTOMIZATIONS)
    wait_for(lambda: kustomization(kube)["status"].get("lastHandledReconcileAt") == token, what="handled")

    for resource in (OCI_REPOSITORIES, KUSTOMIZATIONS):
        kube.merge_patch(resource, "app", {"spec": {"suspend": True}}, "flux-system")
    push(registry_process, tmp_path, "0.1.1", {"cm.yaml": CONFIGMAP.format(name="settings", version="b")})
    kube.merge_patch(OCI_REPOSITORIES, "app", {"spec": {"ref": {"tag": "0.1.1"}}}, "flux-system")
    before = {"source": source(kube)["status"], "ks": kustomization(kube)["status"]}
    tokens = {
        "source": request_reconcile(kube, OCI_REPOSITORIES),
        "ks": request_reconcile(kube, KUSTOMIZATIONS),
    }
    wait_for(lambda: source(kube)["status"].get("lastHandledReconcileAt") == tokens["source"], what="source")
    wait_for(lambda: kustomization(kube)["status"].get("lastHandledReconcileAt") == tokens["ks"], what="ks")
    time.sleep(0.3)
    after = {"source": source(kube)["status"], "ks": kustomization(kube)["status"]}
    for key in ("source", "ks"):
        assert after[key] == before[key] | {"lastHandledReconcileAt": tokens[key]}
    assert source(kube)["metadata"]["generation"] == 3  # ref and suspend changed; nothing observed them
    assert classify(FluxOCIRepository.from_object(source(kube))).health is Health.SUSPENDED

    kube.merge_patch(OCI_REPOSITORIES, "app", {"spec": {"suspend": None}}, "flux-system")
    kube.merge_patch(KUSTOMIZATIONS, "app", {"spec": {"suspend": None}}, "flux-system")
    wait_for(lambda: kube.get(CONFIGMAPS, "settings", "apps")["data"] == {"version": "b"}, what="resumed")


# --- failures --------------------------------------------------------------------------------------


@pytest.mark.needs_registry
def test_a_broken_manifest_fails_the_build_and_keeps_the_applied_revision(
    simulated_flux: SimulatedFlux, flux_cluster: KubeClient, registry_process: Any, tmp_path: Path
) -> None:
    kube = flux_cluster
    good = push(
        registry_process, tmp_path, "0.1.0", {"cm.yaml": CONFIGMAP.format(name="settings", version="a")}
    )
    deploy(kube, tmp_path, registry_process)
    good_revision = f"0.1.0@{good.manifest_digest}"
    wait_for(applied_revision(kube, good_revision), what="ready")

    bad = push(
        registry_process,
        tmp_path,
        "0.1.1",
        {"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x\n"},
    )
    kube.merge_patch(OCI_REPOSITORIES, "app", {"spec": {"ref": {"tag": "0.1.1"}}}, "flux-system")
    bad_revision = f"0.1.1@{bad.manifest_digest}"
    ks = wait_until(
        lambda: kustomization(kube),
        lambda k: condition(k, "Ready").get("reason") == "BuildFailed",
        "BuildFailed",
    )
    ready = condition(ks, "Ready")
    assert ready["status"] == "False"
    assert ready["message"].startswith("kustomize build failed: ")
    assert "'cm.yaml'" in ready["message"] and "MalformedYAMLError" in ready["message"]
    reconciling = condition(ks, "Reconciling")
    assert (reconciling["status"], reconciling["reason"]) == ("True", "ProgressingWithRetry")
    assert ks["status"]["lastAppliedRevision"] == good_revision
    assert ks["status"]["lastAttemptedRevision"] == bad_revision
    assert ks["status"]["observedGeneration"] == ks["metadata"]["generation"]  # its spec did not change
    assert classify(FluxKustomization.from_object(ks)).health is Health.FAILING
    assert kube.get(CONFIGMAPS, "settings", "apps")["data"] == {"version": "a"}  # nothing applied
    # Retries keep failing the same way: one Warning whose count grows, not a new event each time.
    warning = wait_for(
        lambda: next((e for e in events(kube) if e["reason"] == "BuildFailed" and e["count"] >= 2), None),
        what="a repeated BuildFailed event",
    )
    assert warning["type"] == "Warning" and warning["message"] == ready["message"]
    assert sum(e["reason"] == "BuildFailed" for e in events(kube)) == 1


@pytest.mark.needs_registry
def test_a_missing_tag_fails_the_pull_and_keeps_retrying(
    simulated_flux: SimulatedFlux, flux_cluster: KubeClient, registry_process: Any, tmp_path: Path
) -> None:
    kube = flux_cluster
    push(registry_process, tmp_path, "0.1.0", {"cm.yaml": CONFIGMAP.format(name="settings", version="a")})
    deploy(kube, tmp_path, registry_process, tag="9.9.9")
    repo = wait_until(
        lambda: source(kube), lambda r: condition(r, "Ready").get("status") == "False", "failure"
    )
    ready = condition(repo, "Ready")
    assert ready["reason"] == "OCIArtifactPullFailed"
    assert ready["message"] == (
        f"failed to determine artifact digest: GET http://{IN_CLUSTER_REGISTRY}/v2/t/app/manifests/9.9.9: "
        "MANIFEST_UNKNOWN: manifest unknown; map[Tag:9.9.9]"
    )
    fetch_failed = condition(repo, "FetchFailed")
    assert (fetch_failed["status"], fetch_failed["reason"], fetch_failed["message"]) == (
        "True",
        "OCIArtifactPullFailed",
        ready["message"],
    )
    reconciling = condition(repo, "Reconciling")
    assert (reconciling["status"], reconciling["reason"]) == ("True", "ProgressingWithRetry")
    # -1 is the CRD's default for a status never written, as a real API server fills it in.
    assert reconciling["message"] == "processing object: new generation -1 -> 1"
    assert repo["status"]["observedGeneration"] == -1 and "artifact" not in repo["status"]
    assert classify(FluxOCIRepository.from_object(repo)).health is Health.FAILING
    wait_for(
        lambda: any(e["type"] == "Warning" and e["reason"] == "OCIArtifactPullFailed" for e in events(kube)),
        what="a Warning event",
    )
    # The Kustomization waits for an artifact, quietly, as kustomize-controller does.
    ks = wait_until(lambda: kustomization(kube), lambda k: condition(k, "Ready"), "ks status")
    assert condition(ks, "Ready")["reason"] == "ArtifactFailed"
    assert condition(ks, "Ready")["message"] == "Source artifact not found, retrying in 300ms"
    assert condition(ks, "Reconciling")["reason"] == "ProgressingWithRetry"

    # Fixing the ref recovers without a restart.
    kube.merge_patch(OCI_REPOSITORIES, "app", {"spec": {"ref": {"tag": "0.1.0"}}}, "flux-system")
    wait_for(lambda: kube.get_or_none(CONFIGMAPS, "settings", "apps"), what="recovered")


@pytest.mark.needs_registry
def test_health_checks_time_out_as_health_check_failed(registry_process: Any, tmp_path: Path) -> None:
    with ApiServer(deployment_controller=False) as server:  # Deployments never become available
        kube = KubeClient(server.write_kubeconfig(tmp_path / "kubeconfig"))
        install_simulated_flux(kube)
        push(registry_process, tmp_path, "0.1.0", {"deploy.yaml": DEPLOYMENT})
        deploy(kube, tmp_path, registry_process)
        kube.merge_patch(KUSTOMIZATIONS, "app", {"spec": {"timeout": "500ms"}}, "flux-system")
        with SimulatedFlux(kube, {IN_CLUSTER_REGISTRY: registry_process.endpoint}, retry_interval=0.3):
            ks = wait_until(
                lambda: kustomization(kube),
                lambda k: condition(k, "Healthy").get("status") == "False",
                "HealthCheckFailed",
            )
    healthy, ready = condition(ks, "Healthy"), condition(ks, "Ready")
    assert healthy["reason"] == ready["reason"] == "HealthCheckFailed"
    assert healthy["message"] == "timeout waiting for: [Deployment/apps/web status: 'InProgress']"
    assert ready["message"].startswith("health check failed after ")
    assert ready["message"].endswith(": timeout waiting for: [Deployment/apps/web status: 'InProgress']")
    assert condition(ks, "Reconciling")["reason"] == "ProgressingWithRetry"
    assert "lastAppliedRevision" not in ks["status"]
    assert ks["status"]["inventory"]["entries"] == [{"id": "apps_web_apps_Deployment", "v": "v1"}]


# Unserved kinds and missing namespaces: tests/test_sim_flux_tiers.py, on both API servers.


def test_a_url_with_a_tag_stalls(flux_cluster: KubeClient) -> None:
    kube = flux_cluster
    with SimulatedFlux(kube):
        kube.apply(
            {
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": "OCIRepository",
                "metadata": {"name": "tagged", "namespace": "flux-system"},
                "spec": {"interval": "1m", "url": "oci://ghcr.io/test/test:v1"},
            }
        )
        repo = wait_until(lambda: source(kube, "tagged"), lambda r: condition(r, "Stalled"), "stall")
    message = (
        "URL validation failed for 'oci://ghcr.io/test/test:v1': URL must not contain a tag; remove ':v1'"
    )
    for type_, status in (("Stalled", "True"), ("FetchFailed", "True"), ("Ready", "False")):
        found = condition(repo, type_)
        assert (found["status"], found["reason"], found["message"]) == (status, "URLInvalid", message)
    assert condition(repo, "Reconciling") == {}
    assert repo["status"]["observedGeneration"] == 1
    assert classify(FluxOCIRepository.from_object(repo)).health is Health.STALLED


def test_an_unreachable_registry_and_a_missing_source_are_retried_failures(flux_cluster: KubeClient) -> None:
    kube = flux_cluster
    with SimulatedFlux(kube, {IN_CLUSTER_REGISTRY: "127.0.0.1:9"}, retry_interval=0.2):
        kube.apply(
            {
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": "OCIRepository",
                "metadata": {"name": "app", "namespace": "flux-system"},
                "spec": {"interval": "1m", "url": f"oci://{IN_CLUSTER_REGISTRY}/t/app", "insecure": True},
            }
        )
        for name, extra in (("orphan", {}), ("patched", {"patches": [{"patch": "[]"}]})):
            kube.apply(
                {
                    "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                    "kind": "Kustomization",
                    "metadata": {"name": name, "namespace": "flux-system"},
                    "spec": {
                        "interval": "1m",
                        "prune": True,
                        "sourceRef": {"kind": "OCIRepository", "name": "gone"},
                        **extra,
                    },
                }
            )
        repo = wait_until(lambda: source(kube), lambda r: condition(r, "Ready"), "pull failure")
        orphan = wait_until(lambda: kustomization(kube, "orphan"), lambda k: condition(k, "Ready"), "orphan")
        patched = wait_until(
            lambda: kustomization(kube, "patched"), lambda k: condition(k, "Ready"), "patched"
        )
    ready = condition(repo, "Ready")
    assert ready["reason"] == "OCIArtifactPullFailed"
    assert ready["message"].startswith("failed to determine artifact digest: ")
    assert "connection refused" in ready["message"] and IN_CLUSTER_REGISTRY in ready["message"]
    assert condition(repo, "Reconciling")["reason"] == "ProgressingWithRetry"
    assert condition(orphan, "Ready")["reason"] == "ArtifactFailed"
    assert (
        condition(orphan, "Ready")["message"]
        == "OCIRepository.source.toolkit.fluxcd.io 'flux-system/gone' not found"
    )
    assert condition(orphan, "Reconciling")["reason"] == "ProgressingWithRetry"
    # What the simulator cannot reproduce is refused rather than applied differently.
    assert condition(patched, "Ready")["reason"] == "BuildFailed"
    assert (
        condition(patched, "Ready")["message"]
        == "the simulated kustomize-controller does not support spec.patches"
    )


def test_the_controllers_survive_an_api_outage_and_stop_promptly(
    apiserver: ApiServer, flux_cluster: KubeClient
) -> None:
    kube = flux_cluster
    before = set(threading.enumerate())
    sim = SimulatedFlux(kube, retry_interval=0.2).start()
    try:
        apiserver.set_unavailable(True)
        time.sleep(0.5)
        apiserver.set_unavailable(False)
        kube.apply(
            {
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": "OCIRepository",
                "metadata": {"name": "after", "namespace": "flux-system"},
                "spec": {"interval": "1m", "url": "oci://ghcr.io/test/test:v2"},
            }
        )
        wait_for(
            lambda: condition(source(kube, "after"), "Stalled"),
            timeout=10,
            what="reconciled after the outage",
        )
        apiserver.set_unavailable(True)  # stopping must not wait for the API server
    finally:
        sim.stop()
        apiserver.set_unavailable(False)
    # stop() gives up waiting after its timeout; every thread having ended shows it did not need to.
    assert not [t.name for t in set(threading.enumerate()) - before if t.name.startswith("sim-")]
