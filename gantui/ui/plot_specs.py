"""What each live plot shows: its series and the reference values from the theory.

Reference values (GAN_THEORY.md, "Reference values at v ≡ 0", i.e. D = ½ everywhere, the game's
optimum): the BCE sum L_D = 2 ln 2; non-saturating L_G = ln 2 (DRAGAN's G is non-saturating);
minimax L_G = −ln 2; maximum-likelihood L_G = −½. Every JSD read-out lies in [0, ln 2].
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "DIVERGENCE",
    "GAME",
    "LN2",
    "LOSSES",
    "PLOTS",
    "PlotSpec",
    "Series",
    "loss_references",
]

LN2 = math.log(2.0)

# L_G at D = ½ for the losses whose L_D is the BCE sum (GAN_THEORY.md's table).
_BCE_LOSS_G_AT_OPTIMUM = {"nonsaturating": LN2, "dragan": LN2, "minimax": -LN2, "maxlikelihood": -0.5}


@dataclass(frozen=True)
class Series:
    """One metric column drawn as a min/max envelope; ``yside="right"`` for a second scale."""

    name: str
    label: str
    color: str
    yside: str = "left"


@dataclass(frozen=True)
class PlotSpec:
    """A plot: a title, its series, fixed y limits (or None) and reference lines for a loss name."""

    id: str
    title: str
    series: tuple[Series, ...]
    references: Callable[[str], tuple[tuple[float, str], ...]]
    ylim: tuple[float, float] | None = None
    critic: PlotSpec | None = None  # what the plot shows instead while D is a critic (RunState.critic)

    def variant(self, critic: bool) -> PlotSpec:
        """The spec to draw: a critic's variant where there is one and the trainer reports a critic."""
        return self.critic if critic and self.critic is not None else self


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
    series=(Series("d_real", "D(x)", "green"), Series("d_fake", "D(G(z))", "red")),
    references=lambda loss: ((0.5, "½"),), ylim=(0.0, 1.0),
    critic=PlotSpec(
        id="plot-game", title="critic v(x), v(G(z))",
        series=(Series("v_real", "v(x)", "green"), Series("v_fake", "v(G(z))", "red")),
        references=lambda loss: ()),
)
LOSSES = PlotSpec(
    id="plot-losses", title="L_D, L_G",
    series=(Series("loss_d", "L_D", "cyan"), Series("loss_g", "L_G", "magenta")),
    references=loss_references,
)
DIVERGENCE = PlotSpec(
    id="plot-divergence", title="JSD, nats",
    series=(Series("jsd_bound", "bound", "blue"), Series("jsd_probe", "probe", "orange"),
            Series("jsd_true", "true", "green"),
            # Critics (WGAN) and f-GANs report on their own scales: a second y-axis, drawn only with data.
            Series("w_estimate", "Ŵ (right)", "magenta", "right"),
            Series("fdiv_bound", "f-div bound (right)", "cyan", "right")),
    references=lambda loss: ((LN2, "ln 2"),), ylim=(0.0, 0.72),
)
PLOTS = (GAME, LOSSES, DIVERGENCE)
