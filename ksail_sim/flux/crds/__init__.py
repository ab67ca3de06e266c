"""Flux's real CustomResourceDefinitions, bundled so the simulated Flux can register them.

The YAML files are byte-for-byte copies of the upstream files (see SOURCE.md); a test checks them
against the checksums in tests/data/flux-crds.sha256.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

CRD_FILES = (
    "source.toolkit.fluxcd.io_ocirepositories.yaml",
    "kustomize.toolkit.fluxcd.io_kustomizations.yaml",
)
# The other kinds a real Flux serves; the simulated Flux registers them beside the OCI loop's.
OTHER_CRD_FILES = (
    "source.toolkit.fluxcd.io_gitrepositories.yaml",
    "source.toolkit.fluxcd.io_helmrepositories.yaml",
    "source.toolkit.fluxcd.io_helmcharts.yaml",
    "source.toolkit.fluxcd.io_buckets.yaml",
    "helm.toolkit.fluxcd.io_helmreleases.yaml",
)


def flux_crds(files: tuple[str, ...] = CRD_FILES) -> list[dict[str, Any]]:
    """The bundled CRDs, parsed, in the order Flux installs them (sources first)."""
    folder = resources.files(__name__)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [yaml.load(folder.joinpath(name).read_text(encoding="utf-8"), Loader=loader) for name in files]


def all_flux_crds() -> list[dict[str, Any]]:
    """Every bundled CRD: the OCI loop's and the other kinds'."""
    return flux_crds(CRD_FILES + OTHER_CRD_FILES)
