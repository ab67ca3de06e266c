"""The registry as a Docker container, managed through the Docker SDK.

* container ``<name>-registry``, labelled ``io.ksail-tui.managed=true`` and
  ``io.ksail-tui.cluster=<name>``; anything else with that name is someone else's and is left alone;
* container port 5000 published on 127.0.0.1:<localRegistry.port> only;
* data in the named volume ``<name>-registry-data`` at /var/lib/registry, so it survives ``down``,
  container recreation and upgrades; only ``rm --purge`` deletes it;
* ``REGISTRY_STORAGE_DELETE_ENABLED=true`` so manifests can be deleted (and then collected);
* restart policy ``unless-stopped``;
* joined to the cluster's Docker network (``kind``, or ``k3d-<name>``) under the name pods use.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import docker
from docker.errors import APIError, ContainerError, DockerException, ImageNotFound, NotFound
from docker.models.containers import Container

from ksail_tui.config import ClusterConfig, Distribution
from ksail_tui.docker_engine import connect_to_docker as connect_to_engine
from ksail_tui.errors import InvalidInput, OperationFailed, Unavailable
from ksail_tui.registry.ports import LOOPBACK, find_port_holder, port_is_free
from ksail_tui.registry.service import BackendState, Progress

MANAGED_LABEL = "io.ksail-tui.managed"
CLUSTER_LABEL = "io.ksail-tui.cluster"
CONTAINER_PORT = "5000/tcp"
REGISTRY_DATA_PATH = "/var/lib/registry"
# registry:3's own config path; older images and ours name theirs in the entrypoint or command.
DEFAULT_CONFIG_PATH = "/etc/distribution/config.yml"
STOP_TIMEOUT_SECONDS = 10
DOCKER_API_TIMEOUT_SECONDS = 30
LOG_TAIL_LINES = 3
# The registry reports an empty store this way; there is nothing to collect then.
EMPTY_STORE_MARKER = "Path not found: /docker/registry/v2/repositories"


def volume_name(config: ClusterConfig) -> str:
    return f"{config.registry_name}-data"


def cluster_network_name(config: ClusterConfig) -> str:
    """The Docker network Kind or K3d puts the cluster's nodes on."""
    if config.spec.cluster.distribution is Distribution.K3D:
        return f"k3d-{config.name}"
    # Kind honours this variable for its network name.
    return os.environ.get("KIND_EXPERIMENTAL_DOCKER_NETWORK") or "kind"


def ownership_labels(config: ClusterConfig) -> dict[str, str]:
    return {MANAGED_LABEL: "true", CLUSTER_LABEL: config.name}


def registry_environment() -> dict[str, str]:
    # Pinning the storage root and the port makes any registry image keep its data in the volume.
    return {
        "REGISTRY_STORAGE_DELETE_ENABLED": "true",
        "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": REGISTRY_DATA_PATH,
        "REGISTRY_HTTP_ADDR": ":5000",
    }


def container_spec(config: ClusterConfig) -> dict[str, Any]:
    """Arguments of ``containers.create`` for this registry; the only place ports are published."""
    return {
        "image": config.registry.image,
        "name": config.registry_name,
        "labels": ownership_labels(config),
        "environment": registry_environment(),
        "ports": {CONTAINER_PORT: (LOOPBACK, config.registry.port)},
        "volumes": {volume_name(config): {"bind": REGISTRY_DATA_PATH, "mode": "rw"}},
        "restart_policy": {"Name": "unless-stopped"},
    }


def connect_to_docker() -> docker.DockerClient:
    return connect_to_engine(
        DOCKER_API_TIMEOUT_SECONDS,
        needed_for="the registry container cannot be managed",
        hint="start Docker, or run the registry as a plain process with --backend process",
    )


def docker_client_if_running() -> docker.DockerClient | None:
    """A connected client, or None when no Docker engine answers."""
    try:
        return connect_to_docker()
    except Unavailable:
        return None


def _explain(error: DockerException) -> str:
    return str(getattr(error, "explanation", None) or error)


class DockerBackend:
    name = "docker"

    def __init__(self, config: ClusterConfig, client: docker.DockerClient | None = None) -> None:
        self._config = config
        self._client = client

    @property
    def storage(self) -> str:
        return volume_name(self._config)

    @property
    def container_name(self) -> str:
        return self._config.registry_name

    # --- queries -------------------------------------------------------------------------------

    def inspect(self) -> BackendState:
        container = self._container()
        if container is None:
            return BackendState(exists=False, running=False)
        image = _section(container, "Config").get("Image")
        if not self._is_ours(container):
            return BackendState(exists=True, running=False, error=self._foreign_name_message(), image=image)
        state = _section(container, "State")
        error = None
        if container.status in ("restarting", "dead"):
            error = f"the registry container {self.container_name} is {container.status}: {self._log_tail()}"
        return BackendState(
            exists=True,
            running=container.status == "running",
            started_at=_epoch(state.get("StartedAt")),
            error=error,
            image=image,
        )

    def logs_hint(self) -> str:
        return f"see its log: docker logs {self.container_name}"

    def check_still_starting(self) -> None:
        container = self._container()
        if container is None:
            raise OperationFailed(f"the registry container {self.container_name} disappeared while starting")
        if container.status in ("exited", "dead", "restarting"):
            code = _section(container, "State").get("ExitCode")
            raise OperationFailed(
                f"the registry container {self.container_name} exited with code {code}: {self._log_tail()}",
                hint=self.logs_hint(),
            )

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self, progress: Progress) -> None:
        container = self._container()
        if container is not None:
            self._require_ours(container)
            drift = self._drift(container)
            if drift is not None:
                progress(
                    f"recreating container {self.container_name}: {drift} "
                    f"(the data stays in volume {self.storage})"
                )
                self._remove_container(container)
                container = None
        if container is not None and container.status in ("running", "restarting"):
            progress(f"adopting the running container {self.container_name}")
        elif container is not None and container.status == "paused":
            progress(f"unpausing container {self.container_name}")
            container.unpause()
        else:
            self._require_free_port()
            created = container is None
            if container is None:
                self._ensure_image(progress)
                self._ensure_volume(progress)
                progress(
                    f"creating container {self.container_name} on {LOOPBACK}:{self._config.registry.port}"
                )
                container = self._create_container()
            else:
                progress(f"starting the stopped container {self.container_name}")
            self._start_container(container, remove_on_failure=created)
        self._connect_if_the_cluster_exists(container, progress)

    def stop(self, progress: Progress) -> None:
        container = self._container()
        if container is None:
            progress(f"registry {self.container_name} is not provisioned: nothing to stop")
            return
        self._require_ours(container)
        if container.status not in ("running", "restarting", "paused"):
            return
        progress(f"stopping container {self.container_name} (the data stays in volume {self.storage})")
        self._stop_container(container)

    def remove(self, purge: bool, progress: Progress) -> None:
        container = self._container()
        if container is not None:
            self._require_ours(container)
            progress(f"removing container {self.container_name}")
            self._remove_container(container)
        if not purge:
            progress(f"keeping volume {self.storage}: `rm --purge` deletes the data")
            return
        volume = self._volume()
        if volume is None:
            return
        if not self._labels_are_ours(volume.attrs.get("Labels")):
            raise InvalidInput(
                f"volume {self.storage} was not created by ksail-tui; not deleting it",
                hint=f"delete it yourself if it is disposable: docker volume rm {self.storage}",
            )
        progress(f"deleting volume {self.storage} and the registry's data")
        try:
            volume.remove()
        except DockerException as error:
            raise OperationFailed(
                f"could not delete volume {self.storage}: {_explain(error)}",
                hint="another container may still use it: docker ps -a --filter volume=" + self.storage,
            ) from None

    def garbage_collect(self, progress: Progress) -> str:
        container = self._container()
        if container is None:
            raise Unavailable(
                f"registry {self.container_name} is not provisioned", hint="run `ksail-tui registry up` first"
            )
        self._require_ours(container)
        was_running = container.status == "running"
        if was_running:
            progress(f"stopping container {self.container_name} while garbage is collected")
            self._stop_container(container)
        try:
            progress("collecting garbage: registry garbage-collect")
            return self._run_garbage_collection(container)
        finally:
            if was_running:
                progress(f"starting container {self.container_name} again")
                self._start_container(container, remove_on_failure=False)

    def connect_to_cluster_network(self, progress: Progress) -> str:
        network_name = cluster_network_name(self._config)
        container = self._container()
        if container is None:
            raise Unavailable(
                f"registry {self.container_name} is not provisioned", hint="run `ksail-tui registry up` first"
            )
        self._require_ours(container)
        try:
            network = self._docker().networks.get(network_name)
        except NotFound:
            raise Unavailable(
                f"Docker network {network_name} does not exist: the "
                f"{self._config.spec.cluster.distribution.value} cluster {self._config.name} "
                "does not exist yet",
                hint="create the cluster first (`ksail-tui cluster create`); it connects the registry",
            ) from None
        self._join(container, network, progress)
        return network_name

    # --- helpers -------------------------------------------------------------------------------

    def _docker(self) -> docker.DockerClient:
        if self._client is None:
            self._client = connect_to_docker()
        return self._client

    def _container(self) -> Container | None:
        try:
            return self._docker().containers.get(self.container_name)
        except NotFound:
            return None
        except DockerException as error:
            raise Unavailable(f"cannot inspect container {self.container_name}: {_explain(error)}") from None

    def _volume(self) -> Any:
        try:
            return self._docker().volumes.get(self.storage)
        except NotFound:
            return None

    def _labels_are_ours(self, labels: object) -> bool:
        if not isinstance(labels, dict):
            return False
        return labels.get(MANAGED_LABEL) == "true" and labels.get(CLUSTER_LABEL) == self._config.name

    def _is_ours(self, container: Container) -> bool:
        return self._labels_are_ours(_section(container, "Config").get("Labels"))

    def _foreign_name_message(self) -> str:
        return f"a container named {self.container_name} exists but was not created by ksail-tui"

    def _require_ours(self, container: Container) -> None:
        if not self._is_ours(container):
            raise InvalidInput(
                self._foreign_name_message() + "; leaving it alone",
                hint=f"remove or rename it (docker rm -f {self.container_name}), or change metadata.name",
            )

    def _drift(self, container: Container) -> str | None:
        """Why an existing container of ours no longer matches the configuration, if it does not."""
        attrs = container.attrs
        wanted_image = self._config.registry.image
        running_image = _section(container, "Config").get("Image")
        if running_image != wanted_image:
            return f"it runs image {running_image}, the configuration says {wanted_image}"
        port = self._config.registry.port
        bindings = (_section(container, "HostConfig").get("PortBindings") or {}).get(CONTAINER_PORT) or []
        if bindings != [{"HostIp": LOOPBACK, "HostPort": str(port)}]:
            shown = ", ".join(f"{b.get('HostIp') or '*'}:{b.get('HostPort')}" for b in bindings) or "nothing"
            return f"it is published on {shown}, the configuration says {LOOPBACK}:{port}"
        mounted = any(
            isinstance(mount, dict)
            and mount.get("Type") == "volume"
            and mount.get("Name") == self.storage
            and mount.get("Destination") == REGISTRY_DATA_PATH
            for mount in attrs.get("Mounts") or ()
        )
        if not mounted:
            return f"its data is not in volume {self.storage}"
        return None

    def _container_publishing(self, port: int) -> str | None:
        """The name of another running container published on ``port``, if any."""
        for container in self._docker().containers.list(sparse=True):
            names = [name.lstrip("/") for name in container.attrs.get("Names") or ()]
            if self.container_name in names:
                continue
            if any(binding.get("PublicPort") == port for binding in container.attrs.get("Ports") or ()):
                return names[0] if names else container.short_id
        return None

    def _require_free_port(self) -> None:
        port = self._config.registry.port
        hint = f"free port {port}, or change spec.cluster.localRegistry.port in the configuration"
        holder_container = self._container_publishing(port)
        if holder_container is not None:
            raise InvalidInput(
                f"port {port} is already published by container {holder_container}",
                hint=f"stop it (docker stop {holder_container}), or change spec.cluster.localRegistry.port",
            )
        if not port_is_free(port):
            holder = find_port_holder(port)
            raise InvalidInput(
                f"port {port} on {LOOPBACK} is already in use by {holder or 'another process'}", hint=hint
            )

    def _ensure_image(self, progress: Progress) -> None:
        image = self._config.registry.image
        try:
            self._docker().images.get(image)
            return
        except ImageNotFound:
            pass
        progress(f"pulling image {image}")
        try:
            self._docker().images.pull(image)
        except DockerException as error:
            raise Unavailable(
                f"image {image} is not available locally and could not be pulled: {_explain(error)}",
                hint="load it (docker load, or docker pull on a connected machine), "
                "or set spec.cluster.localRegistry.image",
            ) from None

    def _ensure_volume(self, progress: Progress) -> None:
        volume = self._volume()
        if volume is None:
            progress(f"creating volume {self.storage} for the registry's data")
            self._docker().volumes.create(name=self.storage, labels=ownership_labels(self._config))
        elif not self._labels_are_ours(volume.attrs.get("Labels")):
            raise InvalidInput(
                f"volume {self.storage} exists but was not created by ksail-tui; not mounting it",
                hint=f"remove or rename it (docker volume rm {self.storage}), or change metadata.name",
            )

    def _create_container(self) -> Container:
        try:
            return self._docker().containers.create(**container_spec(self._config))
        except DockerException as error:
            raise OperationFailed(
                f"could not create container {self.container_name}: {_explain(error)}"
            ) from None

    def _start_container(self, container: Container, *, remove_on_failure: bool) -> None:
        try:
            container.start()
        except DockerException as error:
            if remove_on_failure:
                self._remove_container(container)
            explanation = _explain(error)
            if "already allocated" in explanation or "address already in use" in explanation:
                port = self._config.registry.port
                holder = find_port_holder(port)
                raise InvalidInput(
                    f"port {port} on {LOOPBACK} is already in use by {holder or 'another process'}",
                    hint=f"free port {port}, or change spec.cluster.localRegistry.port in the configuration",
                ) from None
            raise OperationFailed(f"could not start container {self.container_name}: {explanation}") from None

    def _stop_container(self, container: Container) -> None:
        try:
            container.stop(timeout=STOP_TIMEOUT_SECONDS)
        except DockerException as error:
            raise OperationFailed(
                f"could not stop container {self.container_name}: {_explain(error)}"
            ) from None

    def _remove_container(self, container: Container) -> None:
        try:
            container.remove(force=True)
        except NotFound:
            pass
        except DockerException as error:
            raise OperationFailed(
                f"could not remove container {self.container_name}: {_explain(error)}"
            ) from None

    def _connect_if_the_cluster_exists(self, container: Container, progress: Progress) -> None:
        # A recreated container has lost its network membership; rejoin when the cluster is there.
        network_name = cluster_network_name(self._config)
        try:
            network = self._docker().networks.get(network_name)
        except NotFound:
            progress(
                f"no Docker network {network_name} yet: the registry joins it when the cluster is created"
            )
            return
        self._join(container, network, progress)

    def _join(self, container: Container, network: Any, progress: Progress) -> None:
        container.reload()
        if network.name in (_section(container, "NetworkSettings").get("Networks") or {}):
            return
        aliases = [self.container_name]
        cluster_host = self._config.registry_cluster_endpoint.rsplit(":", 1)[0]
        if cluster_host not in aliases:
            aliases.append(cluster_host)
        progress(f"connecting {self.container_name} to Docker network {network.name} as {', '.join(aliases)}")
        try:
            network.connect(container, aliases=aliases)
        except APIError as error:
            if "already exists" not in _explain(error):
                raise OperationFailed(
                    f"could not connect {self.container_name} to network {network.name}: {_explain(error)}"
                ) from None

    def _run_garbage_collection(self, container: Container) -> str:
        # The exact image the registry runs, by id.
        image = container.attrs.get("Image") or self._config.registry.image
        # Never --delete-untagged: it deletes the platform manifests that an image index references
        # (they carry no tag), in every repository of the registry.
        command = ["garbage-collect", _registry_config_path(_section(container, "Config"))]
        try:
            output = self._docker().containers.run(
                image,
                command,
                entrypoint=["registry"],
                environment=registry_environment(),
                volumes={self.storage: {"bind": REGISTRY_DATA_PATH, "mode": "rw"}},
                network_mode="none",
                labels=ownership_labels(self._config),
                remove=True,
                stdout=True,
                stderr=True,
            )
        except ContainerError as error:
            stderr = (
                error.stderr.decode(errors="replace")
                if isinstance(error.stderr, bytes)
                else str(error.stderr)
            )
            if EMPTY_STORE_MARKER in stderr:
                return "nothing to collect: the registry holds no repositories yet"
            raise OperationFailed(f"garbage collection failed: {stderr.strip()}") from None
        except DockerException as error:
            raise OperationFailed(f"garbage collection failed: {_explain(error)}") from None
        return output.decode(errors="replace").strip() if isinstance(output, bytes) else str(output)

    def _log_tail(self) -> str:
        container = self._container()
        if container is None:
            return "no log"
        try:
            lines = container.logs(tail=LOG_TAIL_LINES).decode(errors="replace").strip().splitlines()
        except DockerException:
            return "no log"
        return " | ".join(lines) or "no log"


def _section(container: Container, name: str) -> dict[str, Any]:
    """A part of ``docker inspect``; empty when the engine left it out or sent something else."""
    section = container.attrs.get(name) if isinstance(container.attrs, dict) else None
    return section if isinstance(section, dict) else {}


def _registry_config_path(container_config: dict[str, Any]) -> str:
    """The config file the image's entrypoint or command passes to ``registry serve``."""
    arguments = [*(container_config.get("Entrypoint") or ()), *(container_config.get("Cmd") or ())]
    return next(
        (arg for arg in arguments if isinstance(arg, str) and arg.endswith((".yml", ".yaml"))),
        DEFAULT_CONFIG_PATH,
    )


def _epoch(timestamp: str | None) -> float | None:
    if not timestamp or timestamp.startswith("0001-"):
        return None
    try:
        return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
