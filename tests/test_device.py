"""The CPU thread budget of the training thread, and real image data stored channels-last."""

from __future__ import annotations

import threading

import pytest
import torch

from gantui.engine import device
from gantui.engine.data import build_sampler
from gantui.engine.data.samplers import DeviceTensorSampler
from tests.engine_helpers import smoke_config


@pytest.fixture
def four_cores(monkeypatch):
    monkeypatch.setattr(device.os, "cpu_count", lambda: 4)
    monkeypatch.setattr(device, "_trainer_threads", None)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(("requested", "expected"), [
    (0, 4),  # auto: every core, with the dashboard too (its UI thread needs ~15 % of one)
    (2, 2),
    (7, 7),  # the user's number, even past the core count
])
def test_the_training_thread_gets_the_budget_and_the_main_thread_one(
        four_cores, requested: int, expected: int) -> None:
    assert device.configure_threads(requested) == expected
    # The main thread only builds the run: one thread, so it keeps no OpenMP pool of its own that
    # would compete with the training thread's.
    assert torch.get_num_threads() == 1
    seen = []
    worker = threading.Thread(target=lambda: seen.append(device.bind_training_thread()))
    worker.start()
    worker.join(10)
    assert seen == [expected]


def test_a_trainer_takes_the_budget_on_the_thread_that_trains(four_cores) -> None:
    from tests.test_trainer import make_trainer

    t = make_trainer()
    device.configure_threads(2)
    assert torch.get_num_threads() == 1
    seen = []

    def train() -> None:
        t.iteration()
        seen.append(torch.get_num_threads())

    worker = threading.Thread(target=train)
    worker.start()
    worker.join(30)
    assert seen == [2]


def test_channels_last_is_for_dcgans_on_cuda() -> None:
    assert device.wants_channels_last("dcgan", torch.device("cuda", 0))
    assert not device.wants_channels_last("mlp", torch.device("cuda", 0))
    assert not device.wants_channels_last("dcgan", torch.device("cpu"))


def test_channels_last_images_keep_their_values_and_batches_keep_the_layout() -> None:
    data = torch.rand(10, 3, 8, 8) * 2 - 1
    plain = DeviceTensorSampler(data.clone(), name="x", seed=3)
    nhwc = DeviceTensorSampler(data.clone(), name="x", seed=3)
    nhwc.use_channels_last()
    assert nhwc.data.is_contiguous(memory_format=torch.channels_last)
    a, b = plain.sample(4), nhwc.sample(4)
    assert torch.equal(a, b)  # the same draws and values
    assert b.is_contiguous(memory_format=torch.channels_last) and not a.is_contiguous(
        memory_format=torch.channels_last)
    flat = DeviceTensorSampler(torch.zeros(5, 2), name="toy", seed=0)
    flat.use_channels_last()  # a no-op for flat data
    assert flat.data.is_contiguous()


def test_build_sampler_stores_on_device_images_channels_last_when_asked() -> None:
    cfg = smoke_config("data.name=fake", "data.channels=3", "data.image_size=32", "data.fake_size=16")
    sampler = build_sampler(cfg.data, device=torch.device("cpu"), seed=0, channels_last=True)
    assert sampler.data.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(sampler.data, build_sampler(cfg.data, device=torch.device("cpu"), seed=0).data)
