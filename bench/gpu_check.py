"""One prepared device check for the CUDA-graph fast path (gantui/engine/graphs.py + trainer.py).

Run from the repository root on a CUDA machine:   python bench/gpu_check.py [--quick]
CPU dry run (graphs are blocked there, so it only checks that the script itself works):
    python bench/gpu_check.py --device cpu --quick

Every case builds an eager trainer (train.cuda_graph=false) and a graph trainer from the same seed,
applies the same action script to both (mid-run lr / k / loss / freeze changes, probes, read-outs,
checkpoint round trips, GoodState restores, single D- and G-steps) and compares every live tensor.
Prints one JSON line per case, then: the pause each kind of change causes (captures, warm-ups,
seconds), memory over 25 re-captures, two injected failures (a step that always synchronises:
never captured; one that synchronises only while capturing: a real failed capture, then eager
speed and memory after it), and throughput with and without read-outs (synchronous and
asynchronous). Budget: about 2-4 minutes on an H100/H200. Started from bench/gpu_all.sh.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
import warnings

import torch

sys.path.insert(0, ".")
from gantui.engine import checkpoint as ckpt
from gantui.engine.data import build_sampler
from gantui.engine.good_state import GoodState
from gantui.engine.graphs import REWARMUP_STEPS, WARMUP_STEPS
from gantui.engine.probe import probe_trainer
from gantui.engine.trainer import Trainer
from gantui.presets import load_config

P = argparse.ArgumentParser()
P.add_argument("--device", default="cuda")
P.add_argument("--quick", action="store_true")
ARGS = P.parse_args()
DEV = torch.device(ARGS.device if ARGS.device != "cuda" else "cuda:0")
warnings.simplefilter("default")  # show (once) the capturable / register_generator_state warnings


def sync() -> None:
    if DEV.type == "cuda":
        torch.cuda.synchronize(DEV)


def build(overrides: list[str], graph: bool) -> Trainer:
    cfg = load_config("smoke", ["train.threads=1", *overrides, f"train.cuda_graph={str(graph).lower()}"])
    torch.manual_seed(cfg.train.seed)
    sampler = build_sampler(cfg.data, device=DEV, seed=cfg.train.seed)
    return Trainer(cfg, sampler=sampler, device=DEV)


def act(t: Trainer, a: tuple) -> None:
    kind = a[0]
    if kind == "it":
        for _ in range(a[1]):
            t.iteration()
    elif kind == "lr":
        t.set_lr(a[1], a[2])
    elif kind == "k":
        t.set_k(a[1])
    elif kind == "loss":
        t.set_loss(a[1], reset_optimizers=len(a) > 2 and a[2])
    elif kind == "lr_scale":  # what [ ] { } do: a few presses in a row
        for _ in range(a[2]):
            t.set_lr(a[1], (t.knobs.lr_d if a[1] == "d" else t.knobs.lr_g) * 0.5)
    elif kind == "freeze":
        t.freeze(a[1], a[2])
    elif kind == "probe":
        probe_trainer(t, steps=20)
    elif kind == "readout":
        t.readout()
    elif kind == "ckpt":  # save and restore the same state: replaces optimiser state tensors
        state = ckpt.capture(t, config={}, history=[])
        ckpt.restore(t, state)
    elif kind == "good":  # remember, train, restore in place (the NaN-recovery path)
        g = GoodState()
        g.remember(t)
        for _ in range(a[1]):
            t.iteration()
        g.restore(t)
    elif kind == "step_d":
        t.d_step()
    elif kind == "step_g":
        t.g_step()
    else:
        raise ValueError(a)


def rel_diff(a: Trainer, b: Trainer) -> float:
    num = den = 0.0
    for x, y in zip(a.live_tensors(), b.live_tensors(), strict=True):
        x, y = x.detach().double(), y.detach().double()
        num += float((x - y).square().sum())
        den += float(x.square().sum())
    return (num / max(den, 1e-30)) ** 0.5


MID_RUN = [("it", 6), ("lr", "d", 5e-4), ("it", 5), ("k", 3), ("it", 5), ("readout",), ("probe",),
           ("it", 5), ("freeze", "g", True), ("it", 5), ("freeze", "g", False), ("step_d",), ("step_g",),
           ("it", 5), ("ckpt",), ("it", 5), ("good", 3), ("it", 5), ("lr", "g", 3e-4), ("it", 6)]
PLAIN = [("it", 25)]

MLP_FAKE = ["data.name=fake", "data.channels=1", "data.image_size=28", "data.fake_size=512"]
DCGAN = ["data.name=fake", "data.channels=3", "data.image_size=32", "data.fake_size=512",
         "model.name=dcgan", "model.width=16", "model.z_dim=32", "train.batch_size=32"]
CASES = [
    ("mlp-ring8-ns", ["loss.name=nonsaturating", "train.k=2"], PLAIN, 1e-3),
    ("mlp-ring8-wgangp-midrun", ["loss.name=wgan-gp", "train.k=2"], MID_RUN, 1e-3),
    ("mlp-ring8-loss-switch", ["loss.name=nonsaturating"],
     [("it", 6), ("loss", "wgan-gp"), ("it", 6), ("loss", "rsgan"), ("it", 6),
      ("loss", "hinge", True), ("it", 6), ("loss", "dragan"), ("it", 6)], 1e-3),
    ("mlp-ring8-wgan-rmsprop", ["loss.name=wgan", "train.optimizer=rmsprop", "train.k=3"], MID_RUN, 1e-3),
    ("mlp-ring8-sgd", ["loss.name=lsgan", "train.optimizer=sgd"], MID_RUN, 1e-3),
    ("mlp-ring8-sn", ["loss.name=hinge", "model.spectral_norm=true"], MID_RUN, 1e-3),
    ("mlp-fake28-devsampler", [*MLP_FAKE, "loss.name=nonsaturating"], MID_RUN, 1e-3),
    ("dcgan32-bn", [*DCGAN, "loss.name=nonsaturating"], MID_RUN, 1e-2),
    ("dcgan32-bn-bf16", [*DCGAN, "loss.name=nonsaturating", "train.amp=bf16"], PLAIN, 5e-2),
    ("dcgan32-wgangp-sn-bf16", [*DCGAN, "loss.name=wgan-gp", "model.batchnorm_d=false",
                                "model.spectral_norm=true", "train.amp=bf16", "train.k=2"], PLAIN, 5e-2),
    ("dcgan32-ragan", [*DCGAN, "loss.name=ragan"], PLAIN, 1e-2),
]
if ARGS.quick:
    CASES = CASES[:2] + CASES[7:9]


def run_case(name, overrides, script, tol) -> dict:
    out: dict = {"case": name}
    try:
        eager, fast = build(overrides, False), build(overrides, True)
        t0 = time.perf_counter()
        for a in script:
            act(eager, a)
            act(fast, a)
        sync()
        counters = (fast.step, fast.d_steps, fast.g_steps) == (eager.step, eager.d_steps, eager.g_steps)
        out.update(status=fast.graph_status, captures=fast.graph.captures, replays=fast.graph.replays,
                   steps=counters,
                   rel_diff=rel_diff(eager, fast), seconds=round(time.perf_counter() - t0, 2))
        re, rf = eager.readout(), fast.readout()
        out["readout_max_absdiff"] = max(abs(re[n] - rf[n]) for n in re if n in rf and re[n] == re[n])
        out["ok"] = bool(out["steps"] and out["rel_diff"] < tol
                         and (DEV.type != "cuda" or fast.graph_status.startswith("on")))
    except Exception as exc:  # keep going, report
        out.update(ok=False, error=f"{type(exc).__name__}: {exc}"[:300], where=traceback.format_exc()[-600:])
    return out


def steady_seconds(t: Trainer, n: int = 20) -> float:
    sync()
    t0 = time.perf_counter()
    for _ in range(n):
        t.iteration()
    sync()
    return (time.perf_counter() - t0) / n


def pause_per_change() -> dict:
    """What each kind of change costs the next iterations: captures, warm-ups and extra seconds."""
    out: dict = {"check": "pause-per-change", "unit": "extra seconds over 3 steady iterations"}
    changes = [("lr_d x0.5 five times (Adam)", [], ("lr_scale", "d", 5)),
               ("k 1 -> 5", [], ("k", 5)), ("freeze G", [], ("freeze", "g", True)),
               ("loss -> wgan-gp", [], ("loss", "wgan-gp")),
               ("lr_d (SGD)", ["train.optimizer=sgd"], ("lr", "d", 1e-3))]
    for label, extra, change in changes:
        t = build([*MLP_FAKE, "loss.name=nonsaturating", *extra], True)
        for _ in range(WARMUP_STEPS + 2):
            t.iteration()
        steady = steady_seconds(t)
        before = (t.graph.captures, t.graph.warmups)
        act(t, change)
        took = steady_seconds(t, 3) * 3
        steady_after = steady_seconds(t)
        out[label] = {"captures": t.graph.captures - before[0], "warmups": t.graph.warmups - before[1],
                      "extra_s": round(took - 3 * steady_after, 4), "steady_ms": round(1e3 * steady, 3),
                      "status": t.graph_status}
    return out


def recapture_memory() -> dict:
    """Memory over 25 re-captures (loss switches back and forth): the old pools must be released."""
    t = build([*MLP_FAKE, "loss.name=wgan-gp", "train.k=2"], True)
    for _ in range(WARMUP_STEPS + 2):
        t.iteration()
    sync()
    mem, times = [], []
    for i in range(6 if ARGS.quick else 25):
        t.set_loss("hinge" if i % 2 else "wgan-gp")
        sync()
        t0 = time.perf_counter()
        for _ in range(REWARMUP_STEPS + 1):  # the warm-up + the capture iteration
            t.iteration()
        sync()
        times.append(time.perf_counter() - t0)
        if DEV.type == "cuda":
            mem.append((torch.cuda.memory_allocated(DEV) >> 20, torch.cuda.memory_reserved(DEV) >> 20))
    return {"check": "recapture", "captures": t.graph.captures, "status": t.graph_status,
            "seconds_per_loss_switch": [round(x, 4) for x in times[:3]] + [round(sum(times) / len(times), 4)],
            "mem_alloc_reserved_MiB_first_last": (mem[:1], mem[-1:]) if mem else None}


def failure_injection() -> list[dict]:
    """Two host syncs in the G-step: always (never captured) and only while capturing (a real failure)."""
    results = []
    for when in ("always", "while-capturing"):
        eager, fast = build(["loss.name=nonsaturating"], False), build(["loss.name=nonsaturating"], True)
        original = fast._g_update

        def g_update_with_sync(original=original, fast=fast, when=when) -> None:
            original()
            capturing = DEV.type == "cuda" and torch.cuda.is_current_stream_capturing()
            if DEV.type == "cuda" and (when == "always" or capturing):
                fast._acc_g.sum().item()  # illegal during capture

        fast._g_update = g_update_with_sync
        out: dict = {"check": f"failed-capture-{when}"}
        try:
            for _ in range(WARMUP_STEPS + 8):
                eager.iteration()
                fast.iteration()
            sync()
            out.update(status=fast.graph_status, rel_diff=rel_diff(eager, fast),
                       steps_equal=(fast.step, fast.d_steps) == (eager.step, eager.d_steps))
            fast._g_update = original  # measure the eager path itself, not the injected sync
            for t, key in ((eager, "eager_it_s"), (fast, "after_failure_it_s")):
                sync()
                t0 = time.perf_counter()
                for _ in range(200):
                    t.iteration()
                sync()
                out[key] = round(200 / (time.perf_counter() - t0), 1)
            if DEV.type == "cuda":
                out["reserved_MiB"] = torch.cuda.memory_reserved(DEV) >> 20
        except Exception as exc:
            out.update(error=f"{type(exc).__name__}: {exc}"[:300], where=traceback.format_exc()[-800:])
        results.append(out)
    return results


def throughput() -> dict:
    """Tutorial MLP (D 784-128-1, G 100-128-784, batch 64): eager vs graph, with and without read-outs."""
    over = [*MLP_FAKE, "model.g_hidden=[128]", "model.d_hidden=[128]", "model.z_dim=100",
            "train.batch_size=64", "loss.name=nonsaturating"]
    res: dict = {"check": "throughput"}
    secs = 1.0 if ARGS.quick else 3.0
    for graph in (False, True):
        for readout in ("none", "sync20", "async20"):
            t = build(over, graph)
            for _ in range(30):
                t.iteration()
            sync()
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < secs:
                for _ in range(20):
                    t.iteration()
                n += 20
                if readout == "sync20":
                    t.readout()
                elif readout == "async20":
                    t.request_readout()
                    t.ready_readouts()
            t.ready_readouts(wait=True)
            sync()
            res[f"{'graph' if graph else 'eager'}_{readout}"] = round(n / (time.perf_counter() - t0), 1)
    return res


if __name__ == "__main__":
    print(json.dumps({"torch": torch.__version__, "device": str(DEV),
                      "name": torch.cuda.get_device_name(DEV) if DEV.type == "cuda" else "cpu"}), flush=True)
    results = [run_case(*c) for c in CASES]
    for r in results:
        print(json.dumps(r), flush=True)
    for fn in (pause_per_change, recapture_memory, failure_injection, throughput):
        try:
            result = fn()
            for line in result if isinstance(result, list) else [result]:
                print(json.dumps(line), flush=True)
        except Exception as exc:
            print(json.dumps({"check": fn.__name__, "error": f"{type(exc).__name__}: {exc}"[:300],
                              "where": traceback.format_exc()[-600:]}), flush=True)
    print(json.dumps({"cases_ok": sum(r["ok"] for r in results), "cases": len(results)}), flush=True)
