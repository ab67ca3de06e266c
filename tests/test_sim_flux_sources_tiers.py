"""The simulated Helm and Bucket controllers as clients of both API servers: the emulator and a
real kube-apiserver (needs_kube)."""

from __future__ import annotations

import http.server
import threading
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from ksail_sim.demo_objects import bucket_folder, chart_index
from ksail_sim.flux import SimulatedFlux
from ksail_sim.flux.crds import OTHER_CRD_FILES, flux_crds
from ksail_tui.errors import KsailError
from ksail_tui.flux.kinds import BY_KIND
from ksail_tui.kube.client import CRDS, ApiError, KubeClient
from tests.fixtures.kube_real import KUBE_TARGETS, is_real_kube, kubeconfig_for, without_cel
from tests.test_sim_flux_sources import FLUX, ready, source, wait_for


@pytest.fixture(params=KUBE_TARGETS)
def kubeconfig(request: pytest.FixtureRequest) -> Path:
    return kubeconfig_for(request)


def test_helm_and_bucket_sources_on_both_api_servers(flux_cluster: KubeClient, tmp_path: Path) -> None:
    """The HelmRepository's loopback URL and the Bucket's file:// endpoint pass a real server's CRD
    validation; a file:// GitRepository does not (its URL pattern is http, https or ssh), which is
    why the demo's runs on the emulator only."""
    kube, suffix = flux_cluster, uuid.uuid4().hex[:6]
    chart_index(tmp_path / "charts")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "charts"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    repository, release, bucket = f"charts-{suffix}", f"web-{suffix}", f"config-{suffix}"
    made = [
        ("HelmRepository", repository, {"url": f"http://127.0.0.1:{server.server_address[1]}"}),
        (
            "HelmRelease",
            release,
            {
                "chart": {
                    "spec": {
                        "chart": "podinfo",
                        "version": "6.5.x",
                        "sourceRef": {"kind": "HelmRepository", "name": repository},
                    }
                }
            },
        ),
        ("Bucket", bucket, {"endpoint": bucket_folder(tmp_path, "config").as_uri(), "bucketName": "config"}),
    ]
    real = is_real_kube(Path(kube.kubeconfig))
    if real:  # the session's real server serves the OCI loop's CRDs only: add the other kinds' here
        other_crds = [without_cel(crd) for crd in flux_crds(OTHER_CRD_FILES)]
        install_crds(kube, other_crds)
    sim = SimulatedFlux(kube, namespace=FLUX, retry_interval=0.2).start()
    try:
        for kind, name, spec in made:
            kube.create(BY_KIND[kind].resource, source(kind, name, spec), FLUX)
        assert (
            wait_for(kube, "HelmChart", f"{FLUX}-{release}", ready)["status"]["artifact"]["revision"]
            == "6.5.4"
        )
        assert (
            wait_for(kube, "HelmRelease", release, ready)["status"]["history"][0]["chartVersion"] == "6.5.4"
        )
        assert wait_for(kube, "Bucket", bucket, ready)["status"]["artifact"]["revision"].startswith("sha256:")
        git_repository = source("GitRepository", f"git-{suffix}", {"url": (tmp_path / "repo").as_uri()})
        if real:
            with pytest.raises(ApiError) as refused:
                kube.create(BY_KIND["GitRepository"].resource, git_repository, FLUX)
            assert refused.value.status == 422 and "spec.url" in refused.value.api_message
        else:
            kube.create(BY_KIND["GitRepository"].resource, git_repository, FLUX)
            kube.delete(BY_KIND["GitRepository"].resource, git_repository["metadata"]["name"], FLUX)
    finally:
        sim.stop()
        server.shutdown()
        server.server_close()
        for kind, name in [(kind, name) for kind, name, _ in made] + [("HelmChart", f"{FLUX}-{release}")]:
            kube.delete(BY_KIND[kind].resource, name, FLUX)
        if real:
            remove_crds(kube, other_crds)


def install_crds(kube: KubeClient, crds: list[dict[str, Any]]) -> None:
    for crd in crds:
        kube.apply(crd, field_manager="test")
    kube.forget_discovery()
    deadline = time.monotonic() + 60
    for crd in crds:
        resource = BY_KIND[crd["spec"]["names"]["kind"]].resource
        while True:
            try:
                kube.list(resource, FLUX)
                break
            except KsailError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def remove_crds(kube: KubeClient, crds: list[dict[str, Any]]) -> None:
    """Leave the session's server as it was: the CRDs gone (a real server takes a moment)."""
    for crd in crds:
        kube.delete(CRDS, crd["metadata"]["name"])
    deadline = time.monotonic() + 60
    while (
        any(kube.get_or_none(CRDS, crd["metadata"]["name"]) for crd in crds) and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    kube.forget_discovery()
