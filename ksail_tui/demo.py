"""The embedded demo: everything the dashboard needs, on this machine, in a few seconds.

A Kubernetes API emulator with simulated Flux controllers stands in for the cluster (both clearly
marked as simulated); the registry is real (the registry binary as a process, or the ``registry:3``
image under Docker when that image is present). Two workloads are pushed and applied: ``app``,
which becomes Ready, and ``broken``, whose manifests use a kind the cluster does not serve, so its
Kustomization fails and Flux keeps retrying.

The Environment operator runs in-process too, with the demo's Project and two Environments:
``main``, which gets its namespace and policies and becomes Ready, and ``no-team``, which lacks
its team label, so the operator reports ``InvalidSpec`` (Failed). The demo's folder is a git
repository, so ``n`` in the Environments view (key 7) makes a preview of its own files.
(With issue 14 the operator also builds and deploys, and ``main`` gets a URL.)
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
  environments: {{team: demo}}
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
    from ksail_tui.flux.service import FluxService
    from ksail_tui.kube.client import KubeClient
    from ksail_tui.oci.service import push_workload
    from ksail_tui.registry.service import open_registry_service
    from ksail_tui.sim.apiserver import ApiServer
    from ksail_tui.sim.flux import SimulatedFlux, install_simulated_flux
    from ksail_tui.sim.jobs import SimulatedJobRunner

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
    (becomes Ready) and ``no-team`` (Failed: InvalidSpec, its team label is missing)."""
    from ksail_tui.operator import environments, naming
    from ksail_tui.operator.kopf_app import OperatorThread
    from ksail_tui.operator.service import ENVIRONMENTS

    environments.install_crds(kube)
    operator = OperatorThread(kube).start()
    env._stops.append(operator.stop)
    revision = _git_repository(env.workdir)
    environments.init_project(kube, env.config, revision)
    envs = environments.Environments(kube, env.config.spec.environments.namespace)
    project = env.config.spec.environments.project or env.config.name
    envs.create("main", project, branch=revision.branch, commit=revision.commit)
    failing = envs.create("no-team", project, branch=revision.branch, commit=revision.commit)
    labels = {naming.TEAM_LABEL: None}  # a merge patch with null removes the label
    kube.merge_patch(ENVIRONMENTS, failing.name, {"metadata": {"labels": labels}}, envs.namespace)


def _git_repository(folder: Path) -> environments.GitRevision:
    """Make the demo's folder a git repository with one commit on ``main``."""
    import subprocess

    from ksail_tui.operator import environments

    git = ["git", "-C", str(folder), "-c", "user.name=ksail-tui demo", "-c", "user.email=demo@localhost"]
    if not (folder / ".git").exists():
        (folder / ".gitignore").write_text("registry/\nkubeconfig\n", encoding="utf-8")
        for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "the demo"]):
            subprocess.run([*git, *args], check=True, capture_output=True, timeout=30)
    return environments.git_revision(folder)


def _add_simulated_node(kube: KubeClient) -> None:
    """One Ready control-plane node, like a single-node Kind cluster, labelled as simulated."""
    from ksail_tui.kube.client import NODES
    from ksail_tui.sim.flux import SIMULATED_LABEL

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
