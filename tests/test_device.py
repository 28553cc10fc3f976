"""The CPU thread budget that ``train.threads = 0`` picks."""

from __future__ import annotations

import pytest
import torch

from gantui.engine import device


@pytest.fixture
def four_cores(monkeypatch):
    monkeypatch.setattr(device.os, "cpu_count", lambda: 4)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(("requested", "convolutional", "expected"),
                         [(0, False, 3), (0, True, 4), (2, False, 2), (2, True, 2)])
def test_auto_threads_leave_a_core_for_mlps_and_use_all_for_convolutions(
        four_cores, requested: int, convolutional: bool, expected: int) -> None:
    assert device.configure_threads(requested, convolutional=convolutional) == expected
    assert torch.get_num_threads() == expected
