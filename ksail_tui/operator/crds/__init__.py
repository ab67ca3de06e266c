"""The Project and Environment CustomResourceDefinitions (catalyst.catalyst.dev/v1alpha1)."""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

CRD_FILES = ("catalyst.catalyst.dev_projects.yaml", "catalyst.catalyst.dev_environments.yaml")


def catalyst_crds() -> list[dict[str, Any]]:
    """The bundled CRDs, parsed, Project first."""
    folder = resources.files(__name__)
    return [yaml.safe_load(folder.joinpath(name).read_text(encoding="utf-8")) for name in CRD_FILES]
