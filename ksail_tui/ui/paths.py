"""Where the stylesheets are: ``styles/`` in a checkout, ``ksail_tui/_styles`` in the wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]


def styles_dir() -> Path:
    installed = _PACKAGE / "_styles"
    if installed.is_dir():
        return installed
    return _PACKAGE.parent / "styles"


def stylesheet(name: str) -> Path:
    return styles_dir() / name
