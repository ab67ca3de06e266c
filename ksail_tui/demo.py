"""The embedded demo: everything the dashboard needs, on this machine, in a few seconds.

A Kubernetes API emulator with simulated Flux controllers stands in for the cluster (both clearly
marked as simulated); the registry is real (the registry binary as a process, or the ``registry:3``
image under Docker when that image is present). Two workloads are pushed and applied: ``app``,
which becomes Ready, and ``broken``, whose manifests use a kind the cluster does not serve, so its
Kustomization fails and Flux keeps retrying. Beside them a GitRepository, a HelmRepository and a
HelmRelease (``sim.demo_objects``) show the other Flux kinds, served by simulated controllers.
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

DEMO_DATA = Path(__file__).parent / "demo_data"
DEMO_CONTEXT = "ksail-demo"
DEMO_WORKLOADS = ("app", "broken")

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
    from ksail_tui.sim.demo_objects import other_kinds
    from ksail_tui.sim.flux import SimulatedFlux, install_simulated_flux

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

        for name in DEMO_WORKLOADS:
            report(f"pushing {name} 0.1.0")
            push_workload(config, name)
        service = FluxService(config, kube)
        service.ensure_namespace()
        service.apply_sources()
        for obj in other_kinds():
            kube.apply(obj)
        if wait:
            report("waiting for the first reconciliation")
            _wait_settled(service)
    except BaseException:
        env.stop()
        raise
    return env


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
