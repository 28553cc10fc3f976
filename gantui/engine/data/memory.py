"""Will the data fit? Checked before a dataset is built, so that a size within the documented limits
that this machine cannot hold is one line ("needs 824.6 GB, 20.1 GB free"), not an allocator traceback.
"""

from __future__ import annotations

import math

import psutil
import torch

__all__ = ["HEADROOM", "check_fits", "format_bytes"]

HEADROOM = 0.9  # a dataset may take at most this share of the memory that is free now


def format_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def free_bytes(device: torch.device) -> int:
    """Memory free on ``device`` now: host RAM for the CPU (and MPS), the GPU's free memory on CUDA."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    return int(psutil.virtual_memory().available)


def check_fits(nbytes: int, device: torch.device, what: str, advice: str) -> None:
    """Raise DataError (one line) when ``nbytes`` for ``what`` exceed HEADROOM of the free memory."""
    from gantui.engine.data.images import DataError

    free = free_bytes(device)
    if nbytes > HEADROOM * free:
        where = "this machine has" if device.type != "cuda" else f"{device} has"
        raise DataError(f"{what} needs {format_bytes(nbytes)}, but {where} {format_bytes(free)} free: "
                        f"{advice}")


def images_nbytes(n: int, shape: tuple[int, ...], bytes_per_value: int = 4) -> int:
    return n * math.prod(shape) * bytes_per_value
