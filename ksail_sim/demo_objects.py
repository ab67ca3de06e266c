"""The demo's Flux objects beyond the OCI loop, and the local sources they read.

A GitRepository on a git repository the demo makes, a HelmRepository on a chart index it
writes, the HelmRelease that installs a chart from it (helm-controller makes its HelmChart) and
a Bucket on a folder: every status the simulated controllers write comes from those sources
(:mod:`ksail_sim.flux.git`), nothing is made up. The ``file://`` URLs say where they are.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from ksail_tui.flux.kinds import BY_KIND

FLUX_NAMESPACE = "flux-system"
CHART_VERSIONS = ("6.5.3", "6.5.4", "6.6.0")


def platform_repository(folder: Path) -> Path:
    """A git repository on ``main`` with one commit of platform manifests (kept if it exists)."""
    if (folder / ".git").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "namespaces.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: platform\n", encoding="utf-8"
    )
    git = ["git", "-C", str(folder), "-c", "user.name=ksail-tui demo", "-c", "user.email=demo@localhost"]
    git += ["-c", "commit.gpgsign=false"]
    for args in (("init", "-q", "-b", "main"), ("add", "-A"), ("commit", "-q", "-m", "platform namespaces")):
        subprocess.run([*git, *args], check=True, capture_output=True, timeout=30)
    return folder


def chart_index(folder: Path, chart: str = "podinfo", versions: tuple[str, ...] = CHART_VERSIONS) -> Path:
    """A Helm repository index listing ``chart`` at ``versions`` (no chart archives: nothing pulls them)."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = [
        {
            "apiVersion": "v2",
            "name": chart,
            "version": version,
            "appVersion": version,
            "urls": [f"{chart}-{version}.tgz"],
            "created": "2024-01-01T00:00:00Z",
        }
        for version in versions
    ]
    index = {"apiVersion": "v1", "entries": {chart: entries}, "generated": "2024-01-01T00:00:00Z"}
    (folder / "index.yaml").write_text(yaml.safe_dump(index, sort_keys=False), encoding="utf-8")
    return folder


def bucket_folder(root: Path, bucket: str) -> Path:
    """A folder ``root/bucket`` with a couple of objects (kept if it exists)."""
    folder = root / bucket
    if not folder.exists():
        (folder / "app").mkdir(parents=True)
        (folder / "app" / "settings.yaml").write_text("replicas: 2\n", encoding="utf-8")
        (folder / "README.md").write_text("objects of the demo's bucket\n", encoding="utf-8")
    return root


def other_kinds(sources: Path, namespace: str = FLUX_NAMESPACE) -> list[dict[str, Any]]:
    """Make the local sources under ``sources``; the objects that read them."""

    def flux_object(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": BY_KIND[kind].resource.api_version,
            "kind": kind,
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }

    platform = platform_repository(sources / "platform")
    charts = chart_index(sources / "charts")
    buckets = bucket_folder(sources / "buckets", "config")
    chart = {
        "chart": "podinfo",
        "version": "6.5.4",
        "sourceRef": {"kind": "HelmRepository", "name": "podinfo"},
    }
    return [
        flux_object(
            "GitRepository",
            "platform",
            {"url": platform.resolve().as_uri(), "interval": "5m", "ref": {"branch": "main"}},
        ),
        flux_object("HelmRepository", "podinfo", {"url": charts.resolve().as_uri(), "interval": "1h"}),
        flux_object("HelmRelease", "podinfo", {"interval": "10m", "chart": {"spec": chart}}),
        flux_object(
            "Bucket",
            "config",
            {"endpoint": buckets.resolve().as_uri(), "bucketName": "config", "interval": "5m"},
        ),
    ]
