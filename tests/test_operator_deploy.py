"""The operator's pure decisions for building and deploying an Environment: golden objects,
Flux's schemas, the pin per commit, revision-aware readiness, failures and cleanup order."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ksail_tui.operator import conditions as cond
from ksail_tui.operator import deploy, naming, objects
from ksail_tui.operator.quota import effective_quota
from ksail_tui.operator.reconcile import (
    FAILED,
    RUNNING,
    SUCCEEDED,
    Observed,
    Plan,
    Probe,
    finalize,
    object_key,
    reconcile,
)
from ksail_tui.operator.settings import Settings
from tests.test_flux_sources import validate as validate_flux

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
UID = "0b5f3a2e-1111-2222-3333-444455556666"
SHA = "0123456789abcdef0123456789abcdef01234567"
IMAGE = f"local-registry:5000/shop/web-pr-7:{SHA[:12]}"
IMAGE_DIGEST = "sha256:" + "b" * 64
ARTIFACT_DIGEST = "sha256:" + "a" * 64
NAMESPACE = "team-a-shop-pr-7"
SETTINGS = Settings()


def project(**template: Any) -> dict[str, Any]:
    development = {
        "sourceRef": "app",
        "artifact": {"repository": "shop/manifests"},
        "builds": [{"name": "web", "sourceRef": "app", "path": "services/web", "dockerfile": "Dockerfile"}],
        **template,
    }
    return {
        "metadata": {"name": "shop", "namespace": "team-a"},
        "spec": {
            "sources": [
                {"name": "app", "repositoryUrl": "https://git.example/shop.git", "secretRef": {"name": "git"}}
            ],
            "templates": {"development": development},
        },
    }


def environment(commit: str = SHA, generation: int = 1, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": naming.API_VERSION,
        "kind": "Environment",
        "metadata": {
            "name": "pr-7",
            "namespace": "team-a",
            "uid": UID,
            "generation": generation,
            "creationTimestamp": "2026-01-02T00:00:00Z",
            "labels": {
                naming.TEAM_LABEL: "team-a",
                naming.PROJECT_LABEL: "shop",
                naming.ENVIRONMENT_LABEL: "pr-7",
            },
        },
        "spec": {"projectRef": {"name": "shop"}, "sources": [{"name": "app", "commitSha": commit}], **spec},
    }


IDENTITY = objects.Identity("pr-7", "team-a", UID, "team-a", "shop", "pr-7")


def provisioned() -> tuple[dict[str, Any], dict[tuple[str, str], Any]]:
    """The namespace and its policies in place, as after the first steps."""
    namespace = objects.namespace(IDENTITY) | {"status": {"phase": "Active"}}
    owned = {
        object_key(o): o
        for o in (
            objects.resource_quota(IDENTITY, effective_quota(None, None)),
            objects.limit_range(IDENTITY),
            objects.network_policy(IDENTITY, SETTINGS),
        )
    }
    return {NAMESPACE: namespace}, owned


def flux_ready(obj: dict[str, Any], generation: int = 1, **status: Any) -> dict[str, Any]:
    ready = {
        "type": "Ready",
        "status": "True",
        "reason": "Succeeded",
        "message": "ok",
        "observedGeneration": generation,
    }
    return obj | {
        "metadata": obj["metadata"] | {"generation": generation},
        "status": {"observedGeneration": generation, "conditions": [ready], **status},
    }


def plan_for(
    env: dict[str, Any],
    extra: dict[tuple[str, str], Any] | None = None,
    proj: dict[str, Any] | None = None,
    **observed: Any,
) -> Plan:
    namespaces, owned = provisioned()
    return reconcile(
        env,
        Observed(
            now=NOW,
            project=proj or project(),
            namespaces=namespaces,
            objects={**owned, **(extra or {})},
            **({"images": {IMAGE: IMAGE_DIGEST}, "artifact_digest": ARTIFACT_DIGEST} | observed),
        ),
        SETTINGS,
    )


def step(plan: Plan, name: str) -> dict[str, Any]:
    return next(s for s in plan.status["steps"] if s["name"] == name)


def condition(plan: Plan, type_: str) -> dict[str, Any]:
    return next(c for c in plan.status["conditions"] if c["type"] == type_)


def deployed(**kustomization_status: Any) -> dict[tuple[str, str], Any]:
    """The OCIRepository pinned and Ready, the Kustomization as desired with this status."""
    env = environment()
    pin = deploy.pin_key(env)
    source = flux_ready(
        deploy.oci_repository(
            IDENTITY, project()["spec"]["templates"]["development"], SETTINGS, ARTIFACT_DIGEST, pin
        ),
        artifact={"revision": ARTIFACT_DIGEST},
    )
    image = deploy.wanted_images(env, project(), "pr-7")[0]
    desired = deploy.kustomization(
        IDENTITY, project()["spec"]["templates"]["development"], SETTINGS, {image: IMAGE_DIGEST}, {}
    )
    kustomization = desired | {
        "metadata": desired["metadata"] | {"generation": 1},
        "status": kustomization_status,
    }
    ingress = deploy.ingress(IDENTITY, SETTINGS)
    return {object_key(o): o for o in (source, kustomization, ingress)}


def applied_at(revision: str, message: str) -> dict[tuple[str, str], Any]:
    """Deployed, the Kustomization Ready at ``revision``, as kustomize-controller reports it."""
    ready = {
        "type": "Ready",
        "status": "True",
        "reason": "ReconciliationSucceeded",
        "message": message,
        "observedGeneration": 1,
    }
    return deployed(lastAppliedRevision=revision, observedGeneration=1, conditions=[ready])


# -- golden objects --------------------------------------------------------------------------


def test_the_image_is_named_per_project_build_environment_and_commit() -> None:
    (image,) = deploy.wanted_images(environment(), project(), "pr-7")
    assert image.reference(SETTINGS) == IMAGE
    branch_only = environment()
    branch_only["spec"]["sources"] = [{"name": "app", "branch": "feature/login"}]
    assert deploy.wanted_images(branch_only, project(), "pr-7")[0].tag == "feature-login"


def test_a_missing_image_is_built_by_a_job_that_runs_once() -> None:
    plan = plan_for(environment(), images={IMAGE: None})
    (job,) = [o for o in plan.apply if o["kind"] == "Job"]
    spec = job["spec"]
    assert job["metadata"]["name"] == f"build-web-{SHA[:12]}"
    assert job["metadata"]["labels"][naming.OWNER_UID_LABEL] == UID
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"], spec["ttlSecondsAfterFinished"]) == (
        0,
        1800,
        3600,
    )
    pod = spec["template"]["spec"]
    (clone,) = pod["initContainers"]
    env = {e["name"]: e for e in clone["env"]}
    assert env["REPOSITORY"]["value"] == "https://git.example/shop.git"
    assert env["REVISION"]["value"] == SHA
    # The credentials by reference only.
    assert env["GIT_PASSWORD"] == {
        "name": "GIT_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "git", "key": "password"}},
    }
    (build,) = pod["containers"]
    assert build["image"] == SETTINGS.builder_image
    assert build["args"] == [
        "--context=dir:///workspace/services/web",
        "--dockerfile=Dockerfile",
        f"--destination={IMAGE}",
        "--insecure",
    ]
    assert build["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert plan.status["phase"] == "Building"
    assert step(plan, "image")["state"] == RUNNING


def test_the_project_may_name_another_builder() -> None:
    plan = plan_for(
        environment(), proj=project(builder={"image": "moby/buildkit:rootless"}), images={IMAGE: None}
    )
    assert plan.apply[0]["spec"]["template"]["spec"]["containers"][0]["image"] == "moby/buildkit:rootless"


def test_flux_objects_validate_against_fluxs_schemas_and_pin_the_digests() -> None:
    env = environment(config={"env": [{"name": "GREETING", "value": "hi"}]})
    first = plan_for(env)
    (source,) = [o for o in first.apply if o["kind"] == "OCIRepository"]
    validate_flux(source)
    assert source["spec"]["ref"] == {"digest": ARTIFACT_DIGEST}
    assert source["spec"]["url"] == "oci://local-registry:5000/shop/manifests"
    image = deploy.wanted_images(env, project(), "pr-7")[0]
    kustomization = deploy.kustomization(
        IDENTITY,
        project()["spec"]["templates"]["development"],
        SETTINGS,
        {image: IMAGE_DIGEST},
        env["spec"]["config"],
    )
    validate_flux(kustomization)
    spec = kustomization["spec"]
    assert (spec["targetNamespace"], spec["prune"], spec["wait"]) == (NAMESPACE, True, True)
    assert spec["images"] == [
        {"name": "web", "newName": "local-registry:5000/shop/web-pr-7", "digest": IMAGE_DIGEST}
    ]
    assert spec["postBuild"] == {"substitute": {"GREETING": "hi"}}


def test_the_ingress_routes_the_namespace_host_or_the_preview_domain() -> None:
    ingress = deploy.ingress(IDENTITY, SETTINGS)
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["rules"][0]["host"] == f"{NAMESPACE}.localhost"
    assert deploy.host(IDENTITY, Settings(preview_domain="preview.example.com")) == "pr-7.preview.example.com"


# -- decisions -------------------------------------------------------------------------------


def test_a_failed_build_job_fails_with_its_reason_and_last_log_lines() -> None:
    job = deploy.build_job(IDENTITY, deploy.wanted_images(environment(), project(), "pr-7")[0], SETTINGS, {})
    failed = {
        "type": "Failed",
        "status": "True",
        "reason": "DeadlineExceeded",
        "message": "Job was active longer",
    }
    job = job | {"status": {"conditions": [failed]}}
    name = job["metadata"]["name"]
    pod = {
        "metadata": {"labels": {"job-name": name}},
        "status": {
            "containerStatuses": [
                {
                    "name": "build",
                    "state": {"terminated": {"exitCode": 1, "message": "step 1\nerror: no space"}},
                }
            ]
        },
    }
    plan = plan_for(environment(), {object_key(job): job}, images={IMAGE: None}, pods=(pod,))
    image = condition(plan, cond.IMAGE_READY)
    assert image["reason"] == "DeadlineExceeded"
    assert image["message"] == (
        f"build Job {name} failed: DeadlineExceeded: Job was active longer; last lines of its log:\n"
        "build: step 1\nbuild: error: no space"
    )
    assert plan.status["phase"] == "Failed"
    assert "Job" not in {o["kind"] for o in plan.apply}  # never re-run for the same commit


def waiting_build_pod(container: str, reason: str, message: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The build Job, running, and its Pod with ``container`` waiting for ``reason``."""
    job = deploy.build_job(IDENTITY, deploy.wanted_images(environment(), project(), "pr-7")[0], SETTINGS, {})
    waiting = {"name": container, "state": {"waiting": {"reason": reason, "message": message}}}
    pod = {
        "metadata": {"labels": {"job-name": job["metadata"]["name"]}},
        "status": {"phase": "Pending", "initContainerStatuses": [waiting]},
    }
    return job, pod


def test_a_build_pod_without_its_secret_says_which_and_how_to_create_it() -> None:
    job, pod = waiting_build_pod("clone", "CreateContainerConfigError", 'secret "git" not found')
    plan = plan_for(environment(), {object_key(job): job}, images={IMAGE: None}, pods=(pod,))
    image = step(plan, "image")
    assert image["state"] == RUNNING  # kubelet starts it once the Secret exists
    assert image["message"] == (
        f"build Job {job['metadata']['name']} cannot start: container clone: CreateContainerConfigError: "
        f'secret "git" not found; create the Secret in the Environment\'s namespace (kubectl -n {NAMESPACE} '
        "create secret generic git --from-literal=username=... --from-literal=password=...): the build "
        "starts once it exists"
    )
    assert condition(plan, "Ready")["message"] == "image: " + image["message"]
    assert plan.requeue_after is not None  # nothing announces the Pod starting: look again


def test_a_build_pod_that_cannot_pull_its_image_names_the_setting() -> None:
    job, pod = waiting_build_pod("build", "ImagePullBackOff", 'Back-off pulling image "kaniko:1"')
    plan = plan_for(environment(), {object_key(job): job}, images={IMAGE: None}, pods=(pod,))
    message = step(plan, "image")["message"]
    assert 'container build: ImagePullBackOff: Back-off pulling image "kaniko:1"' in message
    assert "set the template's builder.image to one the cluster pulls" in message
    # A Pod merely being scheduled is building, not stuck.
    _, starting = waiting_build_pod("clone", "PodInitializing", "")
    plan = plan_for(environment(), {object_key(job): job}, images={IMAGE: None}, pods=(starting,))
    assert step(plan, "image")["message"] == f"Job {job['metadata']['name']} is building {IMAGE}"


def test_ready_only_at_the_revision_asked_for() -> None:
    stale = applied_at("sha256:" + "c" * 64, "Applied revision: old")
    plan = plan_for(environment(), stale)
    assert step(plan, "deploy")["state"] == RUNNING
    assert plan.status["phase"] == "Deploying"
    current = applied_at(ARTIFACT_DIGEST, f"Applied revision: {ARTIFACT_DIGEST}")
    plan = plan_for(environment(), current)
    assert step(plan, "deploy") | {"startedAt": "", "finishedAt": ""} == {
        "name": "deploy",
        "state": SUCCEEDED,
        "message": f"Applied revision: {ARTIFACT_DIGEST}",
        "startedAt": "",
        "finishedAt": "",
    }
    assert plan.status["phase"] == "Ready"
    assert plan.status["url"] == f"http://{NAMESPACE}.localhost"


def test_a_flux_failure_is_a_failure_at_once_but_not_one_of_a_spec_flux_has_not_seen() -> None:
    broken = {
        "type": "Ready",
        "status": "False",
        "reason": "BuildFailed",
        "message": "kustomize build failed: yaml",
        "observedGeneration": 1,
    }
    plan = plan_for(environment(), deployed(conditions=[broken]))
    assert condition(plan, cond.DEPLOY_READY) | {"lastTransitionTime": ""} == {
        "type": cond.DEPLOY_READY,
        "status": cond.FALSE,
        "observedGeneration": 1,
        "lastTransitionTime": "",
        "reason": "BuildFailed",
        "message": "kustomize build failed: yaml",
    }
    assert plan.status["phase"] == "Failed"
    # The same failure, from before the Kustomization's current generation: still in progress.
    stale = deployed(conditions=[broken])
    for obj in stale.values():
        if obj["kind"] == "Kustomization":
            obj["metadata"]["generation"] = 2
    assert step(plan_for(environment(), stale), "deploy")["state"] == RUNNING


def test_the_pin_holds_for_a_commit_and_a_new_commit_takes_the_newest_artifact() -> None:
    newer = "sha256:" + "d" * 64
    pinned = deployed()
    # A newer artifact was pushed, the commit is the same: the Environment stays where it is.
    plan = plan_for(environment(), pinned, artifact_digest=newer)
    assert not [o for o in plan.apply if o["kind"] == "OCIRepository"]
    # A new commit: the OCIRepository moves to the newest artifact (and a new image is built).
    other = "f" * 40
    images = {f"local-registry:5000/shop/web-pr-7:{other[:12]}": IMAGE_DIGEST}
    plan = plan_for(environment(other, generation=2), pinned, artifact_digest=newer, images=images)
    (source,) = [o for o in plan.apply if o["kind"] == "OCIRepository"]
    assert source["spec"]["ref"] == {"digest": newer}


def test_no_artifact_yet_waits_for_one() -> None:
    plan = plan_for(
        environment(), artifact_digest=None, artifact_error="shop/manifests has no version tag yet"
    )
    assert step(plan, "source")["state"] == RUNNING
    assert "no version tag yet" in step(plan, "source")["message"]
    assert plan.requeue_after is not None


def test_flux_not_installed_is_a_clear_failure() -> None:
    plan = plan_for(environment(), unserved=frozenset({"OCIRepository", "Kustomization"}))
    assert condition(plan, cond.SOURCE_READY)["reason"] == "FluxNotInstalled"
    assert plan.status["phase"] == "Failed"


def test_a_template_without_manifests_runs_deployment_web() -> None:
    proj = project(type="deployment", config={"ports": [3000], "probes": {"readiness": {"path": "/up"}}})
    proj["spec"]["templates"]["development"].pop("artifact")
    plan = plan_for(environment(), proj=proj)
    kinds = {o["kind"]: o for o in plan.apply}
    container = kinds["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"local-registry:5000/shop/web-pr-7@{IMAGE_DIGEST}"
    assert container["readinessProbe"] == {"httpGet": {"path": "/up", "port": "http"}}
    assert kinds["Service"]["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": 3000, "protocol": "TCP"}
    ]
    assert step(plan, "source")["state"] == SUCCEEDED


def test_the_readiness_path_is_probed_and_must_answer() -> None:
    current = applied_at(ARTIFACT_DIGEST, "ok")
    env = environment(config={"probes": {"readiness": {"path": "/healthz"}}})
    url = f"http://{NAMESPACE}.localhost/healthz"
    plan = plan_for(env, current)
    assert plan.probes == (url,) and not plan.converged
    plan = plan_for(env, current, probes={url: Probe(503, "Service Unavailable")})
    assert step(plan, "reachable") | {"startedAt": ""} == {
        "name": "reachable",
        "state": RUNNING,
        "message": f"{url} answered 503: Service Unavailable",
        "startedAt": "",
    }
    assert plan.requeue_after == 2.0
    plan = plan_for(env, current, probes={url: Probe(200, "OK")})
    assert plan.status["phase"] == "Ready"


@pytest.mark.parametrize(
    ("age", "deletes"), [(None, ["Kustomization"]), (30, []), (61, ["OCIRepository", "Namespace"])]
)
def test_cleanup_deletes_the_kustomization_first_and_waits_for_flux_to_prune(
    age: int | None, deletes: list[str]
) -> None:
    namespaces, owned = provisioned()
    flux = deployed()
    if age is not None:
        for key, obj in flux.items():
            if key[0] == "Kustomization":
                obj["metadata"]["deletionTimestamp"] = (NOW - timedelta(seconds=age)).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                )
    env = copy.deepcopy(environment()) | {"status": {"namespace": NAMESPACE}}
    cleanup = finalize(env, Observed(now=NOW, namespaces=namespaces, objects={**owned, **flux}))
    assert [o["kind"] for o in cleanup.delete] == deletes
    assert not cleanup.done


def test_cleanup_is_done_once_flux_objects_and_namespace_are_gone() -> None:
    env = environment() | {"status": {"namespace": NAMESPACE}}
    cleanup = finalize(env, Observed(now=NOW))
    assert cleanup.done and cleanup.delete == ()


def test_an_unknown_source_is_an_invalid_spec() -> None:
    proj = project()
    proj["spec"]["templates"]["development"]["builds"][0]["sourceRef"] = "nope"
    plan = plan_for(environment(), proj=proj)
    assert condition(plan, cond.IMAGE_READY)["reason"] == cond.INVALID_SPEC
    assert "no source 'nope'" in condition(plan, cond.IMAGE_READY)["message"]
    assert FAILED in {s["state"] for s in plan.status["steps"]}


def test_a_digest_edited_by_hand_is_put_back() -> None:
    pinned = deployed()
    pinned[("OCIRepository", "app")]["spec"]["ref"] = {"digest": "sha256:" + "e" * 64}
    plan = plan_for(environment(), pinned, artifact_digest="sha256:" + "d" * 64)
    (source,) = [o for o in plan.apply if o["kind"] == "OCIRepository"]
    assert source["spec"]["ref"] == {"digest": ARTIFACT_DIGEST}
