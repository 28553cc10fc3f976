"""User text on a terminal: control characters escaped, so that text can never act on the terminal.

Paths, preset names and descriptions, library messages and anything else a user (or a file) supplies
pass through :func:`printable` before they are printed or drawn: an ESC in a run folder's name would
otherwise reach the terminal raw and move the cursor, change colours or retitle the window, and a
newline would split a one-line error in two. No torch, no Textual: every layer may use it.
"""

from __future__ import annotations

import unicodedata

__all__ = ["breaks_line", "printable"]


def breaks_line(ch: str) -> bool:
    """A control character or a Unicode line/paragraph separator: it would split or garble a line."""
    return unicodedata.category(ch) in ("Cc", "Zl", "Zp")


def printable(text: object) -> str:
    """``text`` on one line with every control character escaped (``\\x1b``, ``\\n``, ``\\u2028``)."""
    text = str(text)
    if not any(breaks_line(ch) for ch in text):  # the common case costs one scan
        return text
    return "".join(ch.encode("unicode_escape").decode("ascii") if breaks_line(ch) else ch for ch in text)
