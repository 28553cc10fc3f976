"""Steering what G draws: conditional GANs (a class label) and InfoGAN (latent codes).

- :mod:`~gantui.engine.cond.terms`: the extra cost terms (AC-GAN's class cross-entropy, InfoGAN's
  −log Q) and the mutual-information bounds, pure functions of D's auxiliary outputs;
- :mod:`~gantui.engine.cond.nets`: G(z, c) and D(x, c) around the MLP and DCGAN players
  (projection, concatenation, AC-GAN's class head, InfoGAN's Q);
- :mod:`~gantui.engine.cond.condition`: the object the trainer asks for each batch's condition and
  each player's extra term (:class:`Unconditioned` for every other run);
- :mod:`~gantui.engine.cond.grid`: the dashboard's fixed grid, one class (or code value) per row;
- :mod:`~gantui.engine.cond.judge`: ``label_accuracy`` and ``info_accuracy`` from the dataset's
  offline classifier.
"""

from gantui.engine.cond.condition import (
    ClassCondition,
    InfoCondition,
    Unconditioned,
    build_condition,
    entropy_ceiling,
)

__all__ = ["ClassCondition", "InfoCondition", "Unconditioned", "build_condition", "entropy_ceiling"]
