"""The run configuration: every default in one place, and a strict validator.

A preset is a TOML document that lists only what differs from :data:`SCHEMA`'s defaults. Both the
preset file and ``--set key=value`` overrides go through :func:`resolve`, so a value is typed and
checked the same way wherever it comes from. Every mistake becomes a :class:`ConfigError` whose
one-line message names the file, the key, the value and what is allowed.

This module imports neither torch nor Textual: ``gantui --help`` and ``--list-presets`` use it and
must answer at once.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gantui.text import breaks_line, printable

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

LOSS_NAMES = (
    "minimax", "nonsaturating", "maxlikelihood", "lsgan", "wgan", "wgan-gp", "hinge", "dragan",
    "fgan-kl", "fgan-rkl", "fgan-pearson", "fgan-neyman", "fgan-hellinger", "fgan-js", "fgan-tv",
    "rsgan", "ragan",
)
TOY_DATASETS = ("ring8", "grid25", "spiral", "gaussian")
IMAGE_DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10", "folder", "fake")
# Image sets with class labels (a folder has them with one sub-folder per class).
LABELLED_DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10", "folder")
COND_KINDS = ("none", "cgan", "infogan")
COND_D_MODES = ("projection", "concat", "acgan")
DEVICE_HINT = "auto, cpu, cuda, cuda:N or mps"
DEVICE_RE = re.compile(r"auto|cpu|mps|cuda(:[0-9]{1,9})?", re.ASCII)  # resolve_device says which exist
MAX_LAYERS = 16  # hidden-width lists: more than this is a typo, not an architecture
MAX_WIDTH = 16384  # one hidden layer of 16384 x 16384 is already 1 GiB of float32 weights
MAX_EVERY = 10**9  # an interval in iterations beyond this means "never"; 0 says so already
SHOWN_CHARS = 60  # a bad value is quoted up to this length, so the error stays one short line


class ConfigError(ValueError):
    """A user's configuration mistake: the message is one line, fit to print without a traceback."""


@dataclass(frozen=True)
class Field:
    """One configurable value: its default, its type and what it may be."""

    default: Any
    doc: str
    choices: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    max_exclusive: bool = False
    hint: str | None = None  # what is allowed, in words, when the type alone does not say it

    @property
    def kind(self) -> type:
        return type(self.default)

    def allowed(self) -> str:
        """Say, in words, which values this field takes."""
        if self.hint is not None:
            return self.hint
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        name = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
                list: f"a list of 1 to {MAX_LAYERS} integers from 1 to {MAX_WIDTH}"}[self.kind]
        lo = "" if self.min is None else (" > " if self.min_exclusive else " >= ") + _number(self.min)
        hi = "" if self.max is None else (" < " if self.max_exclusive else " <= ") + _number(self.max)
        return name + (lo + ("," if lo and hi else "") + hi if lo or hi else "")


def _number(x: float) -> str:
    """A bound as a person writes it: 4294966295, not 4.29497e+09 (a rounded bound would mislead)."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


# Every configurable value of a run, by section, with its default. Presets change only a few.
SCHEMA: dict[str, dict[str, Field]] = {
    "data": {
        "name": Field("ring8", "dataset", choices=TOY_DATASETS + IMAGE_DATASETS),
        "root": Field("~/.cache/gantui/data", "where image datasets are stored"),
        "download": Field(True, "download torchvision datasets when missing"),
        "path": Field("", "image folder for data.name = folder"),
        "image_size": Field(0, "image side in pixels (0: the dataset's own)", min=0, max=1024),
        "channels": Field(0, "image channels (0: the dataset's own; fake/folder: 1 or 3)", min=0, max=3),
        "fake_size": Field(4096, "number of images in the fake dataset (held in memory)", min=1, max=65536),
        "on_device": Field("auto", "keep the dataset on the training device", choices=("auto", "yes", "no")),
        "workers": Field(2, "DataLoader workers when the dataset streams", min=0, max=64),
    },
    "model": {
        "name": Field("mlp", "architecture", choices=("mlp", "dcgan")),
        "z_dim": Field(100, "noise dimension", min=1, max=4096),
        "g_hidden": Field([128, 128], "MLP generator hidden widths"),
        "d_hidden": Field([128, 128], "MLP discriminator hidden widths"),
        "width": Field(64, "DCGAN base channel count", min=1, max=1024),
        "spectral_norm": Field(False, "spectral normalisation on every D layer"),
        "batchnorm_d": Field(True, "BatchNorm in the DCGAN discriminator (off for gradient penalties)"),
    },
    # What G draws is steered by a label (a conditional GAN) or by latent codes (InfoGAN); see
    # gantui/engine/cond/. Fixed for the life of a run: the players' shapes depend on it.
    "cond": {
        "kind": Field("none", "none; cgan: G and D see the class label; infogan: latent codes with a Q head",
                      choices=COND_KINDS),
        "d": Field("projection", "how a cgan's D uses the label: projection (Miyato & Koyama), concat "
                                 "(one-hot beside the input), acgan (a class head, Odena et al.)",
                   choices=COND_D_MODES),
        "embed_dim": Field(0, "width of G's label embedding (0: the number of classes)", min=0, max=4096),
        "class_weight": Field(1.0, "acgan: weight of the class cross-entropy in both players' costs", min=0.0,
                              max=1e3),
        "categories": Field(10, "infogan: values of the categorical code (0: none)", min=0, max=1000),
        "continuous": Field(2, "infogan: continuous codes, each uniform in [-1, 1]", min=0, max=64),
        "lambda_cat": Field(1.0, "infogan: weight of the categorical code's information term", min=0.0,
                            max=1e3),
        "lambda_cont": Field(0.1, "infogan: weight of the continuous codes' information term", min=0.0,
                             max=1e3),
        "eval_every": Field(100, "iterations between label_accuracy / info_accuracy read-outs (0: never); "
                                 "they also take at most 5 % of the run's time", min=0, max=MAX_EVERY),
        "eval_samples": Field(1000, "generated images classified per label_accuracy read-out", min=10,
                              max=100000),
    },
    "loss": {
        "name": Field("nonsaturating", "GAN objective", choices=LOSS_NAMES),
        "gp_weight": Field(10.0, "gradient-penalty weight lambda (wgan-gp, dragan)", min=0.0, max=1e6),
        "clip": Field(0.01, "critic weight clipping bound (wgan)", min=0.0, min_exclusive=True, max=1e3),
        "lsgan_coding": Field("0-1-1", "LSGAN targets a-b-c", choices=("0-1-1", "-1-1-0")),
        "fgan_g": Field("practical", "f-GAN generator cost", choices=("practical", "saddle")),
        "reset_optim_on_switch": Field(False, "reset optimiser state when the loss changes"),
    },
    "train": {
        "k": Field(1, "D steps per G step (Algorithm 1)", min=1, max=100),
        "batch_size": Field(64, "minibatch size", min=1, max=65536),
        "lr_d": Field(2e-4, "discriminator learning rate", min=0.0, max=10.0),
        "lr_g": Field(2e-4, "generator learning rate", min=0.0, max=10.0),
        "optimizer": Field("adam", "optimiser", choices=("adam", "rmsprop", "sgd")),
        # torch.optim.Adam refuses beta = 1 (its running averages would never move): < 1, not <= 1.
        "beta1": Field(0.5, "Adam beta1", min=0.0, max=1.0, max_exclusive=True),
        "beta2": Field(0.999, "Adam beta2", min=0.0, max=1.0, max_exclusive=True),
        "steps": Field(0, "iterations to run (0: until stopped; headless needs > 0)", min=0, max=10**12),
        # numpy and torch generators take any seed below 2**32; the engine adds small offsets (+1, +2).
        "seed": Field(0, "random seed", min=0, max=2**31 - 1),
        "device": Field("auto", "training device: " + DEVICE_HINT, hint=DEVICE_HINT),
        "threads": Field(0, "CPU intra-op threads (0: all cores for DCGAN, all but one for MLPs)", min=0,
                         max=256),
        "freeze_d": Field(False, "start with D frozen (its steps skipped; the D key toggles it)"),
        "freeze_g": Field(False, "start with G frozen (its steps skipped; the G key toggles it)"),
        "cuda_graph": Field(True, "capture each iteration in a CUDA graph when possible"),
        "amp": Field("off", "autocast on CUDA", choices=("off", "bf16")),
        "compile": Field("off", "torch.compile the players' passes on CUDA instead of CUDA graphs",
                         choices=("off", "reduce-overhead", "max-autotune")),
        "g_ema": Field(0.0, "EMA decay of G's weights, evaluated and shown when > 0 (0.999 as StyleGAN "
                            "and BigGAN)", min=0.0, max=1.0, max_exclusive=True),
        "sync_bn": Field(False, "data-parallel runs: BatchNorm statistics of the global batch, shared by "
                                "every rank (off: each rank normalises by its own share)"),
    },
    "log": {
        "every": Field(20, "iterations per metrics read-out (one device sync each)", min=1, max=100000),
        "toy_metrics_every": Field(500, "iterations between true-JSD / mode read-outs on 2-D data", min=1,
                                   max=MAX_EVERY),
        "probe_every": Field(2000, "iterations between D-optimality probes on 2-D data (0: on request)",
                             min=0, max=MAX_EVERY),
        "probe_steps": Field(4000, "most probe training steps (a probe stops once its bound stops rising)",
                             min=1, max=100000),
        "probe_budget_s": Field(30.0, "most seconds one probe may take", min=0.1, max=3600.0),
        "samples_every_s": Field(2.0, "seconds between sample grids", min=0.1, max=86400.0),
        "png_every": Field(1000, "iterations between sample PNGs in the run folder (0: never)", min=0,
                           max=MAX_EVERY),
        "checkpoint_every": Field(5000, "iterations between periodic checkpoints (0: never)", min=0,
                                  max=MAX_EVERY),
        "headless_every_s": Field(5.0, "seconds between headless metric lines", min=0.1, max=86400.0),
        "write_retry_s": Field(300.0, "headless: seconds a failing run-folder write is retried before the "
                                      "run stops (exit 3); the dashboard retries until writing works",
                               min=1.0, max=86400.0),
    },
    "eval": {
        "every": Field(2000, "iterations between image-quality evaluations (0: only on request; never on 2-D "
                             "data)", min=0, max=MAX_EVERY),
        "samples": Field(10000, "generated images per evaluation (50000 for paper-comparable FID)", min=10,
                         max=200000),
        "features": Field("auto", "feature space: auto, classifier (offline fd_classifier), inception (FID), "
                                  "both", choices=("auto", "classifier", "inception", "both")),
        "inception_weights": Field("", "local Inception-v3 FID weights file (empty: download once to "
                                       "~/.cache/gantui/weights)"),
        "budget": Field(0.05, "most of the run's time evaluations may take", min=0.001, max=1.0),
    },
    "ui": {
        "refresh_hz": Field(2.0, "plot redraws per second", min=0.2, max=5.0),
        "plot_budget": Field(0.1, "most of one core that plot redraws may use; costlier plots redraw less "
                                  "often (1: no limit)", min=0.01, max=1.0),
        "colors": Field("auto", "colour depth", choices=("auto", "truecolor", "256", "16")),
        "on_hangup": Field("detach", "when the dashboard's terminal disappears (SIGHUP: the SSH connection "
                                     "dropped): detach (the run goes on in the background) or stop",
                           choices=("detach", "stop")),
        "history": Field(2000, "points kept per plotted series before decimation", min=100, max=100000),
    },
}


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
    if loss["name"] in ("wgan-gp", "dragan") and model["name"] == "dcgan" and model["batchnorm_d"]:
        raise ConfigError(f"{at('loss.name', 'model.batchnorm_d', 'model.name')}: loss.name = "
                          f"'{loss['name']}' penalises per-sample gradients: set model.batchnorm_d = false "
                          "(no BatchNorm in the critic)")


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
