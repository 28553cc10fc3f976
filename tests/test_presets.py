"""Presets: where they are found, how they are listed and saved, and what the bundled ones contain.

conftest.py points XDG_CONFIG_HOME at a fresh folder for every test, so ``user_dir()`` starts empty.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gantui.config import SCHEMA, ConfigError, resolve
from gantui.presets import (
    DEFAULT_PRESET,
    bundled_dir,
    find_preset,
    list_presets,
    load_config,
    save_preset,
    user_dir,
)
from gantui.tomlio import read_toml

BUNDLED = sorted(p.stem for p in bundled_dir().glob("*.toml"))
# Issue 3's list of presets that must ship.
REQUIRED = {"ring8", "ring8-minimax", "grid25", "ring8-wgan-gp", "digits-mlp", "mnist-mlp", "mnist-dcgan",
            "fashion-lsgan", "cifar10-dcgan-hinge", "cifar10-wgan-gp", "smoke"}


def write_user_preset(name: str, text: str) -> Path:
    path = user_dir() / f"{name}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# ----------------------------------------------------------------------------- search order
def test_the_user_folder_follows_xdg_config_home(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert user_dir() == tmp_path / "gantui" / "presets"


def test_a_bundled_preset_is_found_by_name() -> None:
    assert find_preset("ring8") == bundled_dir() / "ring8.toml"
    assert load_config("ring8").preset == "ring8"


def test_a_user_preset_shadows_the_bundled_one_of_the_same_name() -> None:
    path = write_user_preset("ring8", 'description = "mine"\n[train]\nk = 3\n')
    assert find_preset("ring8") == path
    cfg = load_config("ring8")
    assert (cfg.description, cfg.train.k) == ("mine", 3)
    listed = {p.name: p for p in list_presets()}
    assert listed["ring8"].source == "user" and listed["ring8"].path == path
    assert listed["grid25"].source == "bundled"


def test_a_path_beats_the_user_folder_and_the_bundled_presets(tmp_path) -> None:
    write_user_preset("ring8", 'description = "user"\n')
    path = tmp_path / "ring8.toml"
    path.write_text('description = "by path"\n[train]\nk = 7\n')
    cfg = load_config(str(path))
    assert (cfg.description, cfg.train.k, cfg.preset) == ("by path", 7, "ring8")


def test_a_bare_name_that_is_a_file_in_the_current_folder_is_a_path(tmp_path, monkeypatch) -> None:
    (tmp_path / "mine").write_text("[train]\nk = 2\n")
    monkeypatch.chdir(tmp_path)
    assert load_config("mine").train.k == 2


def test_a_folder_named_like_a_preset_does_not_hide_it(tmp_path, monkeypatch) -> None:
    (tmp_path / "ring8").mkdir()  # e.g. a run folder the user named after the preset
    monkeypatch.chdir(tmp_path)
    assert find_preset("ring8") == bundled_dir() / "ring8.toml"


def test_name_dot_toml_finds_the_named_preset(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ring8.toml here
    assert find_preset("ring8.toml") == bundled_dir() / "ring8.toml"


def test_a_missing_preset_suggests_the_closest_and_lists_the_rest() -> None:
    write_user_preset("my-run", 'description = "x"\n')
    with pytest.raises(ConfigError) as info:
        find_preset("ring9")
    message = str(info.value)
    assert message.startswith("--preset ring9: no such preset (did you mean 'ring8'?)")
    for name in [*BUNDLED, "my-run"]:
        assert name in message
    assert "\n" not in message


@pytest.mark.parametrize(("name", "fragment"), [
    ("/nonexistent/x.toml", "/nonexistent/x.toml: no such preset file"),
    ("./nope.toml", "./nope.toml: no such preset file"),
    ("", "--preset '': expected a preset name"),
    ("   ", "--preset '   ': expected a preset name"),
    ("a\0b", "expected a preset name"),
    ("~nosuchuser_gantui/x.toml", "no such preset file"),
])
def test_bad_preset_arguments(name: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(name)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_a_directory_given_as_a_preset(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"is a directory, expected a \.toml preset file"):
        load_config(str(tmp_path))


def test_load_config_applies_overrides_and_names_them_in_errors() -> None:
    assert load_config("ring8", ["train.k=4"]).train.k == 4
    with pytest.raises(ConfigError) as info:
        load_config("ring8", ["train.k=0"])
    assert str(info.value).startswith("--set train.k=0: train.k = 0: expected an integer >= 1")


def test_a_bad_value_in_the_file_names_the_file() -> None:
    path = write_user_preset("bad", "[train]\nk = 0\n")
    with pytest.raises(ConfigError) as info:
        load_config("bad", ["train.lr_d=1e-3"])  # an unrelated --set does not take the blame
    assert str(info.value).startswith(f"{path}: train.k = 0")


# ----------------------------------------------------------------------------- listing
def test_list_presets_survives_unreadable_user_presets() -> None:
    folder = user_dir()
    folder.mkdir(parents=True)
    (folder / "garbage.toml").write_bytes(b"\xff\xfe\x00binary")
    (folder / "syntax.toml").write_text("[train\n")
    (folder / "adir.toml").mkdir()
    os.mkfifo(folder / "pipe.toml")  # reading it would block forever
    (folder / "good.toml").write_text('description = """first line\nsecond line"""\n')
    listed = {p.name: p for p in list_presets()}
    assert listed["good"].description == "first line"
    for name in ("garbage", "syntax", "adir", "pipe"):
        assert listed[name].description.startswith("(unreadable: ")
        assert "\n" not in listed[name].description
    assert set(BUNDLED) <= set(listed)


def test_list_presets_with_a_user_folder_that_is_a_file(monkeypatch, tmp_path) -> None:
    (tmp_path / "gantui").write_text("not a folder")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert [p.name for p in list_presets()] == BUNDLED


# ----------------------------------------------------------------------------- saving
def test_save_preset_writes_only_the_changes_and_loads_back_the_same() -> None:
    cfg = load_config("ring8", ["train.k=3", "loss.name=hinge"])
    path = save_preset("my-ring", cfg)
    assert path == user_dir() / "my-ring.toml"
    assert [p.name for p in user_dir().iterdir()] == ["my-ring.toml"]  # no temporary file left behind
    doc = read_toml(path)
    # ring8 sets model.z_dim, train.batch_size, lr_d, lr_g; the overrides add train.k and loss.name.
    assert doc["train"] == {"k": 3, "batch_size": 256, "lr_d": 1e-3, "lr_g": 1e-3}
    assert doc["loss"] == {"name": "hinge"} and doc["model"] == {"z_dim": 16}
    assert set(doc) == {"description", "model", "loss", "train"}
    again = load_config("my-ring")
    assert again.as_dict() == cfg.as_dict() and again.preset == "my-ring"
    assert any(p.name == "my-ring" and p.source == "user" for p in list_presets())


def test_save_preset_replaces_an_existing_preset() -> None:
    save_preset("x", load_config("ring8", ["train.k=2"]))
    save_preset("x", load_config("ring8", ["train.k=9"]))
    assert load_config("x").train.k == 9


def test_a_failed_save_keeps_the_old_preset_and_leaves_no_temporary_file(monkeypatch) -> None:
    path = save_preset("x", load_config("ring8", ["train.k=2"]))
    before = path.read_bytes()

    def disk_full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)  # the atomic rename is the last step of a save
    with pytest.raises(ConfigError, match=r"x\.toml: cannot save preset \(No space left on device\)"):
        save_preset("x", load_config("ring8", ["train.k=9"]))
    assert path.read_bytes() == before
    assert [p.name for p in user_dir().iterdir()] == ["x.toml"]


def test_save_preset_into_an_unusable_folder_is_a_config_error(monkeypatch, tmp_path) -> None:
    (tmp_path / "gantui").write_text("a file where the folder should be")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    with pytest.raises(ConfigError, match=r"cannot save preset"):
        save_preset("x", load_config("ring8"))


@pytest.mark.parametrize("name", ["", ".", "..", "../evil", "a/b", "-x", ".hidden", "a b", "a\n", "x" * 65,
                                  "ring8.toml/"])
def test_invalid_preset_names_are_refused(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        save_preset(name, load_config("ring8"))
    assert "\n" not in str(info.value) and "letters, digits" in str(info.value)
    assert not user_dir().exists() or not any(user_dir().iterdir())


@pytest.mark.parametrize("name", ["a", "ring8-k5", "v1.2_test", "X" * 64])
def test_valid_preset_names_are_saved(name: str) -> None:
    assert save_preset(name, load_config("ring8")).name == f"{name}.toml"


# ----------------------------------------------------------------------------- bundled presets
def test_every_required_preset_ships_and_the_default_is_ring8() -> None:
    assert set(BUNDLED) >= REQUIRED
    assert DEFAULT_PRESET == "ring8"


@pytest.mark.parametrize("name", BUNDLED)
def test_every_bundled_preset_loads_with_a_description(name: str) -> None:
    cfg = load_config(name)
    assert cfg.preset == name
    assert cfg.description.strip(), f"{name} has no description"
    info = {p.name: p for p in list_presets()}[name]
    assert info.description and not info.description.startswith("(unreadable")


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_presets_list_only_what_differs_from_the_defaults(name: str) -> None:
    doc = read_toml(bundled_dir() / f"{name}.toml")
    repeats = [f"{section}.{key} = {value!r}"
               for section, table in doc.items() if section != "description"
               for key, value in table.items() if value == SCHEMA[section][key].default]
    assert not repeats, f"{name} repeats defaults: {', '.join(repeats)}"
    assert resolve(doc, source=name).diff_from_defaults() == doc
