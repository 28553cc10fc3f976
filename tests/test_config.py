"""The config loader: every error path names the source, the key, the bad value and what is allowed.

The file-based mistakes live in ``tests/bad_presets/`` (one mistake per file, checked in
test_bad_input.py, in-process and through the CLI); this file covers ``resolve`` on documents built
in Python, ``read_toml`` on files that are not TOML at all, ``--set`` parsing, and the round trip.
"""

from __future__ import annotations

import math
import os

import pytest

from gantui.config import (
    SCHEMA,
    ConfigError,
    Field,
    merge_overrides,
    override_origins,
    parse_override,
    resolve,
)
from gantui.tomlio import dumps_toml, read_toml

SRC = "my-preset.toml"


def error_of(doc: dict, *, origins: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        resolve(doc, source=SRC, origins=origins)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message, message
    return message


def assert_names(message: str, *fragments: str) -> None:
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


# ----------------------------------------------------------------------------- defaults
def test_an_empty_document_is_every_default() -> None:
    cfg = resolve({}, source=SRC)
    for section, fields in SCHEMA.items():
        assert getattr(cfg, section).as_dict() == {k: f.default for k, f in fields.items()}
    assert cfg.description == ""


def test_defaults_pass_their_own_validation() -> None:
    # Every default must lie inside its own bounds and choices (else `gantui` with no preset fails).
    for fields in SCHEMA.values():
        for field in fields.values():
            if field.choices is not None:
                assert field.default in field.choices
            if field.min is not None and field.kind in (int, float):
                assert field.default > field.min if field.min_exclusive else field.default >= field.min
            if field.max is not None and field.kind in (int, float):
                assert field.default < field.max if field.max_exclusive else field.default <= field.max


def test_ints_are_accepted_for_float_fields_and_stored_as_float() -> None:
    cfg = resolve({"train": {"lr_d": 0}}, source=SRC)  # lr 0 freezes D: allowed (issue 3's example)
    assert cfg.train.lr_d == 0.0 and isinstance(cfg.train.lr_d, float)


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:0", "cuda:7", "mps"])
def test_valid_device_strings(device: str) -> None:
    assert resolve({"train": {"device": device}}, source=SRC).train.device == device


# ----------------------------------------------------------------------------- wrong types
@pytest.mark.parametrize(("key", "value", "shown", "allowed"), [
    ("train.k", "5", "'5'", "an integer"),
    ("train.k", 2.0, "2.0", "an integer"),
    ("train.k", True, "true", "an integer"),  # bool is an int subclass in Python: must still fail
    ("train.k", False, "false", "an integer"),
    ("train.k", [1], "[1]", "an integer"),
    ("train.k", None, "None", "an integer"),
    ("train.lr_d", True, "true", "a number"),
    ("train.lr_d", "1e-3", "'1e-3'", "a number"),
    ("model.spectral_norm", 1, "1", "true or false"),
    ("model.spectral_norm", "yes", "'yes'", "true or false"),
    ("model.g_hidden", 128, "128", "a list of 1 to 16 integers"),
    ("model.g_hidden", [True], "[True]", "a list of 1 to 16 integers"),
    ("model.g_hidden", [1.5], "[1.5]", "a list of 1 to 16 integers"),
    ("data.root", 5, "5", "a string"),
    ("loss.name", 3, "3", "one of minimax"),
])
def test_wrong_types_are_refused(key: str, value: object, shown: str, allowed: str) -> None:
    section, name = key.split(".")
    message = error_of({section: {name: value}})
    assert_names(message, f"{SRC}: {key} = {shown}:", f"expected {allowed}")


# ----------------------------------------------------------------------------- ranges
@pytest.mark.parametrize(("key", "value", "allowed"), [
    ("train.k", 0, ">= 1, <= 100"),
    ("train.k", -1, ">= 1, <= 100"),
    ("train.k", 101, ">= 1, <= 100"),
    ("train.lr_d", -1e-4, ">= 0, <= 10"),
    ("train.beta1", 1.0, ">= 0, < 1"),  # torch.optim.Adam refuses beta = 1
    ("train.beta1", 1.5, ">= 0, < 1"),
    ("train.beta2", -0.1, ">= 0, < 1"),
    ("train.batch_size", 0, ">= 1, <= 65536"),
    ("train.batch_size", 2**63, ">= 1, <= 65536"),
    ("train.seed", -1, ">= 0, <= 2147483647"),
    ("train.seed", 2**31, ">= 0, <= 2147483647"),
    ("train.steps", 10**13, "<= 1000000000000"),
    ("data.fake_size", 10**9, "<= 65536"),
    ("loss.clip", 0, "> 0"),
    ("log.every", 0, ">= 1"),
    ("ui.refresh_hz", 0.1, ">= 0.2, <= 5"),
    ("model.g_hidden", [], "a list of 1 to 16"),
    ("model.g_hidden", [64] * 17, "a list of 1 to 16"),
    ("model.d_hidden", [16385], "from 1 to 16384"),
])
def test_out_of_range_values_are_refused(key: str, value: object, allowed: str) -> None:
    section, name = key.split(".")
    assert_names(error_of({section: {name: value}}), f"{SRC}: {key} = ", allowed)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 10**400])
def test_non_finite_and_overflowing_numbers_are_refused(value: float) -> None:
    # TOML spells nan and inf; an int of 400 digits overflows float() (OverflowError, not ConfigError).
    message = error_of({"train": {"lr_g": value}})
    assert_names(message, f"{SRC}: train.lr_g = ", "expected a number >= 0, <= 10")
    assert len(message) < 200  # the 400-digit value is cut short


def test_range_bounds_are_written_exactly() -> None:
    # 2**31 - 1 = 2147483647: a bound shown as 2.14748e+09 would be rounded and mislead.
    assert Field(0, "", min=0, max=2**31 - 1).allowed() == "an integer >= 0, <= 2147483647"
    assert Field(0.5, "", min=0.0, max=1.0, max_exclusive=True).allowed() == "a number >= 0, < 1"
    assert Field(0.01, "", min=0.0, min_exclusive=True).allowed() == "a number > 0"


# ----------------------------------------------------------------------------- names and choices
@pytest.mark.parametrize(("doc", "fragments"), [
    ({"trian": {"k": 2}}, ["unknown section 'trian'", "did you mean 'train'", "description, data, model"]),
    ({"descripton": "x"}, ["unknown section 'descripton'", "did you mean 'description'"]),
    ({"train": {"lr": 1e-3}}, ["unknown key 'train.lr'", "did you mean 'lr_d' or 'lr_g'", "[train] takes k"]),
    ({"train": {"kk": 5}}, ["unknown key 'train.kk'", "did you mean 'k'?"]),
    ({"loss": {"name": "hinje"}}, ["loss.name = 'hinje'", "one of minimax", "did you mean 'hinge'?"]),
    ({"loss": {"name": "wgangp"}}, ["did you mean 'wgan-gp'?"]),
    ({"data": {"name": "imagenet"}}, ["data.name = 'imagenet'", "one of ring8, grid25"]),
    ({"train": {"device": "gpu"}}, ["train.device = 'gpu'", "auto, cpu, cuda, cuda:N or mps"]),
    ({"train": {"device": "cuda:x"}}, ["train.device = 'cuda:x'", "cuda:N"]),
    ({"train": {"device": "cuda:-1"}}, ["train.device = 'cuda:-1'", "cuda:N"]),
    ({"train": {"device": "cuda:²"}}, ["train.device = 'cuda:²'"]),  # '²'.isdigit() is True in Python
    ({"train": {"device": "CPU"}}, ["train.device = 'CPU'"]),
    ({"train": {"device": 0}}, ["train.device = 0", "auto, cpu, cuda, cuda:N or mps"]),
    ({"train": 5}, ["'train' must be a table ([train]), got 5"]),
    ({"train": [1, 2]}, ["'train' must be a table"]),
    ({"description": 5}, ["description = 5: expected a string"]),
    ({"description": ["a"]}, ["description = ['a']: expected a string"]),
])
def test_names_and_choices(doc: dict, fragments: list[str]) -> None:
    message = error_of(doc)
    assert message.startswith(f"{SRC}: ")
    assert_names(message, *fragments)


def test_a_wrong_word_far_from_every_choice_gets_no_suggestion() -> None:
    message = error_of({"loss": {"name": "zzzzzz"}})
    assert "did you mean" not in message


def test_a_document_that_is_not_a_table() -> None:
    assert_names(error_of([1, 2]), f"{SRC}: expected a TOML table at the top level")  # type: ignore[arg-type]


def test_keys_with_line_breaks_are_shown_escaped_on_one_line() -> None:
    message = error_of({"a\nb": 1})
    assert "'a\\nb'" in message
    message = error_of({"train": {"k\u2028x": 1}})  # U+2028 LINE SEPARATOR splits lines too
    assert len(message.splitlines()) == 1


def test_a_long_bad_value_is_cut_short() -> None:
    message = error_of({"data": {"name": "x" * 10_000}})
    assert "..." in message and len(message) < 300


def test_non_string_keys_from_python_callers_are_errors_not_crashes() -> None:
    # TOML keys are always strings; a Python caller may pass anything, and difflib needs str.
    assert_names(error_of({1: {}}), "unknown section 1")  # type: ignore[dict-item]
    assert_names(error_of({"train": {2: 3}}), "unknown key 'train.2'")  # type: ignore[dict-item]


# ----------------------------------------------------------------------------- cross-field rules
@pytest.mark.parametrize(("doc", "fragments"), [
    ({"data": {"name": "folder"}}, ["data.path is empty", "data.name = 'folder'"]),
    ({"model": {"name": "dcgan"}}, ["model.name = 'dcgan' needs image data", "data.name = 'ring8'", "'mlp'"]),
    ({"data": {"name": "mnist", "image_size": 48}, "model": {"name": "dcgan"}},
     ["data.image_size = 48", "32 or 64"]),
    ({"data": {"name": "cifar10"}, "model": {"name": "dcgan"}, "loss": {"name": "wgan-gp"}},
     ["loss.name = 'wgan-gp'", "model.batchnorm_d = false"]),
    ({"data": {"name": "cifar10"}, "model": {"name": "dcgan"}, "loss": {"name": "dragan"}},
     ["loss.name = 'dragan'", "model.batchnorm_d = false"]),
])
def test_cross_field_rules(doc: dict, fragments: list[str]) -> None:
    assert_names(error_of(doc), SRC, *fragments)


def test_cross_field_rules_accept_the_fixed_combinations() -> None:
    resolve({"data": {"name": "folder", "path": "/imgs"}}, source=SRC)
    resolve({"data": {"name": "mnist", "image_size": 64}, "model": {"name": "dcgan"}}, source=SRC)
    resolve({"data": {"name": "cifar10"}, "model": {"name": "dcgan", "batchnorm_d": False},
             "loss": {"name": "wgan-gp"}}, source=SRC)
    resolve({"loss": {"name": "wgan-gp"}}, source=SRC)  # an MLP critic has no BatchNorm


# ----------------------------------------------------------------------------- read_toml
def read_error(path: os.PathLike) -> str:
    with pytest.raises(ConfigError) as info:
        read_toml(path)
    message = str(info.value)
    assert "\n" not in message, message
    assert message.startswith(f"{path}: "), message
    return message


def test_read_toml_bad_syntax_names_the_line(tmp_path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("[train]\nk = \n")
    assert_names(read_error(path), "invalid TOML", "line 2")


def test_read_toml_binary_garbage(tmp_path) -> None:
    path = tmp_path / "garbage.toml"
    path.write_bytes(bytes(range(256)) * 4)  # 0x80.. are not valid UTF-8 on their own
    assert_names(read_error(path), "not a text file (expected UTF-8 TOML)")


def test_read_toml_utf8_control_bytes_are_invalid_toml_not_a_crash(tmp_path) -> None:
    path = tmp_path / "nul.toml"
    path.write_bytes(b"\x00\x01\x02 = 1\n")
    assert_names(read_error(path), "invalid TOML")


def test_read_toml_directory_and_missing_file(tmp_path) -> None:
    assert_names(read_error(tmp_path), "is a directory, expected a .toml preset file")
    assert_names(read_error(tmp_path / "nope.toml"), "no such file")


def test_read_toml_a_fifo_is_refused_instead_of_blocking(tmp_path) -> None:
    path = tmp_path / "pipe.toml"
    os.mkfifo(path)  # reading a FIFO with no writer would block forever
    assert_names(read_error(path), "not a regular file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_read_toml_unreadable_file(tmp_path) -> None:
    path = tmp_path / "secret.toml"
    path.write_text("[train]\n")
    path.chmod(0)
    assert_names(read_error(path), "cannot read (Permission denied)")


def test_read_toml_path_with_a_newline_stays_one_line(tmp_path) -> None:
    path = tmp_path / "two\nlines.toml"
    with pytest.raises(ConfigError) as info:
        read_toml(path)
    assert "\n" not in str(info.value) and "two\\nlines.toml: no such file" in str(info.value)


# ----------------------------------------------------------------------------- --set
@pytest.mark.parametrize(("text", "key", "value"), [
    ("train.k=5", "train.k", 5),
    ("train.k = 5", "train.k", 5),
    ("train.lr_d=1e-3", "train.lr_d", 1e-3),
    ("train.lr_g=0", "train.lr_g", 0),
    ("model.spectral_norm=true", "model.spectral_norm", True),
    ("model.g_hidden=[64, 64]", "model.g_hidden", [64, 64]),
    ('loss.name="hinge"', "loss.name", "hinge"),
    ("loss.name=hinge", "loss.name", "hinge"),  # bare words are strings
    ("loss.name=wgan-gp", "loss.name", "wgan-gp"),
    ("train.device=cuda:0", "train.device", "cuda:0"),
    ("data.path=/data/my images", "data.path", "/data/my images"),
    ("data.root=~/data", "data.root", "~/data"),
    ("data.path=a=b", "data.path", "a=b"),  # only the first '=' splits
    ("train.lr_d=nan", "train.lr_d", math.nan),  # parsed as TOML nan; resolve refuses it
])
def test_parse_override_reads_values_as_toml(text: str, key: str, value: object) -> None:
    got_key, got = parse_override(text)
    assert got_key == key
    if isinstance(value, float) and math.isnan(value):
        assert math.isnan(got)
    else:
        assert got == value and type(got) is type(value)


@pytest.mark.parametrize(("text", "fragments"), [
    ("train.k", ["--set train.k: expected section.key=value"]),
    ("k=5", ["--set k=5: 'k' should be section.key"]),
    ("train.k.x=5", ["'train.k.x' should be section.key"]),
    ("trian.k=5", ["--set trian.k=5: unknown section 'trian'", "did you mean 'train'"]),
    ("train.lr=1", ["--set train.lr=1: unknown key 'train.lr'", "did you mean 'lr_d' or 'lr_g'"]),
    ("train.kk=1", ["unknown key 'train.kk'", "did you mean 'k'?"]),
    ("train.k=1\ndata.name=x", ["--set train.k=1\\ndata.name=x: control characters"]),
])
def test_parse_override_errors(text: str, fragments: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        parse_override(text)
    assert "\n" not in str(info.value)
    assert_names(str(info.value), *fragments)


def test_override_errors_name_the_set_flag_not_the_file() -> None:
    overrides = ["train.k=0"]
    doc = merge_overrides({"train": {"k": 3}}, overrides)
    message = error_of(doc, origins=override_origins(overrides))
    assert message.startswith("--set train.k=0: train.k = 0: expected an integer >= 1")
    overrides = ["model.name=dcgan"]  # a cross-field rule broken by the --set names the --set
    message = error_of(merge_overrides({}, overrides), origins=override_origins(overrides))
    assert message.startswith("--set model.name=dcgan: model.name = 'dcgan' needs image data")


def test_merge_overrides_does_not_touch_the_preset_document() -> None:
    doc = {"train": {"k": 3}, "description": "d"}
    merged = merge_overrides(doc, ["train.k=5", "loss.name=hinge"])
    assert doc == {"train": {"k": 3}, "description": "d"}
    assert merged == {"train": {"k": 5}, "loss": {"name": "hinge"}, "description": "d"}
    assert resolve(merged, source=SRC).train.k == 5


def test_merge_overrides_into_a_section_that_is_not_a_table() -> None:
    with pytest.raises(ConfigError, match=r"--set train.k=5: the preset's 'train' is not a table"):
        merge_overrides({"train": 5}, ["train.k=5"])


# ----------------------------------------------------------------------------- round trip
def test_dumps_toml_round_trips_a_full_config(tmp_path) -> None:
    cfg = resolve({"description": 'quote " backslash \\ tab \t newline \n bell \x07 del \x7f',
                   "train": {"k": 5, "lr_d": 1e-5, "lr_g": 0.1 + 0.2, "device": "cuda:1"},
                   "model": {"g_hidden": [3, 1, 4], "spectral_norm": True},
                   "data": {"path": "C:\\imgs\\ä"}, "loss": {"name": "hinge"}}, source=SRC)
    path = tmp_path / "config.toml"
    path.write_text(dumps_toml(cfg.as_dict()), encoding="utf-8")
    again = resolve(read_toml(path), source=str(path))
    assert again.as_dict() == cfg.as_dict()  # floats by repr: exact (0.1 + 0.2 stays 0.30000000000000004)


def test_diff_from_defaults_holds_only_the_changed_keys() -> None:
    doc = {"description": "d", "train": {"k": 5, "lr_d": 2e-4}, "loss": {"name": "hinge"}}
    cfg = resolve(doc, source=SRC)
    # lr_d = 2e-4 is the default: a diff must not repeat it; sections with no change are left out.
    assert cfg.diff_from_defaults() == {"description": "d", "train": {"k": 5}, "loss": {"name": "hinge"}}
    assert resolve(cfg.diff_from_defaults(), source=SRC).as_dict() == cfg.as_dict()


def test_replace_validates_like_a_preset() -> None:
    cfg = resolve({}, source=SRC)
    changed = cfg.replace(**{"train.k": 4, "loss.name": "hinge"})
    assert (changed.train.k, changed.loss.name, cfg.train.k) == (4, "hinge", 1)
    with pytest.raises(ConfigError, match=r"<runtime>: train.k = 0"):
        cfg.replace(**{"train.k": 0})
    with pytest.raises(ConfigError, match=r"unknown key 'train.kk'"):
        cfg.replace(**{"train.kk": 1})
    with pytest.raises(ConfigError, match=r"should be section.key"):
        cfg.replace(k=1)
    with pytest.raises(ConfigError, match=r"should be section.key"):
        cfg.replace(**{"nope.k": 1})
