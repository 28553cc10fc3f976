"""The second line: the GAN doctor's active alerts as badges, then the host and device, nvitop style.

An alert (``Alert(active=True)``) shows its title as a badge until the trainer clears it
(``active=False``); several at once share the line, as many whole badges as fit and ``+N`` for the
rest. The host part reads like nvitop's: the device, its memory (used / peak / total with a bar),
its utilisation where the driver reports it, the CUDA-graph status, and this process's CPU % and RSS.
Before the first HostStats it says it is waiting rather than showing zeros.
"""

from __future__ import annotations

import math

from rich.text import Text
from textual.widgets import Static

from gantui.protocol import Alert, HostStats
from gantui.text import printable

__all__ = ["StatusLine", "format_bytes", "host_text"]

_BAR = 10  # cells of the memory bar
_BADGE = "bold black on #ffaa28"


def format_bytes(n: float) -> str:
    """``812 MiB``, ``1.2 GiB``."""
    if n >= 2**30:
        return f"{n / 2**30:.1f} GiB"
    return f"{n / 2**20:.0f} MiB"


def _bar(fraction: float) -> str:
    fraction = min(max(fraction, 0.0), 1.0)
    eighths = round(fraction * _BAR * 8)
    full, part = divmod(eighths, 8)
    cells = "█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")
    return "▕" + cells.ljust(_BAR) + "▏"


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f}"


def host_text(stats: HostStats | None) -> Text:
    """The host and device figures of ``stats`` (or a waiting note); what matters most comes first."""
    if stats is None:
        return Text("host: waiting for the trainer's first report…", style="dim")
    text = Text()
    on_device = bool(stats.device) and stats.device.lower() != "cpu"
    if on_device:
        text.append(printable(stats.device), style="bold")
        if stats.device_total_bytes > 0:
            used, total = stats.device_used_bytes, stats.device_total_bytes
            text.append("  MEM ")
            text.append(_bar(used / total), style="cyan")
            text.append(f" {_gib(used)}/{_gib(total)} GiB")
            if stats.device_peak_bytes > 0:
                text.append(f" peak {_gib(stats.device_peak_bytes)}", style="dim")
        if math.isfinite(stats.utilization):
            text.append(f"  UTL {stats.utilization:.0f} %")
        text.append("  │  ", style="dim")
    text.append(f"CPU {stats.cpu_percent:.0f} %  RSS {format_bytes(stats.rss_bytes)}")
    if on_device and stats.graph:
        text.append(f"  │  graph: {printable(stats.graph)}", style="dim")
    return text


class StatusLine(Static):
    """Alert badges and the host line; redrawn only when either changed."""

    DEFAULT_CSS = """
    StatusLine { height: 1; background: $panel-darken-1; padding: 0 1; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.alerts: dict[str, Alert] = {}  # rule -> the alert that raised it, oldest first
        self.stats: HostStats | None = None
        self._shown: tuple[object, ...] | None = None

    def alert(self, event: Alert) -> bool:
        """Raise or clear ``event.rule``; True when the set of active alerts changed."""
        if event.active:
            changed = event.rule not in self.alerts
            self.alerts[event.rule] = event
        else:
            changed = self.alerts.pop(event.rule, None) is not None
        self._draw()
        return changed

    def host(self, stats: HostStats) -> None:
        self.stats = stats
        self._draw()

    def clear_alerts(self) -> None:
        self.alerts.clear()
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def line(self, width: int) -> Text:
        """The whole line for ``width`` cells: the badges that fit whole, then the host figures."""
        line = Text(no_wrap=True, overflow="ellipsis")
        alerts = list(self.alerts.values())
        room = width - (24 if self.stats is not None else 0)  # keep some of the host line visible
        for i, alert in enumerate(alerts):
            badge = f" ⚠ {printable(alert.title)} "
            more = len(alerts) - i - 1
            reserve = len(f" +{more} ") if more else 0
            if line.cell_len and line.cell_len + len(badge) + reserve + 1 > room:
                line.append(f"+{len(alerts) - i} ", style="bold #ffaa28")
                break
            line.append(badge, style=_BADGE)
            line.append(" ")
        if alerts:
            line.append(" ")
        line.append_text(host_text(self.stats))
        return line

    def _draw(self) -> None:
        width = max(self.size.width, 1)
        key = (width, tuple(self.alerts.items()), self.stats)
        if key == self._shown:
            return
        self._shown = key
        self.update(self.line(width), layout=False)
