"""Checkpoints: everything needed to continue a run exactly, in a file that loads safely.

A checkpoint holds both players and their optimisers, the step counters, the live settings (k,
loss, learning rates, frozen players), the resolved configuration, every random stream, and the
history of interventions. It contains only tensors, numbers, strings, lists and dicts, so it loads
with ``torch.load(weights_only=True)``: opening a checkpoint never executes code.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from gantui.atomic import atomic_write
from gantui.engine.trainer import Trainer

FORMAT = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: missing, corrupt, or from another model (one line)."""


def shapes(module: torch.nn.Module) -> dict[str, list[int]]:
    return {name: list(t.shape) for name, t in module.state_dict().items()}


def capture(trainer: Trainer, *, config: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, Any]:
    """The checkpoint of ``trainer`` as a plain dict (tensors are copied to the CPU)."""
    data_gen = getattr(trainer.sampler, "generator", None)
    rng = {"torch": torch.get_rng_state(), "noise": trainer.noise.get_state().cpu()}
    if isinstance(data_gen, torch.Generator):
        rng["data"] = data_gen.get_state().cpu()
    if trainer.device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(trainer.device)
    knobs = trainer.knobs
    return {
        "format": FORMAT,
        "step": trainer.step,
        "d_steps": trainer.d_steps,
        "g_steps": trainer.g_steps,
        "knobs": {"k": knobs.k, "loss": knobs.loss, "lr_d": knobs.lr_d, "lr_g": knobs.lr_g,
                  "frozen_d": knobs.frozen_d, "frozen_g": knobs.frozen_g},
        "config": config,
        "G": _cpu(trainer.G.state_dict()),
        "D": _cpu(trainer.D.state_dict()),
        "opt_g": _cpu(trainer.opt_g.state_dict()),
        "opt_d": _cpu(trainer.opt_d.state_dict()),
        "fixed_noise": trainer.fixed_noise.cpu(),
        "rng": rng,
        "history": list(history),
    }


def _cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu(v) for v in obj)
    return obj


def save(path: Path, state: dict[str, Any]) -> Path:
    """Write ``state`` atomically: a crash mid-write never leaves a corrupt checkpoint."""
    atomic_write(Path(path), lambda f: torch.save(state, f))
    return Path(path)


def load(path: Path) -> dict[str, Any]:
    """Load a checkpoint file safely (``weights_only=True``), or raise CheckpointError."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: is a directory, expected a checkpoint file (or pass the run folder)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        sentence = first.split(". ")[0].rstrip(".")[:120]
        raise CheckpointError(f"{path}: not a readable gantui checkpoint ({sentence})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a gantui checkpoint (format {FORMAT} expected)")
    return state


def find_latest(run_dir: Path) -> Path:
    """The newest checkpoint in a run folder (by step, then by modification time)."""
    folder = Path(run_dir) / "checkpoints"
    files = sorted(folder.glob("*.pt"), key=lambda p: (p.stat().st_mtime_ns, p.name))
    if not files:
        raise CheckpointError(f"{run_dir}: no checkpoints in {folder}")
    return files[-1]


def restore(trainer: Trainer, state: dict[str, Any], *, path: Path | str = "checkpoint") -> None:
    """Load ``state`` into ``trainer``; a checkpoint of another model shape is refused."""
    for name, module in (("G", trainer.G), ("D", trainer.D)):
        want, have = shapes(module), {k: list(v.shape) for k, v in state[name].items()}
        if want != have:
            diff = _first_mismatch(want, have)
            raise CheckpointError(f"{path}: {name} in the checkpoint has another shape than this "
                                  f"configuration's model ({diff[0]})")
    trainer.G.load_state_dict(state["G"])
    trainer.D.load_state_dict(state["D"])
    knobs = state["knobs"]
    trainer.set_loss(knobs["loss"])
    trainer.opt_g.load_state_dict(state["opt_g"])
    trainer.opt_d.load_state_dict(state["opt_d"])
    trainer.set_k(int(knobs["k"]))
    trainer.set_lr("d", float(knobs["lr_d"]))
    trainer.set_lr("g", float(knobs["lr_g"]))
    trainer.freeze("d", bool(knobs["frozen_d"]))
    trainer.freeze("g", bool(knobs["frozen_g"]))
    trainer.step, trainer.d_steps, trainer.g_steps = state["step"], state["d_steps"], state["g_steps"]
    trainer.fixed_noise = state["fixed_noise"].to(trainer.device)
    rng = state["rng"]
    torch.set_rng_state(rng["torch"])
    trainer.noise.set_state(rng["noise"])
    data_gen = getattr(trainer.sampler, "generator", None)
    if "data" in rng and isinstance(data_gen, torch.Generator):
        data_gen.set_state(rng["data"])
    if "cuda" in rng and trainer.device.type == "cuda":
        torch.cuda.set_rng_state(rng["cuda"], trainer.device)
    trainer.invalidate_graph()  # optimiser state tensors may have been replaced


def _first_mismatch(want: dict[str, list[int]], have: dict[str, list[int]]) -> list[str]:
    out = []
    for key in sorted(set(want) | set(have)):
        if want.get(key) != have.get(key):
            out.append(f"{key}: checkpoint {have.get(key, 'missing')}, model {want.get(key, 'missing')}")
    return out or ["parameter sets differ"]
