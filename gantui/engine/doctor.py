"""The GAN doctor: rules over the logged windows that say, in the GAN's own words, what is going wrong.

Each rule looks at one metrics row at a time (one logging window) and answers with a verdict: the
failure's signature is there ("sick"), it is clearly gone ("well"), the row is in between or lacks the
measurement ("hold"), or the rule does not apply to the loss now in use ("n/a"). An alert is raised
only after ``patience`` sick rows in a row and cleared only after as many well ones, and the "well"
thresholds sit a margin away from the "sick" ones: a value hovering at a threshold raises one alert,
not one per window. The signatures are the practitioners' ones (GAN_THEORY.md, the NIPS 2016 tutorial,
Arjovsky & Bottou 2017):

- **G's gradient vanishes** (the saturating costs: minimax's ``log(1 − D(G(z)))``, whose gradient with
  respect to the logit is ``−D(G(z))``, and maximum likelihood's): once D rejects the fakes
  (``D(G(z)) → 0``) G learns nothing.
- **D wins**: ``D(x) − D(G(z))`` stays large (it bounds the total variation between the data and G's
  distribution from below, for any D with values in [0, 1]), L_G rising: D tells the fakes apart.
- **Mode collapse**: covered modes (2-D toys) or recall (images) fall well below the run's best.
- **A critic drifts**: a Wasserstein critic's scores wander together; only their difference is trained,
  so nothing pulls them back (Progressive GAN adds a drift penalty ε·E[v(x)²] for this). Harmless at
  first; thousands away from 0, float32 keeps fewer digits of the difference that drives G.
- **Gradient norms explode**: above ~100, where practitioners clip or lower a learning rate.
- **The losses oscillate**: L_D swings widely across its mean, window after window.

Pure Python on plain row dictionaries: the runner feeds it, the tests feed it synthetic streams.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RULES", "Doctor", "Finding", "LossTraits", "Thresholds"]

SICK, WELL, HOLD, NA = "sick", "well", "hold", "n/a"
OSCILLATION_WINDOWS = 40  # rows of L_D the oscillation rule looks at
OSCILLATION_CROSSINGS = 8  # crossings of L_D's mean within them: at least four swings, not a trend
D_GAP_MARGIN = 0.1  # D no longer wins below d_gap minus this: one alert for a gap hovering at d_gap
RARE_PATIENCE = 2  # measurements in a row for metrics measured rarely (modes, recall)


@dataclass(frozen=True, slots=True)
class LossTraits:
    """What a rule needs to know of the loss a row was measured under."""

    critic: bool  # raw outputs are critic scores, not logits: D(x) is not a probability
    saturating: bool  # G's cost is log(1 − D(G(z))), whose gradient vanishes as D(G(z)) → 0
    wasserstein: bool  # the critic is invariant to a constant shift of its scores


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The ``[alerts]`` section's numbers (see gantui/schema.py for what each means)."""

    patience: int = 5
    d_gap: float = 0.4
    d_fake: float = 0.1
    grad_norm: float = 100.0
    modes_kept: float = 0.75
    critic_drift: float = 1000.0
    oscillation: float = 0.3

    @classmethod
    def from_section(cls, section: Any) -> Thresholds:
        return cls(**{name: getattr(section, name) for name in cls.__dataclass_fields__})


@dataclass(frozen=True, slots=True)
class Finding:
    """An alert raised (``active``) or cleared, at the row's step."""

    rule: str
    title: str
    step: int
    message: str  # the evidence, one line
    suggestion: str = ""  # what to try, naming the key that does it
    active: bool = True


@dataclass
class _Memory:
    """What rules remember across rows (bests, recent values); reset with the doctor."""

    best_modes: float = 0.0
    best_modes_step: int = 0
    best_recall: float = 0.0
    best_recall_step: int = 0
    peak_grad_g: float = 0.0
    loss_g_at_start: dict[str, float] = field(default_factory=dict)  # rule -> L_G when it started counting
    loss_d: deque = field(default_factory=lambda: deque(maxlen=OSCILLATION_WINDOWS))
    loss_name: str = ""


Verdict = tuple[str, str]  # (SICK | WELL | HOLD | NA, evidence)
RuleCheck = Callable[[Mapping[str, Any], LossTraits, Thresholds, _Memory], Verdict]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    title: str
    check: RuleCheck
    suggest: Callable[[Mapping[str, Any], LossTraits], str]
    rare: bool = False  # measured every few hundred iterations: RARE_PATIENCE rows, not ``patience``


def _value(row: Mapping[str, Any], name: str) -> float | None:
    v = row.get(name)
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def _g(x: float) -> str:
    return f"{x:.3g}"


# ------------------------------------------------------------------------------------------ rules
def _g_vanishing(row, traits, th, mem) -> Verdict:
    d_fake = _value(row, "d_fake")
    if not traits.saturating or traits.critic:
        return NA, ""
    if d_fake is None:
        return HOLD, ""
    if d_fake <= th.d_fake:
        grad = _value(row, "grad_norm_g")
        norm = f"; grad_norm_g {_g(grad)} (peak {_g(mem.peak_grad_g)})" if grad is not None else ""
        return SICK, (f"D(G(z)) {d_fake:.3f}: G's cost saturates (its gradient is scaled by D(G(z))), so G "
                      f"learns almost nothing{norm}")
    return (WELL, "") if d_fake >= min(0.5, 2 * th.d_fake) else (HOLD, "")


def _d_wins(row, traits, th, mem) -> Verdict:
    d_real, d_fake = _value(row, "d_real"), _value(row, "d_fake")
    if traits.critic:
        return NA, ""
    if d_real is None or d_fake is None:
        return HOLD, ""
    gap = d_real - d_fake  # E_p[D] - E_q[D] <= TV(p, q) for any D with values in [0, 1]
    if gap >= th.d_gap:
        loss_g = _value(row, "loss_g")
        start = mem.loss_g_at_start.setdefault("d_wins", loss_g if loss_g is not None else math.nan)
        trend = ""
        if loss_g is not None and math.isfinite(start):
            trend = f", L_G {loss_g:.2f}" + (f" (rising from {start:.2f})" if loss_g > start + 0.05 else "")
        return SICK, (f"D(x) {d_real:.2f}, D(G(z)) {d_fake:.2f}{trend}: D tells the fakes from the data "
                      f"(the gap {gap:.2f} bounds their total variation from below)")
    mem.loss_g_at_start.pop("d_wins", None)
    return (WELL, "") if gap < th.d_gap - D_GAP_MARGIN else (HOLD, "")


def _best(mem: _Memory, name: str, value: float, step: int) -> tuple[float, int]:
    if value > getattr(mem, f"best_{name}"):
        setattr(mem, f"best_{name}", value)
        setattr(mem, f"best_{name}_step", step)
    return getattr(mem, f"best_{name}"), getattr(mem, f"best_{name}_step")


def _mode_collapse(row, traits, th, mem) -> Verdict:
    step = int(row.get("step", 0))
    modes, recall = _value(row, "modes"), _value(row, "recall")
    if modes is not None:
        best, at = _best(mem, "modes", modes, step)
        what = f"{modes:.0f} modes covered, down from {best:.0f} at step {at:,}"
        value, floor = modes, 2.0
    elif recall is not None:
        best, at = _best(mem, "recall", recall, step)
        what = f"recall {recall:.2f}, down from {best:.2f} at step {at:,}"
        value, floor = recall, 0.1
    else:
        return HOLD, ""
    if best < floor:
        return HOLD, ""
    if value < th.modes_kept * best:
        return SICK, f"{what}: G covers less and less of the data"
    return (WELL, "") if value >= best * (1 + th.modes_kept) / 2 else (HOLD, "")


def _critic_drift(row, traits, th, mem) -> Verdict:
    v_real, v_fake = _value(row, "v_real"), _value(row, "v_fake")
    if not traits.wasserstein:
        return NA, ""
    if v_real is None or v_fake is None:
        return HOLD, ""
    level = abs(v_real + v_fake) / 2
    if level > th.critic_drift:
        return SICK, (f"v(x) {_g(v_real)}, v(G(z)) {_g(v_fake)}: the critic's scores wander together "
                      f"(only v(x) − v(G(z)) = {_g(v_real - v_fake)} matters), losing float precision")
    return (WELL, "") if level < th.critic_drift / 2 else (HOLD, "")


def _grad_explode(row, traits, th, mem) -> Verdict:
    norms = {name: v for name in ("grad_norm_d", "grad_norm_g") if (v := _value(row, name)) is not None}
    if not norms:
        return HOLD, ""
    name, top = max(norms.items(), key=lambda item: item[1])
    if top > th.grad_norm:
        return SICK, f"{name} {_g(top)}, above {_g(th.grad_norm)}: the updates are about to blow up"
    return (WELL, "") if top < th.grad_norm / 2 else (HOLD, "")


def _oscillation(row, traits, th, mem) -> Verdict:
    if traits.critic:
        return NA, ""
    series = mem.loss_d
    if len(series) < series.maxlen:
        return HOLD, ""
    mean = math.fsum(series) / len(series)
    spread = math.sqrt(math.fsum((x - mean) ** 2 for x in series) / len(series))  # statistics: 50x slower
    signs = [x > mean for x in series]
    crossings = sum(a != b for a, b in itertools.pairwise(signs))
    if spread > th.oscillation and crossings >= OSCILLATION_CROSSINGS:
        return SICK, (f"L_D swings ±{spread:.2f} around {mean:.2f}, crossing its mean {crossings} times in "
                      f"the last {len(series)} windows")
    return (WELL, "") if spread < th.oscillation / 2 or crossings < OSCILLATION_CROSSINGS // 2 else (HOLD, "")


# ------------------------------------------------------------------------------------ suggestions
def _suggest_d_wins(row, traits) -> str:
    k = int(row.get("k", 1) or 1)
    fewer = f"`-` for fewer D-steps (k {k} → {k - 1}), " if k > 1 else ""
    other = ", or `l` → nonsaturating" if row.get("loss") not in ("nonsaturating", None) else ""
    return f"try {fewer}`[` to halve lr_d or `}}` to double lr_g{other}"


RULES: tuple[Rule, ...] = (
    # g_vanishing first: under minimax it is the diagnosis, and "D wins" is only its cause.
    Rule("g_vanishing", "G's gradient vanishes", _g_vanishing,
         lambda row, traits: "press `l` → nonsaturating (−log D(G(z))): the same game, a gradient that does "
                             "not vanish when D wins"),
    Rule("d_wins", "D wins", _d_wins, _suggest_d_wins),
    Rule("mode_collapse", "mode collapse", _mode_collapse,
         lambda row, traits: "try `l` → wgan-gp or hinge, `+` for more D-steps per G-step, or `u` to roll "
                             "back to the last checkpoint", rare=True),
    Rule("critic_drift", "critic drifts", _critic_drift,
         lambda row, traits: "try `[` to halve lr_d, or `u` to roll back to the last checkpoint"),
    Rule("grad_explode", "gradients explode", _grad_explode,
         lambda row, traits: "try `[` and `{` to halve the learning rates, or `l` → wgan-gp or hinge"),
    Rule("oscillation", "losses oscillate", _oscillation,
         lambda row, traits: "try `[` and `{` to halve both learning rates"),
)
_SUPERSEDES = {"g_vanishing": "d_wins"}  # while the first is raised, the second is not news


class Doctor:
    """Feeds rows to every rule and says which alerts were raised or cleared by each one."""

    def __init__(self, thresholds: Thresholds, traits: Callable[[str], LossTraits],
                 rules: Iterable[Rule] = RULES) -> None:
        self.thresholds = thresholds
        self.traits = traits
        self.rules = tuple(rules)
        self.active: dict[str, Finding] = {}
        self._sick: dict[str, int] = {}
        self._well: dict[str, int] = {}
        self._mem = _Memory()
        self._last_step = -1
        self._traits: dict[str, LossTraits] = {}

    def observe(self, row: Mapping[str, Any]) -> list[Finding]:
        """Take one logged window's row (oldest first); return the alerts it raised or cleared."""
        step = int(row.get("step", 0))
        if step <= self._last_step:  # a row merged into a step already seen (a probe's result)
            return []
        self._last_step = step
        name = str(row.get("loss", ""))
        traits = self._traits.get(name) or self._traits.setdefault(name, self.traits(name))
        self._remember(row)
        changes: list[Finding] = []
        for rule in self.rules:
            verdict, evidence = rule.check(row, traits, self.thresholds, self._mem)
            verdict, evidence = self._superseded(rule, verdict, evidence)
            change = self._update(rule, verdict, evidence, row, traits, step)
            if change is not None:
                changes.append(change)
        return changes

    def _superseded(self, rule: Rule, verdict: str, evidence: str) -> Verdict:
        """A rule whose finding another one includes waits while that one counts, and clears once it is
        raised: under minimax, "D wins" is the vanishing gradient's cause, not a second alert."""
        for over, under in _SUPERSEDES.items():
            if under != rule.id:
                continue
            if over in self.active:
                return NA, f"included in {self.active[over].title!r}"
            if self._sick.get(over, 0) > 0:
                return HOLD, ""
        return verdict, evidence

    def adopt(self, findings: Iterable[Finding]) -> None:
        """Take ``findings`` as raised (a replayed history's open alerts): cleared when their rows say so."""
        known = {rule.id for rule in self.rules}
        self.active.update((f.rule, f) for f in findings if f.rule in known)

    def clear_all(self, step: int, why: str) -> list[Finding]:
        """Forget everything (the run went back to ``step``); clear the alerts that were raised."""
        cleared = [Finding(f.rule, f.title, step, why, active=False) for f in self.active.values()]
        self.active.clear()
        self._sick.clear()
        self._well.clear()
        self._mem = _Memory()
        self._last_step = step
        return cleared

    def _remember(self, row: Mapping[str, Any]) -> None:
        mem = self._mem
        loss = str(row.get("loss", ""))
        if loss != mem.loss_name:  # a new game: its losses are on another scale
            mem.loss_name = loss
            mem.loss_d.clear()
            mem.peak_grad_g = 0.0
        if (loss_d := _value(row, "loss_d")) is not None:
            mem.loss_d.append(loss_d)
        if (grad := _value(row, "grad_norm_g")) is not None:
            mem.peak_grad_g = max(mem.peak_grad_g, grad)

    def _update(self, rule: Rule, verdict: str, evidence: str, row: Mapping[str, Any], traits: LossTraits,
                step: int) -> Finding | None:
        patience = min(self.thresholds.patience, RARE_PATIENCE) if rule.rare else self.thresholds.patience
        active = rule.id in self.active
        if verdict == HOLD:
            return None
        if verdict == NA:
            self._sick[rule.id] = self._well[rule.id] = 0
            if active:
                del self.active[rule.id]
                return Finding(rule.id, rule.title, step, evidence or "no longer applies to this loss",
                               active=False)
            return None
        if verdict == SICK:
            self._well[rule.id] = 0
            self._sick[rule.id] = self._sick.get(rule.id, 0) + 1
            if not active and self._sick[rule.id] >= patience:
                finding = Finding(rule.id, rule.title, step, evidence, rule.suggest(row, traits))
                self.active[rule.id] = finding
                return finding
            return None
        self._sick[rule.id] = 0
        self._well[rule.id] = self._well.get(rule.id, 0) + 1
        if active and self._well[rule.id] >= patience:
            del self.active[rule.id]
            return Finding(rule.id, rule.title, step, "cleared", active=False)
        return None
