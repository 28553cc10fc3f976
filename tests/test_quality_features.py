"""Feature spaces: Inception-v3 loading (with a stand-in network, never a download) and the classifier."""

from __future__ import annotations

import math
import urllib.error

import pytest
import torch
from torch import nn

from gantui.engine.quality.cache import QualityError
from gantui.engine.quality.classes import class_coverage, class_histogram
from gantui.engine.quality.classifier import (
    ClassifierSpace,
    classifier_path,
    iter_classifier,
    labelled_splits,
    load_classifier,
)
from gantui.engine.quality.features import INCEPTION_FILE, INCEPTION_URL, load_inception, to_uint8_rgb
from gantui.engine.quality.steps import finish
from tests.quality_helpers import CPU, digits_classifier, digits_config, digits_test_images, quality_cache


class StandInInception(nn.Module):
    """Shaped like torch-fidelity's extractor: uint8 (N, 3, H, W) -> (2048-d pool, 1008 logits)."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.Linear(3, 2048)
        self.fc = nn.Linear(2048, 1008)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        assert x.dtype == torch.uint8 and x.shape[1] == 3
        pool = torch.relu(self.pool(x.float().mean(dim=(2, 3)) / 255))
        return pool, self.fc(pool)


@pytest.fixture
def no_hub(tmp_path, monkeypatch):
    """torch's hub cache points at an empty folder (a user's copy of the weights must not leak in)."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))


def refuse_download(url, path):
    raise urllib.error.URLError("no network")


def test_a_local_weights_file_is_loaded_safely_and_used(tmp_path, no_hub):
    weights = tmp_path / "my-inception.pth"
    torch.save(StandInInception().state_dict(), weights)
    built = []

    def build(path):
        built.append(path)
        return StandInInception()

    space = load_inception(str(weights), device=CPU, root=tmp_path / "cache", build=build,
                           download=refuse_download)
    assert built == [weights]
    assert space.distance_name == "fid" and space.inception_score and space.classes == 0
    assert space.key.startswith("inception-v3-tf-")
    out = space(torch.rand(5, 1, 8, 8) * 2 - 1)  # grey images are repeated to RGB
    assert out.features.shape == (5, 2048) and out.probs.shape == (5, 1008)
    assert torch.allclose(out.probs.sum(1), torch.ones(5))


def test_a_missing_weights_file_says_both_ways_out(tmp_path, no_hub):
    with pytest.raises(QualityError) as err:
        load_inception(str(tmp_path / "nowhere.pth"), device=CPU, root=tmp_path,
                       build=lambda p: StandInInception())
    message = str(err.value)
    assert "\n" not in message
    assert "eval.inception_weights" in message and "download" in message and "nowhere.pth" in message


def test_no_network_says_both_ways_out_and_leaves_no_file(tmp_path, no_hub):
    with pytest.raises(QualityError) as err:
        load_inception("", device=CPU, root=tmp_path, build=lambda p: StandInInception(),
                       download=refuse_download)
    message = str(err.value)
    assert "\n" not in message
    assert INCEPTION_URL in message and "eval.inception_weights = PATH" in message and "no network" in message
    assert not (tmp_path / "weights" / INCEPTION_FILE).exists()


def test_the_download_goes_to_the_cache_once(tmp_path, no_hub):
    calls = []

    def download(url, path):
        calls.append(url)
        path.parent.mkdir(parents=True)
        torch.save(StandInInception().state_dict(), path)

    for _ in range(2):
        load_inception("", device=CPU, root=tmp_path, build=lambda p: StandInInception(), download=download)
    assert calls == [INCEPTION_URL]
    assert (tmp_path / "weights" / INCEPTION_FILE).is_file()


def test_a_file_that_is_not_a_state_dict_is_refused_in_one_line(tmp_path, no_hub):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    wrong = tmp_path / "wrong.pth"
    torch.save({"weight": torch.zeros(3)}, wrong)  # loads, but is not Inception
    for path in (bad, wrong):
        with pytest.raises(QualityError) as err:
            load_inception(str(path), device=CPU, root=tmp_path, build=lambda p: StandInInception())
        assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_images_become_uint8_rgb_as_a_png_would():
    x = torch.tensor([-1.0, -0.5, 0.0, 1.0, 2.0]).view(1, 1, 1, 5)
    out = to_uint8_rgb(x)
    assert out.dtype == torch.uint8 and out.shape == (1, 3, 1, 5)
    assert out[0, 0, 0].tolist() == [0, 64, 128, 255, 255]  # round(63.75) = 64, round(127.5) = 128


# ----------------------------------------------------------------------------------- classifier
def test_the_digits_classifier_reaches_97_percent_on_held_out_digits():
    trained = digits_classifier()
    assert trained.accuracy >= 0.97
    assert trained.test_size == 359 and trained.classes == 10
    train, test = labelled_splits(digits_config().data)
    assert len(train) + len(test) == 1797
    # A stratified fifth of each class is held out.
    every = class_histogram(torch.cat([train.labels, test.labels]), 10)
    assert class_histogram(test.labels, 10).tolist() == [round(0.2 * c) for c in every.tolist()]


def test_the_classifier_is_cached_and_loaded_with_its_accuracy():
    trained = digits_classifier()
    path = classifier_path("digits", (1, 8, 8), "lenet", root=quality_cache())
    assert trained.path == path and path.is_file()
    again = finish(iter_classifier(digits_config().data, (1, 8, 8), device=CPU, root=quality_cache()))
    assert again.seconds == 0.0 and again.accuracy == trained.accuracy  # not retrained
    x, _ = digits_test_images()
    assert torch.equal(again.network(x), trained.network(x))


def test_a_damaged_classifier_file_is_ignored(tmp_path):
    path = tmp_path / "c.pt"
    path.write_bytes(b"garbage, not a zip archive")
    assert load_classifier(path, device=CPU) is None


def test_class_coverage_of_the_real_test_set_is_all_ten_classes():
    space = ClassifierSpace(digits_classifier(), device=CPU)
    images, labels = digits_test_images()
    out = space(images)
    assert out.features.shape == (len(images), 128)
    covered, kl = class_coverage(class_histogram(out.probs.argmax(1), 10), class_histogram(labels, 10))
    assert covered == 10
    assert kl < 0.01


def test_a_generator_that_draws_one_class_covers_one():
    space = ClassifierSpace(digits_classifier(), device=CPU)
    images, labels = digits_test_images()
    zeros = images[labels == 0]
    gen = torch.Generator().manual_seed(0)
    drawn = zeros[torch.randint(len(zeros), (2000,), generator=gen)]  # a "generator" of zeros only
    predicted = class_histogram(space(drawn).probs.argmax(1), 10)
    covered, kl = class_coverage(predicted, class_histogram(labels, 10))
    assert covered == 1
    assert kl == pytest.approx(math.log(10), abs=0.15)


def test_torch_fidelitys_own_network_loads_a_local_file(tmp_path, no_hub, monkeypatch):
    """The real builder, offline: torch-fidelity's architecture with random weights saved to a file."""
    import torch_fidelity.feature_extractor_inceptionv3 as tf_inception

    class Blank(tf_inception.FeatureExtractorInceptionV3):
        def load_state_dict(self, state, *args, **kwargs):  # the constructor's own load: skipped
            return None if state is None else super().load_state_dict(state, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(tf_inception, "load_state_dict_from_url", lambda *a, **k: None)
        blank = Blank("inception-v3-compat", ["2048", "logits_unbiased"])
    weights = tmp_path / INCEPTION_FILE
    torch.save(blank.state_dict(), weights)
    del blank
    space = load_inception(str(weights), device=CPU, root=tmp_path, download=refuse_download)
    assert type(space.network) is tf_inception.FeatureExtractorInceptionV3
    assert not any(p.requires_grad for p in space.network.parameters())
    assert space.nbytes() > 90 * 2**20  # 23.9 M parameters
    out = space(torch.rand(2, 3, 32, 32) * 2 - 1)
    assert out.features.shape == (2, 2048) and out.probs.shape == (2, 1008)
    assert torch.isfinite(out.features).all()


def labelled_fake(shape, n=96, classes=4, seed=0):
    """Images whose class is their brightness level: learnable in a few steps."""
    from gantui.engine.data.images import ImageSource

    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % classes
    level = (labels.float() + 0.5) / classes * 255
    pixels = (level.view(-1, 1, 1, 1) + 20 * torch.randn(n, *shape, generator=gen)).clamp(0, 255)
    return ImageSource("fake", "test", shape, 255, pixels=pixels.to(torch.uint8), labels=labels)


@pytest.mark.parametrize(("arch", "shape", "epochs"),
                         [("lenet", (1, 28, 28), 15), ("resnet", (3, 32, 32), 3)])
def test_the_mnist_and_cifar_architectures_train_and_give_128_features(arch, shape, epochs):
    from gantui.engine.quality.classifier import iter_train_classifier

    trained = finish(iter_train_classifier(labelled_fake(shape), labelled_fake(shape, seed=1), arch=arch,
                                           device=CPU, epochs=epochs))
    assert trained.classes == 4 and trained.accuracy > 0.5  # chance is 0.25
    space = ClassifierSpace(trained, device=CPU)
    out = space(torch.rand(5, *shape) * 2 - 1)
    assert out.features.shape == (5, 128) and out.probs.shape == (5, 4)


def test_only_torchvision_sets_have_a_test_split(tmp_path):
    from gantui.engine.data import DataError
    from gantui.engine.data.images import load_image_source

    with pytest.raises(DataError, match="no held-out test split"):
        load_image_source(digits_config().data, split="test")
    mnist = load_config_data("mnist-mlp", f"data.root={tmp_path}", "data.download=false")
    with pytest.raises(DataError, match="not found"):
        load_image_source(mnist, split="test")
    with pytest.raises(QualityError, match="no labelled classes"):
        labelled_splits(load_config_data("smoke", "data.name=folder", f"data.path={tmp_path}"))


def load_config_data(preset, *overrides):
    from gantui.presets import load_config

    return load_config(preset, list(overrides)).data


def test_a_weights_path_with_control_characters_is_shown_escaped(tmp_path, no_hub):
    with pytest.raises(QualityError) as err:
        load_inception(str(tmp_path / "evil\n\x1b[2Jname.pth"), device=CPU, root=tmp_path)
    assert "\n" not in str(err.value) and "\x1b" not in str(err.value) and "\\x1b" in str(err.value)
