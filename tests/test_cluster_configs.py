"""The generated Kind and K3d configs and the KEP-1755 ConfigMap, as the CLIs and containerd read them."""

from __future__ import annotations

from pathlib import Path

import yaml

from ksail_tui.cluster.k3d import registries_yaml
from ksail_tui.cluster.kind import hosts_directory, hosts_toml, kind_config
from ksail_tui.cluster.provisioner import default_context, local_registry_hosting
from ksail_tui.config import Distribution, parse_config
from tests.fixtures.cluster import cluster_config_text


def test_kind_config_enables_containerd_registry_folders(tmp_path: Path) -> None:
    config = parse_config(cluster_config_text("dev", port=5123), base_dir=tmp_path)

    document = yaml.safe_load(kind_config(config))

    assert document["kind"] == "Cluster"
    assert document["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert document["name"] == "dev"
    assert document["containerdConfigPatches"] == [
        '[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"'
    ]


def test_kind_hosts_toml_sends_localhost_port_to_the_registry_container(tmp_path: Path) -> None:
    config = parse_config(cluster_config_text("dev", port=5123), base_dir=tmp_path)

    assert hosts_directory(config) == "/etc/containerd/certs.d/localhost:5123"
    assert hosts_toml(config) == '[host."http://dev-registry:5000"]\n'


def test_an_explicit_cluster_endpoint_is_what_the_nodes_pull_from(tmp_path: Path) -> None:
    text = cluster_config_text("dev", port=5123).replace(
        "port: 5123", "port: 5123, clusterEndpoint: 'registry.local:5000'"
    )
    config = parse_config(text, base_dir=tmp_path)

    assert hosts_toml(config) == '[host."http://registry.local:5000"]\n'
    assert yaml.safe_load(registries_yaml(config)) == {
        "mirrors": {"localhost:5123": {"endpoint": ["http://registry.local:5000"]}}
    }


def test_kind_config_without_the_registry_has_no_containerd_patch(tmp_path: Path) -> None:
    config = parse_config(cluster_config_text("dev", registry="enabled: false"), base_dir=tmp_path)

    assert "containerdConfigPatches" not in yaml.safe_load(kind_config(config))


def test_k3d_registries_yaml_mirrors_localhost_port(tmp_path: Path) -> None:
    config = parse_config(cluster_config_text("dev", distribution="K3d", port=5077), base_dir=tmp_path)

    assert yaml.safe_load(registries_yaml(config)) == {
        "mirrors": {"localhost:5077": {"endpoint": ["http://dev-registry:5000"]}}
    }


def test_local_registry_hosting_documents_both_endpoints(tmp_path: Path) -> None:
    config = parse_config(cluster_config_text("dev", port=5123), base_dir=tmp_path)

    config_map = local_registry_hosting(config)

    assert (config_map["kind"], config_map["metadata"]) == (
        "ConfigMap",
        {"name": "local-registry-hosting", "namespace": "kube-public"},
    )
    hosting = yaml.safe_load(config_map["data"]["localRegistryHosting.v1"])
    assert hosting["host"] == "localhost:5123"
    assert hosting["hostFromContainerRuntime"] == "localhost:5123"
    assert hosting["hostFromClusterNetwork"] == "dev-registry:5000"
    assert hosting["help"].startswith("https://")


def test_default_contexts_are_the_ones_kind_and_k3d_write() -> None:
    assert default_context(Distribution.KIND, "dev") == "kind-dev"
    assert default_context(Distribution.K3D, "dev") == "k3d-dev"
