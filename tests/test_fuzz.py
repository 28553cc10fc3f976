"""Hypothesis fuzzing of the preset loader: whatever the document, the only failure is a ConfigError
whose message is one line (issue 6: "no uncaught exception, ever").

Documents are drawn from the real section and key names mixed with junk, so most examples reach the
type, range and cross-field checks rather than stopping at "unknown section". Derandomized and
database-free so CI sees the same examples every run.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gantui.config import SCHEMA, Config, ConfigError, Field, merge_overrides, parse_override, resolve
from gantui.presets import find_preset
from gantui.tomlio import dumps_toml, read_toml

FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

SECTIONS = [*SCHEMA, "description"]
KEYS = sorted({k for fields in SCHEMA.values() for k in fields})
CHOICES = sorted({str(c) for fields in SCHEMA.values() for f in fields.values() for c in (f.choices or ())})
# Text without lone surrogates (they cannot be written as UTF-8, so no TOML file can hold them).
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)

scalars = st.one_of(
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),  # beyond float: float() overflows
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([*CHOICES, "cuda:0", "cuda:x", "cuda:²", "", "gpu"]),
    TEXT,
    st.dates(),
    st.times(),
    st.none(),  # not TOML, but Config.replace passes Python values straight in
)


def nested(inner: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=2)


values = st.recursive(scalars, nested, max_leaves=4)
section_tables = st.dictionaries(st.sampled_from(KEYS) | TEXT, values, max_size=4)
documents = st.dictionaries(st.sampled_from(SECTIONS) | TEXT, section_tables | values, max_size=4)


def outcome(call: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``call``; a ConfigError is fine if its message is one non-empty line, anything else fails."""
    try:
        return call(*args, **kwargs)
    except ConfigError as exc:
        message = str(exc)
        assert message and len(message.splitlines()) == 1 and "\n" not in message, repr(message)
        return None


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


# ----------------------------------------------------------------------------- documents
@FUZZ
@given(doc=documents)
def test_resolve_raises_only_one_line_config_errors(doc: dict) -> None:
    cfg = outcome(resolve, doc, source="fuzz.toml")
    if cfg is not None:  # whatever got through must be a usable, round-trippable config
        assert isinstance(cfg, Config)
        assert resolve(cfg.as_dict(), source="again").as_dict() == cfg.as_dict()


@FUZZ
@given(doc=documents, overrides=st.lists(TEXT | st.builds("{}={}".format, st.sampled_from(
    [f"{s}.{k}" for s, fields in SCHEMA.items() for k in fields] + ["train", "x.y", ""]), TEXT), max_size=3))
def test_overrides_raise_only_one_line_config_errors(doc: dict, overrides: list[str]) -> None:
    merged = outcome(merge_overrides, doc, overrides)
    if merged is not None:
        outcome(resolve, merged, source="fuzz.toml")


@FUZZ
@given(text=TEXT)
def test_parse_override_raises_only_one_line_config_errors(text: str) -> None:
    parsed = outcome(parse_override, text)
    if parsed is not None:
        section, name = parsed[0].split(".")
        assert name in SCHEMA[section]


# ----------------------------------------------------------------------------- files
# TOML-ish text: real headers, keys and values glued with junk, so the parser sometimes succeeds.
toml_pieces = st.sampled_from([
    *(f"[{s}]\n" for s in SCHEMA), "[trian]\n", "[train.sub]\n", "[[train]]\n", "description = ",
    *(f"{k} = " for k in KEYS), "= ", "\n", '"', "'''", '"""', "[", "]", "{", "}", ",", "#", "\\",
    "1", "-1", "0", "1e400", "nan", "inf", "-inf", "true", "false", '"hinge"', '"hinje"', "[64, 64]",
    "1979-05-27", "0x10", "1_000", "\x00", "\x7f", "\r\n", "ä", "\u2028",
])
toml_texts = st.lists(toml_pieces | TEXT, max_size=24).map("".join)


@FUZZ
@given(text=toml_texts)
def test_read_toml_on_toml_like_text(text: str, fuzz_dir: Path) -> None:
    path = fuzz_dir / "doc.toml"
    path.write_text(text, encoding="utf-8")
    doc = outcome(read_toml, path)
    if doc is not None:
        outcome(resolve, doc, source=str(path))


@FUZZ
@given(raw=st.binary(max_size=256))
def test_read_toml_on_random_bytes(raw: bytes, fuzz_dir: Path) -> None:
    path = fuzz_dir / "bytes.toml"
    path.write_bytes(raw)
    doc = outcome(read_toml, path)
    if doc is not None:
        outcome(resolve, doc, source=str(path))


@FUZZ
@given(name=TEXT)
def test_find_preset_raises_only_one_line_config_errors(name: str) -> None:
    found = outcome(find_preset, name)
    assert found is None or isinstance(found, Path)


# ----------------------------------------------------------------------------- valid configs round-trip
def valid_value(field: Field) -> st.SearchStrategy:
    """Any value ``field`` accepts (cross-field rules may still refuse the combination)."""
    if field.choices is not None:
        return st.sampled_from(field.choices)
    if field.kind is bool:
        return st.booleans()
    if field.kind is list:
        return st.lists(st.integers(1, 16384), min_size=1, max_size=16)
    if field.kind is str:
        return TEXT
    lo = field.min if field.min is not None else -1e6
    hi = field.max if field.max is not None else 1e6
    if field.kind is int:
        return st.integers(math.ceil(lo), math.floor(hi))
    return st.floats(lo, hi, exclude_min=field.min_exclusive, exclude_max=field.max_exclusive,
                     allow_nan=False, allow_infinity=False)


valid_documents = st.fixed_dictionaries(
    {section: st.fixed_dictionaries({}, optional={k: valid_value(f) for k, f in fields.items()})
     for section, fields in SCHEMA.items()},
    optional={"description": TEXT},
)


@FUZZ
@given(doc=valid_documents)
def test_valid_documents_round_trip_through_toml(doc: dict, fuzz_dir: Path) -> None:
    cfg = outcome(resolve, doc, source="fuzz")
    if cfg is None:  # a cross-field rule (or a device string drawn from TEXT) refused it
        return
    path = fuzz_dir / "config.toml"
    path.write_text(dumps_toml(cfg.as_dict()), encoding="utf-8")
    assert resolve(read_toml(path), source=str(path)).as_dict() == cfg.as_dict()
    path.write_text(dumps_toml(cfg.diff_from_defaults()), encoding="utf-8")
    assert resolve(read_toml(path), source=str(path)).as_dict() == cfg.as_dict()


def test_the_awkward_values_the_fuzzing_draws_are_config_errors() -> None:
    # Two of the draws above, pinned: a TOML date where an int belongs, an int that float() overflows.
    with pytest.raises(ConfigError, match=r"train\.seed = datetime\.date\(2000, 1, 1\)"):
        resolve({"train": {"seed": dt.date(2000, 1, 1)}}, source="x")
    with pytest.raises(ConfigError, match=r"train\.lr_d = 1000.*\.\.\.: expected a number"):
        resolve({"train": {"lr_d": 10**400}}, source="x")
