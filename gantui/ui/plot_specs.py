"""What each plot shows: its series, its y bounds and the reference values from the theory.

Quantities that share a scale share a plot, and nothing else does: the JSD read-outs (bound, probe,
true, all in nats within [0, ln 2]) together; a critic's Ŵ and an f-GAN's divergence bound each on a
plot of its own, shown once the trainer reports it. Every metric the trainer logs has a plot the user
can put on screen (``m``); a column this list does not know gets a plain one (:func:`column_spec`).

Reference values (GAN_THEORY.md, "Reference values at v ≡ 0", i.e. D = ½ everywhere, the game's
optimum): the BCE sum L_D = 2 ln 2; non-saturating L_G = ln 2 (DRAGAN's G is non-saturating);
minimax L_G = −ln 2; maximum-likelihood L_G = −½. Every JSD read-out lies in [0, ln 2].
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = [
    "GAME",
    "GRADS",
    "JSD",
    "LN2",
    "LOSSES",
    "PLOTS",
    "UNPLOTTED",
    "PlotSpec",
    "Series",
    "catalogue",
    "column_spec",
    "loss_references",
]

LN2 = math.log(2.0)
RGB = tuple[int, int, int]

# L_G at D = ½ for the losses whose L_D is the BCE sum (GAN_THEORY.md's table).
_BCE_LOSS_G_AT_OPTIMUM = {"nonsaturating": LN2, "dragan": LN2, "minimax": -LN2, "maxlikelihood": -0.5}

GREEN, RED, CYAN, MAGENTA = (80, 220, 110), (240, 80, 80), (80, 210, 230), (230, 110, 230)
BLUE, ORANGE, YELLOW, WHITE = (110, 140, 255), (255, 160, 50), (230, 210, 90), (220, 220, 220)


def _none(loss: str) -> tuple[tuple[float, str], ...]:
    return ()


@dataclass(frozen=True)
class Series:
    """One metric column, drawn as a min/max envelope (and a smoothed line when smoothing is on)."""

    name: str
    label: str
    color: RGB


@dataclass(frozen=True)
class PlotSpec:
    """A plot: its series, y bounds, reference lines for a loss name, and when it is on screen.

    ``bounds`` are limits the values cannot pass (a probability stays in [0, 1]); the y range is
    otherwise fitted to what is visible. ``default``: shown without being asked for once it has data.
    """

    id: str
    title: str
    series: tuple[Series, ...]
    references: Callable[[str], tuple[tuple[float, str], ...]] = _none
    bounds: tuple[float | None, float | None] = (None, None)
    references_in_range: bool = False  # widen the y range to include the reference lines
    loggable: bool = False  # the log-scale key applies
    default: bool = True
    always: bool = False  # a default plot shown before it has data (the game and the losses)
    critic: PlotSpec | None = None  # what the plot shows instead while D is a critic (RunState.critic)

    def variant(self, critic: bool) -> PlotSpec:
        """The spec to draw: a critic's variant where there is one and the trainer reports a critic."""
        return self.critic if critic and self.critic is not None else self

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column either variant draws."""
        names = [s.name for s in self.series]
        if self.critic is not None:
            names += [s.name for s in self.critic.series if s.name not in names]
        return tuple(names)


def loss_references(loss: str) -> tuple[tuple[float, str], ...]:
    """(y, label) of L_D = 2 ln 2 and L_G at the optimum, for the BCE family; nothing otherwise."""
    if loss not in _BCE_LOSS_G_AT_OPTIMUM:
        return ()
    g = _BCE_LOSS_G_AT_OPTIMUM[loss]
    g_label = {LN2: "ln 2", -LN2: "−ln 2", -0.5: "−½"}[g]
    return ((2 * LN2, "2 ln 2"), (g, g_label))


# Under a critic's loss (WGAN, hinge, LSGAN, relativistic, most f-GANs) v is a score, not a logit:
# σ(v) is no probability, and pins to 0 or 1 as a WGAN critic's scores drift. The game plot shows
# the raw means instead (for WGAN their gap is Ŵ on training batches; under LSGAN's 0-1-1 coding,
# v* is D* itself).
GAME = PlotSpec(
    id="plot-game", title="D(x), D(G(z))",
    series=(Series("d_real", "D(x)", GREEN), Series("d_fake", "D(G(z))", RED)),
    references=lambda loss: ((0.5, "½"),), bounds=(0.0, 1.0), references_in_range=True, always=True,
    critic=PlotSpec(id="plot-game", title="critic v(x), v(G(z))",
                    series=(Series("v_real", "v(x)", GREEN), Series("v_fake", "v(G(z))", RED))),
)
LOSSES = PlotSpec(
    id="plot-losses", title="L_D, L_G",
    series=(Series("loss_d", "L_D", CYAN), Series("loss_g", "L_G", MAGENTA)),
    references=loss_references, references_in_range=True, loggable=True, always=True,
)
JSD = PlotSpec(
    id="plot-jsd", title="JSD read-outs, nats",
    series=(Series("jsd_bound", "bound", BLUE), Series("jsd_probe", "probe", ORANGE),
            Series("jsd_true", "true", GREEN)),
    references=lambda loss: ((LN2, "ln 2"),), bounds=(0.0, None), loggable=True,
)
WASSERSTEIN = PlotSpec(id="plot-w", title="Ŵ = E v(x) − E v(G(z)), held-out",
                       series=(Series("w_estimate", "Ŵ", MAGENTA),), loggable=True)
FDIV = PlotSpec(id="plot-fdiv", title="f-divergence lower bound",
                series=(Series("fdiv_bound", "f-div bound", CYAN),), loggable=True)
GRADS = PlotSpec(id="plot-grads", title="gradient norms",
                 series=(Series("grad_norm_d", "‖∇D‖", CYAN), Series("grad_norm_g", "‖∇G‖", MAGENTA)),
                 bounds=(0.0, None), loggable=True, default=False)
GP = PlotSpec(id="plot-gp", title="gradient penalty", series=(Series("gp", "gp", YELLOW),),
              bounds=(0.0, None), loggable=True, default=False)
RATE = PlotSpec(id="plot-rate", title="iterations / s", series=(Series("steps_per_sec", "it/s", WHITE),),
                bounds=(0.0, None), default=False)
MODES = PlotSpec(id="plot-modes", title="modes covered", series=(Series("modes", "modes", GREEN),),
                 bounds=(0.0, None), default=False)
HQ = PlotSpec(id="plot-hq", title="high-quality samples (fraction)", series=(Series("hq", "hq", GREEN),),
              bounds=(0.0, 1.0), default=False)
K = PlotSpec(id="plot-k", title="k, D-steps per G-step", series=(Series("k", "k", YELLOW),),
             bounds=(0.0, None), default=False)

PLOTS = (GAME, LOSSES, JSD, WASSERSTEIN, FDIV, GRADS, GP, RATE, MODES, HQ, K)
UNPLOTTED = frozenset({"step", "t"})  # the axes themselves
_KNOWN = frozenset(name for spec in PLOTS for name in spec.columns) | UNPLOTTED
_EXTRA_COLORS = (YELLOW, CYAN, MAGENTA, GREEN, ORANGE, BLUE)


def column_spec(name: str) -> PlotSpec:
    """A plain plot of a column no spec knows (a metric added after this dashboard was written)."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", name)[:40]
    digest = hashlib.blake2s(name.encode(), digest_size=3).hexdigest()
    color = _EXTRA_COLORS[int(digest, 16) % len(_EXTRA_COLORS)]
    return PlotSpec(id=f"plot-col-{safe}-{digest}", title=name, series=(Series(name, name, color),),
                    loggable=True, default=False)


def catalogue(columns: Iterable[str]) -> tuple[PlotSpec, ...]:
    """Every plot the user can choose: the known ones, then one per unknown column, in order seen."""
    return PLOTS + tuple(column_spec(name) for name in columns if name not in _KNOWN)
