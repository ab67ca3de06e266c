"""The local OCI registry's lifecycle: up, down, status, remove, garbage collection.

Two backends run the same CNCF distribution registry:

* ``docker``: a container ``<name>-registry`` published on 127.0.0.1:<port>, data in the named
  volume ``<name>-registry-data``, joined to the cluster's Docker network so pods pull from
  ``<name>-registry:5000`` (see :mod:`ksail_tui.registry.docker_backend`);
* ``process``: the registry binary as a plain process on 127.0.0.1:<port>, data under
  ``$XDG_DATA_HOME/ksail-tui/registries/<name>/``, for machines without Docker. Pods cannot reach
  it (see :mod:`ksail_tui.registry.process_backend`).

``auto`` picks the process backend when it already runs this registry, else Docker when the engine
answers, else the process backend.

Usage::

    service = open_registry_service(config, backend="auto", on_progress=print)
    registry = service.up()          # OCIRegistry, status Running
    service.garbage_collect()        # after deleting manifests, reclaims their blobs
    service.remove(purge=True)       # container and data gone
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ksail_tui.config import ClusterConfig
from ksail_tui.errors import InvalidInput, KsailError
from ksail_tui.models import OCIRegistry, RegistryStatus
from ksail_tui.oci.registry_client import time_left
from ksail_tui.registry import BACKEND_NAMES, BackendName
from ksail_tui.registry.health import PROBE_TIMEOUT_SECONDS, Answer, check, wait_until_healthy
from ksail_tui.registry.ports import find_port_holder

Progress = Callable[[str], None]

DEFAULT_HEALTH_TIMEOUT_SECONDS = 60.0
# A registry that runs but does not answer yet counts as starting for this long, then as broken.
STARTUP_GRACE_SECONDS = 30.0


def _ignore_progress(_: str) -> None:
    pass


@dataclass(frozen=True)
class RepositoryInfo:
    name: str  # the path in the registry, e.g. local/app
    workload: str
    tags: int | None = None  # None: could not be listed
    error: str = ""


@dataclass(frozen=True)
class RegistryView:
    """The registry's state and what it holds: the dashboard's Registry pane."""

    registry: OCIRegistry
    repositories: tuple[RepositoryInfo, ...] = ()
    disk_bytes: int | None = None  # None: not known (e.g. a Docker volume)


def directory_size(path: Path) -> int | None:
    """Bytes of the regular files under ``path``; None when it is not a readable folder."""
    if not path.is_dir():
        return None
    total = 0
    try:
        for file in path.rglob("*"):
            if file.is_file() and not file.is_symlink():
                total += file.stat().st_size
    except OSError:
        return None
    return total


@dataclass(frozen=True)
class BackendState:
    """What a backend knows about its registry without asking the registry itself."""

    exists: bool  # a container, or a process record, is there (running or not)
    running: bool
    started_at: float | None = None  # epoch seconds
    error: str | None = None  # why it is down when it should be up: a crash, a restart loop
    image: str | None = None  # the image, or the binary of the process backend


class RegistryBackend(Protocol):
    """One way to run the registry. Every method raises :class:`KsailError` subclasses only."""

    name: str

    @property
    def storage(self) -> str:
        """Where the data lives: a volume name or a directory."""
        ...

    def inspect(self) -> BackendState: ...

    def start(self, progress: Progress) -> None:
        """Provision (or adopt) and start the registry; does not wait for it to answer."""
        ...

    def check_still_starting(self) -> None:
        """Raise when the registry has died while we wait for it to answer."""
        ...

    def logs_hint(self) -> str: ...

    def stop(self, progress: Progress) -> None: ...

    def remove(self, purge: bool, progress: Progress) -> None: ...

    def garbage_collect(self, progress: Progress) -> str:
        """Delete the blobs no manifest references, with the registry stopped meanwhile.

        Manifests are never collected: deleted ones (prune) are already gone, and an untagged one
        may be a platform manifest of an image index.
        """
        ...

    def connect_to_cluster_network(self, progress: Progress) -> str: ...


class RegistryService:
    """The registry of one cluster configuration, through one backend."""

    def __init__(
        self,
        config: ClusterConfig,
        backend: RegistryBackend,
        *,
        on_progress: Progress | None = None,
        health_timeout: float = DEFAULT_HEALTH_TIMEOUT_SECONDS,
    ) -> None:
        self.config = config
        self.backend = backend
        self.health_timeout = health_timeout
        self._progress = on_progress or _ignore_progress
        # The last failure of an operation of this service, so status() can show it as Error.
        self._last_error: str | None = None

    @property
    def backend_name(self) -> str:
        return self.backend.name

    def up(self) -> OCIRegistry:
        """Start the registry (idempotent) and wait until ``GET /v2/`` answers 200."""
        if not self.config.registry.enabled:
            raise InvalidInput(
                "the local registry is disabled in the configuration",
                hint="set spec.cluster.localRegistry.enabled: true",
            )
        with self._recording_errors():
            self.backend.start(self._progress)
            self._wait_until_healthy()
        self._progress(
            f"registry {self.config.registry_name} is answering on {self.config.registry_endpoint}"
        )
        return self.status()

    def down(self) -> OCIRegistry:
        """Stop the registry; its data stays."""
        with self._recording_errors():
            self.backend.stop(self._progress)
        return self.status()

    def remove(self, purge: bool = False) -> OCIRegistry:
        """Remove the container (or process files); with ``purge`` also the data."""
        with self._recording_errors():
            self.backend.remove(purge, self._progress)
        return self.status()

    def status(self) -> OCIRegistry:
        """The registry's state, as both ``registry status`` and the dashboard show it.

        Never raises: a backend that cannot be asked is reported as Error with the reason. What
        answers on the configured port decides as much as the backend does: a registry started
        elsewhere is what pushes reach (Running, backend ``external``), and a server that is no
        registry is an Error that names it.
        """
        try:
            state = self.backend.inspect()
        except KsailError as error:
            return self._model(RegistryStatus.ERROR, last_error=str(error))
        port = self.config.registry.port
        answer = check(port, timeout=time_left(PROBE_TIMEOUT_SECONDS))
        if not state.running:
            if answer.answer is Answer.REGISTRY:
                return self._model(RegistryStatus.RUNNING, backend="external")
            if answer.answer is Answer.OTHER:
                holder = find_port_holder(port)
                held = f" (held by {holder})" if holder else ""
                return self._model(RegistryStatus.ERROR, last_error=f"{answer.problem}{held}")
            down_because = state.error or self._last_error
            status = RegistryStatus.ERROR if down_because else RegistryStatus.NOT_PROVISIONED
            return self._model(status, last_error=down_because, image=state.image)
        if answer.answer is Answer.REGISTRY:
            return self._model(RegistryStatus.RUNNING, image=state.image)
        recently_started = (
            state.started_at is not None and time.time() - state.started_at < STARTUP_GRACE_SECONDS
        )
        status = RegistryStatus.PROVISIONING if recently_started else RegistryStatus.ERROR
        return self._model(status, last_error=answer.problem, image=state.image)

    def overview(self) -> RegistryView:
        """The status, the tags of each workload's repository, and the disk the data takes."""
        from ksail_tui.oci.registry_client import RegistryClient

        registry = self.status()
        repositories: list[RepositoryInfo] = []
        if registry.status == RegistryStatus.RUNNING:
            with RegistryClient(self.config.registry_endpoint) as client:
                for workload in self.config.workloads:
                    repository = self.config.repository_of(workload)
                    try:
                        tags: int | None = len(client.list_tags(repository))
                        error = ""
                    except KsailError as failure:
                        tags, error = None, failure.message
                    repositories.append(RepositoryInfo(repository, workload.name, tags, error))
        disk = directory_size(Path(registry.volume)) if registry.backend == "process" else None
        return RegistryView(registry=registry, repositories=tuple(repositories), disk_bytes=disk)

    def garbage_collect(self) -> str:
        """Reclaim the space of deleted manifests; returns the registry's report.

        The registry is stopped while it runs (and started again afterwards): collecting while
        a push is in flight can delete the blobs of that push, and a running registry's blob cache
        would keep claiming that deleted blobs exist.
        """
        with self._recording_errors():
            was_running = self.backend.inspect().running
            report = self.backend.garbage_collect(self._progress)
            if was_running:
                self._wait_until_healthy()
        return report

    def connect_to_cluster_network(self) -> str:
        """Join the cluster's Docker network (idempotent); returns the network's name.

        Docker backend only: the process backend raises :class:`InvalidInput`, because pods
        cannot reach a process on the workstation's loopback.
        """
        with self._recording_errors():
            return self.backend.connect_to_cluster_network(self._progress)

    def _wait_until_healthy(self) -> None:
        self._progress(f"waiting for the registry to answer on {self.config.registry_endpoint}")
        wait_until_healthy(
            self.config.registry.port,
            self.health_timeout,
            check_still_starting=self.backend.check_still_starting,
            logs_hint=self.backend.logs_hint(),
        )

    @contextmanager
    def _recording_errors(self) -> Iterator[None]:
        """Remember an operation's failure for status(); forget it after a success."""
        try:
            yield
        except KsailError as error:
            self._last_error = str(error)
            raise
        self._last_error = None

    def _model(
        self,
        status: RegistryStatus,
        *,
        last_error: str | None = None,
        image: str | None = None,
        backend: str | None = None,
    ) -> OCIRegistry:
        return OCIRegistry(
            name=self.config.registry_name,
            endpoint=self.config.registry_endpoint,
            cluster_endpoint=self.config.registry_cluster_endpoint,
            port=self.config.registry.port,
            volume=self.backend.storage,
            status=status,
            last_error=last_error,
            backend=backend or self.backend.name,
            image=image or (self.config.registry.image if self.backend.name == "docker" else None),
        )


def open_registry_service(
    config: ClusterConfig,
    backend: BackendName = "auto",
    data_dir: Path | None = None,
    on_progress: Progress | None = None,
    *,
    health_timeout: float = DEFAULT_HEALTH_TIMEOUT_SECONDS,
) -> RegistryService:
    """The registry service of ``config``.

    ``data_dir`` is the process backend's directory for this registry (default
    ``$XDG_DATA_HOME/ksail-tui/registries/<name>``). Choosing ``docker`` explicitly does not touch
    the engine yet: the first operation raises :class:`Unavailable` when Docker is not running.
    """
    from ksail_tui.registry.docker_backend import DockerBackend, docker_client_if_running
    from ksail_tui.registry.process_backend import ProcessBackend, running_data_dir

    progress = on_progress or _ignore_progress
    if data_dir is None and backend in ("process", "auto"):
        # A registry process already serving this cluster's port, wherever its files are.
        data_dir = running_data_dir(config)
    chosen: RegistryBackend
    if backend == "docker":
        chosen = DockerBackend(config)
    elif backend == "process":
        chosen = ProcessBackend(config, data_dir=data_dir)
    elif backend == "auto":
        process = ProcessBackend(config, data_dir=data_dir)
        process_runs = process.is_running()
        client = None if process_runs else docker_client_if_running()
        if client is not None:
            chosen = DockerBackend(config, client=client)
        else:
            if not process_runs:
                progress("Docker is not answering: using the process backend")
            chosen = process
    else:
        raise InvalidInput(f"unknown registry backend {backend!r}; use one of {', '.join(BACKEND_NAMES)}")
    return RegistryService(config, chosen, on_progress=progress, health_timeout=health_timeout)


def purge_registry(
    config: ClusterConfig,
    backend: BackendName = "auto",
    data_dir: Path | None = None,
    on_progress: Progress | None = None,
) -> OCIRegistry:
    """Remove the registry and its data: what ``cluster delete --purge`` calls."""
    return open_registry_service(config, backend, data_dir, on_progress).remove(purge=True)


def connect_to_cluster_network(config: ClusterConfig, on_progress: Progress | None = None) -> str:
    """Join the Docker registry container to the cluster's network; returns the network's name."""
    return open_registry_service(config, "docker", on_progress=on_progress).connect_to_cluster_network()
