"""``create`` from nothing to a reconciling cluster: stand-in kind/k3d/docker, a real registry process,
the API emulator as the new cluster's API, and the real Flux install and source apply."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from ksail_sim.flux import install_simulated_flux
from ksail_tui.cluster.commands import CommandResult, run_command
from ksail_tui.cluster.kind import kind_config
from ksail_tui.cluster.service import ClusterService
from ksail_tui.errors import InvalidInput, OperationFailed
from ksail_tui.kube.client import DEPLOYMENTS, KUSTOMIZATIONS, OCI_REPOSITORIES, KubeClient, Resource
from ksail_tui.models import RegistryStatus
from tests.fixtures.cluster import ClusterCLIs, ProcessRegistries, write_cluster_config

CONFIG_MAPS = Resource("", "v1", "configmaps", "ConfigMap")

pytestmark = pytest.mark.needs_registry


class Timeline:
    """One ordered record of progress messages and the commands run, to check the step order."""

    def __init__(self) -> None:
        self.entries: list[str] = []

    def progress(self, message: str) -> None:
        self.entries.append(message)

    def runner(self, argv: Sequence[str], **options: Any) -> CommandResult:
        self.entries.append("$ " + " ".join(argv))
        return run_command(argv, **options)

    def index(self, fragment: str) -> int:
        return next(i for i, entry in enumerate(self.entries) if fragment in entry)


def service_for(config: Any, timeline: Timeline, registries: ProcessRegistries) -> ClusterService:
    return ClusterService(config, runner=timeline.runner, registry_factory=registries.factory)


def test_kind_create_runs_every_step_in_order(
    cluster_clis: ClusterCLIs,
    process_registries: ProcessRegistries,
    kubeconfig: Path,
    flux_manifests_file: Path,
    cluster_registry_port: int,
    tmp_path: Path,
) -> None:
    config = write_cluster_config(tmp_path, "dev", kubeconfig=kubeconfig, port=cluster_registry_port)
    timeline = Timeline()

    created = service_for(config, timeline, process_registries).create(
        timeline.progress, flux_manifests=str(flux_manifests_file)
    )

    # The kind config went in on stdin, with KUBECONFIG pointing at the configured kubeconfig.
    create = next(c for c in cluster_clis.calls("kind") if c["argv"][:2] == ["create", "cluster"])
    assert create["argv"] == ["create", "cluster", "--name", "dev", "--config", "-", "--wait", "20s"]
    assert create["stdin"] == kind_config(config)
    assert 'config_path = "/etc/containerd/certs.d"' in create["stdin"]
    assert create["kubeconfig"] == str(kubeconfig)
    # kind's documented recipe: hosts.toml written into each node after creation.
    directory = f"/etc/containerd/certs.d/localhost:{cluster_registry_port}"
    docker = cluster_clis.calls("docker")
    assert [c["argv"] for c in docker] == [
        ["exec", "dev-control-plane", "mkdir", "-p", directory],
        ["exec", "-i", "dev-control-plane", "cp", "/dev/stdin", f"{directory}/hosts.toml"],
    ]
    assert docker[1]["stdin"] == '[host."http://dev-registry:5000"]\n'

    # The steps, in order: cluster, node config, registry up, network, ConfigMap, Flux, sources.
    order = [
        timeline.index("$ kind create cluster"),
        timeline.index("$ docker exec -i dev-control-plane"),
        timeline.index(f"registry dev-registry is answering on localhost:{cluster_registry_port}"),
        timeline.index("registry joined Docker network kind"),
        timeline.index("kube-public/local-registry-hosting"),
        timeline.index("installing Flux"),
        timeline.index("applied OCIRepository"),
    ]
    assert order == sorted(order), timeline.entries
    assert [e for e in timeline.entries if e.startswith("[")] == [
        "[1/7] Kind cluster dev",
        "[2/7] pointing the nodes' containerd at dev-registry:5000",
        "[3/7] starting the registry dev-registry",
        "[4/7] joining the registry to the cluster's Docker network",
        "[5/7] documenting the registry in ConfigMap kube-public/local-registry-hosting",
        "[6/7] installing Flux",
        "[7/7] applying the workloads' OCIRepository and Kustomization",
    ]
    assert " \u2713 Ensuring node image (kindest/node:v1.32.0)" in timeline.entries  # kind's own output

    assert created.reused is False
    assert created.context == "ksail-sim"
    assert created.registry is not None and created.registry.status is RegistryStatus.RUNNING
    assert created.registry_network == "kind"
    assert created.flux is not None and created.flux.installed
    applied = {(ref.kind, ref.name) for ref in created.sources}
    assert applied == {("OCIRepository", "app"), ("Kustomization", "app")}

    kube = KubeClient(kubeconfig, "ksail-sim")
    hosting = kube.get(CONFIG_MAPS, "local-registry-hosting", "kube-public")
    assert (
        yaml.safe_load(hosting["data"]["localRegistryHosting.v1"])["host"]
        == f"localhost:{cluster_registry_port}"
    )
    assert kube.get(DEPLOYMENTS, "source-controller", "flux-system")["status"]["availableReplicas"] == 1
    source = kube.get(OCI_REPOSITORIES, "app", "flux-system")
    assert source["spec"]["url"] == "oci://dev-registry:5000/dev/app"
    assert kube.get(KUSTOMIZATIONS, "app", "flux-system")["spec"]["targetNamespace"] == "apps"


def test_k3d_create_hands_k3d_a_registries_file(
    cluster_clis: ClusterCLIs,
    process_registries: ProcessRegistries,
    kubeconfig: Path,
    cluster_registry_port: int,
    tmp_path: Path,
) -> None:
    config = write_cluster_config(
        tmp_path, "edge", distribution="K3d", kubeconfig=kubeconfig, port=cluster_registry_port
    )
    # Flux is there already (the simulated install): create detects it and installs nothing.
    install_simulated_flux(KubeClient(kubeconfig, "ksail-sim"))
    timeline = Timeline()

    created = service_for(config, timeline, process_registries).create(timeline.progress)

    create = next(c for c in cluster_clis.calls("k3d") if c["argv"][:2] == ["cluster", "create"])
    registries_path = create["argv"][create["argv"].index("--registry-config") + 1]
    assert create["argv"] == [
        "cluster", "create", "edge", "--timeout", "20s", "--registry-config", registries_path,
    ]  # fmt: skip
    assert yaml.safe_load(create["files"]["--registry-config"]) == {
        "mirrors": {f"localhost:{cluster_registry_port}": {"endpoint": ["http://edge-registry:5000"]}}
    }
    assert not Path(registries_path).exists(), "the temporary registries.yaml is removed afterwards"
    assert create["kubeconfig"] == str(kubeconfig)
    assert cluster_clis.calls("docker") == [], "K3d takes the mirror at creation: no docker exec"
    assert process_registries.joined == ["k3d-edge"]
    assert created.flux is not None and created.flux.simulated
    assert "Flux v2.9.0 is installed (simulated controllers); nothing to do" in timeline.entries
    assert [e for e in timeline.entries if e.startswith("[")] == [
        "[1/6] K3d cluster edge",
        "[2/6] starting the registry edge-registry",
        "[3/6] joining the registry to the cluster's Docker network",
        "[4/6] documenting the registry in ConfigMap kube-public/local-registry-hosting",
        "[5/6] installing Flux",
        "[6/6] applying the workloads' OCIRepository and Kustomization",
    ]


def test_create_reuses_an_existing_cluster_and_says_so(
    cluster_clis: ClusterCLIs,
    process_registries: ProcessRegistries,
    kubeconfig: Path,
    flux_manifests_file: Path,
    cluster_registry_port: int,
    tmp_path: Path,
) -> None:
    config = write_cluster_config(tmp_path, "dev", kubeconfig=kubeconfig, port=cluster_registry_port)
    cluster_clis.add_cluster("kind", "dev")
    timeline = Timeline()
    service = service_for(config, timeline, process_registries)

    first = service.create(timeline.progress, flux_manifests=str(flux_manifests_file))
    second = service.create(timeline.progress, flux_manifests=str(flux_manifests_file))

    assert first.reused and second.reused
    assert "kind create cluster" not in " ".join(cluster_clis.commands())
    assert timeline.entries.count("Kind cluster dev already exists: reusing it") == 2
    # The node config and the sources are applied again: create repairs a half-made cluster.
    assert len([c for c in cluster_clis.calls("docker") if "-i" in c["argv"]]) == 2
    assert {ref.name for ref in second.sources} == {"app"}


def test_a_failing_kind_stops_before_the_registry_with_its_message(
    cluster_clis: ClusterCLIs,
    process_registries: ProcessRegistries,
    kubeconfig: Path,
    cluster_registry_port: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = write_cluster_config(tmp_path, "dev", kubeconfig=kubeconfig, port=cluster_registry_port)
    cluster_clis.fail("kind create", monkeypatch)

    with pytest.raises(OperationFailed) as raised:
        service_for(config, Timeline(), process_registries).create()

    assert "`kind create cluster` failed with exit code 1" in raised.value.message
    assert "the stand-in was told to fail" in raised.value.message
    assert process_registries.made == []


def test_a_context_of_the_other_distribution_is_refused_before_anything_runs(
    cluster_clis: ClusterCLIs, process_registries: ProcessRegistries, tmp_path: Path
) -> None:
    config = write_cluster_config(tmp_path, "dev", distribution="K3d", context="kind-dev")

    with pytest.raises(InvalidInput, match="a K3d cluster's context is k3d-dev"):
        service_for(config, Timeline(), process_registries).create()

    assert cluster_clis.calls() == []


def test_without_registry_and_flux_only_the_cluster_is_created(
    cluster_clis: ClusterCLIs,
    process_registries: ProcessRegistries,
    kubeconfig: Path,
    tmp_path: Path,
) -> None:
    config = write_cluster_config(
        tmp_path, "bare", kubeconfig=kubeconfig, registry="enabled: false", engine="Kubectl"
    )
    timeline = Timeline()

    created = service_for(config, timeline, process_registries).create(timeline.progress)

    assert cluster_clis.commands() == [
        "kind get clusters",
        "kind create cluster --name bare --config - --wait 20s",
    ]
    assert "containerdConfigPatches" not in cluster_clis.calls("kind")[1]["stdin"]
    assert (created.registry, created.flux, created.sources) == (None, None, ())
    assert process_registries.made == []
    assert [e for e in timeline.entries if e.startswith("[")] == ["[1/1] Kind cluster bare"]
