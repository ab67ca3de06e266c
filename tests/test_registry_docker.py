"""The Docker backend against the real engine, with the registry image built from the Debian binary."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import docker
import pytest
from docker.errors import APIError, NotFound

from ksail_tui.errors import InvalidInput, Unavailable
from ksail_tui.models import RegistryStatus
from ksail_tui.registry.docker_backend import REGISTRY_DATA_PATH, connect_to_docker, volume_name
from ksail_tui.registry.service import connect_to_cluster_network
from tests.fixtures.registry_env import RegistrySetup, free_port
from tests.fixtures.registry_push import manifest_exists, push_artifact

pytestmark = pytest.mark.needs_docker


@pytest.fixture
def client() -> Iterator[docker.DockerClient]:
    client = connect_to_docker()
    yield client
    client.close()


@pytest.fixture
def docker_setup(registry_image: str, registry_setup: RegistrySetup) -> RegistrySetup:
    return registry_setup


@pytest.fixture
def kind_network(client: docker.DockerClient) -> Iterator[str]:
    """The ``kind`` network; created for the test when absent, and then removed again."""
    created = False
    try:
        client.networks.get("kind")
    except NotFound:
        try:
            client.networks.create("kind", driver="bridge")
            created = True
        except APIError:  # created concurrently by someone else: theirs to keep
            client.networks.get("kind")
    yield "kind"
    if created:
        # This runs before the registry's own teardown, so the container still holds an endpoint.
        network = client.networks.get("kind")
        for container in network.containers:
            network.disconnect(container, force=True)
        network.remove()


def test_the_container_is_labelled_loopback_only_persistent_and_restarting(
    docker_setup: RegistrySetup, client: docker.DockerClient
) -> None:
    registry = docker_setup.service("docker").up()
    container = client.containers.get(registry.name)
    attrs = container.attrs

    assert attrs["NetworkSettings"]["Ports"] == {
        "5000/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(registry.port)}]
    }
    assert attrs["Config"]["Labels"]["io.ksail-tui.managed"] == "true"
    assert attrs["Config"]["Labels"]["io.ksail-tui.cluster"] == docker_setup.name
    assert "REGISTRY_STORAGE_DELETE_ENABLED=true" in attrs["Config"]["Env"]
    assert attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    mounts = [(m["Type"], m.get("Name"), m["Destination"]) for m in attrs["Mounts"]]
    assert mounts == [("volume", f"{docker_setup.name}-registry-data", REGISTRY_DATA_PATH)]
    assert registry.volume == volume_name(docker_setup.config) == f"{docker_setup.name}-registry-data"
    assert client.volumes.get(registry.volume).attrs["Labels"]["io.ksail-tui.cluster"] == docker_setup.name


def test_a_changed_port_recreates_the_container_and_keeps_the_data(
    docker_setup: RegistrySetup, client: docker.DockerClient
) -> None:
    docker_setup.service("docker").up()
    push_artifact(docker_setup.config.registry_endpoint, "t/app", "0.1.0", b"kept")
    old_id = client.containers.get(docker_setup.config.registry_name).id

    new_port = free_port()
    docker_setup.rewrite(port=new_port)
    registry = docker_setup.service("docker").up()

    assert registry.endpoint == f"localhost:{new_port}"
    assert client.containers.get(registry.name).id != old_id
    assert any(message.startswith("recreating container") for message in docker_setup.progress)
    assert manifest_exists(registry.endpoint, "t/app", "0.1.0")


def test_a_container_deleted_behind_our_back_is_recreated_with_the_data(
    docker_setup: RegistrySetup, client: docker.DockerClient
) -> None:
    service = docker_setup.service("docker")
    registry = service.up()
    push_artifact(registry.endpoint, "t/app", "0.1.0", b"kept")

    client.containers.get(registry.name).remove(force=True)
    assert service.status().status is RegistryStatus.NOT_PROVISIONED
    service.up()

    assert manifest_exists(registry.endpoint, "t/app", "0.1.0")


def test_a_foreign_container_on_the_port_is_refused_and_named(
    docker_setup: RegistrySetup, client: docker.DockerClient, registry_image: str
) -> None:
    port = docker_setup.config.registry.port
    foreign = f"{docker_setup.name}-foreign"
    client.containers.run(registry_image, name=foreign, detach=True, ports={"5000/tcp": ("127.0.0.1", port)})

    with pytest.raises(InvalidInput) as caught:
        docker_setup.service("docker").up()

    assert f"port {port} is already published by container {foreign}" in str(caught.value)
    assert "localRegistry.port" in str(caught.value)


def test_a_foreign_container_with_our_name_is_left_alone(
    docker_setup: RegistrySetup, client: docker.DockerClient, registry_image: str
) -> None:
    name = docker_setup.config.registry_name
    client.containers.create(registry_image, name=name)
    service = docker_setup.service("docker")

    for operation in (service.up, service.down, lambda: service.remove(purge=True)):
        with pytest.raises(InvalidInput, match="not created by ksail-tui"):
            operation()
    assert client.containers.get(name).attrs["Config"]["Labels"] in (None, {})
    status = service.status()
    assert status.status is RegistryStatus.ERROR
    assert "not created by ksail-tui" in (status.last_error or "")


def test_a_missing_image_is_a_clear_error(
    make_registry_setup: Callable[..., RegistrySetup], client: docker.DockerClient
) -> None:
    setup = make_registry_setup(image="ksail-tui-test/absent:0")

    with pytest.raises(Unavailable) as caught:
        setup.service("docker").up()

    message = str(caught.value)
    assert "image ksail-tui-test/absent:0 is not available locally and could not be pulled" in message
    assert "localRegistry.image" in message
    with pytest.raises(NotFound):
        client.containers.get(setup.config.registry_name)


def test_the_registry_joins_the_kind_network_under_its_name(
    docker_setup: RegistrySetup, client: docker.DockerClient, kind_network: str
) -> None:
    registry = docker_setup.service("docker").up()
    network_name = connect_to_cluster_network(docker_setup.config)  # again: idempotent

    assert network_name == kind_network
    endpoint = client.containers.get(registry.name).attrs["NetworkSettings"]["Networks"][kind_network]
    assert registry.name in endpoint["Aliases"]
    assert registry.cluster_endpoint == f"{registry.name}:5000"


def test_a_recreated_container_rejoins_the_cluster_network(
    docker_setup: RegistrySetup, client: docker.DockerClient, kind_network: str
) -> None:
    service = docker_setup.service("docker")
    service.up()
    service.remove(purge=False)
    registry = service.up()

    assert kind_network in client.containers.get(registry.name).attrs["NetworkSettings"]["Networks"]


def test_k3d_network_is_named_after_the_cluster_and_must_exist(
    make_registry_setup: Callable[..., RegistrySetup], registry_image: str, client: docker.DockerClient
) -> None:
    setup = make_registry_setup(distribution="K3d")
    service = setup.service("docker")
    service.up()

    with pytest.raises(Unavailable, match=f"network k3d-{setup.name} does not exist") as caught:
        service.connect_to_cluster_network()
    assert "does not exist yet" in str(caught.value)

    client.networks.create(f"k3d-{setup.name}", driver="bridge")
    assert service.connect_to_cluster_network() == f"k3d-{setup.name}"
    assert service.connect_to_cluster_network() == f"k3d-{setup.name}"


def test_connecting_an_unprovisioned_registry_says_so(docker_setup: RegistrySetup) -> None:
    with pytest.raises(Unavailable, match="not provisioned"):
        docker_setup.service("docker").connect_to_cluster_network()


def test_auto_picks_docker_when_the_engine_answers(docker_setup: RegistrySetup) -> None:
    assert docker_setup.service("auto").backend_name == "docker"
