"""Where ksail-tui keeps what it can always rebuild: ``$XDG_CACHE_HOME/ksail-tui``, by default
``~/.cache/ksail-tui``. Deleting the folder loses nothing but time."""

from __future__ import annotations

import os
from pathlib import Path


def user_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ksail-tui"
