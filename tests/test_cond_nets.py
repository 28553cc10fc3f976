"""Conditional players: shapes, and where the label goes (each class's embedding reaches G and D)."""

from __future__ import annotations

import math

import pytest
import torch

from gantui.engine.cond import ClassCondition, InfoCondition
from gantui.engine.cond.nets import ConcatDiscriminator, ConditionalDiscriminator, ConditionalGenerator
from gantui.engine.data import build_sampler
from gantui.engine.data.images import DataError
from gantui.engine.models import MLPDiscriminator
from gantui.engine.trainer import Trainer
from gantui.presets import load_config

CPU = torch.device("cpu")
DCGAN = ["model.name=dcgan", "data.image_size=32", "model.width=8", "train.batch_size=20"]


def make_trainer(preset: str, *overrides: str) -> Trainer:
    cfg = load_config(preset, ["train.threads=1", *overrides])
    torch.manual_seed(cfg.train.seed)
    return Trainer(cfg, sampler=build_sampler(cfg.data, device=CPU, seed=cfg.train.seed), device=CPU)


@pytest.mark.parametrize("mode", ["projection", "concat", "acgan"])
@pytest.mark.parametrize("model", [[], DCGAN], ids=["mlp", "dcgan"])
def test_conditional_players_take_a_label_and_d_returns_raw_v(mode: str, model: list[str]) -> None:
    t = make_trainer("digits-cgan", f"cond.d={mode}", *model)
    side = 32 if model else 8
    z, y = torch.randn(6, t.z_dim), torch.arange(6)
    x = t.G(z, y)
    assert x.shape == (6, 1, side, side)
    v = t.D(x, y)
    assert v.shape == (6,)
    v2, aux = t.D.judge(x, y)
    assert torch.equal(v, v2)
    assert (aux is None) == (mode != "acgan")
    if aux is not None:
        assert aux.shape == (6, 10)


@pytest.mark.parametrize("model", [[], DCGAN], ids=["mlp", "dcgan"])
def test_infogan_g_takes_codes_and_q_reads_them_back_from_d_s_body(model: list[str]) -> None:
    t = make_trainer("digits-infogan", *model)
    c = t.cond.condition(5, torch.Generator().manual_seed(0))
    assert c.shape == (5, 12)  # 10 one-hot values, 2 continuous codes
    assert torch.equal(c[:, :10].sum(1), torch.ones(5)) and bool((c[:, 10:].abs() <= 1).all())
    x = t.G(torch.randn(5, t.z_dim), c)
    v, q = t.D.judge(x)
    assert v.shape == (5,) and q.shape == (5, 10 + 2 * 2)
    assert isinstance(t.D, ConditionalDiscriminator) and t.D.embed is None  # D never sees the code


def test_every_class_embedding_reaches_g_and_d_in_one_training_iteration() -> None:
    t = make_trainer("digits-cgan", "train.batch_size=256")
    g_embed, d_embed = t.G.embed.weight, t.D.embed.weight
    before_g, before_d = g_embed.detach().clone(), d_embed.detach().clone()
    t.iteration()  # one D-step and one G-step, on 256 real and 256 fake labels: every class is in both
    assert bool(((d_embed - before_d).abs().sum(1) > 0).all()), "a class's projection row was not trained"
    assert bool(((g_embed - before_g).abs().sum(1) > 0).all()), "a class's G embedding was not trained"


def test_a_wrong_label_gives_another_projection_score_by_hand() -> None:
    # D's body: one hidden unit pair h = LeakyReLU(W x), W = I on x = (1, −2): φ = (1, −0.4).
    # ψ(φ) = (1, 1)·φ = 0.6. Embeddings: class 0 → (2, 0), class 1 → (0, 1).
    # D(x, 0) = 0.6 + 2 = 2.6; D(x, 1) = 0.6 − 0.4 = 0.2.
    base = MLPDiscriminator(hidden=[2], data_shape=(2,), spectral_norm=False)
    with torch.no_grad():
        base.net[1].weight.copy_(torch.eye(2))
        base.net[1].bias.zero_()
        base.net[3].weight.copy_(torch.tensor([[1.0, 1.0]]))
        base.net[3].bias.zero_()
    d = ConditionalDiscriminator(base, projection_classes=2)
    with torch.no_grad():
        d.embed.weight.copy_(torch.tensor([[2.0, 0.0], [0.0, 1.0]]))
    x = torch.tensor([[1.0, -2.0], [1.0, -2.0]])
    with torch.no_grad():
        assert d(x, torch.tensor([0, 1])).tolist() == pytest.approx([2.6, 0.2])
        assert float(d(x[:1])) == pytest.approx(0.6)  # no label: ψ(φ(x)) alone


def test_concatenation_puts_the_one_hot_beside_the_input() -> None:
    base = MLPDiscriminator(hidden=[3], data_shape=(2 + 2,), spectral_norm=False)
    d = ConcatDiscriminator(base, classes=2, flat=True)
    x = torch.tensor([[0.5, -0.5]])
    expected = base(torch.tensor([[0.5, -0.5, 0.0, 1.0]]))
    assert torch.equal(d(x, torch.tensor([1])), expected)
    assert not torch.equal(d(x, torch.tensor([0])), expected)


def test_g_s_condition_changes_its_output_and_none_means_balanced_labels() -> None:
    t = make_trainer("digits-cgan")
    assert isinstance(t.G, ConditionalGenerator)
    z = torch.randn(1, t.z_dim).expand(3, -1)
    with torch.no_grad():
        x = t.G(z, torch.tensor([0, 1, 2]))
        assert not torch.equal(x[0], x[1]) and not torch.equal(x[1], x[2])
        assert torch.equal(t.G(z), x)  # c = None: labels 0, 1, 2, …


def test_fake_labels_follow_the_data_s_class_frequencies() -> None:
    prior = torch.tensor([1.0, 0.0, 3.0])
    cond = ClassCondition(("a", "b", "c"), prior, d_mode="projection", embed_dim=0, class_weight=1.0)
    labels = cond.condition(40_000, torch.Generator().manual_seed(1))
    share = torch.bincount(labels, minlength=3).float() / len(labels)
    assert float(share[1]) == 0.0  # a class the data lacks is never asked for
    assert share.tolist() == pytest.approx([0.25, 0.0, 0.75], abs=0.01)


def test_infogan_codes_are_uniform() -> None:
    cond = InfoCondition(categories=4, continuous=3, lambda_cat=1.0, lambda_cont=0.1, device=CPU)
    c = cond.condition(40_000, torch.Generator().manual_seed(2))
    share = c[:, :4].mean(0)
    assert share.tolist() == pytest.approx([0.25] * 4, abs=0.01)
    cont = c[:, 4:]
    assert float(cont.min()) >= -1 and float(cont.max()) <= 1
    assert cont.var(0).tolist() == pytest.approx([1 / 3] * 3, abs=0.01)  # Var U(−1, 1) = 1/3
    assert cond.entropy == pytest.approx(math.log(4))


def _write_png(path, value: int) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (8, 8), value).save(path)


def test_a_folder_s_sub_folders_are_its_classes(tmp_path) -> None:
    for name, value in (("cats", 30), ("dogs", 200)):
        for i in range(3):
            _write_png(tmp_path / name / "x" / f"{i}.png", value)  # nested below its class folder
    t = make_trainer("digits-cgan", "data.name=folder", f"data.path={tmp_path}", "data.image_size=8",
                     "data.channels=1", "data.workers=0")
    assert t.cond.classes == ("cats", "dogs")
    x, y = t.sampler.class_examples(2)
    assert y.tolist() == [0, 0, 1, 1]
    assert x[0].mean().item() < x[2].mean().item()  # the dark images are the cats


def test_a_conditional_run_on_a_folder_without_classes_is_a_one_line_error(tmp_path) -> None:
    _write_png(tmp_path / "a.png", 10)
    _write_png(tmp_path / "sub" / "b.png", 20)
    with pytest.raises(DataError) as info:
        make_trainer("digits-cgan", "data.name=folder", f"data.path={tmp_path}", "data.image_size=8",
                     "data.channels=1", "data.workers=0")
    message = str(info.value)
    assert str(tmp_path) in message and "one sub-folder per class" in message and "\n" not in message


def test_an_unconditional_run_keeps_the_plain_players_and_their_checkpoint_keys() -> None:
    t = make_trainer("digits-mlp")
    assert not t.cond.active
    assert type(t.G).__name__ == "MLPGenerator" and type(t.D).__name__ == "MLPDiscriminator"
    assert next(iter(t.G.state_dict())) == "net.0.weight"  # checkpoints written before this still load
