"""Generated Flux objects validate against Flux's real CRD schemas."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
import yaml

from ksail_sim.flux.crds import flux_crds
from ksail_tui.config import parse_config
from ksail_tui.flux.sources import all_sources, kustomization, oci_repository, to_yaml

CONFIG = """\
apiVersion: ksail.io/v1alpha1
kind: Cluster
metadata: {name: dev}
spec:
  cluster:
    localRegistry: {port: 5055}
    flux: {interval: 2m}
  workloads:
    - {name: app, sourceDirectory: k8s/app, version: 1.2.3, targetNamespace: apps}
    - {name: tail, sourceDirectory: k8s/tail, follow: ">=0.1.0-0", interval: 30s, prune: false}
"""


def crd_schema(kind: str) -> dict[str, Any]:
    for crd in flux_crds():
        if crd["spec"]["names"]["kind"] == kind:
            (version,) = [v for v in crd["spec"]["versions"] if v["storage"]]
            return version["schema"]["openAPIV3Schema"]
    raise LookupError(kind)


def validate(obj: dict[str, Any]) -> None:
    jsonschema.validate(obj, crd_schema(obj["kind"]), cls=jsonschema.Draft7Validator)


def test_every_generated_object_validates_against_the_crds() -> None:
    objects = all_sources(parse_config(CONFIG))
    assert [o["kind"] for o in objects] == ["OCIRepository", "Kustomization"] * 2
    for obj in objects:
        validate(obj)


def test_oci_repository_points_pods_at_the_in_cluster_registry() -> None:
    config = parse_config(CONFIG)
    repo = oci_repository(config, config.workload("app"))
    assert repo["apiVersion"] == "source.toolkit.fluxcd.io/v1"
    assert repo["spec"]["url"] == "oci://dev-registry:5000/dev/app"
    assert "localhost" not in repo["spec"]["url"]
    assert repo["spec"]["insecure"] is True
    assert repo["spec"]["ref"] == {"tag": "1.2.3"}
    assert repo["spec"]["interval"] == "2m"
    assert repo["metadata"]["namespace"] == "flux-system"
    follow = oci_repository(config, config.workload("tail"))
    assert follow["spec"]["ref"] == {"semver": ">=0.1.0-0"}
    assert follow["spec"]["interval"] == "30s"
    assert oci_repository(config, config.workload("app"), tag="1.2.3-dev.4")["spec"]["ref"] == {
        "tag": "1.2.3-dev.4"
    }


def test_kustomization_references_its_source() -> None:
    config = parse_config(CONFIG)
    ks = kustomization(config, config.workload("app"))
    assert ks["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1"
    assert ks["spec"]["sourceRef"] == {"kind": "OCIRepository", "name": "app", "namespace": "flux-system"}
    assert ks["spec"]["path"] == "./"
    assert ks["spec"]["prune"] is True and ks["spec"]["wait"] is True
    assert ks["spec"]["targetNamespace"] == "apps"
    assert "targetNamespace" not in kustomization(config, config.workload("tail"))["spec"]


def test_schema_check_is_real() -> None:
    config = parse_config(CONFIG)
    broken = oci_repository(config, config.workload("app"))
    del broken["spec"]["url"]
    with pytest.raises(jsonschema.ValidationError):
        validate(broken)


def test_yaml_output_round_trips() -> None:
    objects = all_sources(parse_config(CONFIG))
    assert list(yaml.safe_load_all(to_yaml(objects))) == objects
