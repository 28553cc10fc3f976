"""A fake controller, fixed synthetic events and Pilot helpers for the dashboard's tests (no torch, no
trainer thread).

Every array is a closed-form function of the step or built from a seeded generator, so snapshots of
the dashboard are the same on every run.
"""

from __future__ import annotations

import math
import threading
from dataclasses import replace

import numpy as np
from rich.console import Console

from gantui.protocol import (
    METRIC_NAMES,
    Alert,
    Command,
    ComparedRows,
    Event,
    Failure,
    HostStats,
    ImageSamples,
    Intervention,
    MetricsBatch,
    RunState,
    StateChanged,
    ToySamples,
    frozen_array,
)
from gantui.ui.app import GanApp

LN2 = math.log(2.0)

# A few losses with their one-line descriptions, as the engine's registry would pass them.
LOSSES = {
    "nonsaturating": "−log D(G(z)) for G: the paper's practical choice",
    "minimax": "log(1 − D(G(z))) for G: the paper's Eq. 1; saturates",
    "hinge": "relu(1 − v) margins (SN-GAN, SAGAN)",
    "wgan-gp": "critic with gradient penalty λ = 10",
}
PRESETS = ("ring8", "grid25", "digits-dcgan")


class FakeController:
    """Records every command; the test pushes events through the sink the app gave to ``start``."""

    def __init__(self, events_on_start: tuple[Event, ...] = (), *, quit_detaches: bool = False,
                 can_detach: bool = True) -> None:
        self.quit_detaches = quit_detaches  # False: the local dashboard's q; True: an attached viewer's
        self.can_detach = can_detach
        self.detached = 0  # how many times the app asked to detach
        self.sent: list[Command] = []
        self.sink = None
        self.joined: list[float] = []
        self.events_on_start = events_on_start

    def start(self, sink) -> None:
        self.sink = sink
        for event in self.events_on_start:
            sink(event)

    def send(self, command: Command) -> None:
        self.sent.append(command)

    def detach(self) -> None:
        self.detached += 1

    def join(self, timeout: float) -> bool:
        self.joined.append(timeout)
        return True

    def push(self, *events: Event) -> None:
        """Deliver events as the trainer would (on the app's thread here; see push_from_thread)."""
        assert self.sink is not None, "the app has not started the controller"
        for event in events:
            self.sink(event)

    def push_from_thread(self, *events: Event) -> None:
        """Deliver events from another thread, like the real trainer, and wait for that thread."""
        thread = threading.Thread(target=self.push, args=events)
        thread.start()
        thread.join(timeout=5.0)


def run_state(**changes) -> RunState:
    """A running 2-D run on the 8-Gaussian ring; ``changes`` override single fields."""
    state = RunState(
        status="running", step=4000, d_steps=4000, g_steps=4000, k=1, loss="nonsaturating",
        loss_description=LOSSES["nonsaturating"], lr_d=2e-4, lr_g=2e-4, frozen_d=False, frozen_g=False,
        preset="ring8", dataset="ring8", device="cpu", is_toy=True, run_dir="runs/ring8-0001",
    )
    return replace(state, **changes)


def image_state(**changes) -> RunState:
    """A running image run (digits, DCGAN) on a GPU with its memory figure."""
    return run_state(preset="digits-dcgan", dataset="digits", device="cuda:0", memory="1.2/80 GiB",
                     is_toy=False, **changes)


def metrics_batch(first_step: int, rows: int, every: int = 20, *, toy: bool = True) -> MetricsBatch:
    """Rows logged every ``every`` iterations from ``first_step``: smooth curves towards the optimum.

    D(x) → ½ and D(G(z)) → ½ with a damped oscillation; L_D → 2 ln 2 and L_G → ln 2 accordingly; the
    JSD bound is ln 2 − L_D/2 clamped at 0 (GAN_THEORY.md); t = step / 100 (100 it/s).
    """
    step = first_step + every * np.arange(rows, dtype=np.float64)
    decay = np.exp(-step / 3000.0)
    d_real = 0.5 + 0.35 * decay + 0.03 * np.sin(step / 150.0)
    d_fake = 0.5 - 0.35 * decay + 0.03 * np.cos(step / 170.0)
    loss_d = -np.log(d_real) - np.log1p(-d_fake)
    loss_g = -np.log(d_fake)
    nan = np.full_like(step, np.nan)
    cols = {
        "step": step, "t": step / 100.0, "k": np.ones_like(step), "d_real": d_real, "d_fake": d_fake,
        "v_real": np.log(d_real / (1 - d_real)), "v_fake": np.log(d_fake / (1 - d_fake)),
        "loss_d": loss_d, "loss_g": loss_g, "jsd_bound": np.maximum(LN2 - loss_d / 2, 0.0),
        "fdiv_bound": nan, "w_estimate": nan, "gp": nan, "grad_norm_d": 1 + decay, "grad_norm_g": 1 + decay,
        "steps_per_sec": np.full_like(step, 100.0),
        "jsd_true": np.where(step % 500 == 0, 0.15 + 0.3 * decay, np.nan) if toy else nan,
        "modes": np.where(step % 500 == 0, 7.0, np.nan) if toy else nan,
        "hq": np.where(step % 500 == 0, 0.95, np.nan) if toy else nan,
        "jsd_probe": nan,
    }
    values = np.stack([cols.get(name, nan) for name in METRIC_NAMES], axis=1)
    return MetricsBatch(columns=METRIC_NAMES, values=frozen_array(values))


def compared_rows(index: int = 1, label: str = "B", rows: int = 300, ahead: int = 1500) -> ComparedRows:
    """Another run for ``gantui view A B``: the curves of :func:`metrics_batch` ``ahead`` iterations
    on (it converges sooner), logged every 20 iterations from step 0, ``rows`` rows long."""
    batch = metrics_batch(ahead, rows)
    values = batch.values.copy()
    values[:, METRIC_NAMES.index("step")] -= ahead
    return ComparedRows(index=index, label=label, this="A", columns=batch.columns,
                        values=frozen_array(values))


def ring_modes() -> np.ndarray:
    """The 8-Gaussian ring's means: radius 2, angles 2πi/8 (GAN_THEORY.md)."""
    angles = 2 * np.pi * np.arange(8) / 8
    return np.stack([2 * np.cos(angles), 2 * np.sin(angles)], axis=1).astype(np.float32)


def toy_samples(step: int = 4000) -> ToySamples:
    """Real points on all 8 modes; generated points on 5 of them; D's surface a smooth bump."""
    rng = np.random.default_rng(0)
    modes = ring_modes()
    real = modes[rng.integers(0, 8, 512)] + 0.02 * rng.standard_normal((512, 2))
    fake = modes[rng.integers(0, 5, 512)] + 0.1 * rng.standard_normal((512, 2))
    xs = np.linspace(-3, 3, 48)
    gx, gy = np.meshgrid(xs, xs[::-1])  # row 0 is y = extent[3] = 3
    surface = 1 / (1 + np.exp(-(np.hypot(gx, gy) - 1.5)))
    return ToySamples(step=step, real=frozen_array(real.astype(np.float32)),
                      fake=frozen_array(fake.astype(np.float32)),
                      d_surface=frozen_array(surface.astype(np.float32)), extent=(-3.0, 3.0, -3.0, 3.0),
                      modes=frozen_array(modes))


def critic_samples(step: int = 4000) -> ToySamples:
    """The same points over a drifted critic's raw scores: v = −57 + 3·bump, all far below 0.

    σ(v) of these is ~1e-24 everywhere: a uniform square unless the view colours v relative to itself.
    """
    toy = toy_samples(step)
    v = -57.0 + 3.0 * np.asarray(toy.d_surface, dtype=np.float64)
    return replace(toy, d_surface=frozen_array(v.astype(np.float32)), surface="score")


def image_samples(step: int = 4000, n: int = 16, side: int = 8) -> ImageSamples:
    """Grey 8×8 'digits': fake ones are diagonal ramps, real ones are rings, each a little shifted."""
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float64)
    fake = np.stack([((xx + yy + i) % side) / (side - 1) for i in range(n)])
    real = np.stack([(np.abs(np.hypot(xx - 3.5, yy - 3.5) - 2.5 - (i % 3) * 0.3) < 0.8).astype(float)
                     for i in range(n)])
    as_uint8 = lambda a: frozen_array((a[..., None] * 255).astype(np.uint8))  # noqa: E731
    return ImageSamples(step=step, fake=as_uint8(fake), real=as_uint8(real))


def intervention(step: int, kind: str = "k", detail: str = "k 1 → 3", label: str = "") -> Intervention:
    return Intervention(step=step, t=step / 100.0, kind=kind, detail=detail, label=label)


def alert(step: int = 3000, rule: str = "d_wins", title: str = "D wins", *, active: bool = True) -> Alert:
    return Alert(step=step, t=step / 100.0, rule=rule, title=title,
                 message="D(x) 0.97 and D(G(z)) 0.03 for 5 windows; L_G rising",
                 suggestion="try l → nonsaturating, or [ to halve lr_d", active=active)


def host_stats(step: int = 3980, *, cuda: bool = False) -> HostStats:
    """A CPU run's process figures, or a CUDA device's as NVML would report them."""
    if not cuda:
        return HostStats(step=step, t=step / 100.0, cpu_percent=98.0, rss_bytes=812 * 2**20, device="cpu")
    return HostStats(step=step, t=step / 100.0, cpu_percent=103.0, rss_bytes=3 * 2**29,
                     device="NVIDIA H200", device_used_bytes=12 * 2**30, device_peak_bytes=15 * 2**30,
                     device_total_bytes=140 * 2**30, utilization=87.0, graph="replaying")


def failure(step: int = 4100) -> Failure:
    return Failure(step=step, message="non-finite loss_d (nan) at step 4100",
                   detail='Traceback (most recent call last):\n  File "trainer.py", line 1\n'
                          "FloatingPointError: nan",
                   checkpoint="runs/ring8-0001/ckpt-4000.pt")


def state_changed(state: RunState, reason: str = "") -> StateChanged:
    return StateChanged(state=state, reason=reason)


def run_async(test):
    """Run an ``async def`` test with asyncio.run (no pytest async plugin is installed here)."""
    import asyncio
    import functools

    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return wrapper


# ---------------------------------------------------------------- Pilot helpers
def make_app(controller: FakeController | None = None, **kwargs) -> tuple[GanApp, FakeController]:
    """The dashboard over ``controller`` (a new local-like FakeController), with the test losses and
    presets."""
    controller = controller or FakeController()
    return GanApp(controller, losses=LOSSES, presets=PRESETS, **kwargs), controller


async def started(pilot, controller: FakeController, **state) -> None:
    """Report a run state (``run_state(**state)``) and let the app handle it."""
    controller.push(state_changed(run_state(**state)))
    await pilot.pause()


def text_of(widget) -> str:
    """The plain text a Static-like widget shows (rendered at a fixed width)."""
    console = Console(width=100, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(widget.content)
    return console.export_text()
