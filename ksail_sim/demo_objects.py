"""The demo's Flux objects beyond the OCI loop: a GitRepository, a HelmRepository and a HelmRelease,
so that the dashboard shows every kind a real cluster holds (the simulated controllers serve them).
"""

from __future__ import annotations

from typing import Any

from ksail_tui.flux.kinds import BY_KIND

FLUX_NAMESPACE = "flux-system"


def other_kinds(namespace: str = FLUX_NAMESPACE) -> list[dict[str, Any]]:
    def flux_object(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": BY_KIND[kind].resource.api_version,
            "kind": kind,
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }

    chart = {
        "chart": "podinfo",
        "version": "6.5.4",
        "sourceRef": {"kind": "HelmRepository", "name": "podinfo"},
    }
    return [
        flux_object(
            "GitRepository",
            "platform",
            {"url": "https://github.com/example/platform", "interval": "5m", "ref": {"branch": "main"}},
        ),
        flux_object(
            "HelmRepository", "podinfo", {"url": "https://stefanprodan.github.io/podinfo", "interval": "1h"}
        ),
        flux_object("HelmRelease", "podinfo", {"interval": "10m", "chart": {"spec": chart}}),
    ]
