"""Reading and writing preset-shaped TOML: every way a file can fail becomes a one-line ConfigError."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gantui.config import ConfigError, _one_line, tomllib


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file, turning every way it can fail into a one-line ConfigError."""
    path = Path(path)
    where = _one_line(str(path))
    try:
        if path.is_dir():
            raise ConfigError(f"{where}: is a directory, expected a .toml preset file")
        if path.exists() and not path.is_file():  # a FIFO or a device would block or never end
            raise ConfigError(f"{where}: not a regular file, expected a .toml preset file")
        raw = path.read_bytes()
    except ConfigError:
        raise
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read ({exc.strerror or type(exc).__name__})") from None
    except ValueError as exc:  # e.g. an embedded NUL in the path
        raise ConfigError(f"{where}: not a usable path ({_one_line(str(exc))})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not a text file (expected UTF-8 TOML)") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: invalid TOML: {_one_line(str(exc))}") from None
    except ValueError:  # Python refuses integers of more than 4300 digits
        raise ConfigError(f"{where}: invalid TOML: a number with more digits than any field allows "
                          "(Python reads at most 4300)") from None


def _toml_string(text: str) -> str:
    """A TOML basic string: escape the backslash, the quote and every control character."""
    out = []
    for ch in text:
        if ch in "\\\"":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def dumps_toml(doc: Mapping[str, Any]) -> str:
    """Write a preset-shaped document as TOML (flat sections of scalars and int lists)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return _toml_string(str(v))

    lines = []
    if "description" in doc:
        lines.append(f"description = {value(doc['description'])}")
    for section, table in doc.items():
        if section == "description":
            continue
        lines.append("")
        lines.append(f"[{section}]")
        lines.extend(f"{k} = {value(v)}" for k, v in table.items())
    return "\n".join(lines) + "\n"
