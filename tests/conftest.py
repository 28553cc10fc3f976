"""Shared test set-up: one torch thread (CI has 2 cores), and no user preset folder leaking in."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    try:
        import torch
    except ImportError:  # UI-only environments
        return
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _isolated_config_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point XDG_CONFIG_HOME at a fresh folder so tests never read or write the user's presets."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg")))


@pytest.fixture(autouse=True)
def _one_torch_thread() -> None:
    """Each test starts with one intra-op thread (a session may have raised it for a headless run)."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


@pytest.fixture
def cli_env(tmp_path) -> dict[str, str]:
    """The environment for a gantui subprocess: an empty preset folder and a run folder under tmp_path."""
    import os

    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "xdg"), COLUMNS="200")
    env.pop("PYTHONSTARTUP", None)
    return env


@pytest.fixture(autouse=True)
def _isolated_cache_home(monkeypatch: pytest.MonkeyPatch) -> None:
    """Caches (trained classifiers, real statistics) go to one folder per test session, shared by every
    test, never to the user's ~/.cache: gantui's cache root is $XDG_CACHE_HOME/gantui."""
    from tests.quality_helpers import quality_cache

    root = quality_cache()
    home = root.parent / f"{root.name}-xdg"
    home.mkdir(exist_ok=True)
    if not (home / "gantui").exists():
        (home / "gantui").symlink_to(root)
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
