"""The machine as a run sees it: this process's CPU and memory, and the accelerator's (nvitop's line).

Read every couple of seconds by the runner, never per step. Memory figures come from torch's caching
allocator (no device sync); utilisation from NVML where the nvidia-ml-py package and a driver answer,
and is NaN otherwise: a missing NVML is normal (no GPU, a container without the library), not an error.
"""

from __future__ import annotations

import contextlib
import math

import psutil
import torch

from gantui.protocol import HostStats

__all__ = ["HostProbe"]


class HostProbe:
    """Makes :class:`HostStats` for one training device."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.process = psutil.Process()
        self.process.cpu_percent(None)  # the first call only starts the interval
        self._nvml = None
        self.name = "cpu"
        if device.type == "cuda":
            self.name = torch.cuda.get_device_name(device)
            self._nvml = _nvml_handle(device)
        elif device.type == "mps":
            self.name = "Apple MPS"

    def stats(self, *, step: int, t: float, graph: str = "") -> HostStats:
        used = peak = total = 0
        if self.device.type == "cuda":
            used = torch.cuda.memory_allocated(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
            total = torch.cuda.get_device_properties(self.device).total_memory
        util = math.nan
        if self._nvml is not None:
            with contextlib.suppress(Exception):
                import pynvml

                util = float(pynvml.nvmlDeviceGetUtilizationRates(self._nvml).gpu)
        try:
            cpu, rss = self.process.cpu_percent(None), self.process.memory_info().rss
        except psutil.Error:  # pragma: no cover - the process always sees itself
            cpu, rss = math.nan, 0
        return HostStats(step=step, t=t, cpu_percent=cpu, rss_bytes=rss, device=self.name,
                         device_used_bytes=used, device_peak_bytes=peak, device_total_bytes=total,
                         utilization=util, graph=graph if self.device.type == "cuda" else "")


def _nvml_handle(device: torch.device):
    """NVML's handle for ``device``, or None without the library or a driver that answers."""
    try:
        import pynvml

        pynvml.nvmlInit()
        index = device.index if device.index is not None else torch.cuda.current_device()
        # NVML numbers every GPU, CUDA only the visible ones (CUDA_VISIBLE_DEVICES): match by UUID.
        uuid = getattr(torch.cuda.get_device_properties(index), "uuid", None)
        if uuid is not None:
            with contextlib.suppress(Exception):
                return pynvml.nvmlDeviceGetHandleByUUID(f"GPU-{uuid}")
        return pynvml.nvmlDeviceGetHandleByIndex(index)
    except Exception:
        return None
