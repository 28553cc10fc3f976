"""The run folder's toy pictures: a blown-up run's NaNs draw as 'no verdict', never as cast garbage."""

from __future__ import annotations

import warnings

import numpy as np

from gantui.engine.pictures import toy_scatter

GREY = (40, 40, 40)  # D = 1/2: the background's midpoint


def test_nan_surface_and_points_draw_grey_and_nothing_without_a_warning() -> None:
    surface = np.full((8, 8), np.nan)
    surface[0, 0] = 1.0  # one real-like corner: green, the rest unknown
    real = np.array([[np.nan, 0.0], [0.0, 0.0]])
    fake = np.array([[np.inf, np.nan]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "invalid value encountered in cast" fails the test
        img = toy_scatter(real, fake, surface, (-1.0, 1.0, -1.0, 1.0), size=16)
    assert tuple(img[0, 0]) == (30, 110, 60)
    assert tuple(img[15, 0]) == GREY
    centre = img[7:9, 7:9].reshape(-1, 3)
    assert any(tuple(px) == (80, 255, 120) for px in centre)  # the one finite real point is drawn
    assert not (img == (255, 80, 255)).all(axis=-1).any()  # the fake batch had no finite point
