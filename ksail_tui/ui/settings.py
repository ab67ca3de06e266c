"""The dashboard's own settings file: key bindings and refresh pace.

It lives at ``$KSAIL_TUI_SETTINGS`` if set, else ``$XDG_CONFIG_HOME/ksail-tui/settings.yaml``
(``~/.config/ksail-tui/settings.yaml``); ``ksail-tui dashboard --settings-path`` prints where. A missing
file means the defaults. Example::

    keymap:                 # binding id -> keys (comma-separated); ids are listed by `?` in the dashboard
      reconcile: f5
      push: ctrl+u
    registry_refresh_seconds: 30
    clusters_refresh_seconds: 30  # the Cluster pane's list of Kind and K3d clusters in Docker
    prune_keep: 3
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from ksail_tui.errors import ConfigError

SETTINGS_ENV = "KSAIL_TUI_SETTINGS"


def settings_path() -> Path:
    explicit = os.environ.get(SETTINGS_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "ksail-tui" / "settings.yaml"


class DashboardSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="forbid", frozen=True)

    keymap: dict[str, str] = {}
    registry_refresh_seconds: float = Field(default=30.0, gt=0)
    clusters_refresh_seconds: float = Field(default=30.0, gt=0)
    prune_keep: int = Field(default=3, ge=1)

    @field_validator("keymap")
    @classmethod
    def _known_ids(cls, keymap: dict[str, str]) -> dict[str, str]:
        from ksail_tui.ui.actions import ACTIONS, action_ids

        unknown = sorted(set(keymap) - action_ids())
        if unknown:
            raise ValueError(
                f"unknown binding id {', '.join(unknown)}; known: {', '.join(sorted(action_ids()))}"
            )
        # Textual would silently let one of two actions on a key win: refuse instead. Keys are
        # per screen: the Environments pane's r is not the dashboard's r.
        owner: dict[tuple[str, str], str] = {}
        for spec in ACTIONS:
            for key in keymap.get(spec.id, spec.keys).split(","):
                slot = (spec.screen, key.strip())
                if slot in owner:
                    both = f"{owner[slot]} and {spec.id}"
                    raise ValueError(f"{slot[1]} is bound to both {both}; give one of them another key")
                owner[slot] = spec.id
        return keymap

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only what the caller passes (load_settings passes the file's): no environment, no .env.
        return (init_settings,)


def load_settings(path: Path | None = None) -> DashboardSettings:
    """The settings in ``path`` (default :func:`settings_path`); defaults when there is no file."""
    path = path or settings_path()
    try:
        # A missing file reads as empty.
        data = YamlConfigSettingsSource(DashboardSettings, yaml_file=path, yaml_file_encoding="utf-8")()
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read the dashboard settings: {error}", path=str(path)) from None
    except (TypeError, ValueError, AttributeError):  # the YAML is a list or a scalar
        raise ConfigError(
            "the dashboard settings must be a mapping of setting: value",
            path=str(path),
            hint="see the settings documented by `?` in the dashboard",
        ) from None
    try:
        return DashboardSettings(**data)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise ConfigError(
            first["msg"].removeprefix("Value error, "),
            path=str(path),
            field=field or None,
            hint="see the settings documented by `?` in the dashboard",
        ) from None
