"""Detect and install Flux's source- and kustomize-controller."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from ksail_tui.cache import user_cache_dir
from ksail_tui.errors import InvalidInput, OperationFailed, TimedOut, Unavailable
from ksail_tui.kube.client import CRDS, DEPLOYMENTS, KubeClient
from ksail_tui.kube.wait import Verdict, wait_for
from ksail_tui.models import parse_outside

FLUX_VERSION = "v2.9.0"
RELEASE_URL = f"https://github.com/fluxcd/flux2/releases/download/{FLUX_VERSION}/install.yaml"
FLUX_CRDS = ("ocirepositories.source.toolkit.fluxcd.io", "kustomizations.kustomize.toolkit.fluxcd.io")
COMPONENTS = ("source-controller", "kustomize-controller")
PART_OF = "app.kubernetes.io/part-of=flux"
COMPONENT_LABEL = "app.kubernetes.io/component"
VERSION_LABEL = "app.kubernetes.io/version"
SIMULATED_LABEL = "ksail.io/simulated"

Progress = Callable[[str], None]


class FluxInstallation(BaseModel):
    model_config = ConfigDict(frozen=True)

    installed: bool
    version: str | None = None
    crds: dict[str, bool] = {}
    controllers: dict[str, bool] = {}  # Deployment name -> available
    simulated: bool = False

    @property
    def summary(self) -> str:
        if not self.installed:
            missing = [n for n, ok in {**self.crds, **self.controllers}.items() if not ok]
            return "Flux is not installed" + (
                f" (missing or not ready: {', '.join(missing)})" if missing else ""
            )
        suffix = " (simulated controllers)" if self.simulated else ""
        return f"Flux {self.version or '(unknown version)'} is installed{suffix}"


def _available(deployment: dict[str, Any]) -> bool:
    status = deployment.get("status") or {}
    wanted = (deployment.get("spec") or {}).get("replicas", 1)
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    return conditions.get("Available") == "True" or (
        wanted > 0 and status.get("availableReplicas", 0) >= wanted
    )


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    labels = obj["metadata"].get("labels")
    return {k: v for k, v in labels.items() if isinstance(v, str)} if isinstance(labels, dict) else {}


def detect(kube: KubeClient) -> FluxInstallation:
    crds = {name: kube.get_or_none(CRDS, name) is not None for name in FLUX_CRDS}
    deployments = kube.list(DEPLOYMENTS, label_selector=PART_OF)["items"]
    controllers = {d["metadata"]["name"]: parse_outside(_available, d) for d in deployments}
    labels = [_labels(d) for d in deployments]
    version = next((lab[VERSION_LABEL] for lab in labels if VERSION_LABEL in lab), None)
    ready = all(crds.values()) and all(controllers.get(c, False) for c in COMPONENTS)
    return FluxInstallation(
        installed=ready,
        version=version,
        crds=crds,
        controllers={c: controllers.get(c, False) for c in COMPONENTS} | controllers,
        simulated=any(lab.get(SIMULATED_LABEL) == "true" for lab in labels),
    )


def cache_dir() -> Path:
    return user_cache_dir() / "flux" / FLUX_VERSION


def load_manifests(source: str | None) -> list[dict[str, Any]]:
    """Flux's install manifests from a file, a URL, or the pinned release (fetched once, cached)."""
    if source and not source.startswith(("http://", "https://")):
        path = Path(source).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise InvalidInput(f"--manifests {path}: {error.strerror or error}") from None
    else:
        url = source or RELEASE_URL
        cached = cache_dir() / (Path(url).name or "install.yaml")
        if not source and cached.is_file():
            text = cached.read_text(encoding="utf-8")
        else:
            try:
                with urllib.request.urlopen(url, timeout=30) as response:
                    text = response.read().decode()
            except OSError as error:
                raise Unavailable(
                    f"cannot download Flux's manifests from {url}: {error}",
                    hint="download install.yaml elsewhere and pass --manifests FILE",
                ) from None
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_text(text, encoding="utf-8")
    try:
        documents = [d for d in yaml.safe_load_all(text) if d]
    except yaml.YAMLError as error:
        raise InvalidInput(f"Flux's manifests are not valid YAML: {error}") from None
    if not all(isinstance(d, dict) and "kind" in d and "apiVersion" in d for d in documents):
        raise InvalidInput("Flux's manifests hold a document without apiVersion and kind")
    return documents


def wanted(obj: dict[str, Any]) -> bool:
    """Only the source- and kustomize-controller and what they share."""
    component = ((obj.get("metadata") or {}).get("labels") or {}).get(COMPONENT_LABEL)
    return component is None or component in COMPONENTS


def _established(obj: dict[str, Any] | None) -> Verdict:
    if obj is None:
        return Verdict.pending("CRD not created yet")
    conditions = {c.get("type"): c.get("status") for c in (obj.get("status") or {}).get("conditions") or []}
    return Verdict.done() if conditions.get("Established") == "True" else Verdict.pending("not established")


def _deployment_available(obj: dict[str, Any] | None) -> Verdict:
    if obj is None:
        return Verdict.pending("not created yet")
    return Verdict.done() if _available(obj) else Verdict.pending("not available")


def install(
    kube: KubeClient,
    *,
    manifests: str | None = None,
    timeout: float = 300.0,
    on_progress: Progress | None = None,
    flux_cli: str | None = None,
) -> FluxInstallation:
    report = on_progress or (lambda _: None)
    found = detect(kube)
    if found.installed:
        report(found.summary + "; nothing to do")
        return found
    cli = flux_cli if flux_cli is not None else (shutil.which("flux") if manifests is None else None)
    if cli:
        _install_with_cli(cli, kube, timeout, report)
        return detect(kube)
    deadline = time.monotonic() + timeout
    documents = [d for d in load_manifests(manifests) if wanted(d)]
    first = [d for d in documents if d["kind"] in ("CustomResourceDefinition", "Namespace")]
    rest = [d for d in documents if d not in first]
    report(f"applying {len(first)} CRDs and Namespaces")
    for obj in first:
        kube.apply(obj)
    for obj in (d for d in first if d["kind"] == "CustomResourceDefinition"):
        name = obj["metadata"]["name"]
        report(f"waiting for CRD {name} to be established")
        _wait(kube, CRDS, name, None, _established, deadline, f"CRD {name}")
    kube.forget_discovery()
    report(f"applying {len(rest)} controller objects")
    for obj in rest:
        kube.apply(obj)
    for obj in (d for d in rest if d["kind"] == "Deployment"):
        name, namespace = obj["metadata"]["name"], obj["metadata"].get("namespace", "flux-system")
        report(f"waiting for Deployment {namespace}/{name} to be available")
        _wait(
            kube,
            DEPLOYMENTS,
            name,
            namespace,
            _deployment_available,
            deadline,
            f"Deployment {namespace}/{name}",
        )
    result = detect(kube)
    report(result.summary)
    return result


def _wait(
    kube: KubeClient,
    resource: Any,
    name: str,
    namespace: str | None,
    judge: Callable[[dict[str, Any] | None], Verdict],
    deadline: float,
    what: str,
) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimedOut(f"timed out installing Flux: {what} is still not ready")
    try:
        wait_for(kube, resource, name, namespace, judge, timeout=remaining, what=what)
    except TimedOut:
        raise TimedOut(f"timed out installing Flux: {what} is still not ready") from None


def _install_with_cli(cli: str, kube: KubeClient, timeout: float, report: Progress) -> None:
    report(f"running {cli} install")
    command = [
        cli,
        "install",
        f"--components={','.join(COMPONENTS)}",
        f"--kubeconfig={kube.kubeconfig}",
        f"--timeout={int(timeout)}s",
    ]
    if kube.context:
        command.append(f"--context={kube.context}")
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout + 30, check=False)
    except subprocess.TimeoutExpired:
        raise TimedOut(f"`flux install` did not finish within {timeout:g}s") from None
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
        raise OperationFailed(f"`flux install` failed: {tail}")
