"""Image quality: FID, KID, Inception Score, precision/recall, density/coverage, class coverage, EMA.

Metrics are pure functions of feature arrays (:mod:`frechet`, :mod:`kid`, :mod:`manifold`,
:mod:`classes`); feature spaces turn images into features (:mod:`features`: torch-fidelity's
Inception-v3; :mod:`classifier`: a small classifier trained on the data, offline); real statistics are
computed once and cached (:mod:`realstats`, :mod:`setup`); :mod:`evaluator` runs an evaluation in
chunks between training iterations and decides when the next is due; :mod:`ema` keeps the moving
average of G's weights that is evaluated. Every metric is gantui's own closed form in float64 where
it matters; torch-fidelity (through its Inception network) is followed for the features.
"""

from gantui.engine.quality.cache import QualityError, cache_root
from gantui.engine.quality.classes import class_coverage, inception_score
from gantui.engine.quality.ema import EMA
from gantui.engine.quality.evaluator import (
    EVAL_BUDGET,
    EVAL_SAMPLES,
    EVAL_SEED_OFFSET,
    EvalCadence,
    EvalResult,
    Evaluation,
    SnapshotGenerator,
)
from gantui.engine.quality.features import Features, FeatureSpace, InceptionSpace, load_inception
from gantui.engine.quality.frechet import frechet_distance, frechet_distance_of_features, moments
from gantui.engine.quality.kid import kid
from gantui.engine.quality.manifold import prdc
from gantui.engine.quality.realstats import (
    RealImages,
    RealStatistics,
    RealStatsCache,
    real_images_from_sampler,
)
from gantui.engine.quality.setup import EvalProgress, QualitySetup, space_names

__all__ = [
    "EMA",
    "EVAL_BUDGET",
    "EVAL_SAMPLES",
    "EVAL_SEED_OFFSET",
    "EvalCadence",
    "EvalProgress",
    "EvalResult",
    "Evaluation",
    "FeatureSpace",
    "Features",
    "InceptionSpace",
    "QualityError",
    "QualitySetup",
    "RealImages",
    "RealStatistics",
    "RealStatsCache",
    "SnapshotGenerator",
    "cache_root",
    "class_coverage",
    "frechet_distance",
    "frechet_distance_of_features",
    "inception_score",
    "kid",
    "load_inception",
    "moments",
    "prdc",
    "real_images_from_sampler",
    "space_names",
]
