"""Where image-quality artefacts live on disk, and the one error their absence becomes.

Trained classifiers, real-set statistics and downloaded Inception weights are computed or fetched
once and kept under ``$XDG_CACHE_HOME/gantui`` (``~/.cache/gantui``, beside the datasets in
``~/.cache/gantui/data``). Every file name is built from a key that says what the file depends on,
so a change of dataset, resolution, size or network gives a new file rather than a wrong one.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class QualityError(Exception):
    """A quality metric that cannot be had: the message is one line, fit to show without a traceback."""


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/gantui``, or ``~/.cache/gantui``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "gantui"


def file_key(*parts: object) -> str:
    """A readable, file-name-safe key from ``parts``, with a short digest so that long parts stay unique."""
    text = "-".join(str(p) for p in parts)
    readable = _UNSAFE.sub("_", text)[:80].strip("_")
    return f"{readable}-{hashlib.sha1(text.encode()).hexdigest()[:10]}"


def digest_file(path: Path) -> str:
    """The first 12 hex digits of a file's SHA-256: keys caches by the exact weights used."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]
