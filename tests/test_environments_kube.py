"""The Environment end-to-end tests of ``test_environments_emulator`` on the real control plane
tier (``needs_kube``): kube-apiserver's validation, admission and the real job-controller,
namespace and garbage collectors; the simulated Flux controllers and Job runner are its clients
(the Job runner writes Pod status as a kubelet would; the job-controller judges the Job)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip(
    "tests.fixtures.kube_real", reason="the real control plane tier (tests/fixtures/kube_real.py)"
)

from ksail_tui.kube.client import KubeClient
from tests.fixtures.world_environments import EnvironmentWorld
from tests.test_environments_emulator import (  # the same tests, on this module's world
    test_a_broken_manifest_fails_with_fluxs_message_at_once,
    test_a_build_without_its_dockerfile_fails_with_the_builders_log,
    test_a_failing_build_fails_with_the_jobs_reason_and_log,
    test_a_new_commit_redeploys_at_the_new_revision,
    test_a_template_without_manifests_runs_deployment_web,
    test_created_builds_deploys_and_is_ready_with_a_url,
    test_delete_removes_flux_objects_then_the_namespace,
)

pytestmark = [pytest.mark.needs_kube, pytest.mark.needs_registry]

__all__ = [
    "test_a_broken_manifest_fails_with_fluxs_message_at_once",
    "test_a_build_without_its_dockerfile_fails_with_the_builders_log",
    "test_a_failing_build_fails_with_the_jobs_reason_and_log",
    "test_a_new_commit_redeploys_at_the_new_revision",
    "test_a_template_without_manifests_runs_deployment_web",
    "test_created_builds_deploys_and_is_ready_with_a_url",
    "test_delete_removes_flux_objects_then_the_namespace",
]


@pytest.fixture
def environment_world(real_flux_kube: KubeClient) -> Iterator[EnvironmentWorld]:
    with tempfile.TemporaryDirectory() as workdir, EnvironmentWorld(Path(workdir), real_flux_kube) as world:
        yield world
