"""Checkpoints: everything needed to continue a run exactly, in a file that loads safely.

A checkpoint holds both players and their optimisers, the step counters, the live settings (k,
loss, learning rates, frozen players), the resolved configuration, every random stream, and the
history of interventions. It contains only tensors, numbers, strings, lists and dicts, so it loads
with ``torch.load(weights_only=True)``: opening a checkpoint never executes code.

Files are named ``<tag>-<step>.pt`` (tags: periodic, manual, final, last-good) and chosen by the step
in the name, never by modification time (a copy or a ``touch`` changes that). A loaded checkpoint is
checked key by key before anything uses it, and a state that is not finite is refused: every
checkpoint gantui writes is good, and one that is not (hand-made, or from an older version) says so
in one line instead of resuming into NaN.
"""

from __future__ import annotations

import io
import math
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from gantui.atomic import atomic_write
from gantui.engine.checkpoint_names import (  # noqa: F401 - re-exported: where they always were
    TAGS,
    CheckpointFile,
    checkpoint_name,
    checkpoints_folder,
    latest,
    list_checkpoints,
)
from gantui.engine.health import nonfinite_in_state
from gantui.engine.trainer import Trainer
from gantui.text import printable

FORMAT = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: missing, corrupt, or from another model (one line)."""


def find_latest(run_dir: Path) -> Path:
    """The checkpoint of a run folder with the highest step (at one step: final, manual, periodic,
    last-good). ``run_dir`` may be the run folder or its ``checkpoints/`` folder."""
    found = latest(run_dir)
    if found is None:
        folder = checkpoints_folder(run_dir)
        raise CheckpointError(f"{printable(run_dir)}: no checkpoints in {printable(folder)} "
                              "(looked for final-, manual-, periodic- and last-good-NNNNNNN.pt)")
    return found.path


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
    } | ({"g_ema": _cpu(trainer.ema.state_dict())} if trainer.ema is not None else {})


def _cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu(v) for v in obj)
    return obj


def save(path: Path, state: dict[str, Any]) -> Path:
    """Write ``state`` atomically: a crash mid-write never leaves a corrupt checkpoint.

    The checkpoint is serialised in memory first and written with plain file writes, so a full disk
    is an ``OSError`` with its errno (torch's own writer turns it into a bare RuntimeError).
    """
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getbuffer()
    atomic_write(Path(path), lambda f: f.write(data))
    return Path(path)


def load(path: Path) -> dict[str, Any]:
    """Load and check a checkpoint file safely (``weights_only=True``), or raise CheckpointError."""
    path = Path(path)
    shown = printable(path)
    try:
        if path.is_dir():
            raise CheckpointError(f"{shown}: is a directory, expected a checkpoint file "
                                  "(or pass the run folder)")
        if path.exists() and not path.is_file():  # a FIFO would block for ever, a device never end
            raise CheckpointError(f"{shown}: not a regular file, expected a checkpoint")
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{shown}: no such checkpoint") from None
    except CheckpointError:
        raise
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError) as exc:
        raise CheckpointError(f"{shown}: not a readable gantui checkpoint ({_sentence(exc)})") from None
    except (RuntimeError, OSError, ValueError) as exc:  # torch's reader on a truncated file: EINVAL
        raise CheckpointError(f"{shown}: not a complete checkpoint "
                              f"(truncated or corrupt: {_sentence(exc)})") from None
    except Exception as exc:  # anything else a damaged archive makes torch raise
        raise CheckpointError(f"{shown}: not a readable gantui checkpoint ({type(exc).__name__})") from None
    fmt = state.get("format") if isinstance(state, dict) else None
    if not (_is_int(fmt) and fmt == FORMAT):
        raise CheckpointError(f"{shown}: not a gantui checkpoint (format {FORMAT} expected)")
    validate(state, shown)
    return state


def _sentence(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return printable(first.split(". ")[0].rstrip(".")[:120])


def _bad(where: str, key: str, problem: str) -> CheckpointError:
    return CheckpointError(f"{where}: not a usable gantui checkpoint ({key} {problem})")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _tensor_dict(value: Any) -> bool:
    return isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in value.items())


def _optimizer_dict(value: Any) -> bool:
    return (isinstance(value, Mapping) and isinstance(value.get("state"), Mapping)
            and isinstance(value.get("param_groups"), list)
            and all(isinstance(g, Mapping) and isinstance(g.get("params"), list)
                    for g in value["param_groups"]))


def validate(state: dict[str, Any], where: str) -> None:
    """Check every key a resume uses, so a hand-made or damaged checkpoint is one line, not a traceback."""
    from gantui.config import LOSS_NAMES  # no torch there; kept local to keep this module's imports flat

    for key in ("step", "d_steps", "g_steps"):
        if not _is_int(state.get(key)) or state[key] < 0:
            raise _bad(where, key, f"is {_show(state.get(key))}, expected a whole number >= 0")
    knobs = state.get("knobs")
    if not isinstance(knobs, Mapping):
        raise _bad(where, "knobs", "is missing")
    if not _is_int(knobs.get("k")) or not 1 <= knobs["k"] <= 100:
        raise _bad(where, "knobs.k", f"is {_show(knobs.get('k'))}, expected 1 to 100")
    if not isinstance(knobs.get("loss"), str) or knobs["loss"] not in LOSS_NAMES:
        raise _bad(where, "knobs.loss", f"is {_show(knobs.get('loss'))}, expected a gantui loss")
    for key in ("lr_d", "lr_g"):
        if not _is_number(knobs.get(key)) or not 0 <= knobs[key] <= 10:
            raise _bad(where, f"knobs.{key}", f"is {_show(knobs.get(key))}, expected 0 to 10")
    for key in ("frozen_d", "frozen_g"):
        if not isinstance(knobs.get(key), bool):
            raise _bad(where, f"knobs.{key}", f"is {_show(knobs.get(key))}, expected true or false")
    if not isinstance(state.get("config"), Mapping):
        raise _bad(where, "config", "is missing")
    for key in ("G", "D"):
        if not _tensor_dict(state.get(key)):
            raise _bad(where, key, "is not a dict of tensors")
    for key in ("opt_g", "opt_d"):
        if not _optimizer_dict(state.get(key)):
            raise _bad(where, key, "is not an optimiser state")
    noise = state.get("fixed_noise")
    if not isinstance(noise, torch.Tensor) or noise.dim() != 2 or not noise.is_floating_point():
        raise _bad(where, "fixed_noise", "is not a (batch, z_dim) tensor")
    rng = state.get("rng")
    if not isinstance(rng, Mapping) or not all(
            isinstance(rng.get(k), torch.Tensor) and rng[k].dtype == torch.uint8 for k in ("torch", "noise")):
        raise _bad(where, "rng", "is not a set of random-generator states")
    if not isinstance(state.get("history", []), list) or not all(
            isinstance(e, Mapping) for e in state.get("history", [])):
        raise _bad(where, "history", "is not a list of events")
    ema = state.get("g_ema")
    if ema is not None and not (isinstance(ema, Mapping) and _tensor_dict(ema.get("model"))
                                and _is_number(ema.get("decay")) and _is_int(ema.get("updates"))):
        raise _bad(where, "g_ema", "is not a moving average of G")
    if "elapsed" in state and not _is_number(state["elapsed"]):
        raise _bad(where, "elapsed", f"is {_show(state['elapsed'])}, expected seconds")
    bad = nonfinite_in_state(state)
    if bad is not None:
        raise CheckpointError(f"{where}: holds non-finite values ({bad}): it is not a good state to "
                              "continue from; resume an earlier checkpoint of this run")


def _show(value: Any) -> str:
    text = printable(repr(value))
    return text if len(text) <= 40 else text[:37] + "..."


def restore(trainer: Trainer, state: dict[str, Any], *, path: Path | str = "checkpoint") -> None:
    """Load ``state`` into ``trainer``; a checkpoint of another model shape is refused.

    Everything that can fail is tried before the live settings change, and any failure is one line.
    """
    where = printable(path)
    _check_condition(state, trainer.cond.kind, where)
    for name, module in (("G", trainer.G), ("D", trainer.D)):
        want, have = shapes(module), {k: list(v.shape) for k, v in state[name].items()}
        if want != have:
            diff = _first_mismatch(want, have)
            raise CheckpointError(f"{where}: {name} in the checkpoint has another shape than this "
                                  f"configuration's model ({diff[0]})")
    knobs = state["knobs"]
    try:
        trainer.G.load_state_dict(state["G"])
        trainer.D.load_state_dict(state["D"])
        trainer.set_loss(knobs["loss"])
        trainer.opt_g.load_state_dict(state["opt_g"])
        trainer.opt_d.load_state_dict(state["opt_d"])
        trainer.fixed_noise = state["fixed_noise"].to(trainer.device)
        if trainer.ema is not None:  # a checkpoint without one (the EMA was just switched on) starts it at G
            if "g_ema" in state:
                trainer.ema.load_state_dict(state["g_ema"])
            else:
                trainer.ema.reset()
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        trainer.noise.set_state(rng["noise"])
        data_gen = getattr(trainer.sampler, "generator", None)
        if "data" in rng and isinstance(data_gen, torch.Generator):
            data_gen.set_state(rng["data"])
        if "cuda" in rng and trainer.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"], trainer.device)
    except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise CheckpointError(f"{where}: cannot be loaded into this run ({_sentence(exc)})") from None
    trainer.set_k(int(knobs["k"]))
    trainer.set_lr("d", float(knobs["lr_d"]))
    trainer.set_lr("g", float(knobs["lr_g"]))
    trainer.freeze("d", bool(knobs["frozen_d"]))
    trainer.freeze("g", bool(knobs["frozen_g"]))
    trainer.step, trainer.d_steps, trainer.g_steps = state["step"], state["d_steps"], state["g_steps"]
    trainer.invalidate_graph()  # optimiser state tensors may have been replaced


_KIND_WORDS = {"none": "an unconditional GAN", "cgan": "a conditional GAN (class labels)",
               "infogan": "an InfoGAN (latent codes)"}


def _check_condition(state: dict[str, Any], kind: str, where: str) -> None:
    """A checkpoint's players are built for its cond.kind: another kind is refused in one line."""
    cond = state["config"].get("cond")
    saved = cond.get("kind", "none") if isinstance(cond, Mapping) else "none"
    if saved != kind:
        what = _KIND_WORDS.get(saved, f"cond.kind = {_show(saved)}")
        raise CheckpointError(f"{where}: holds {what}, but this configuration has cond.kind = '{kind}' "
                              f"({_KIND_WORDS[kind]}); resume it with its own configuration (--resume alone)")


def _first_mismatch(want: dict[str, list[int]], have: dict[str, list[int]]) -> list[str]:
    out = []
    for key in sorted(set(want) | set(have)):
        if want.get(key) != have.get(key):
            out.append(f"{key}: checkpoint {have.get(key, 'missing')}, model {want.get(key, 'missing')}")
    return out or ["parameter sets differ"]
