"""Finding, listing, loading and saving presets (TOML files). No torch here: it must be instant.

Search order for ``--preset NAME``: a path to a file; the user's folder
(``$XDG_CONFIG_HOME/gantui/presets``, by default ``~/.config/gantui/presets``); the bundled presets.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gantui.atomic import atomic_write_text
from gantui.config import Config, ConfigError, _suggest, dumps_toml, merge_overrides, read_toml, resolve

DEFAULT_PRESET = "ring8"
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


def bundled_dir() -> Path:
    """The presets shipped with gantui: inside the wheel, or the repository's ``presets/``."""
    here = Path(__file__).resolve().parent
    installed = here / "_presets"
    return installed if installed.is_dir() else here.parent / "presets"


def user_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "gantui" / "presets"


@dataclass(frozen=True)
class PresetInfo:
    name: str
    path: Path
    source: str  # "user" or "bundled"
    description: str


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def list_presets() -> list[PresetInfo]:
    """Every preset by name; a user preset hides a bundled one of the same name."""
    found: dict[str, PresetInfo] = {}
    for source, folder in (("bundled", bundled_dir()), ("user", user_dir())):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                description = _first_line(str(read_toml(path).get("description", "")))
            except ConfigError as exc:
                description = f"(unreadable: {exc})"
            found[path.stem] = PresetInfo(path.stem, path, source, description)
    return sorted(found.values(), key=lambda p: p.name)


def find_preset(name: str) -> Path:
    """Resolve ``--preset`` to a file, or raise ConfigError naming what was searched."""
    as_path = Path(name).expanduser()
    if as_path.suffix == ".toml" or os.sep in name or as_path.exists():
        if as_path.is_dir():
            raise ConfigError(f"{as_path}: is a directory, expected a .toml preset file")
        if not as_path.exists():
            raise ConfigError(f"{as_path}: no such preset file")
        return as_path
    for folder in (user_dir(), bundled_dir()):
        candidate = folder / f"{name}.toml"
        if candidate.is_file():
            return candidate
    names = [p.name for p in list_presets()]
    raise ConfigError(f"--preset {name}: no such preset{_suggest(name, names)}; "
                      f"available: {', '.join(names)} (or a path to a .toml file)")


def load_config(preset: str = DEFAULT_PRESET, overrides: Sequence[str] = ()) -> Config:
    """Read a preset, apply ``--set`` overrides, validate: the one way a Config is made from files."""
    path = find_preset(preset)
    doc = merge_overrides(read_toml(path), overrides)
    return resolve(doc, source=str(path), preset=path.stem)


def save_preset(name: str, config: Config) -> Path:
    """Write ``config`` (only what differs from the defaults) to the user's preset folder."""
    if not NAME_RE.match(name):
        raise ConfigError(f"preset name '{name}': use letters, digits, '.', '_' and '-' only")
    path = user_dir() / f"{name}.toml"
    atomic_write_text(path, dumps_toml(config.diff_from_defaults()))
    return path
