"""The run configuration: every default in one place, and a strict validator.

A preset is a TOML document that lists only what differs from the defaults of
:data:`gantui.schema.SCHEMA`. Both the
preset file and ``--set key=value`` overrides go through :func:`resolve`, so a value is typed and
checked the same way wherever it comes from. Every mistake becomes a :class:`ConfigError` whose
one-line message names the file, the key, the value and what is allowed.

This module imports neither torch nor Textual: ``gantui --help`` and ``--list-presets`` use it and
must answer at once.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gantui.schema import (  # noqa: F401 - re-exported: the names every module knows from here
    COND_D_MODES,
    COND_KINDS,
    DEVICE_HINT,
    DEVICE_RE,
    IMAGE_DATASETS,
    LABELLED_DATASETS,
    LOSS_NAMES,
    MAX_EVERY,
    MAX_LAYERS,
    MAX_WIDTH,
    SCHEMA,
    SHOWN_CHARS,
    TOY_DATASETS,
    Field,
)
from gantui.text import breaks_line, printable

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]


class ConfigError(ValueError):
    """A user's configuration mistake: the message is one line, fit to print without a traceback."""


class Section:
    """Attribute access to one validated section (``cfg.train.k``)."""

    def __init__(self, name: str, values: Mapping[str, Any]) -> None:
        self._name = name
        self._values = dict(values)

    def __getattr__(self, key: str) -> Any:
        try:
            return self.__dict__["_values"][key]
        except KeyError:
            raise AttributeError(f"{self.__dict__['_name']}.{key}") from None

    def as_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self._values.items()}


@dataclass(frozen=True)
class Config:
    """A complete, validated configuration. Build it with :func:`resolve`."""

    description: str
    preset: str
    data: Section
    model: Section
    cond: Section
    loss: Section
    train: Section
    log: Section
    eval: Section
    ui: Section
    alerts: Section

    def as_dict(self) -> dict[str, Any]:
        """Everything, in the preset file's shape (so a run's config.toml loads as a preset)."""
        out: dict[str, Any] = {"description": self.description}
        for section in SCHEMA:
            out[section] = getattr(self, section).as_dict()
        return out

    def diff_from_defaults(self) -> dict[str, Any]:
        """Only what differs from the defaults: the shape of a saved preset."""
        out: dict[str, Any] = {"description": self.description}
        for section, fields in SCHEMA.items():
            values = getattr(self, section).as_dict()
            changed = {k: v for k, v in values.items() if v != fields[k].default}
            if changed:
                out[section] = changed
        return out

    def replace(self, **dotted: Any) -> Config:
        """A copy with ``section.key`` values changed, validated like any other source."""
        doc = self.as_dict()
        for key, value in dotted.items():
            section, _, name = key.partition(".")
            if section not in SCHEMA or not name:
                raise ConfigError(f"<runtime>: {_show(key)} should be section.key, e.g. train.k")
            doc[section][name] = value
        return resolve(doc, source="<runtime>", preset=self.preset)


def _show(value: Any) -> str:
    """A value as it appears in an error: its repr (a newline shows as backslash-n), cut short."""
    text = ("true" if value else "false") if isinstance(value, bool) else repr(value)  # TOML's spelling
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


_breaks_line = breaks_line
_one_line = printable  # a path or a library's message may hold line breaks and control characters


def _suggest(word: Any, options: Sequence[str]) -> str:
    """' (did you mean 'lr_d' or 'lr_g'?)': every option as close as the closest, in schema order."""
    word = str(word)
    scores = {o: difflib.SequenceMatcher(None, word, o).ratio() for o in options}
    best = max(scores.values(), default=0.0)
    if best < 0.65:  # below this, "extra" would suggest "beta1"
        return ""
    close = [f"'{o}'" for o in options if scores[o] == best]
    return f" (did you mean {' or '.join(close)}?)"


def _check(field: Field, value: Any, where: str) -> Any:
    """Type- and range-check one value; return it in its canonical type."""
    kind = field.kind
    bad = ConfigError(f"{where} = {_show(value)}: expected {field.allowed()}")
    if kind is bool:
        if not isinstance(value, bool):
            raise bad
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):  # bool is an int in Python: refuse it
            raise bad
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        try:
            value = float(value)  # an int beyond float's range raises OverflowError
        except OverflowError:
            raise bad from None
        if not math.isfinite(value):  # TOML spells nan and inf; no field means them
            raise bad
    elif kind is str:
        if not isinstance(value, str):
            raise bad
    elif kind is list:
        if not isinstance(value, list) or not 0 < len(value) <= MAX_LAYERS or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_WIDTH for v in value
        ):
            raise bad
        return list(value)
    if field.choices is not None and value not in field.choices:
        raise ConfigError(f"{where} = {_show(value)}: expected {field.allowed()}"
                          + (_suggest(value, field.choices) if isinstance(value, str) else ""))
    if field.min is not None and (value <= field.min if field.min_exclusive else value < field.min):
        raise bad
    if field.max is not None and (value >= field.max if field.max_exclusive else value > field.max):
        raise bad
    return value


def _cross_check(values: dict[str, dict[str, Any]], at: Callable[..., str]) -> None:
    """Rules that involve more than one field. ``at(*keys)`` says where the first of them was set."""
    data, model, loss = values["data"], values["model"], values["loss"]
    device = values["train"]["device"]
    if not DEVICE_RE.fullmatch(device):
        raise ConfigError(f"{at('train.device')}: train.device = {_show(device)}: expected {DEVICE_HINT}")
    if data["name"] == "folder" and not data["path"]:
        raise ConfigError(f"{at('data.name', 'data.path')}: data.path is empty: data.name = 'folder' "
                          "needs an image folder")
    if data["name"] in TOY_DATASETS and model["name"] == "dcgan":
        raise ConfigError(f"{at('model.name', 'data.name')}: model.name = 'dcgan' needs image data, but "
                          f"data.name = '{data['name']}' is 2-D: use model.name = 'mlp'")
    if model["name"] == "dcgan" and data["image_size"] not in (0, 32, 64):
        raise ConfigError(f"{at('data.image_size', 'model.name')}: data.image_size = {data['image_size']}: "
                          "dcgan needs 32 or 64")
    _check_cond(values, at)
    _check_plots(values["ui"]["plots"], at)
    if loss["name"] in ("wgan-gp", "dragan") and model["name"] == "dcgan" and model["batchnorm_d"]:
        raise ConfigError(f"{at('loss.name', 'model.batchnorm_d', 'model.name')}: loss.name = "
                          f"'{loss['name']}' penalises per-sample gradients: set model.batchnorm_d = false "
                          "(no BatchNorm in the critic)")


def _check_plots(plots: str, at: Callable[..., str]) -> None:
    """``ui.plots`` names metric columns the trainer can report (the dashboard draws any of them)."""
    from gantui.protocol.events import METRIC_NAMES

    for name in (part.strip() for part in plots.split(",")):
        if name and name not in METRIC_NAMES:
            raise ConfigError(f"{at('ui.plots')}: ui.plots = {_show(plots)}: {_show(name)} is not a metric"
                              f"{_suggest(name, METRIC_NAMES)}; expected comma-separated columns such as "
                              "grad_norm_g, grad_norm_d, gp, modes")


def _check_cond(values: dict[str, dict[str, Any]], at: Callable[..., str]) -> None:
    """A conditional GAN needs labelled images; InfoGAN needs images and at least one code."""
    cond, data = values["cond"], values["data"]
    kind, name = cond["kind"], data["name"]
    if kind == "none":
        return
    if name in TOY_DATASETS:
        raise ConfigError(f"{at('cond.kind', 'data.name')}: cond.kind = '{kind}' needs image data, but "
                          f"data.name = '{name}' is 2-D: use cond.kind = 'none'")
    if kind == "cgan" and name not in LABELLED_DATASETS:
        raise ConfigError(f"{at('cond.kind', 'data.name')}: cond.kind = 'cgan' needs labelled images "
                          f"({', '.join(LABELLED_DATASETS)}), but data.name = '{name}' has no labels: "
                          "use cond.kind = 'infogan', which learns its own codes")
    if kind == "infogan" and cond["categories"] == 0 and cond["continuous"] == 0:
        raise ConfigError(f"{at('cond.categories', 'cond.continuous')}: cond.categories = 0 and "
                          "cond.continuous = 0: InfoGAN needs at least one latent code")
    if kind == "infogan" and cond["categories"] == 1:
        raise ConfigError(f"{at('cond.categories')}: cond.categories = 1: a categorical code needs at least "
                          "2 values (0: no categorical code)")


def resolve(doc: Mapping[str, Any], *, source: str, preset: str = "",
            origins: Mapping[str, str] | None = None) -> Config:
    """Validate a preset document (plus overrides already merged in) into a :class:`Config`.

    ``source`` names where the document came from (a file path) for error messages; ``origins``
    maps ``section.key`` to where that one value came from instead (``--set train.k=0``, see
    :func:`override_origins`), so an error points at what the user actually typed.
    """
    source = _one_line(str(source))
    origins = origins or {}

    def at(*keys: str) -> str:
        return next((origins[k] for k in keys if k in origins), source)
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{source}: expected a TOML table at the top level, got {_show(doc)}")
    values: dict[str, dict[str, Any]] = {s: {k: f.default for k, f in fs.items()} for s, fs in SCHEMA.items()}
    for key, sub in doc.items():
        if key == "description":
            if not isinstance(sub, str):
                raise ConfigError(f"{source}: description = {_show(sub)}: expected a string")
            continue
        if key not in SCHEMA:
            raise ConfigError(f"{source}: unknown section {_show(key)}"
                              f"{_suggest(key, [*SCHEMA, 'description'])}; "
                              f"expected one of description, {', '.join(SCHEMA)}")
        if not isinstance(sub, Mapping):
            raise ConfigError(f"{source}: '{key}' must be a table ([{key}]), got {_show(sub)}")
        fields = SCHEMA[key]
        for name, value in sub.items():
            if name not in fields:
                raise ConfigError(f"{source}: unknown key {_show(f'{key}.{name}')}"
                                  f"{_suggest(name, list(fields))}; "
                                  f"[{key}] takes {', '.join(fields)}")
            values[key][name] = _check(fields[name], value, f"{at(f'{key}.{name}')}: {key}.{name}")
    _cross_check(values, at)
    description = doc.get("description", "")
    return Config(description=description, preset=preset,
                  **{s: Section(s, v) for s, v in values.items()})


def parse_override(text: str) -> tuple[str, Any]:
    """Parse one ``--set section.key=value``; the value is read as TOML (bare words as strings)."""
    where = f"--set {_one_line(text)}"
    if any(_breaks_line(ch) for ch in text):  # a newline would let one --set smuggle in a second TOML line
        raise ConfigError(f"{where}: control characters (such as a newline) are not allowed")
    if "=" not in text:
        raise ConfigError(f"{where}: expected section.key=value, e.g. train.k=5")
    key, raw = (part.strip() for part in text.split("=", 1))
    if key.count(".") != 1:
        raise ConfigError(f"{where}: '{key}' should be section.key, e.g. train.k")
    section, name = key.split(".")
    if section not in SCHEMA:
        raise ConfigError(f"{where}: unknown section '{section}'{_suggest(section, list(SCHEMA))}; "
                          f"expected one of {', '.join(SCHEMA)}")
    if name not in SCHEMA[section]:
        raise ConfigError(f"{where}: unknown key '{key}'{_suggest(name, list(SCHEMA[section]))}; "
                          f"[{section}] takes {', '.join(SCHEMA[section])}")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word such as hinge or cuda:0
    except ValueError:  # Python refuses integers of more than 4300 digits
        raise ConfigError(f"{_cut(where)}: a number with more digits than any field allows") from None
    return key, value


def _cut(text: str) -> str:
    return text if len(text) <= SHOWN_CHARS + 10 else text[:SHOWN_CHARS + 7] + "..."


def override_origins(overrides: Sequence[str]) -> dict[str, str]:
    """``section.key`` -> ``--set ...`` for each override: the ``origins`` that :func:`resolve` takes."""
    return {parse_override(text)[0]: f"--set {_one_line(text)}" for text in overrides}


def merge_overrides(doc: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return a copy of ``doc`` with each ``--set`` applied (parsed; checked later by resolve)."""
    out: dict[str, Any] = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in doc.items()}
    for text in overrides:
        key, value = parse_override(text)
        section, name = key.split(".")
        table = out.setdefault(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"--set {_one_line(text)}: the preset's '{section}' is not a table")
        table[name] = value
    return out
