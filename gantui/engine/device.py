"""Choosing the training device and the CPU thread budget."""

from __future__ import annotations

import os

import torch


class DeviceError(ValueError):
    """The requested device does not exist on this machine (a user's mistake, shown in one line)."""


def resolve_device(name: str) -> torch.device:
    """Turn ``auto|cpu|cuda|cuda:N|mps`` into a device that exists, or raise DeviceError."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"train.device = '{name}': CUDA is not available on this machine "
                              "(use auto or cpu)")
        index = int(name.split(":", 1)[1]) if ":" in name else torch.cuda.current_device()
        if index >= torch.cuda.device_count():
            raise DeviceError(f"train.device = '{name}': this machine has {torch.cuda.device_count()} "
                              f"CUDA device(s): use cuda:0 to cuda:{torch.cuda.device_count() - 1}")
        return torch.device("cuda", index)
    if name == "mps":
        if not torch.backends.mps.is_available():
            raise DeviceError("train.device = 'mps': Apple MPS is not available on this machine")
        return torch.device("mps")
    return torch.device("cpu")


_trainer_threads: int | None = None  # the budget of the thread that trains (see configure_threads)


def configure_threads(requested: int) -> int:
    """Choose the training thread's budget (returned) and leave the calling thread on one thread.

    ``train.threads = requested``; 0 (auto) gives the trainer every core, with the dashboard as
    without it. Convolutional steps are compute-bound (DCGAN-64 on 2 cores: 0.44x the plain loop on
    one thread). For MLPs, leaving one core to the UI thread was measured to cost more than it
    saved: on 2 cores the dashboard trained ring8 at a median 234 it/s on two threads against 219 on
    one, the MNIST MLP at 222 against 169 (bench/bench.py's dashboard mode, runs alternating,
    2026-12-04); the same budget in both modes also keeps their figures comparable.

    Two threads that both run parallel regions each keep their own OpenMP worker pool; with more
    pool threads than cores, libgomp stops spinning between regions and every small op pays a
    futex wake-up (the MNIST MLP trained on a background thread at 146 it/s instead of 302 once the
    main thread had used two threads). The main thread only builds the run, so it stays on one; the
    trainer takes its budget on the thread that trains (:func:`bind_training_thread`).
    """
    global _trainer_threads
    _trainer_threads = requested or (os.cpu_count() or 1)
    torch.set_num_threads(1)
    return _trainer_threads


def bind_training_thread() -> int:
    """Give the calling thread the training budget chosen by :func:`configure_threads` (if any)."""
    if _trainer_threads is not None and torch.get_num_threads() != _trainer_threads:
        torch.set_num_threads(_trainer_threads)
    return torch.get_num_threads()


def wants_channels_last(model_name: str, device: torch.device) -> bool:
    """NHWC suits cuDNN's tensor-core kernels: DCGANs on CUDA keep models and real data channels-last."""
    return device.type == "cuda" and model_name == "dcgan"


def enable_fast_math(device: torch.device) -> None:
    """TF32 matmuls and cuDNN autotuning on CUDA: free speed for GAN training, no visible cost."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True


def memory_summary(device: torch.device) -> str:
    """'1.2/79.6 GiB' on CUDA (reserved / total), '' elsewhere. Cheap: no device sync."""
    if device.type != "cuda":
        return ""
    reserved = torch.cuda.memory_reserved(device) / 2**30
    total = torch.cuda.get_device_properties(device).total_memory / 2**30
    return f"{reserved:.1f}/{total:.0f} GiB"
