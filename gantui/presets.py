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
from gantui.config import Config, ConfigError, _one_line, _suggest, merge_overrides, override_origins, resolve
from gantui.tomlio import dumps_toml, read_toml

DEFAULT_PRESET = "ring8"
# A saved preset's name becomes a file name and a --preset argument: no path separators, no leading
# '.' (hidden, or '..') and no leading '-' (it would read as a command-line flag).
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


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
        try:
            paths = sorted(folder.glob("*.toml")) if folder.is_dir() else []
        except OSError:  # an unreadable preset folder hides its presets; it must not stop the listing
            paths = []
        for path in paths:
            try:
                description = _first_line(str(read_toml(path).get("description", "")))
            except ConfigError as exc:
                description = f"(unreadable: {exc})"
            found[path.stem] = PresetInfo(path.stem, path, source, description)
    return sorted(found.values(), key=lambda p: p.name)


def _looks_like_path(name: str) -> bool:
    return os.sep in name or (os.altsep is not None and os.altsep in name) or name.startswith("~")


def find_preset(name: str) -> Path:
    """Resolve ``--preset`` to a file, or raise ConfigError naming what was searched.

    A name with a path separator is a path. A bare name is a file in the current folder if one is
    there, else a user preset, else a bundled one; ``ring8.toml`` also finds the preset ``ring8``.
    """
    shown = _one_line(name)
    if not name.strip() or "\0" in name:
        raise ConfigError(f"--preset {name!r}: expected a preset name or a path to a .toml file")
    try:
        as_path = Path(name).expanduser()
    except RuntimeError:  # ~someone whose home cannot be found: let the "no such file" below say so
        as_path = Path(name)
    try:
        if _looks_like_path(name) or as_path.is_file():
            if as_path.is_dir():
                raise ConfigError(f"{shown}: is a directory, expected a .toml preset file")
            if not as_path.exists():
                raise ConfigError(f"{shown}: no such preset file")
            return as_path
    except OSError as exc:  # e.g. a folder on the way that we may not enter
        raise ConfigError(f"{shown}: cannot read ({exc.strerror or type(exc).__name__})") from None
    stem = name[: -len(".toml")] if name.endswith(".toml") else name
    for folder in (user_dir(), bundled_dir()):
        candidate = folder / f"{stem}.toml"
        if candidate.is_file():
            return candidate
    names = [p.name for p in list_presets()]
    raise ConfigError(f"--preset {shown}: no such preset{_suggest(stem, names)}; "
                      f"available: {', '.join(names)} (or a path to a .toml file)")


def load_config(preset: str = DEFAULT_PRESET, overrides: Sequence[str] = ()) -> Config:
    """Read a preset, apply ``--set`` overrides, validate: the one way a Config is made from files."""
    path = find_preset(preset)
    doc = merge_overrides(read_toml(path), overrides)
    return resolve(doc, source=str(path), preset=path.stem, origins=override_origins(overrides))


def save_preset(name: str, config: Config) -> Path:
    """Write ``config`` (only what differs from the defaults) to the user's preset folder.

    The write is atomic (a crash leaves the old file or the new one). A bad name or an unwritable
    folder raises ConfigError, so callers handle one kind of user-facing error.
    """
    if not NAME_RE.fullmatch(name):
        raise ConfigError(f"preset name {name!r}: use 1 to 64 letters, digits, '.', '_' and '-', "
                          "starting with a letter or digit")
    path = user_dir() / f"{name}.toml"
    try:
        atomic_write_text(path, dumps_toml(config.diff_from_defaults()))
    except OSError as exc:
        reason = exc.strerror or _one_line(str(exc))
        raise ConfigError(f"{_one_line(str(path))}: cannot save preset ({reason})") from None
    return path
