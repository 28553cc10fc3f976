"""The chunked evaluator: same result however it is chunked, never changes the run, and its cadence."""

from __future__ import annotations

import math
import shutil

import pytest
import torch

from gantui.engine.data import build_sampler
from gantui.engine.quality.classes import class_coverage, class_histogram
from gantui.engine.quality.evaluator import EvalCadence, Evaluation, SnapshotGenerator
from gantui.engine.quality.frechet import frechet_distance_of_features
from gantui.engine.quality.kid import kid
from gantui.engine.quality.manifold import prdc
from gantui.engine.quality.realstats import dataset_identity, real_images_from_sampler
from gantui.engine.quality.setup import QualitySetup, space_names
from gantui.engine.trainer import Trainer
from tests.quality_helpers import CPU, ProjectionSpace, digits_classifier, digits_config, quality_cache

SAMPLES = 1200
KID = {"kid_subsets": 10, "kid_subset_size": 300}


def digits_setup(root, *, spaces=None, classifier=True):
    cfg = digits_config()
    if classifier:
        digits_classifier()  # trained once per session; copied so this root's real statistics are fresh
        shutil.copytree(quality_cache() / "classifiers", root / "classifiers", dirs_exist_ok=True)
    sampler = build_sampler(cfg.data, device=CPU, seed=0)
    real = real_images_from_sampler(sampler, dataset_identity(cfg.data, sampler.shape))
    return QualitySetup(cfg.data, sampler.shape, real, device=CPU, root=root, spaces=spaces), sampler


def trainer():
    cfg = digits_config()
    torch.manual_seed(cfg.train.seed)  # as the session does before building the models
    return Trainer(cfg, sampler=build_sampler(cfg.data, device=CPU, seed=0), device=CPU)


def evaluate(setup, generate, **kw):
    ev = Evaluation(generate, setup, step=kw.pop("step", 0), samples=SAMPLES, **KID, **kw)
    progress = []
    while not ev.finished:
        progress.append(ev.advance())
    return ev.result(), progress


def test_a_classifier_evaluation_reports_every_value_and_its_progress(tmp_path):
    setup, _ = digits_setup(tmp_path)
    t = trainer()
    result, progress = evaluate(setup, SnapshotGenerator(t.G, z_dim=t.z_dim, device=CPU, seed=7),
                                step=123, generator="g", chunk_seconds=0.0)
    assert set(result.values) == {"fd_classifier", "kid", "kid_std", "precision", "recall", "density",
                                  "coverage", "classes_covered", "class_kl"}
    assert all(math.isfinite(v) for v in result.values.values())
    assert (result.step, result.generator, result.samples) == (123, "g", SAMPLES)
    assert result.seconds > 0 and result.prepare_seconds > 0
    tasks = [p.task for p in progress]
    assert tasks[0] == "real statistics (fd_classifier)" and "evaluating" in tasks
    assert tasks.index("quality metrics") > tasks.index("evaluating")
    generated = [p.done for p in progress if p.task == "evaluating"]
    assert generated == sorted(generated) and generated[-1] == SAMPLES
    assert progress[-1].task == "evaluated" and progress[-1].seconds_left == 0.0
    again, progress = evaluate(setup, SnapshotGenerator(t.G, z_dim=t.z_dim, device=CPU, seed=7),
                               step=123, chunk_seconds=0.0)
    assert again.prepare_seconds == 0.0 and progress[0].task == "evaluating"  # prepared once
    assert again.values == result.values  # same G, same latents: the same numbers


def test_chunks_add_up_to_one_pass(tmp_path):
    space = ProjectionSpace(64, dim=12)
    setup, sampler = digits_setup(tmp_path, spaces=[space], classifier=False)
    t = trainer()

    def make():
        return SnapshotGenerator(t.G, z_dim=t.z_dim, device=CPU, seed=7)

    fine, fine_progress = evaluate(setup, make(), chunk_seconds=0.0)  # one step per advance
    coarse, coarse_progress = evaluate(setup, make(), chunk_seconds=1e9)  # everything in one advance
    assert len(fine_progress) > 5 and len(coarse_progress) == 1
    assert fine.values == coarse.values
    # ... and both equal the metrics of all the images at once.
    gen = make()
    fake = space(torch.cat([gen(gen.batch) for _ in range(SAMPLES // gen.batch)] +
                           [gen(SAMPLES % gen.batch)])).features
    real = space(sampler.data).features
    assert fine.values["fd_stand_in"] == pytest.approx(frechet_distance_of_features(real, fake), rel=1e-9)
    value, spread = kid(real, fake, subsets=10, subset_size=300)
    assert (fine.values["kid"], fine.values["kid_std"]) == pytest.approx((value, spread), rel=1e-9)
    n = min(len(real), len(fake))
    for name, v in prdc(real[:n], fake[:n]).items():
        assert fine.values[name] == pytest.approx(v, abs=1e-12)


def test_the_real_data_scores_better_than_an_untrained_generator(tmp_path):
    setup, sampler = digits_setup(tmp_path)
    data = sampler.data
    draw = torch.Generator().manual_seed(1)
    real_like, _ = evaluate(setup, lambda n: data[torch.randint(len(data), (n,), generator=draw)])
    t = trainer()
    untrained, _ = evaluate(setup, SnapshotGenerator(t.G, z_dim=t.z_dim, device=CPU, seed=7))
    r, u = real_like.values, untrained.values
    assert r["classes_covered"] == 10 and r["class_kl"] < 0.02
    assert r["fd_classifier"] < u["fd_classifier"] / 50
    assert r["precision"] > 0.9 > 0.1 > u["precision"]
    assert r["coverage"] > 0.9 > 0.1 > u["coverage"]
    assert abs(r["kid"]) < 3 * r["kid_std"] and u["kid"] > 10 * u["kid_std"]
    covered, kl = class_coverage(class_histogram(torch.zeros(5, dtype=torch.long), 10), torch.ones(10))
    assert u["classes_covered"] < 10 and u["class_kl"] > r["class_kl"]
    assert (covered, kl) == (1, pytest.approx(math.log(10)))


def test_evaluating_midway_does_not_change_the_run(tmp_path):
    setup, _ = digits_setup(tmp_path, spaces=[ProjectionSpace(64)], classifier=False)
    looked_at, untouched = trainer(), trainer()
    for t in (looked_at, untouched):
        for _ in range(5):
            t.iteration()

    @torch.no_grad()
    def careless(n):  # draws from the training noise stream itself: the evaluator must isolate it
        return looked_at.G(torch.randn(n, looked_at.z_dim, generator=looked_at.noise))

    evaluation = Evaluation(careless, setup, step=looked_at.step, samples=SAMPLES,
                            streams=looked_at.random_streams, chunk_seconds=0.0, **KID)
    while not evaluation.finished:  # training goes on between chunks, as the runner will do it
        evaluation.advance()
        looked_at.iteration()
        untouched.iteration()
    for a, b in zip(looked_at.live_tensors(), untouched.live_tensors(), strict=True):
        assert torch.equal(a, b)


def test_the_snapshot_judges_g_as_it_was_when_the_evaluation_started(tmp_path):
    setup, _ = digits_setup(tmp_path, spaces=[ProjectionSpace(64)], classifier=False)
    t = trainer()
    before, _ = evaluate(setup, SnapshotGenerator(t.G, z_dim=t.z_dim, device=CPU, seed=7))
    snapshot = SnapshotGenerator(t.G, z_dim=t.z_dim, device=CPU, seed=7)
    with torch.no_grad():
        for p in t.G.parameters():
            p.mul_(0.5)  # G moves on after the snapshot
    after, _ = evaluate(setup, snapshot)
    assert after.values == before.values


def test_feature_spaces_by_dataset():
    assert space_names("digits") == ["classifier"]
    assert space_names("cifar10") == ["inception", "classifier"]
    assert space_names("folder") == ["inception"]
    assert space_names("mnist", "inception") == ["inception"]
    from gantui.engine.quality.cache import QualityError

    with pytest.raises(QualityError, match="no labels"):
        space_names("folder", "classifier")


def test_the_cadence_keeps_evaluations_within_their_budget():
    cadence = EvalCadence(1000, budget=0.05)
    assert not cadence.due(999, now=5.0) and cadence.due(1000, now=5.0)  # the first: at eval.every
    cadence.finished(step=1000, seconds=3.0)
    # 3 s spent, and the next one is expected to cost 3 s again: 6 s must be within 5 % of the run.
    assert not cadence.due(2000, now=119.0)
    assert cadence.due(2000, now=120.0)
    assert not cadence.due(1999, now=1e6)  # and never closer than eval.every iterations
    cadence.finished(step=2500, seconds=1.0)  # an on-demand one counts too
    assert not cadence.due(3500, now=99.0) and cadence.due(3500, now=100.0)  # (3 + 1 + 1) / 0.05 = 100
    off = EvalCadence(0)
    assert not off.due(10**9, now=1e9)  # 0: only on request
    off.finished(step=5, seconds=1.0)
    assert not off.due(10**9, now=1e9)


def test_the_cadence_holds_the_budget_over_a_simulated_run():
    cadence, now, spent, step = EvalCadence(100), 0.0, 0.0, 0
    while now < 10_000:
        step += 10
        now += 0.1  # 100 iterations a second
        if cadence.due(step, now):
            cost = 2.0 + (step % 7) / 7  # 2 to 3 s, varying
            cadence.finished(step=step, seconds=cost)
            spent += cost
            now += cost
    assert 0.04 < spent / now <= 0.05


def test_an_inception_like_space_gives_fid_and_the_inception_score(tmp_path):
    from gantui.engine.quality.features import InceptionSpace
    from tests.test_quality_features import StandInInception

    torch.manual_seed(0)
    space = InceptionSpace(StandInInception(), key="stand-in", device=CPU)
    setup, sampler = digits_setup(tmp_path, spaces=[space], classifier=False)
    data = sampler.data
    draw = torch.Generator().manual_seed(2)
    result, _ = evaluate(setup, lambda n: data[torch.randint(len(data), (n,), generator=draw)])
    assert {"fid", "is", "is_std", "kid", "precision"} <= set(result.values)
    assert "classes_covered" not in result.values and "fd_classifier" not in result.values
    assert 1.0 <= result.values["is"] <= 1008


def test_a_streamed_real_set_reads_the_same_images(tmp_path):
    cfg = digits_config()
    on_device = build_sampler(cfg.data, device=CPU, seed=0)
    streamed = build_sampler(load_config_data("digits-mlp", "data.on_device=no", "data.workers=0"),
                             device=CPU, seed=0)
    assert not hasattr(streamed, "data")
    rows = torch.tensor([0, 5, 1796])
    a = real_images_from_sampler(on_device, "x")
    b = real_images_from_sampler(streamed, "x")
    assert len(a) == len(b) == 1797
    assert torch.equal(a.images(rows), b.images(rows)) and torch.equal(a.labels, b.labels)


def load_config_data(preset, *overrides):
    from gantui.presets import load_config

    return load_config(preset, list(overrides)).data
