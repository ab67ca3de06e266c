"""The status classifier against every example in tests/data/flux-status-examples (Flux's own)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ksail_tui.flux.status import Health, classify, exit_code_for, workload_status
from ksail_tui.models import FluxKustomization, FluxOCIRepository

EXAMPLES = Path(__file__).resolve().parent / "data" / "flux-status-examples"

# (file, document index) -> (health, reason)
EXPECTED = {
    ("01-ocirepository-ready.yaml", 0): (Health.READY, "Succeeded"),
    ("01-ocirepository-ready.yaml", 1): (Health.PROGRESSING, "Progressing"),
    ("02-ocirepository-fetch-failed.yaml", 0): (Health.FAILING, "OCIOperationFailed"),
    ("03-ocirepository-stalled.yaml", 0): (Health.STALLED, "URLInvalid"),
    ("04-kustomization-ready.yaml", 0): (Health.READY, "ReconciliationSucceeded"),
    ("05-kustomization-failed.yaml", 0): (Health.FAILING, "ArtifactFailed"),
    ("05-kustomization-failed.yaml", 1): (Health.STALLED, "InvalidCELExpression"),
    ("06-kustomization-healthcheck-progressing-then-failed.yaml", 0): (Health.PROGRESSING, "Progressing"),
    ("06-kustomization-healthcheck-progressing-then-failed.yaml", 1): (Health.FAILING, "HealthCheckFailed"),
}


def load(obj: dict[str, Any]) -> FluxOCIRepository | FluxKustomization:
    if obj["kind"] == "OCIRepository":
        return FluxOCIRepository.from_object(obj)
    return FluxKustomization.from_object(obj)


def all_examples() -> list[tuple[str, int, dict[str, Any]]]:
    found = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for index, doc in enumerate(d for d in yaml.safe_load_all(path.read_text()) if d):
            found.append((path.name, index, doc))
    return found


def test_every_example_is_covered() -> None:
    assert {(name, index) for name, index, _ in all_examples()} == set(EXPECTED)


@pytest.mark.parametrize(("name", "index", "doc"), all_examples(), ids=lambda v: str(v)[:40])
def test_classify_example(name: str, index: int, doc: dict[str, Any]) -> None:
    result = classify(load(doc))
    assert (result.health, result.reason) == EXPECTED[(name, index)]
    if result.health in (Health.FAILING, Health.STALLED):
        ready = load(doc).condition("Ready")
        assert ready is not None and result.message == ready.message  # Flux's own words reach the user


def _source(revision: str, **status: Any) -> FluxOCIRepository:
    return FluxOCIRepository.from_object(
        {
            "metadata": {"name": "app", "namespace": "flux-system", "generation": 1},
            "spec": {"url": "oci://r:5000/app", "ref": {"tag": "0.1.0"}, **status.pop("spec", {})},
            "status": {
                "observedGeneration": 1,
                "artifact": {"revision": revision},
                "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded", "message": "ok"}],
                **status,
            },
        }
    )


def _kustomization(applied: str, **spec: Any) -> FluxKustomization:
    return FluxKustomization.from_object(
        {
            "metadata": {"name": "app", "namespace": "flux-system", "generation": 1},
            "spec": {"sourceRef": {"kind": "OCIRepository", "name": "app"}, **spec},
            "status": {
                "observedGeneration": 1,
                "lastAppliedRevision": applied,
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "ReconciliationSucceeded",
                        "message": "Applied",
                    }
                ],
            },
        }
    )


def test_workload_is_current_only_when_applied_equals_artifact_equals_pushed() -> None:
    rev1, rev2 = "0.1.0@sha256:" + "a" * 64, "0.1.1@sha256:" + "b" * 64
    ready = workload_status("app", "flux-system", _source(rev1), _kustomization(rev1), pushed_revision=rev1)
    assert ready.health is Health.READY and ready.current
    assert exit_code_for([ready]) == 0

    behind = workload_status("app", "flux-system", _source(rev2), _kustomization(rev1))
    assert behind.health is Health.PROGRESSING and not behind.current
    assert rev2 in behind.summary

    not_fetched = workload_status(
        "app", "flux-system", _source(rev1), _kustomization(rev1), pushed_revision=rev2
    )
    assert not_fetched.health is Health.PROGRESSING and "waiting for Flux to fetch" in not_fetched.summary
    assert exit_code_for([ready, not_fetched]) == 3


def test_stale_ready_from_an_older_generation_is_not_ready() -> None:
    source = _source("0.1.0@sha256:" + "a" * 64)
    stale = source.model_copy(update={"generation": 2})
    assert classify(stale).health is Health.PROGRESSING


def test_suspended_and_missing_objects_fail_the_status() -> None:
    rev = "0.1.0@sha256:" + "a" * 64
    suspended = workload_status(
        "app", "flux-system", _source(rev, spec={"suspend": True}), _kustomization(rev)
    )
    assert suspended.health is Health.SUSPENDED and suspended.suspended
    missing = workload_status("app", "flux-system", None, None)
    assert missing.health is Health.UNKNOWN and "workload apply" in missing.summary
    assert exit_code_for([suspended]) == 1
    assert exit_code_for([missing]) == 1


def test_failing_workload_summary_is_flux_message() -> None:
    failed = FluxKustomization.from_object(
        yaml.safe_load((EXAMPLES / "05-kustomization-failed.yaml").read_text().split("\n---")[0])
    )
    status = workload_status("app", "default", _source("x@sha256:" + "a" * 64), failed)
    assert status.health is Health.FAILING
    assert status.summary.startswith("kustomization path not found")
    assert exit_code_for([status]) == 1
