"""The embedded demo: everything the dashboard needs, on this machine, in a few seconds.

A Kubernetes API emulator with simulated Flux controllers stands in for the cluster (both clearly
marked as simulated); the registry is real (the registry binary as a process, or the ``registry:3``
image under Docker when that image is present). Two workloads are pushed and applied: ``app``,
which becomes Ready, and ``broken``, whose manifests use a kind the cluster does not serve, so its
Kustomization fails and Flux keeps retrying. Beside them a GitRepository, a HelmRepository, a
HelmRelease (and its HelmChart) and a Bucket (``ksail_sim.demo_objects``) show the other Flux
kinds, served by simulated controllers from local sources the demo makes in ``sources/``.

The Environment operator runs in-process too, with the demo's Project and two Environments:
``main``, which is built (the simulated Job runner), deployed by the simulated Flux and becomes
Ready with a URL, and ``broken-build``, at the first commit of the demo's git repository, which
has no Dockerfile yet, so its build Job fails. ``n`` in the Environments pane (key 7) makes a
preview of the demo's own files.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ksail_tui.config import ClusterConfig, load_config
from ksail_tui.errors import OperationFailed
from ksail_tui.registry import BackendName

if TYPE_CHECKING:
    from ksail_tui.flux.service import FluxService
    from ksail_tui.kube.client import KubeClient
    from ksail_tui.operator import environments

DEMO_DATA = Path(__file__).parent / "demo_data"
DEMO_CONTEXT = "ksail-demo"
DEMO_WORKLOADS = ("app", "broken")
DEMO_ENVIRONMENTS = ("main", "no-team")

Progress = Callable[[str], None]

DEMO_CONFIG = """\
# The ksail-tui demo: a simulated cluster (Kubernetes API emulator + simulated Flux controllers)
# and a real local registry.
apiVersion: ksail.io/v1alpha1
kind: Cluster
metadata:
  name: demo
spec:
  cluster:
    distribution: Kind
    gitOpsEngine: Flux
    connection: {{kubeconfig: {kubeconfig}, context: {context}, timeout: 30s}}
    localRegistry: {{enabled: true, port: {port}}}
    flux: {{interval: 1m}}
  workloads:
    - name: app
      sourceDirectory: k8s/app
      repository: demo/app
      version: 0.1.0
      targetNamespace: demo
    - name: broken
      sourceDirectory: k8s/broken
      repository: demo/broken
      version: 0.1.0
      targetNamespace: demo
  environments: {{team: demo, builds: [{{name: web}}]}}
"""


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _registry_backend(config: ClusterConfig) -> BackendName:
    """Docker when the engine runs and already has the registry image; the process otherwise."""
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            client.images.get(config.registry.image)
            return "docker"
        finally:
            client.close()
    except Exception:  # no engine, no image: the process backend needs neither
        return "process"


@dataclass
class DemoEnvironment:
    workdir: Path
    config: ClusterConfig
    registry_backend: BackendName = "process"
    simulated: bool = True
    _stops: list[Callable[[], object]] = field(default_factory=list)
    _owns_workdir: bool = True

    @property
    def registry_data_dir(self) -> Path:
        return self.workdir / "registry"

    def stop(self) -> None:
        while self._stops:
            with contextlib.suppress(Exception):  # keep tearing down the rest
                self._stops.pop()()
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def start_demo(
    workdir: Path | None = None,
    *,
    on_progress: Progress | None = None,
    wait: bool = True,
    registry_backend: BackendName | None = None,
) -> DemoEnvironment:
    """Start the emulator, the simulated Flux, a registry; push and apply both workloads."""
    from ksail_sim.apiserver.server import ApiServer
    from ksail_sim.demo_objects import other_kinds
    from ksail_sim.flux import SimulatedFlux, install_simulated_flux
    from ksail_sim.jobs import SimulatedJobRunner
    from ksail_tui.flux.service import FluxService
    from ksail_tui.kube.client import KubeClient
    from ksail_tui.oci.service import push_workload
    from ksail_tui.registry.service import open_registry_service

    report = on_progress or (lambda _: None)
    owns = workdir is None
    root = Path(tempfile.mkdtemp(prefix="ksail-tui-demo-")) if workdir is None else workdir
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(DEMO_DATA, root / "k8s", dirs_exist_ok=True)
    kubeconfig = root / "kubeconfig"
    config_path = root / "ksail.yaml"
    config_path.write_text(
        DEMO_CONFIG.format(kubeconfig=kubeconfig, context=DEMO_CONTEXT, port=free_loopback_port()),
        encoding="utf-8",
    )
    config = load_config(config_path)
    env = DemoEnvironment(workdir=root, config=config, _owns_workdir=owns)
    try:
        report("starting the Kubernetes API emulator (simulated cluster)")
        apiserver = ApiServer(port=0)
        apiserver.start()
        env._stops.append(apiserver.stop)
        apiserver.write_kubeconfig(kubeconfig, context=DEMO_CONTEXT, cluster="demo")
        kube = KubeClient(kubeconfig, DEMO_CONTEXT)

        _add_simulated_node(kube)
        report("installing the simulated Flux controllers")
        install_simulated_flux(kube)
        kube.forget_discovery()

        backend = env.registry_backend = registry_backend or _registry_backend(config)
        report(f"starting the local registry ({backend} backend) on {config.registry_endpoint}")
        registry = open_registry_service(config, backend=backend, data_dir=env.registry_data_dir)
        registry.up()
        env._stops.append(lambda: registry.remove(purge=True))

        flux = SimulatedFlux(
            kube, registry_hosts={config.registry_cluster_endpoint: config.registry_endpoint}
        )
        flux.start()
        env._stops.append(flux.stop)
        # Build Jobs of the operator's Environments: the emulator has no kubelet to run them.
        jobs = SimulatedJobRunner(kube, {config.registry_cluster_endpoint: config.registry_endpoint})
        jobs.start()
        env._stops.append(jobs.stop)

        for name in DEMO_WORKLOADS:
            report(f"pushing {name} 0.1.0")
            push_workload(config, name)
        service = FluxService(config, kube)
        service.ensure_namespace()
        service.apply_sources()
        for obj in other_kinds(root / "sources"):
            kube.apply(obj)
        if wait:
            report("waiting for the first reconciliation")
            _wait_settled(service)
        report("starting the Environment operator with the demo's Project and two Environments")
        _start_environments(env, kube)
    except BaseException:
        env.stop()
        raise
    return env


def _start_environments(env: DemoEnvironment, kube: KubeClient) -> None:
    """The CRDs, the operator in a thread, the demo's git repository and Project, and ``main``
    (built, deployed, Ready with a URL) and ``broken-build`` (at the first commit, which has no
    Dockerfile yet: its build Job fails)."""
    from ksail_tui.operator import environments
    from ksail_tui.operator.kopf_app import OperatorThread
    from ksail_tui.operator.settings import Settings

    environments.install_crds(kube)
    config = env.config
    settings = Settings(
        registry_endpoint=config.registry_cluster_endpoint, registry_access=config.registry_endpoint
    )
    operator = OperatorThread(kube, settings).start()
    env._stops.append(operator.stop)
    first, revision = _git_repository(env.workdir)
    environments.init_project(kube, config, revision)
    envs = environments.Environments(kube, config.spec.environments.namespace)
    project = config.spec.environments.project or config.name
    envs.create("main", project, branch=revision.branch, commit=revision.commit)
    envs.create("broken-build", project, branch=revision.branch, commit=first)


def _git_repository(folder: Path) -> tuple[str, environments.GitRevision]:
    """Make the demo's folder a git repository on ``main``: a first commit without the
    Dockerfile, a second that adds it. Returns the first commit and the checkout (the second)."""
    import subprocess

    from ksail_tui.operator import environments

    git = ["git", "-C", str(folder), "-c", "user.name=ksail-tui demo", "-c", "user.email=demo@localhost"]

    def run(*args: str) -> str:
        return subprocess.run([*git, *args], check=True, capture_output=True, text=True, timeout=30).stdout

    if not (folder / ".git").exists():
        (folder / ".gitignore").write_text("registry/\nkubeconfig\nsources/\n", encoding="utf-8")
        run("init", "-q", "-b", "main")
        run("add", "-A")
        run("commit", "-q", "-m", "the demo, before its Dockerfile")
        (folder / "Dockerfile").write_text("FROM scratch\nCOPY k8s /k8s\n", encoding="utf-8")
        run("add", "Dockerfile")
        run("commit", "-q", "-m", "a Dockerfile for the web image")
    first = run("rev-list", "--max-parents=0", "HEAD").strip()
    return first, environments.git_revision(folder)


def _add_simulated_node(kube: KubeClient) -> None:
    """One Ready control-plane node, like a single-node Kind cluster, labelled as simulated."""
    from ksail_sim.flux import SIMULATED_LABEL
    from ksail_tui.kube.client import NODES

    name = "demo-control-plane"
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "labels": {"node-role.kubernetes.io/control-plane": "", SIMULATED_LABEL: "true"},
            },
        }
    )
    ready = {
        "type": "Ready",
        "status": "True",
        "reason": "KubeletReady",
        "message": "simulated kubelet is ready",
    }
    node_info = {
        "kubeletVersion": "v1.33.1",
        "containerRuntimeVersion": "simulated",
        "osImage": "ksail-tui demo",
    }
    kube.merge_patch(
        NODES, name, {"status": {"conditions": [ready], "nodeInfo": node_info}}, subresource="status"
    )


def _wait_settled(service: FluxService) -> None:
    """Reconcile both workloads once: ``app`` must apply, ``broken`` must fail as designed."""
    outcomes = {o.workload: o for o in service.reconcile(timeout=20)}
    if not outcomes["app"].ok:
        raise OperationFailed(f"the demo workload 'app' did not become ready: {outcomes['app'].message}")
