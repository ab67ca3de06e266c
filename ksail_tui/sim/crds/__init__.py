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


def flux_crds() -> list[dict[str, Any]]:
    """The bundled CRDs, parsed, in the order Flux installs them (sources first)."""
    folder = resources.files(__name__)
    return [yaml.safe_load(folder.joinpath(name).read_text(encoding="utf-8")) for name in CRD_FILES]
