"""The declared settings table: every knob ssikg has, its type, default and meaning.

Like Datasette's settings, each setting is declared once here.  A value comes
from, in increasing priority: the default, the environment variable
``SSIKG_<NAME>``, and the overrides given to :func:`load_settings` (the CLI and
tests pass these).  ``ssikg settings`` prints this table and the README lists it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A setting has a value of the wrong shape (named in the message)."""


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected a boolean (true/false), got {value!r}")


def _list(value: Any) -> tuple[str, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    return tuple(part.strip() for part in str(value).split(",") if part.strip())


def _optional_str(value: Any) -> str | None:
    return None if value is None or str(value) == "" else str(value)


def _path(value: Any) -> Path:
    return Path(value).expanduser()


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    convert: Callable[[Any], Any]
    help: str

    @property
    def env(self) -> str:
        return "SSIKG_" + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting("source_dir", PROJECT_ROOT, _path,
            "Folder holding ontology/, data/ and queries/ (the sources of the store)."),
    Setting("store", None, lambda v: None if v is None else _path(v),
            "On-disk store folder; default <source_dir>/var/store."),
    Setting("in_memory", False, _bool,
            "Serve from an in-memory copy of the built store (faster joins; writes are lost on exit)."),
    Setting("public_base", "https://w3id.org/ssikg/", str,
            "Base of the canonical IRIs this server answers for (change when deployed elsewhere)."),
    Setting("update_token", None, _optional_str,
            "Bearer token that enables SPARQL Update and Graph Store writes; unset = read-only."),
    Setting("update_token_file", None, _optional_str,
            "File whose first line is the update token (alternative to update_token)."),
    Setting("cors_origins", ("*",), _list,
            "Origins allowed to read by CORS (comma-separated; '*' for any)."),
    Setting("auto_build", True, _bool,
            "Build the store at start-up when it is missing or stale."),
)

_BY_NAME = {s.name: s for s in SETTINGS}


class Settings(dict):
    """Resolved settings; read with attribute access: ``settings.store``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def store_path(self) -> Path:
        return self["store"] or (self["source_dir"] / "var" / "store")


def declared() -> tuple[Setting, ...]:
    return SETTINGS


def load_settings(overrides: dict[str, Any] | None = None, environ=None) -> Settings:
    """Resolve every declared setting; unknown override names are an error."""
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(_BY_NAME)
    if unknown:
        raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    resolved = Settings()
    for setting in SETTINGS:
        if setting.name in overrides:
            raw, origin = overrides[setting.name], "override"
        elif setting.env in environ:
            raw, origin = environ[setting.env], setting.env
        else:
            resolved[setting.name] = setting.default
            continue
        try:
            resolved[setting.name] = raw if raw is None else setting.convert(raw)
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"setting {setting.name} (from {origin}): {exc}") from None
    return resolved
