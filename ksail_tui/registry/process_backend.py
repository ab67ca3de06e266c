"""The registry binary as a plain process on 127.0.0.1, for machines without Docker.

Everything lives in one directory per registry, by default
``$XDG_DATA_HOME/ksail-tui/registries/<name>/`` (``~/.local/share/...``):

* ``config.yml``: written by ``up``; listens on 127.0.0.1:<localRegistry.port>, deletes enabled;
* ``storage/``: the registry's data, kept by ``down`` and ``rm``, deleted by ``rm --purge``;
* ``registry.pid``: the running process; ``down`` removes it, so a pid file naming a dead
  process means the registry crashed;
* ``registry.log``: its output;
* ``.ksail-tui-registry``: the marker ``up`` writes when it creates ``storage/``, naming the
  cluster and a random id. It is the proof that ``storage/`` is the registry's: ``up`` refuses a
  ``storage/`` it did not create, and ``rm --purge`` deletes nothing without the marker.

The directory may be given (``--data-dir``), so it may hold other files: only these five are ever
written or deleted, and a ``config.yml`` that is not this registry's is never overwritten.

Pods cannot reach a process on the workstation's loopback, so this backend serves pushes and tests,
not a cluster. Garbage collection stops the process while it runs and starts it again.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from ksail_tui.config import ClusterConfig
from ksail_tui.errors import InvalidInput, OperationFailed, Unavailable
from ksail_tui.registry.ports import (
    LOOPBACK,
    find_port_holder,
    port_is_free,
    process_arguments,
    process_command,
)
from ksail_tui.registry.service import BackendState, Progress

BINARY_NAMES = ("registry", "docker-registry")
STOP_TIMEOUT_SECONDS = 10.0
KILL_TIMEOUT_SECONDS = 5.0
EXEC_TIMEOUT_SECONDS = 2.0
PORT_RELEASE_TIMEOUT_SECONDS = 5.0
GARBAGE_COLLECTION_TIMEOUT_SECONDS = 600.0
LOG_TAIL_LINES = 3
MARKER_NAME = ".ksail-tui-registry"
MARKER_KIND = "ksail-tui-registry"
CONFIG_NAME = "config.yml"
# The layout of a distribution registry's filesystem storage: what an older ksail-tui left.
_STORAGE_LAYOUT = ("docker", "registry", "v2")
_PROC = Path("/proc")
# Registries this process started, and so has to reap when they exit.
_spawned_pids: set[int] = set()


def default_data_root() -> Path:
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "ksail-tui" / "registries"


def find_registry_binary() -> str | None:
    return next((path for name in BINARY_NAMES if (path := shutil.which(name))), None)


def registry_config(port: int, storage_dir: Path) -> dict[str, object]:
    """The registry's config file: loopback only, deletes enabled, no blob cache to go stale."""
    return {
        "version": "0.1",
        "log": {"level": "info", "fields": {"service": "registry"}},
        "storage": {"filesystem": {"rootdirectory": str(storage_dir)}, "delete": {"enabled": True}},
        # One instance: a fresh secret per start only matters for uploads spanning a restart.
        "http": {"addr": f"{LOOPBACK}:{port}", "secret": secrets.token_hex(16)},
    }


def read_marker(data_dir: Path) -> dict[str, Any] | None:
    """The marker ``up`` wrote in ``data_dir``, or None when there is none (or it is not ours)."""
    try:
        content = json.loads((data_dir / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(content, dict) or content.get("kind") != MARKER_KIND or not content.get("id"):
        return None
    return content


def running_data_dir(config: ClusterConfig) -> Path | None:
    """The data directory of the registry process serving this cluster's port, if one does.

    Found through the process listening on the port: ``registry serve <dir>/config.yml`` with our
    marker in ``<dir>`` naming this cluster. So commands find a registry started with another
    ``--data-dir`` (the demo's) without being told where it keeps its files.
    """
    holder = find_port_holder(config.registry.port)
    if holder is None:
        return None
    arguments = process_arguments(holder.pid)
    if len(arguments) < 3 or arguments[-2] != "serve" or Path(arguments[-1]).name != CONFIG_NAME:
        return None
    data_dir = Path(arguments[-1]).parent
    marker = read_marker(data_dir)
    return data_dir if marker is not None and marker.get("cluster") == config.name else None


def _registry_environment() -> dict[str, str]:
    # The registry lets REGISTRY_* variables override its config file (REGISTRY_HTTP_ADDR could
    # otherwise move it off loopback), so none of the caller's reach it.
    return {key: value for key, value in os.environ.items() if not key.startswith("REGISTRY_")}


class ProcessBackend:
    name = "process"

    def __init__(
        self, config: ClusterConfig, data_dir: Path | None = None, binary: str | None = None
    ) -> None:
        self._config = config
        # Absolute, because the running process is recognised by this path in its command line.
        self.data_dir = (data_dir or default_data_root() / config.name).expanduser().absolute()
        self._binary = binary

    @property
    def storage(self) -> str:
        return str(self.data_dir)

    @property
    def config_file(self) -> Path:
        return self.data_dir / CONFIG_NAME

    @property
    def marker_file(self) -> Path:
        return self.data_dir / MARKER_NAME

    @property
    def storage_dir(self) -> Path:
        return self.data_dir / "storage"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "registry.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "registry.log"

    # --- queries -------------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self._live_pid() is not None

    def inspect(self) -> BackendState:
        binary = self._binary or find_registry_binary()
        pid = self._recorded_pid()
        if pid is None:
            return BackendState(exists=self.config_file.exists(), running=False, image=binary)
        if self._is_our_registry(pid):
            return BackendState(exists=True, running=True, started_at=self._started_at(), image=binary)
        return BackendState(
            exists=True,
            running=False,
            error=f"the registry process {pid} has exited: {self._log_tail()}",
            image=binary,
        )

    def logs_hint(self) -> str:
        return f"see its log: {self.log_file}"

    def check_still_starting(self) -> None:
        pid = self._recorded_pid()
        if pid is None or not self._is_our_registry(pid):
            raise OperationFailed(f"the registry process exited: {self._log_tail()}", hint=self.logs_hint())

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self, progress: Progress) -> None:
        binary = self._require_binary()
        port = self._config.registry.port
        pid = self._live_pid()
        if pid is not None:
            running_port = self._configured_port()
            if running_port == port:
                progress(f"adopting the running registry process {pid}")
                return
            progress(
                f"restarting registry process {pid}: it listens on {running_port}, "
                f"the configuration says {port}"
            )
            self._terminate(pid)
        elif self._recorded_pid() is not None:  # it crashed, perhaps a moment ago
            self._wait_for_port_release()
        self._write_config()
        self._delete(self.pid_file)
        if not port_is_free(port):
            holder = find_port_holder(port)
            raise InvalidInput(
                f"port {port} on {LOOPBACK} is already in use by {holder or 'another process'}",
                hint=f"free port {port}, or change spec.cluster.localRegistry.port in the configuration",
            )
        progress(f"starting {binary} on {LOOPBACK}:{port} (data in {self.storage_dir})")
        self._spawn(binary)

    def stop(self, progress: Progress) -> None:
        pid = self._live_pid()
        if pid is not None:
            progress(f"stopping registry process {pid} (the data stays in {self.storage_dir})")
            self._terminate(pid)
        self._delete(self.pid_file)

    def remove(self, purge: bool, progress: Progress) -> None:
        self.stop(progress)
        self._require_own_config(f"leaving {self.data_dir} as it is")
        if not purge:
            # The marker stays with the data: it still proves that storage/ is the registry's.
            self._delete(self.config_file, self.log_file)
            progress(f"keeping the data in {self.storage_dir}: `rm --purge` deletes it")
            return
        if self.storage_dir.exists() and read_marker(self.data_dir) is None:
            raise InvalidInput(
                f"{self.data_dir} has no {MARKER_NAME} marker from the registry's setup, so nothing "
                f"proves that {self.storage_dir} is the registry's data; deleting nothing",
                hint=f"if {self.storage_dir} is disposable, delete it yourself",
            )
        if self.data_dir.exists():
            progress(f"deleting the registry's data and files in {self.data_dir}")
            self._delete(self.storage_dir, self.config_file, self.log_file, self.pid_file, self.marker_file)
            with contextlib.suppress(OSError):  # not empty: the other files are not ours
                self.data_dir.rmdir()

    def garbage_collect(self, progress: Progress) -> str:
        binary = self._require_binary()
        if not (self.storage_dir / "docker" / "registry" / "v2" / "repositories").is_dir():
            return "nothing to collect: the registry holds no repositories yet"
        was_running = self._live_pid() is not None
        if was_running:
            progress("stopping the registry while garbage is collected")
            self.stop(progress)
        try:
            self._write_config()
            progress("collecting garbage: registry garbage-collect")
            return self._run_garbage_collection(binary)
        finally:
            if was_running:
                progress("starting the registry again")
                self.start(progress)

    def connect_to_cluster_network(self, progress: Progress) -> str:
        raise InvalidInput(
            "the process backend serves on the workstation's loopback only: pods cannot reach it, "
            "so it joins no cluster network",
            hint="use --backend docker for a registry that a Kind or K3d cluster can pull from",
        )

    # --- helpers -------------------------------------------------------------------------------

    def _require_binary(self) -> str:
        binary = self._binary or find_registry_binary()
        if binary is None:
            raise Unavailable(
                "the registry binary is not installed (looked for registry and docker-registry on PATH)",
                hint="install it (apt-get install docker-registry), or use --backend docker",
            )
        return binary

    def _run_garbage_collection(self, binary: str) -> str:
        try:
            result = subprocess.run(
                # Never --delete-untagged: it deletes the platform manifests that an image index
                # references (they carry no tag), in every repository of the registry.
                [binary, "garbage-collect", str(self.config_file)],
                capture_output=True,
                text=True,
                env=_registry_environment(),
                timeout=GARBAGE_COLLECTION_TIMEOUT_SECONDS,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise OperationFailed(f"garbage collection failed: {error}") from None
        if result.returncode != 0:
            raise OperationFailed(f"garbage collection failed: {(result.stderr or result.stdout).strip()}")
        return result.stdout.strip()

    def _delete(self, *paths: Path) -> None:
        """Delete files (or the storage folder) of this registry; missing ones are fine."""
        try:
            for path in paths:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
        except NotADirectoryError:  # the data directory is a file: none of ours are there
            pass
        except OSError as error:
            raise OperationFailed(
                f"could not delete {error.filename or self.data_dir}: {error.strerror or error}",
                hint=f"check the permissions in {self.data_dir}",
            ) from None

    def _write_config(self) -> None:
        self._require_own_config("not overwriting it")
        content = registry_config(self._config.registry.port, self.storage_dir)
        try:
            self._claim_storage()
            self.config_file.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
        except OSError as error:
            raise InvalidInput(
                f"cannot keep the registry's files in {self.data_dir}: {error.strerror or error}",
                hint="pass a --data-dir that is a folder you can write to",
            ) from None

    def _claim_storage(self) -> None:
        """Make sure ``storage/`` is the registry's own: created here, and marked as such.

        A ``storage/`` that exists without our marker is someone's folder (``--data-dir`` can be
        any directory): the registry would write into it and a purge would delete it, so it is
        refused. The one exception is what an older ksail-tui left, before markers: our own
        config.yml next to a storage/ that holds nothing but the registry's layout.
        """
        if read_marker(self.data_dir) is not None:
            self.storage_dir.mkdir(parents=True, exist_ok=True)
            return
        if self.storage_dir.exists() and not self._is_unmarked_registry_storage():
            raise InvalidInput(
                f"{self.storage_dir} already exists and was not created by the registry's setup "
                f"(no {MARKER_NAME} marker in {self.data_dir}); not using it",
                hint="pass a --data-dir of the registry's own, e.g. a new empty folder",
            )
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        marker = {"kind": MARKER_KIND, "cluster": self._config.name, "id": secrets.token_hex(16)}
        self.marker_file.write_text(json.dumps(marker) + "\n", encoding="utf-8")

    def _is_unmarked_registry_storage(self) -> bool:
        if not self.config_file.exists():  # _require_own_config has vouched for one that exists
            return False
        try:
            if [entry.name for entry in self.storage_dir.iterdir()] not in ([], [_STORAGE_LAYOUT[0]]):
                return False
        except OSError:
            return False
        return not (self.storage_dir / _STORAGE_LAYOUT[0]).exists() or (
            self.storage_dir.joinpath(*_STORAGE_LAYOUT).is_dir()
        )

    def _require_own_config(self, refusal: str) -> None:
        """Refuse a ``config.yml`` in the data directory that ``up`` did not write for this registry."""
        if not self.config_file.exists():
            return
        try:
            root = self._written_config()["storage"]["filesystem"]["rootdirectory"]
            ours = Path(root).resolve() == self.storage_dir.resolve()
        except (KeyError, TypeError):
            ours = False
        if not ours:
            raise InvalidInput(
                f"{self.config_file} is not this registry's config file; {refusal}",
                hint="pass a --data-dir of the registry's own, e.g. a new empty folder",
            )

    def _written_config(self) -> dict[str, Any]:
        """The config file ``up`` wrote, or an empty dict when it is missing or unreadable."""
        try:
            content = yaml.safe_load(self.config_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            return {}
        return content if isinstance(content, dict) else {}

    def _configured_port(self) -> int | None:
        try:
            return int(str(self._written_config()["http"]["addr"]).rsplit(":", 1)[1])
        except (KeyError, TypeError, ValueError, IndexError):
            return None

    def _spawn(self, binary: str) -> None:
        # A fresh log per start: its tail explains this run's crash, and it cannot grow forever.
        with self.log_file.open("wb") as log:
            # posix_spawn rather than Popen: the registry outlives us, and nothing should wait on it.
            # setsid keeps a Ctrl-C in the terminal that ran `up` from reaching it.
            pid = os.posix_spawn(
                binary,
                [binary, "serve", str(self.config_file)],
                _registry_environment(),
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, log.fileno(), 1),
                    (os.POSIX_SPAWN_DUP2, log.fileno(), 2),
                ],
                setsid=True,
            )
        _spawned_pids.add(pid)
        self.pid_file.write_text(f"{pid}\n", encoding="utf-8")
        _wait_for_exec(pid)

    def _started_at(self) -> float | None:
        # The pid file is written when the process starts.
        try:
            return self.pid_file.stat().st_mtime
        except OSError:
            return None

    def _recorded_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            return None

    def _live_pid(self) -> int | None:
        pid = self._recorded_pid()
        return pid if pid is not None and self._is_our_registry(pid) else None

    def _is_our_registry(self, pid: int) -> bool:
        """True when ``pid`` is alive and is the registry serving our config file (pids get reused)."""
        _reap_if_our_child(pid)
        if not _PROC.is_dir():  # no /proc (macOS): trust the pid file while the pid is alive
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                pass
            return True
        if _process_state(pid) in (None, "Z", "X"):
            return False
        command = process_command(pid)
        return command is not None and str(self.config_file) in command

    def _terminate(self, pid: int) -> None:
        for sig, patience in ((signal.SIGTERM, STOP_TIMEOUT_SECONDS), (signal.SIGKILL, KILL_TIMEOUT_SECONDS)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + patience
            while self._is_our_registry(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if not self._is_our_registry(pid):
                break
        else:
            raise OperationFailed(f"registry process {pid} did not stop, even after SIGKILL")
        self._wait_for_port_release()

    def _wait_for_port_release(self) -> None:
        """Give a registry that just died the moment it needs to close its listening socket.

        A Go program's main thread turns zombie before its other threads have exited and closed
        their files, so "not running" comes slightly before "port free".
        """
        port = self._configured_port()
        deadline = time.monotonic() + PORT_RELEASE_TIMEOUT_SECONDS
        while port is not None and not port_is_free(port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def _log_tail(self) -> str:
        try:
            lines = self.log_file.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return " | ".join(lines[-LOG_TAIL_LINES:]) or "no log"


def _reap_if_our_child(pid: int) -> None:
    # A registry started by this very process (the dashboard, a test) stays a zombie until reaped.
    # Only pids we spawned ourselves: reaping another child would steal its exit status.
    if pid not in _spawned_pids:
        return
    with contextlib.suppress(ChildProcessError):
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            _spawned_pids.discard(pid)


def _wait_for_exec(pid: int) -> None:
    """Wait until the new process shows its command line.

    posix_spawn returns while the kernel is still setting up the exec'd program, and for that instant
    /proc/<pid>/cmdline is empty: the process would not yet be recognised as our registry.
    """
    deadline = time.monotonic() + EXEC_TIMEOUT_SECONDS
    while _PROC.is_dir() and time.monotonic() < deadline:
        if process_command(pid) is not None or _process_state(pid) in (None, "Z", "X"):
            return
        time.sleep(0.01)


def _process_state(pid: int) -> str | None:
    """The state letter of /proc/<pid>/stat (R, S, Z, ...), or None when the process is gone."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name in parentheses may itself contain spaces and parentheses.
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[0] if fields else None
