"""Environments that build, deploy through Flux, get a URL and redeploy, end to end on the
emulator: the real registry, the simulated Flux controllers and Job runner, the operator."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from ksail_tui.kube.client import DEPLOYMENTS, KUSTOMIZATIONS, NAMESPACES, OCI_REPOSITORIES
from ksail_tui.kube.watch import Watcher, WatchEvent
from ksail_tui.oci.registry_client import RegistryClient
from ksail_tui.operator import conditions as cond
from ksail_tui.operator import naming
from ksail_tui.operator.service import ENVIRONMENTS, JOBS
from tests.fixtures.operator import PROJECT_NAMESPACE, env_status, wait_until
from tests.fixtures.world_environments import (
    DEPLOYMENT_MANIFEST,
    EnvironmentWorld,
    commit,
    environment,
    project_manifest,
)

pytestmark = [pytest.mark.needs_registry]


def phases_of(world: EnvironmentWorld, name: str) -> list[str]:
    """Every phase the Environment's status goes through, recorded by a watch (started now)."""
    seen: list[str] = []
    lock = threading.Lock()

    def record(event: WatchEvent) -> None:
        objects = event.objects or ((event.object,) if event.object else ())
        for obj in objects:
            phase = (obj.get("status") or {}).get("phase")
            if obj["metadata"]["name"] == name and phase:
                with lock:
                    if not seen or seen[-1] != phase:
                        seen.append(phase)

    watcher = Watcher(world.client, ENVIRONMENTS, record, namespace=PROJECT_NAMESPACE).start()
    world._stack.callback(watcher.stop)
    return seen


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return dict(cond.status_of(status.get("conditions") or [], type_) or {})


def wait_phase(world: EnvironmentWorld, name: str, phase: str, generation: int = 1) -> dict[str, Any]:
    try:
        return wait_until(
            lambda: (
                (s := env_status(world.client, name)).get("phase") == phase
                and s.get("observedGeneration") == generation
                and s
            ),
            f"Environment {name} to be {phase} at generation {generation}",
            timeout=30,
        )
    except AssertionError as error:
        steps = env_status(world.client, name).get("steps") or []
        raise AssertionError(f"{error}; its steps: {steps}") from None


def test_created_builds_deploys_and_is_ready_with_a_url(environment_world: EnvironmentWorld) -> None:
    world = environment_world
    phases = phases_of(world, "pr-1")
    world.client.apply(environment("pr-1", world.first_commit, config={"env": {"release": "pr-1"}}))
    status = wait_phase(world, "pr-1", "Ready")
    namespace = "team-a-shop-pr-1"
    # The watch's Ready event may land after the GET that saw Ready.
    wait_until(lambda: "Ready" in phases, "the watch to see Ready", timeout=10)

    assert phases[phases.index("Building") :].count("Deploying") >= 1, phases
    assert phases.index("Building") < phases.index("Deploying") < phases.index("Ready"), phases
    assert status["url"] == f"http://{namespace}.localhost"
    for type_ in (cond.IMAGE_READY, cond.SOURCE_READY, cond.DEPLOY_READY, cond.REACHABLE):
        assert condition(status, type_)["status"] == cond.TRUE, status["conditions"]
    assert "answered 200" in condition(status, cond.REACHABLE)["message"]
    # The image was built by a Job (the simulated runner pushed it to the real registry) ...
    tag = world.first_commit[:12]
    with RegistryClient(world.registry.endpoint) as registry:
        digest = registry.manifest_digest("shop/web-pr-1", tag)
    assert digest is not None
    jobs = world.client.list(JOBS, namespace).get("items") or []
    assert [j["metadata"]["name"] for j in jobs] == [f"build-web-{tag}"]
    assert jobs[0]["spec"]["backoffLimit"] == 0
    # ... and Flux runs it by digest, at the pinned revision of the artifact.
    web = world.client.get(DEPLOYMENTS, "web", namespace)
    assert (
        web["spec"]["template"]["spec"]["containers"][0]["image"]
        == f"local-registry:5000/shop/web-pr-1@{digest}"
    )
    assert web["metadata"]["annotations"]["release"] == "pr-1"  # the Environment's variable
    source = world.client.get(OCI_REPOSITORIES, "app", namespace)
    assert source["spec"]["ref"] == {"digest": world.artifact.manifest_digest}
    kustomization = world.client.get(KUSTOMIZATIONS, "app", namespace)
    assert kustomization["status"]["lastAppliedRevision"] == world.artifact.manifest_digest
    assert kustomization["spec"]["targetNamespace"] == namespace


def test_a_failing_build_fails_with_the_jobs_reason_and_log(environment_world: EnvironmentWorld) -> None:
    world = environment_world
    missing = "0" * 40  # not a commit of the repository: the clone fails
    world.client.apply(environment("pr-2", missing))
    status = wait_phase(world, "pr-2", "Failed")
    image = condition(status, cond.IMAGE_READY)
    assert image["status"] == cond.FALSE
    assert image["reason"] == "BackoffLimitExceeded"
    assert "Job has reached the specified backoff limit" in image["message"]
    assert f"clone: fatal: cannot check out {missing}" in image["message"]
    assert condition(status, cond.STALLED)["status"] == cond.TRUE
    assert condition(status, cond.DEPLOY_READY)["reason"] == "DependencyNotReady"


def test_a_broken_manifest_fails_with_fluxs_message_at_once(environment_world: EnvironmentWorld) -> None:
    world = environment_world
    world.push_manifests("0.2.0", "apiVersion: v1\nkind: ConfigMap\nmetadata: [broken\n")
    world.client.apply(environment("pr-3", world.first_commit))
    # Well within the Kustomization's timeout (5m): a build failure is final, not retried away.
    status = wait_phase(world, "pr-3", "Failed")
    deploy = condition(status, cond.DEPLOY_READY)
    assert deploy["reason"] == "BuildFailed"
    kustomization = world.client.get(KUSTOMIZATIONS, "app", "team-a-shop-pr-3")
    flux_ready = cond.status_of(kustomization["status"]["conditions"], cond.READY)
    assert flux_ready is not None
    assert deploy["message"] == flux_ready["message"]


def test_a_new_commit_redeploys_at_the_new_revision(environment_world: EnvironmentWorld) -> None:
    world = environment_world
    world.client.apply(environment("pr-4", world.first_commit))
    wait_phase(world, "pr-4", "Ready")
    second = commit(world.repository, "second", {"Dockerfile": "FROM scratch\nLABEL v=2\n"})
    newer = world.push_manifests("0.2.0", DEPLOYMENT_MANIFEST.replace("replicas: 1", "replicas: 2"))
    env = environment("pr-4", second)
    world.client.merge_patch(ENVIRONMENTS, "pr-4", {"spec": env["spec"]}, PROJECT_NAMESPACE)
    status = wait_phase(world, "pr-4", "Ready", generation=2)

    namespace = "team-a-shop-pr-4"
    with RegistryClient(world.registry.endpoint) as registry:
        digest = registry.manifest_digest("shop/web-pr-4", second[:12])
    web = world.client.get(DEPLOYMENTS, "web", namespace)
    assert web["spec"]["template"]["spec"]["containers"][0]["image"].endswith(f"@{digest}")
    assert web["spec"]["replicas"] == 2
    kustomization = world.client.get(KUSTOMIZATIONS, "app", namespace)
    assert kustomization["status"]["lastAppliedRevision"] == newer.manifest_digest
    assert newer.manifest_digest in condition(status, cond.DEPLOY_READY)["message"]


def test_delete_removes_flux_objects_then_the_namespace(environment_world: EnvironmentWorld) -> None:
    world = environment_world
    world.client.apply(environment("pr-5", world.first_commit))
    wait_phase(world, "pr-5", "Ready")
    namespace = "team-a-shop-pr-5"
    deleted: list[str] = []

    def recorder(kind: str) -> Callable[[WatchEvent], None]:
        def record(event: WatchEvent) -> None:
            if event.type == "DELETED" and event.object is not None:
                meta = event.object["metadata"]
                if namespace in (meta["name"], meta.get("namespace")):
                    deleted.append(kind)

        return record

    for resource in (KUSTOMIZATIONS, NAMESPACES):
        watcher = Watcher(world.client, resource, recorder(resource.kind)).start()
        world._stack.callback(watcher.stop)
    time.sleep(0.5)  # the watches are open
    world.client.delete(ENVIRONMENTS, "pr-5", PROJECT_NAMESPACE)
    wait_until(
        lambda: world.client.get_or_none(ENVIRONMENTS, "pr-5", PROJECT_NAMESPACE) is None,
        "the Environment to be gone",
        timeout=30,
    )
    assert deleted[:1] == ["Kustomization"] and "Namespace" in deleted, deleted
    assert world.client.get_or_none(NAMESPACES, namespace) is None
    selector = f"{naming.MANAGED_BY_LABEL}={naming.MANAGED_BY}"
    for resource in (OCI_REPOSITORIES, KUSTOMIZATIONS, JOBS, DEPLOYMENTS):
        assert world.client.list(resource, label_selector=selector).get("items") == [], resource.kind
    assert world.client.list(DEPLOYMENTS, namespace).get("items") == []


def test_a_template_without_manifests_runs_deployment_web(environment_world: EnvironmentWorld) -> None:
    world = environment_world
    project = project_manifest(f"file://{world.repository}")
    development = project["spec"]["templates"].pop("development")
    project["spec"]["templates"]["deployment"] = {
        "type": "deployment",
        "sourceRef": "app",
        "builds": development["builds"],
        "config": {"ports": [8080], "probes": {"readiness": {"path": "/healthz"}}},
    }
    world.client.apply(project)
    world.client.apply(environment("prod", world.first_commit, type="deployment"))
    status = wait_phase(world, "prod", "Ready")
    namespace = "team-a-shop-prod"
    assert status["url"] == f"http://{namespace}.localhost"
    web = world.client.get(DEPLOYMENTS, "web", namespace)
    image = web["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.startswith("local-registry:5000/shop/web-prod@sha256:")
    assert world.client.list(KUSTOMIZATIONS, namespace).get("items") == []


def test_a_build_without_its_dockerfile_fails_with_the_builders_log(
    environment_world: EnvironmentWorld,
) -> None:
    world = environment_world
    project = project_manifest(f"file://{world.repository}")
    project["spec"]["templates"]["development"]["builds"][0]["dockerfile"] = "Dockerfile.prod"
    world.client.apply(project)
    world.client.apply(environment("pr-6", world.first_commit))
    status = wait_phase(world, "pr-6", "Failed")
    image = condition(status, cond.IMAGE_READY)
    assert image["reason"] == "BackoffLimitExceeded"
    assert "build: error resolving dockerfile path" in image["message"]
    assert "(looked for Dockerfile.prod)" in image["message"]
