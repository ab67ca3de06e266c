"""Watch mode end to end: files written into a watched folder reach the simulated Flux controllers
(on the API emulator) through the real registry binary, as new dev versions."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ksail_sim.apiserver.server import ApiServer
from ksail_sim.flux import SimulatedFlux
from ksail_tui.config import ClusterConfig, load_config
from ksail_tui.devloop import DevLoop, LoopState, Phase
from ksail_tui.flux.service import FluxService, ReconcileOutcome
from ksail_tui.kube.client import KUSTOMIZATIONS, OCI_REPOSITORIES, KubeClient, Resource
from ksail_tui.oci.registry_client import RegistryClient
from ksail_tui.oci.service import push_workload
from tests.fixtures.kube_real import KUBE_TARGETS, context_of, kubeconfig_for
from tests.fixtures.registry import start_registry, stop_registry
from tests.fixtures.sim_flux import IN_CLUSTER_REGISTRY, TEST_RETRY_INTERVAL

pytestmark = pytest.mark.needs_registry

CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap")
DEBOUNCE = 0.1  # short, so the tests stay fast; the burst test sets its own
FAST_RETRIES = (0.1, 0.2)
WAIT_SECONDS = 15.0


def configmap(value: str, name: str = "settings") -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: '{value}'\n"


def write_project(tmp_path: Path, kubeconfig: Path, port: int) -> ClusterConfig:
    source = tmp_path / "app"
    source.mkdir()
    (source / "cm.yaml").write_text(configmap("v0"))
    path = tmp_path / "ksail.yaml"
    path.write_text(
        "apiVersion: ksail.io/v1alpha1\nkind: Cluster\n"
        "metadata: {name: t}\n"
        "spec:\n"
        "  cluster:\n"
        f"    connection: {{kubeconfig: {kubeconfig}, context: {context_of(kubeconfig)}, timeout: 20s}}\n"
        f"    localRegistry: {{port: {port}, clusterEndpoint: '{IN_CLUSTER_REGISTRY}'}}\n"
        "  workloads:\n"
        "    - {name: app, sourceDirectory: app, repository: t/app, version: 0.1.0, targetNamespace: apps}\n"
    )
    return load_config(path)


class Recorder:
    """Collects every state the loop sends and waits for one that matches."""

    def __init__(self) -> None:
        self.states: list[LoopState] = []
        self._changed = threading.Condition()

    def __call__(self, state: LoopState) -> None:
        with self._changed:
            self.states.append(state)
            self._changed.notify_all()

    def mark(self) -> int:
        with self._changed:
            return len(self.states)

    def wait(self, check: Callable[[LoopState], bool], what: str, since: int = 0) -> LoopState:
        deadline = time.monotonic() + WAIT_SECONDS
        with self._changed:
            while True:
                found = next((s for s in self.states[since:] if check(s)), None)
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = "\n  ".join(f"{s.phase} {s.message} {s.last_error}" for s in self.states[since:])
                    raise AssertionError(f"timed out waiting for {what}; states since:\n  {seen}")
                self._changed.wait(remaining)

    def applied(self, version: str, since: int = 0) -> LoopState:
        return self.wait(
            lambda s: (
                s.phase is Phase.IDLE and s.last_result is not None and s.last_result.version == version
            ),
            f"{version} applied",
            since,
        )


def phases(states: list[LoopState]) -> list[Phase]:
    """The phases the loop went through, each run of repeats counted once."""
    return [s.phase for i, s in enumerate(states) if i == 0 or states[i - 1].phase is not s.phase]


def applied_revision(kube: KubeClient) -> str | None:
    status = kube.get(KUSTOMIZATIONS, "app", "flux-system").get("status") or {}
    return status.get("lastAppliedRevision")


def tags(config: ClusterConfig) -> set[str]:
    with RegistryClient(config.registry_endpoint) as client:
        return set(client.list_tags("t/app"))


@pytest.fixture
def kubeconfig(request: pytest.FixtureRequest) -> Path:
    return kubeconfig_for(request)


# The emulator by default; these also on a real kube-apiserver (needs_kube).
ON_BOTH_SERVERS = pytest.mark.parametrize("kubeconfig", KUBE_TARGETS, indirect=True)


@pytest.fixture
def project(kubeconfig: Path, registry_process: Any, tmp_path: Path) -> ClusterConfig:
    return write_project(tmp_path, kubeconfig, registry_process.port)


@pytest.fixture
def watched(
    project: ClusterConfig, simulated_flux: SimulatedFlux
) -> Iterator[tuple[DevLoop, Recorder, ClusterConfig]]:
    """A running loop that has brought the cluster to 0.1.0-dev.1 (the folder as it was)."""
    recorder = Recorder()
    loop = DevLoop(project, ["app"], on_state=recorder, debounce=DEBOUNCE, keep=3, retry_delays=FAST_RETRIES)
    loop.start()
    try:
        recorder.applied("0.1.0-dev.1")
        yield loop, recorder, project
    finally:
        loop.stop()


@ON_BOTH_SERVERS
def test_a_save_is_pushed_as_a_new_dev_version_and_applied(
    watched: tuple[DevLoop, Recorder, ClusterConfig], flux_cluster: KubeClient
) -> None:
    loop, recorder, config = watched
    first = loop.state("app")
    assert first.last_result is not None and first.last_result.pushed
    assert applied_revision(flux_cluster) == first.last_result.revision == first.applied_revision
    assert first.last_result.revision.startswith("0.1.0-dev.1@sha256:")

    mark = recorder.mark()
    (config.source_path(config.workload("app")) / "cm.yaml").write_text(configmap("v1"))
    state = recorder.applied("0.1.0-dev.2", mark)

    result = state.last_result
    assert result is not None and result.ok and result.pushed
    assert applied_revision(flux_cluster) == result.revision
    source = flux_cluster.get(OCI_REPOSITORIES, "app", "flux-system")
    assert source["spec"]["ref"] == {"tag": "0.1.0-dev.2"}  # followed without a manual edit
    assert flux_cluster.get(CONFIGMAPS, "settings", "apps")["data"] == {"value": "v1"}
    assert result.save_to_pushed is not None and result.save_to_ready is not None
    assert DEBOUNCE <= result.save_to_pushed <= result.save_to_ready
    assert phases(recorder.states[mark:]) == [
        Phase.IDLE,  # pending: the change was seen
        Phase.BUILDING,
        Phase.PUSHING,
        Phase.RECONCILING,
        Phase.IDLE,
    ]
    assert state.pushes == 2 and state.dev_version == "0.1.0-dev.2"


def test_a_burst_of_saves_gives_one_push(
    project: ClusterConfig, simulated_flux: SimulatedFlux, flux_cluster: KubeClient
) -> None:
    recorder = Recorder()
    with DevLoop(project, ["app"], on_state=recorder, debounce=0.3) as loop:
        recorder.applied("0.1.0-dev.1")
        mark = recorder.mark()
        source = project.source_path(project.workload("app"))
        for n in range(20):  # one file saved over and over, another added midway
            (source / "cm.yaml").write_text(configmap(f"burst-{n}"))
            if n == 10:
                (source / "extra.yaml").write_text(configmap("extra", name="extra"))
            time.sleep(0.01)
        state = recorder.applied("0.1.0-dev.2", mark)
        time.sleep(0.5)  # nothing else may follow
        assert loop.state("app").pushes == 2
    assert phases(recorder.states[mark:]).count(Phase.PUSHING) == 1
    assert tags(project) == {"0.1.0-dev.1", "0.1.0-dev.2"}
    assert state.last_result is not None and applied_revision(flux_cluster) == state.last_result.revision
    assert flux_cluster.get(CONFIGMAPS, "settings", "apps")["data"] == {"value": "burst-19"}
    assert flux_cluster.get(CONFIGMAPS, "extra", "apps")["data"] == {"value": "extra"}


def test_ignored_files_and_identical_content_push_nothing(
    watched: tuple[DevLoop, Recorder, ClusterConfig],
) -> None:
    loop, recorder, config = watched
    source = config.source_path(config.workload("app"))
    mark = recorder.mark()
    (source / "diagram.png").write_bytes(b"\x89PNG")  # Flux's defaults leave it out
    (source / ".git").mkdir()
    (source / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    time.sleep(0.4)
    assert recorder.states[mark:] == []
    (source / "cm.yaml").write_text(configmap("v0"))  # saved, but the same content
    recorder.wait(lambda s: s.message == "no change to the artifact", "the unchanged build", mark)
    assert loop.state("app").pushes == 1
    assert tags(config) == {"0.1.0-dev.1"}


def test_a_broken_save_shows_file_and_line_then_the_fix_recovers(
    watched: tuple[DevLoop, Recorder, ClusterConfig], flux_cluster: KubeClient
) -> None:
    _, recorder, config = watched
    manifest = config.source_path(config.workload("app")) / "cm.yaml"
    before = applied_revision(flux_cluster)

    mark = recorder.mark()
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata: [oops\n")
    broken = recorder.wait(lambda s: s.phase is Phase.ERROR, "the error", mark)
    assert broken.last_error is not None and broken.last_error.kind == "invalid"
    assert broken.last_error.location == f"{manifest}:6"
    assert "not valid YAML" in broken.last_error.message
    assert broken.pushes == 1  # nothing was pushed
    assert applied_revision(flux_cluster) == before  # the cluster keeps the last good version

    mark = recorder.mark()
    manifest.write_text(configmap("fixed"))
    fixed = recorder.applied("0.1.0-dev.2", mark)
    assert fixed.last_error is None
    assert fixed.last_result is not None and applied_revision(flux_cluster) == fixed.last_result.revision
    assert flux_cluster.get(CONFIGMAPS, "settings", "apps")["data"] == {"value": "fixed"}


@ON_BOTH_SERVERS
def test_flux_failing_to_apply_is_an_error_until_the_next_save(
    watched: tuple[DevLoop, Recorder, ClusterConfig], flux_cluster: KubeClient
) -> None:
    _, recorder, config = watched
    source = config.source_path(config.workload("app"))
    mark = recorder.mark()
    # Valid YAML, but a kind the cluster does not serve: the Kustomization fails to apply it.
    (source / "cert.yaml").write_text(
        "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata:\n  name: c\n"
    )
    failed = recorder.wait(lambda s: s.phase is Phase.ERROR, "the failed apply", mark)
    assert failed.last_error is not None and failed.last_error.kind == "failed"
    assert failed.last_result is not None and not failed.last_result.ok
    assert failed.last_result.version == "0.1.0-dev.2"

    mark = recorder.mark()
    (source / "cert.yaml").unlink()
    recovered = recorder.applied("0.1.0-dev.3", mark)
    assert recovered.last_error is None


class HeldFluxService(FluxService):
    """Holds a reconcile while ``hold`` is set, as a health check that takes minutes would."""

    def __init__(self, config: ClusterConfig, kube: KubeClient) -> None:
        super().__init__(config, kube)
        self.hold = threading.Event()
        self.release = threading.Event()

    def reconcile(self, names: list[str] | None = None, **options: Any) -> list[ReconcileOutcome]:
        if self.hold.is_set():
            self.hold.clear()
            self.release.wait(WAIT_SECONDS)
        return super().reconcile(names, **options)


def test_a_newer_save_supersedes_a_reconcile_that_hangs(
    project: ClusterConfig, simulated_flux: SimulatedFlux, flux_cluster: KubeClient
) -> None:
    service = HeldFluxService(project, flux_cluster)
    recorder = Recorder()
    manifest = project.source_path(project.workload("app")) / "cm.yaml"
    with DevLoop(project, ["app"], lambda: service, on_state=recorder, debounce=DEBOUNCE) as loop:
        recorder.applied("0.1.0-dev.1")
        service.hold.set()
        mark = recorder.mark()
        manifest.write_text(configmap("slow"))
        recorder.wait(lambda s: s.phase is Phase.RECONCILING, "the held reconcile", mark)
        manifest.write_text(configmap("newer"))
        newer = recorder.applied("0.1.0-dev.3", mark)
        assert not service.release.is_set()  # dev.2's reconcile is still held
        assert newer.last_result is not None and applied_revision(flux_cluster) == newer.last_result.revision
        service.release.set()
        time.sleep(0.5)  # the abandoned reconcile ends; its outcome must change nothing
        assert loop.state("app").last_result == newer.last_result
        assert loop.state("app").phase is Phase.IDLE
    assert flux_cluster.get(CONFIGMAPS, "settings", "apps")["data"] == {"value": "newer"}


def test_auto_prune_keeps_n_dev_versions_and_never_the_ones_in_use(
    project: ClusterConfig, simulated_flux: SimulatedFlux, flux_cluster: KubeClient
) -> None:
    for release in ("0.0.9", "0.1.0"):
        push_workload(project, "app", version=release)
    recorder = Recorder()
    source = project.source_path(project.workload("app"))
    with DevLoop(project, ["app"], on_state=recorder, debounce=DEBOUNCE, keep=2) as loop:
        recorder.applied("0.1.0-dev.1")
        # Another OCIRepository still uses dev.1: it must survive every prune.
        pinned = {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "OCIRepository",
            "metadata": {"name": "pinned", "namespace": "flux-system"},
            "spec": {
                "interval": "10m",
                "url": f"oci://{IN_CLUSTER_REGISTRY}/t/app",
                "ref": {"tag": "0.1.0-dev.1"},
                "insecure": True,
            },
        }
        flux_cluster.apply(pinned)
        pruned: list[str] = []
        for n in range(2, 6):
            mark = recorder.mark()
            (source / "cm.yaml").write_text(configmap(f"v{n}"))
            state = recorder.applied(f"0.1.0-dev.{n}", mark)
            assert state.last_result is not None and state.warning is None
            pruned.extend(state.last_result.pruned)
        assert loop.state("app").dev_version == "0.1.0-dev.5"
    assert tags(project) == {"0.0.9", "0.1.0", "0.1.0-dev.1", "0.1.0-dev.4", "0.1.0-dev.5"}
    assert sorted(pruned) == ["0.1.0-dev.2", "0.1.0-dev.3"]
    assert applied_revision(flux_cluster) == recorder.states[-1].applied_revision


def test_a_restart_continues_the_numbering_and_reuses_an_unchanged_version(
    project: ClusterConfig, simulated_flux: SimulatedFlux, flux_cluster: KubeClient
) -> None:
    source = project.source_path(project.workload("app"))
    recorder = Recorder()
    with DevLoop(project, ["app"], on_state=recorder, debounce=DEBOUNCE):
        recorder.applied("0.1.0-dev.1")
        (source / "cm.yaml").write_text(configmap("v1"))
        recorder.applied("0.1.0-dev.2")

    recorder = Recorder()
    with DevLoop(project, ["app"], on_state=recorder, debounce=DEBOUNCE) as loop:
        again = recorder.applied("0.1.0-dev.2")  # the folder still matches dev.2: no push
        assert loop.state("app").pushes == 0
        assert again.last_result is not None and not again.last_result.pushed
        (source / "cm.yaml").write_text(configmap("v2"))
        recorder.applied("0.1.0-dev.3")
    assert tags(project) == {"0.1.0-dev.1", "0.1.0-dev.2", "0.1.0-dev.3"}


def test_registry_down_pauses_then_the_pending_change_is_pushed(
    flux_cluster: KubeClient, kubeconfig: Path, tmp_path: Path
) -> None:
    registry_dir = tmp_path / "registry"
    registry_dir.mkdir()
    process, registry = start_registry(registry_dir)
    config = write_project(tmp_path, kubeconfig, registry.port)
    recorder = Recorder()
    sim = SimulatedFlux(
        flux_cluster,
        registry_hosts={IN_CLUSTER_REGISTRY: registry.endpoint},
        retry_interval=TEST_RETRY_INTERVAL,
    )
    try:
        with sim, DevLoop(config, ["app"], on_state=recorder, debounce=DEBOUNCE, retry_delays=FAST_RETRIES):
            recorder.applied("0.1.0-dev.1")
            stop_registry(process)
            mark = recorder.mark()
            (config.source_path(config.workload("app")) / "cm.yaml").write_text(configmap("while-down"))
            paused = recorder.wait(lambda s: s.phase is Phase.PAUSED, "the pause", mark)
            assert paused.last_error is not None and paused.last_error.kind == "unavailable"
            assert "cannot be reached" in paused.last_error.message
            recorder.wait(lambda s: s.retry_in is not None and s.pending, "a scheduled retry", mark)
            # Same config, port and storage: the registry comes back as it was.
            process = subprocess.Popen(
                [process.args[0], "serve", str(registry_dir / "config.yml")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            resumed = recorder.applied("0.1.0-dev.2", mark)
            assert resumed.last_error is None
            assert flux_cluster.get(CONFIGMAPS, "settings", "apps")["data"] == {"value": "while-down"}
            assert resumed.last_result is not None
            assert applied_revision(flux_cluster) == resumed.last_result.revision
    finally:
        stop_registry(process)


def test_cluster_down_pauses_then_the_change_is_applied(
    watched: tuple[DevLoop, Recorder, ClusterConfig], apiserver: ApiServer, flux_cluster: KubeClient
) -> None:
    loop, recorder, config = watched
    apiserver.set_unavailable(True)
    try:
        mark = recorder.mark()
        (config.source_path(config.workload("app")) / "cm.yaml").write_text(configmap("outage"))
        paused = recorder.wait(lambda s: s.phase is Phase.PAUSED, "the pause", mark)
        assert paused.dev_version == "0.1.0-dev.2"  # pushed; only the cluster is missing
        assert paused.last_error is not None and paused.last_error.kind == "unavailable"
    finally:
        apiserver.set_unavailable(False)
    resumed = recorder.applied("0.1.0-dev.2", mark)
    assert resumed.last_result is not None and applied_revision(flux_cluster) == resumed.last_result.revision
    assert loop.state("app").pushes == 2


@ON_BOTH_SERVERS
def test_the_cli_watches_until_ctrl_c(
    project: ClusterConfig, simulated_flux: SimulatedFlux, flux_cluster: KubeClient
) -> None:
    assert project.path is not None
    command = [sys.executable, "-m", "ksail_tui", "-c", str(project.path), "workload", "watch"]
    process = subprocess.Popen(
        [*command, "app", "--debounce", "50ms", "--keep", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
        # Ctrl-C as in a terminal, even when this run is a shell's background job (SIGINT ignored).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("✔ app 0.1.0-dev.1: applied revision 0.1.0-dev.1@sha256:"), first
        (project.source_path(project.workload("app")) / "cm.yaml").write_text(configmap("cli"))
        second = process.stdout.readline()
        assert second.startswith("✔ app 0.1.0-dev.2: applied"), second
        assert "save→pushed" in second and "save→ready" in second
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130
    assert "stopped watching (app at 0.1.0-dev.2)" in err
    assert "Traceback" not in err
    assert flux_cluster.get(CONFIGMAPS, "settings", "apps")["data"] == {"value": "cli"}


def test_turning_watch_mode_on_pushes_nothing_while_the_cluster_runs_the_folder(
    project: ClusterConfig, simulated_flux: SimulatedFlux, flux_cluster: KubeClient
) -> None:
    push_workload(project, "app")
    flux = FluxService(project, flux_cluster)
    flux.ensure_namespace()
    flux.apply_sources(["app"])
    [outcome] = flux.reconcile(["app"], timeout=20)
    assert outcome.ok
    recorder = Recorder()
    with DevLoop(project, ["app"], on_state=recorder, debounce=DEBOUNCE) as loop:
        recorder.wait(lambda s: s.message == "no change to the artifact", "the unchanged folder")
        assert loop.state("app").pushes == 0
        assert tags(project) == {"0.1.0"}
        mark = recorder.mark()
        (project.source_path(project.workload("app")) / "cm.yaml").write_text(configmap("v1"))
        recorder.applied("0.1.0-dev.1", mark)  # a change is pushed as the first dev version
