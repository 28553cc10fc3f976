"""Every configurable value of a run: its section, default, type, range and one line of doc.

:mod:`gantui.config` validates presets and ``--set`` against this table; the README's and
``--help``'s words about a field come from here too. Plain data, no imports beyond the standard
library, so that ``gantui --help`` answers at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

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
        "plot_budget": Field(0.05, "most of one core that plot redraws may use; costlier plots redraw less "
                                  "often (1: no limit)", min=0.01, max=1.0),
        "colors": Field("auto", "colour depth", choices=("auto", "truecolor", "256", "16")),
        "on_hangup": Field("detach", "when the dashboard's terminal disappears (SIGHUP: the SSH connection "
                                     "dropped): detach (the run goes on in the background) or stop",
                           choices=("detach", "stop")),
        "history": Field(2000, "points kept per plotted series before decimation", min=100, max=100000),
        "plots": Field("", "metric columns whose plots are shown from the start besides the default ones, "
                           "comma-separated (e.g. \"grad_norm_g, modes\"); m chooses more", hint="comma-"
                           "separated metric columns (grad_norm_d, grad_norm_g, gp, modes, ...)"),
    },
    "alerts": {
        "enabled": Field(True, "let the GAN doctor watch the logged windows and raise alerts"),
        "pause": Field(False, "pause training when an alert is raised"),
        "patience": Field(5, "logged windows a condition must hold before its alert is raised, and must be "
                             "gone before it clears", min=1, max=10000),
        "d_gap": Field(0.4, "D wins: D(x) - D(G(z)) at least this (a lower bound on the total variation "
                            "between data and G's distribution)", min=0.0, max=1.0, min_exclusive=True,
                       max_exclusive=True),
        "d_fake": Field(0.1, "G's gradient vanishes under a saturating cost (minimax): D(G(z)) at most this",
                        min=0.0, max=0.5, min_exclusive=True),
        "grad_norm": Field(100.0, "gradient norms explode: grad_norm_d or grad_norm_g above this", min=0.0,
                           min_exclusive=True),
        "modes_kept": Field(0.75, "mode collapse: covered modes (toys) or recall (images) below this share "
                                  "of the run's best", min=0.0, max=1.0, min_exclusive=True,
                            max_exclusive=True),
        "critic_drift": Field(1000.0, "a critic drifts: the mean of its scores |(v_real + v_fake) / 2| above "
                                      "this (only their difference is trained)", min=0.0, min_exclusive=True),
        "oscillation": Field(0.3, "loss oscillation: L_D's standard deviation over the last 40 windows "
                                  "above this (in nats; BCE-family losses), swinging across its mean",
                             min=0.0, min_exclusive=True),
    },
}
