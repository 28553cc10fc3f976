"""The GAN objectives, chosen by name: ``LOSSES["nonsaturating"].d_loss(v_real, v_fake)``.

Every loss is a pure function of D's raw outputs (StudioGAN's pattern), so D never bakes in a sigmoid
and the user can switch objectives mid-run. The modules:

- :mod:`~gantui.engine.losses.terms`: BCE (minimax, non-saturating, maximum likelihood), LSGAN,
  WGAN, hinge and relativistic terms, plus the overflow-safe :func:`exp_capped`;
- :mod:`~gantui.engine.losses.fgan`: the f-GAN rows (output activation and conjugate);
- :mod:`~gantui.engine.losses.registry`: :class:`Loss`, :class:`OptimizerHint`, :data:`LOSSES` and
  :func:`configure`.

The gradient penalties (WGAN-GP, DRAGAN) live in :mod:`gantui.engine.penalties`.
"""

from gantui.engine.losses.registry import (
    LOSSES,
    LSGAN_CODINGS,
    Loss,
    OptimizerHint,
    configure,
    describe,
)
from gantui.engine.losses.terms import EXP_CAP, exp_capped

__all__ = [
    "EXP_CAP", "LOSSES", "LSGAN_CODINGS", "Loss", "OptimizerHint", "configure", "describe", "exp_capped",
]
