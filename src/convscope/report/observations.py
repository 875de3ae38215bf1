"""Sentences and verdicts computed from the numbers; nothing here is canned.

Every function takes per-configuration numbers (:class:`ConfigStats`) and returns sentences or
:class:`~convscope.report.document.Claim` s whose wording depends on those numbers. The rules
that turn a reference claim into a test are in :data:`CLAIM_RULES` and are printed in the
report.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from convscope.report import stats, wording
from convscope.report.document import NOT_SUPPORTED, NOT_TESTABLE, SUPPORTED, Claim
from convscope.report.results import Configuration
from convscope.report.stats import MeanStd, fmt_ms, fmt_steps, pct, pp

RECURRENT = ("rnn", "lstm", "gru")
TERRIBLE_GAP = 0.05  # "performed terribly": at least this far (accuracy) below the middle momenta
EQUAL_TOL = 0.01  # "equal to": within max(EQUAL_TOL, 2 x the larger seed std)
MUCH_SMALLER = 0.5  # "much smaller": at most this fraction of the other variation
AROUND_FACTOR = 2.0  # "at around 1000 iterations": reached by AROUND_FACTOR x 1000
NEAR_PERFECT = 0.95  # "almost perfect accuracy" on MNIST
LOSS_LEVEL = 0.2  # "loss dipping below 0.2"
ALPHA = 0.05  # significance level of "no significant differences"
CLEAR_GAP = 0.05  # a final-accuracy gap above this is a real difference, whatever a test says

CLAIM_RULES = [
    "“higher learning rates correlate with faster learning”: the Adam runs' learning speed "
    "(mean test accuracy over the shared horizon) rises strictly with the learning rate.",
    f"“0 and 1 performed terribly”: final test accuracy of RMSProp momentum 0 and 1 each at least "
    f"{100 * TERRIBLE_GAP:.0f} percentage points below both momentum 0.5 and 0.75.",
    f"“equal to or better than a higher learning rate on ADAM”: momentum 0.5 and 0.75 each reach a "
    f"final test accuracy no lower than the Adam run with the highest learning rate above "
    f"RMSProp's, less a tolerance of max({100 * EQUAL_TOL:.0f} pp, 2 × the larger seed std).",
    "“increasing the number of hidden units increased the training speed and accuracy”: for "
    "every cell, learning speed and final test accuracy rise strictly with the hidden size.",
    "“GRU outperformed LSTM”: GRU's mean final test accuracy is higher at every hidden size "
    "where both ran.",
    f"“variation … much smaller than between hidden sizes”: the mean |GRU − LSTM| difference is at "
    f"most {MUCH_SMALLER:g} × the mean (over GRU and LSTM) range across hidden sizes.",
    f"“no significant differences between the RNN and CNN”: every gap in final test accuracy "
    f"between the CNN and a recurrent model is within {100 * CLEAR_GAP:.0f} pp and a two-sided "
    f"Welch t-test over seeds finds none (p ≥ {ALPHA:g}); a larger gap is a difference whatever "
    f"the test says (a few seeds give the test little power); with one seed, gaps within "
    f"{100 * CLEAR_GAP:.0f} pp are not testable.",
    "“the weights do look slightly like Gabor filters”: per filter, the R² of a 2-D Gabor fit is "
    f"higher after training than at initialisation (one-sided Wilcoxon signed-rank, p < {ALPHA:g}).",
    "“the early layers converge very quickly while the fully connected layers take longer”: "
    "every conv layer's statistics settle (within 5% of their final value for good) at an "
    "earlier record than every fully connected layer's.",
    f"“almost perfect accuracy at around 1000 iterations”: the seed-mean test accuracy reaches "
    f"{100 * NEAR_PERFECT:.0f}% by iteration {AROUND_FACTOR * 1000:.0f} for every model.",
    "Section 3.2 of the reference says “when training on CIFAR10” but reports almost perfect "
    "accuracy, which LeNet-5 reaches on MNIST, not CIFAR-10; the experiment runs 3.2 on MNIST and "
    "the report tests the claims there.",
    f"“loss … dipping below 0.2 at around 1000 iterations”: the seed-mean train loss falls below "
    f"{LOSS_LEVEL:g} by iteration {AROUND_FACTOR * 1000:.0f} for every model.",
]


# --- per-configuration numbers ---------------------------------------------------------------
@dataclass
class ConfigStats:
    """Numbers of one configuration over its seeds (lists are per seed, in run order)."""

    label: str
    config: dict[str, Any]
    n_runs: int
    best: list[float | None]
    final: list[float | None]
    to_threshold: list[int | None]
    speed: list[float]
    diverged_steps: list[int]
    last_steps: list[int]
    agg: dict[str, stats.Aggregate] = field(default_factory=dict)
    statuses: list[str] = field(default_factory=list)  # every listed run, present or not

    @property
    def best_ms(self) -> MeanStd:
        return MeanStd.of(self.best)

    @property
    def final_ms(self) -> MeanStd:
        return MeanStd.of(self.final)

    @property
    def speed_ms(self) -> MeanStd:
        return MeanStd.of(self.speed)

    @property
    def final_mean(self) -> float:
        return self.final_ms.mean

    @property
    def model(self) -> str:
        return str(self.config.get("model", {}).get("model", "?"))

    @property
    def hidden_size(self) -> int:
        return int(self.config.get("model", {}).get("hidden_size", 0))

    @property
    def optimizer(self) -> str:
        return str(self.config.get("optim", {}).get("optimizer", "?"))

    @property
    def lr(self) -> float:
        return float(self.config.get("optim", {}).get("lr", math.nan))

    @property
    def momentum(self) -> float:
        return float(self.config.get("optim", {}).get("momentum", 0.0))

    @property
    def is_recurrent(self) -> bool:
        return self.model in RECURRENT

    def first_step(self, metric: str, threshold: float, below: bool = False) -> int | None:
        """First step where the seed-mean curve of ``metric`` reaches ``threshold``."""
        a = self.agg.get(metric)
        if a is None or a.steps.size == 0:
            return None
        if below:
            return stats.first_step_below(a.steps, a.mean, threshold)
        return stats.first_step_at_or_above(a.steps, a.mean, threshold)

    @property
    def max_step(self) -> int:
        return max(self.last_steps) if self.last_steps else 0


def horizon(configs: Sequence[Configuration]) -> int:
    """The shortest budget among the compared runs that did not diverge (iterations)."""
    ends = [r.last_step for c in configs for r in c.present if not r.diverged]
    if not ends:
        ends = [r.last_step for c in configs for r in c.present]
    return min(ends) if ends else 0


def config_stats(c: Configuration, threshold: float, horizon_steps: int) -> ConfigStats:
    """Numbers of configuration ``c``: accuracies, iterations to ``threshold``, learning speed."""
    present = c.present
    to_thr, speed = [], []
    for r in present:
        acc = r.curve.values["test_accuracy"]
        to_thr.append(stats.first_step_at_or_above(r.curve.steps, acc, threshold))
        speed.append(stats.mean_over_horizon(r.curve.steps, acc, horizon_steps))
    agg = {
        m: stats.aggregate([(r.curve.steps, r.curve.values[m]) for r in present])
        for m in ("test_accuracy", "train_accuracy", "train_loss")
    }
    return ConfigStats(
        label=c.label,
        config=c.first.config,
        n_runs=len(c.runs),
        best=[r.best_test_accuracy for r in present],
        final=[r.final_test_accuracy for r in present],
        to_threshold=to_thr,
        speed=speed,
        diverged_steps=[int(r.diverged_step) for r in present if r.diverged_step is not None],
        last_steps=[r.last_step for r in present],
        agg=agg,
        statuses=[r.status for r in c.runs],
    )


# --- thresholds ------------------------------------------------------------------------------
KNOWN_THRESHOLDS = {"cifar": 0.40, "mnist": 0.95}


def accuracy_threshold(
    dataset: str, n_classes: int, best_accuracy: float | None
) -> tuple[float, str]:
    """The accuracy for "iterations to reach a threshold", and why.

    CIFAR-10: 40% (four times chance, where the reference's curves separate); MNIST: 95% (the
    reference's "almost perfect"). Other data: half-way from chance to the best accuracy any
    compared configuration reached, rounded down to 5%.
    """
    name = dataset.lower()
    for key, thr in KNOWN_THRESHOLDS.items():
        if key in name:
            return thr, f"{pct(thr, 0)} (fixed for {dataset})"
    chance = 1.0 / max(n_classes, 1)
    best = best_accuracy if best_accuracy is not None and math.isfinite(best_accuracy) else chance
    thr = math.floor(20 * (chance + max(best - chance, 0.0) / 2)) / 20
    thr = max(thr, round(chance + 0.05, 2))
    return thr, (
        f"{pct(thr, 0)} (half-way from chance {pct(chance, 0)} to the best accuracy reached, "
        f"{pct(best)}, rounded down to 5%; {dataset} has no fixed threshold)"
    )


# --- general sentences -----------------------------------------------------------------------
def ranking_sentences(cs: Sequence[ConfigStats], what: str = "configuration") -> list[str]:
    """Best and worst by final test accuracy, with margins."""
    ok = [c for c in cs if c.final_ms.ok]
    if not ok:
        return [f"No {what} has a recorded test accuracy yet."]
    ranked = sorted(ok, key=lambda c: c.final_mean, reverse=True)
    top = ranked[0]
    out = []
    if len(ranked) == 1:
        out.append(
            f"`{top.label}` ended at {fmt_ms(top.final_ms)} test accuracy "
            f"(best {fmt_ms(top.best_ms)})."
        )
        return out
    second = ranked[1]
    out.append(
        f"Best {what}: `{top.label}` with {fmt_ms(top.final_ms)} final test accuracy, "
        f"{pp(top.final_mean - second.final_mean)} ahead of `{second.label}` "
        f"({fmt_ms(second.final_ms)})."
    )
    worst = ranked[-1]
    out.append(
        f"Worst: `{worst.label}` with {fmt_ms(worst.final_ms)}, "
        f"{pp(worst.final_mean - top.final_mean)} below the best."
    )
    return out


def divergence_sentence(cs: Sequence[ConfigStats]) -> str:
    div = [c for c in cs if c.diverged_steps]
    if not div:
        return "No run diverged."
    parts = [
        f"`{c.label}` ({len(c.diverged_steps)}/{len(c.last_steps)} seeds, at iteration "
        f"{', '.join(map(str, c.diverged_steps))})"
        for c in div
    ]
    return "Diverged: " + "; ".join(parts) + "."


def threshold_sentence(cs: Sequence[ConfigStats], threshold: float) -> str:
    reached = [(c, [s for s in c.to_threshold if s is not None]) for c in cs]
    hit = [(c.label, float(np.mean(s)), fmt_steps(c.to_threshold)) for c, s in reached if s]
    never = [c.label for c, s in reached if not s]
    return wording.fastest_slowest(pct(threshold, 0), hit, never)


def single_run_sentences(c: ConfigStats, threshold: float, threshold_note: str) -> list[str]:
    """Section 1.1: what one configuration's curves show."""
    out = []
    a = c.agg
    ta = a["test_accuracy"]
    if ta.steps.size == 0:
        return [f"`{c.label}` has no recorded metrics yet."]
    j = int(np.nanargmax(ta.mean))
    seeds = f"mean over {c.n_runs} seed{'s' if c.n_runs != 1 else ''}"
    if j == ta.steps.size - 1:
        head = (
            f"Test accuracy ({seeds}) was highest at the last record, {pct(ta.mean[j])} at "
            f"iteration {int(ta.steps[j])}"
        )
    else:
        head = (
            f"Test accuracy ({seeds}) peaked at {pct(ta.mean[j])} at iteration "
            f"{int(ta.steps[j])} and ended at {pct(ta.mean[-1])} at iteration {int(ta.steps[-1])}"
        )
    out.append(f"{head}; final {fmt_ms(c.final_ms)}, best {fmt_ms(c.best_ms)}.")
    tr = a["train_accuracy"]
    if tr.steps.size:
        gap = tr.mean[-1] - ta.mean[-1]
        verdict = (
            "the network overfits (train accuracy well above test)"
            if gap > 0.05
            else "train and test accuracy are close (little overfitting)"
        )
        out.append(f"Train accuracy ended at {pct(tr.mean[-1])}, {pp(gap)} above test: {verdict}.")
    lo = a["train_loss"]
    fin = np.isfinite(lo.mean)
    if fin.any():
        first, last = lo.mean[fin][0], lo.mean[fin][-1]
        k = int(np.nanargmin(np.where(fin, lo.mean, np.nan)))
        out.append(
            f"Train loss fell from {first:.3f} (first record) to {last:.3f} (lowest "
            f"{lo.mean[k]:.3f} at iteration {int(lo.steps[k])})."
            if last < first
            else f"Train loss did not fall: {first:.3f} at the first record, {last:.3f} at the last."
        )
    out.append(f"Iterations to reach {threshold_note}: {fmt_steps(c.to_threshold)}.")
    if ta.steps.size >= 4:
        # did test accuracy still improve in the last quarter of training?
        q = ta.steps[-1] - (ta.steps[-1] - ta.steps[0]) / 4
        earlier = ta.mean[ta.steps <= q]
        if earlier.size:
            gain = ta.mean[-1] - np.nanmax(earlier)
            out.append(
                f"In the last quarter of training test accuracy changed by {pp(gain)} over its "
                f"earlier best: " + ("still improving." if gain > 0.005 else "it had levelled off.")
            )
    return out


# --- reference claims: section 1.2 -----------------------------------------------------------
def _not_testable(section: str, quote: str, why: str) -> Claim:
    return Claim(section, quote, NOT_TESTABLE, why)


def _lr(x: float) -> str:
    return f"{x:g}"


def claim_adam_lr(cs: Sequence[ConfigStats], horizon_steps: int, threshold: float) -> Claim:
    quote = "higher learning rates correlate with faster learning"
    adam = sorted((c for c in cs if c.optimizer == "adam" and c.speed_ms.ok), key=lambda c: c.lr)
    if len({c.lr for c in adam}) < 2:
        return _not_testable("1.2", quote, "this output has fewer than two Adam learning rates.")
    speeds = [c.speed_ms.mean for c in adam]
    rho = stats.spearman([c.lr for c in adam], speeds)
    rising = all(b > a for a, b in zip(speeds, speeds[1:]))
    parts = ", ".join(
        f"lr {_lr(c.lr)}: {fmt_ms(c.speed_ms)} "
        f"({wording.reach_phrase(pct(threshold, 0), fmt_steps(c.to_threshold))})"
        for c in adam
    )
    evidence = (
        f"Mean test accuracy over the first {horizon_steps} iterations: {parts}; Spearman "
        f"ρ(lr, speed) = {rho:.2f}. "
    )
    if rising:
        evidence += "Each larger Adam learning rate learned faster."
    else:
        bad = [
            f"lr {_lr(b.lr)} was not faster than lr {_lr(a.lr)}"
            for a, b in zip(adam, adam[1:])
            if not b.speed_ms.mean > a.speed_ms.mean
        ]
        evidence += "Not monotone: " + "; ".join(bad) + "."
    return Claim("1.2", quote, SUPPORTED if rising else NOT_SUPPORTED, evidence)


def _rms_by_momentum(cs: Sequence[ConfigStats]) -> dict[float, ConfigStats]:
    out: dict[float, ConfigStats] = {}
    for c in cs:
        if c.optimizer == "rmsprop" and c.final_ms.ok:
            out.setdefault(c.momentum, c)
    return out


def _acc_with_div(c: ConfigStats) -> str:
    text = fmt_ms(c.final_ms)
    if c.diverged_steps:
        text += f", diverged in {len(c.diverged_steps)}/{len(c.last_steps)} seeds"
    return text


def claim_rmsprop_extremes(cs: Sequence[ConfigStats]) -> Claim:
    quote = "[RMSProp momentum] 0 and 1 performed terribly"
    rms = _rms_by_momentum(cs)
    need = [0.0, 0.5, 0.75, 1.0]
    missing = [m for m in need if m not in rms]
    if missing:
        return _not_testable(
            "1.2",
            quote,
            f"this output has no RMSProp run with momentum {', '.join(f'{m:g}' for m in missing)}.",
        )
    middle = min(rms[0.5].final_mean, rms[0.75].final_mean)
    verdicts = []
    ok = True
    for m in (0.0, 1.0):
        gap = rms[m].final_mean - middle
        bad = gap <= -TERRIBLE_GAP
        ok &= bad
        verdicts.append(
            f"momentum {m:g}: {_acc_with_div(rms[m])}, {pp(gap)} against the worse of 0.5/0.75 "
            f"({'terrible' if bad else 'not terrible'})"
        )
    evidence = (
        f"Final test accuracy — momentum 0.5: {_acc_with_div(rms[0.5])}, 0.75: "
        f"{_acc_with_div(rms[0.75])}; " + "; ".join(verdicts) + "."
    )
    return Claim("1.2", quote, SUPPORTED if ok else NOT_SUPPORTED, evidence)


def claim_rmsprop_vs_adam(cs: Sequence[ConfigStats]) -> Claim:
    quote = "0.5 and 0.75 performed equal to or better than a higher learning rate on ADAM"
    rms = _rms_by_momentum(cs)
    mids = [rms[m] for m in (0.5, 0.75) if m in rms]
    if len(mids) < 2:
        return _not_testable("1.2", quote, "this output lacks RMSProp momentum 0.5 or 0.75.")
    rms_lr = max(c.lr for c in mids)
    adams = [c for c in cs if c.optimizer == "adam" and c.lr > rms_lr and c.final_ms.ok]
    if not adams:
        return _not_testable(
            "1.2", quote, f"this output has no Adam run with a learning rate above {_lr(rms_lr)}."
        )
    adam = max(adams, key=lambda c: c.lr)
    ok = True
    parts = []
    for c in mids:
        tol = max(EQUAL_TOL, 2 * max(c.final_ms.std, adam.final_ms.std))
        diff = c.final_mean - adam.final_mean
        good = diff >= -tol
        ok &= good
        parts.append(
            f"momentum {c.momentum:g}: {fmt_ms(c.final_ms)} ({pp(diff)}, tolerance "
            f"{100 * tol:.1f} pp: {'equal or better' if good else 'worse'})"
        )
    evidence = (
        f"Against Adam lr {_lr(adam.lr)} ({fmt_ms(adam.final_ms)} final test accuracy): "
        + "; ".join(parts)
        + "."
    )
    return Claim("1.2", quote, SUPPORTED if ok else NOT_SUPPORTED, evidence)


# --- reference claims: section 3.1 -----------------------------------------------------------
def _by_cell(cs: Sequence[ConfigStats]) -> dict[str, list[ConfigStats]]:
    out: dict[str, list[ConfigStats]] = {}
    for c in cs:
        if c.is_recurrent and c.final_ms.ok:
            out.setdefault(c.model, []).append(c)
    for v in out.values():
        v.sort(key=lambda c: c.hidden_size)
    return out


def claim_hidden_units(cs: Sequence[ConfigStats], horizon_steps: int) -> Claim:
    quote = "increasing the number of hidden units increased the training speed and accuracy"
    cells = {k: v for k, v in _by_cell(cs).items() if len({c.hidden_size for c in v}) >= 2}
    if not cells:
        return _not_testable("3.1", quote, "no recurrent cell ran with two or more hidden sizes.")
    ok = True
    parts = []
    for cell, v in cells.items():
        sp = [c.speed_ms.mean for c in v]
        fa = [c.final_mean for c in v]
        sp_up = all(b > a for a, b in zip(sp, sp[1:]))
        fa_up = all(b > a for a, b in zip(fa, fa[1:]))
        ok &= sp_up and fa_up
        sizes = "/".join(str(c.hidden_size) for c in v)
        parts.append(
            f"{cell.upper()} h={sizes}: speed {' → '.join(pct(x) for x in sp)} "
            f"({'rising' if sp_up else 'not rising'}), final accuracy "
            f"{' → '.join(pct(x, 2) for x in fa)} ({'rising' if fa_up else 'not rising'})"
        )
    evidence = (
        f"Speed = mean test accuracy over the first {horizon_steps} iterations. "
        + "; ".join(parts)
        + "."
    )
    return Claim("3.1", quote, SUPPORTED if ok else NOT_SUPPORTED, evidence)


def gru_lstm_diffs(cs: Sequence[ConfigStats]) -> list[tuple[int, ConfigStats, ConfigStats]]:
    cells = _by_cell(cs)
    gru = {c.hidden_size: c for c in cells.get("gru", [])}
    lstm = {c.hidden_size: c for c in cells.get("lstm", [])}
    return [(h, gru[h], lstm[h]) for h in sorted(set(gru) & set(lstm))]


def claim_gru_beats_lstm(cs: Sequence[ConfigStats]) -> Claim:
    quote = "GRU outperformed LSTM when you look within groups of the same number of hidden units"
    pairs = gru_lstm_diffs(cs)
    if not pairs:
        return _not_testable("3.1", quote, "no hidden size has both a GRU and an LSTM run.")
    wins = [(h, g.final_mean - lt.final_mean, g, lt) for h, g, lt in pairs]
    ok = all(d > 0 for _, d, _, _ in wins)
    parts = "; ".join(
        f"h={h}: GRU {fmt_ms(g.final_ms, digits=2)} vs LSTM {fmt_ms(lt.final_ms, digits=2)} "
        f"({pp(d, 2)})"
        for h, d, g, lt in wins
    )
    n_win = sum(d > 0 for _, d, _, _ in wins)
    return Claim(
        "3.1",
        quote,
        SUPPORTED if ok else NOT_SUPPORTED,
        f"GRU's final test accuracy was higher at {n_win} of {len(wins)} hidden sizes: {parts}.",
    )


def claim_gru_lstm_variation(cs: Sequence[ConfigStats]) -> Claim:
    quote = (
        "the variation from GRU to LSTM was much smaller than the variation between number of "
        "hidden units"
    )
    pairs = gru_lstm_diffs(cs)
    cells = _by_cell(cs)
    spreads = [
        max(c.final_mean for c in cells[k]) - min(c.final_mean for c in cells[k])
        for k in ("gru", "lstm")
        if k in cells and len(cells[k]) >= 2
    ]
    if not pairs or not spreads:
        return _not_testable(
            "3.1", quote, "needs GRU and LSTM at a shared hidden size and at two or more sizes."
        )
    cell_var = float(np.mean([abs(g.final_mean - lt.final_mean) for _, g, lt in pairs]))
    size_var = float(np.mean(spreads))
    ok = cell_var <= MUCH_SMALLER * size_var
    return Claim(
        "3.1",
        quote,
        SUPPORTED if ok else NOT_SUPPORTED,
        f"Mean |GRU − LSTM| final test accuracy difference: {100 * cell_var:.2f} pp; mean range "
        f"across hidden sizes (GRU, LSTM): {100 * size_var:.2f} pp; ratio "
        f"{cell_var / size_var if size_var > 0 else math.inf:.2f} "
        f"({'≤' if ok else '>'} {MUCH_SMALLER:g}).",
    )


def hidden_size_sentences(cs: Sequence[ConfigStats]) -> list[str]:
    """Per hidden size, which cell won; per cell, which size won."""
    cells = _by_cell(cs)
    out = []
    sizes = sorted({c.hidden_size for v in cells.values() for c in v})
    for h in sizes:
        at = sorted(
            (c for v in cells.values() for c in v if c.hidden_size == h),
            key=lambda c: c.final_mean,
            reverse=True,
        )
        if len(at) >= 2:
            out.append(
                f"h={h}: "
                + " > ".join(f"{c.model.upper()} {pct(c.final_mean, 2)}" for c in at)
                + f" (spread {100 * (at[0].final_mean - at[-1].final_mean):.2f} pp)."
            )
    for cell, v in cells.items():
        if len(v) >= 2:
            best = max(v, key=lambda c: c.final_mean)
            out.append(
                f"{cell.upper()}: best hidden size {best.hidden_size} "
                f"({pct(best.final_mean, 2)}); range over sizes "
                f"{100 * (max(c.final_mean for c in v) - min(c.final_mean for c in v)):.2f} pp."
            )
    return out


# --- reference claims: section 3.2 -----------------------------------------------------------
def _data_prefix(dataset: str, expected: str) -> str:
    if expected.lower() in dataset.lower():
        return ""
    return f"On {dataset} (the reference used {expected}): "


def claim_cnn_rnn_no_difference(cs: Sequence[ConfigStats], dataset: str) -> Claim:
    quote = "I did not notice any significant differences between the RNN and CNN"
    cnn = [c for c in cs if not c.is_recurrent and c.final_ms.ok]
    rnn = [c for c in cs if c.is_recurrent and c.final_ms.ok]
    if not cnn or not rnn:
        return _not_testable("3.2", quote, "needs a CNN and a recurrent model in one group.")
    base = cnn[0]
    parts, ps = [], []
    for r in rnn:
        a = [x for x in base.final if x is not None]
        b = [x for x in r.final if x is not None]
        p = stats.welch_p(a, b)
        ps.append(p)
        d = r.final_mean - base.final_mean
        parts.append(
            f"`{r.label}` {fmt_ms(r.final_ms, digits=2)} ({pp(d, 2)}"
            + (f", Welch p = {p:.2g}" if p is not None else "")
            + ")"
        )
    text = (
        _data_prefix(dataset, "MNIST")
        + f"final test accuracy of `{base.label}` {fmt_ms(base.final_ms, digits=2)} against "
        + "; ".join(parts)
        + "."
    )
    gaps = [abs(r.final_mean - base.final_mean) for r in rnn]
    if max(gaps) > CLEAR_GAP:
        return Claim(
            "3.2",
            quote,
            NOT_SUPPORTED,
            text + f" A gap above {100 * CLEAR_GAP:.0f} pp is a real difference whatever the "
            "test says.",
        )
    if any(p is None for p in ps):
        return Claim(
            "3.2",
            quote,
            NOT_TESTABLE,
            text + f" One seed per model and every gap within {100 * CLEAR_GAP:.0f} pp: no "
            "spread to test against.",
        )
    ok = all(p >= ALPHA for p in ps if p is not None)
    return Claim("3.2", quote, SUPPORTED if ok else NOT_SUPPORTED, text)


def _by_step_claim(
    cs: Sequence[ConfigStats],
    dataset: str,
    quote: str,
    metric: str,
    level: float,
    below: bool,
    what: str,
) -> Claim:
    models = [c for c in cs if c.agg.get(metric) is not None and c.agg[metric].steps.size]
    if not models:
        return _not_testable("3.2", quote, "no model in the group has recorded metrics.")
    limit = AROUND_FACTOR * 1000
    parts, verdicts = [], []
    for c in models:
        s = c.first_step(metric, level, below=below)
        if s is not None:
            verdicts.append(s <= limit)
            parts.append(f"`{c.label}` at iteration {s}")
        elif c.max_step < limit:
            verdicts.append(None)
            parts.append(f"`{c.label}` not by its last iteration {c.max_step}")
        else:
            verdicts.append(False)
            parts.append(f"`{c.label}` never (ran {c.max_step} iterations)")
    text = _data_prefix(dataset, "MNIST") + f"{what}: " + "; ".join(parts) + "."
    if any(v is False for v in verdicts):
        return Claim("3.2", quote, NOT_SUPPORTED, text)
    if any(v is None for v in verdicts):
        return Claim(
            "3.2",
            quote,
            NOT_TESTABLE,
            text + f" Runs shorter than {limit:.0f} iterations cannot show it.",
        )
    return Claim("3.2", quote, SUPPORTED, text)


def claim_near_perfect_by_1000(cs: Sequence[ConfigStats], dataset: str) -> Claim:
    return _by_step_claim(
        cs,
        dataset,
        "both networks get almost perfect accuracy at around 1000 iterations",
        "test_accuracy",
        NEAR_PERFECT,
        False,
        f"first iteration with seed-mean test accuracy ≥ {pct(NEAR_PERFECT, 0)}",
    )


def claim_loss_below(cs: Sequence[ConfigStats], dataset: str) -> Claim:
    return _by_step_claim(
        cs,
        dataset,
        "the loss curves have the same structure, dipping below 0.2 at around 1000 iterations",
        "train_loss",
        LOSS_LEVEL,
        True,
        f"first iteration with seed-mean train loss < {LOSS_LEVEL:g}",
    )


def first_pass_sentences(cs: Sequence[ConfigStats], level: float = NEAR_PERFECT) -> list[str]:
    out = []
    for c in cs:
        s = c.first_step("test_accuracy", level)
        lo = c.first_step("train_loss", LOSS_LEVEL, below=True)
        out.append(
            f"`{c.label}`: test accuracy first ≥ {pct(level, 0)} at "
            + (f"iteration {s}" if s is not None else f"no iteration (ran {c.max_step})")
            + f"; train loss first < {LOSS_LEVEL:g} at "
            + (f"iteration {lo}" if lo is not None else "no iteration")
            + f"; final test accuracy {fmt_ms(c.final_ms, digits=2)}."
        )
    return out


# --- reference claims from analysis outputs (sections 1.3, 1.4) ------------------------------
def gabor_summaries(obj: Any, path: str = "") -> dict[str, dict[str, Any]]:
    """Dicts that look like :func:`convscope.analysis.gabor.summarize_r2` output, by key path."""
    out: dict[str, dict[str, Any]] = {}
    if isinstance(obj, dict):
        if "n" in obj and "n_above_0.5" in obj:
            out[path or "filters"] = obj
        for k, v in obj.items():
            out.update(gabor_summaries(v, f"{path}.{k}" if path else str(k)))
    return out


def claim_gabor(filters: dict[str, Any] | None, where: str) -> Claim:
    """“weights look slightly like Gabor filters”, from a filters JSON with trained/init summaries.

    Supported when the trained filters' Gabor R² exceed those at initialisation: a one-sided
    Wilcoxon signed-rank test on per-filter differences when both lists have one value per
    filter (the same filters before and after training), else a Mann–Whitney U test, at
    ``ALPHA``; without R² lists, a larger share above 0.5.
    """
    quote = "the weights do look slightly like Gabor filters"
    if filters is None:
        return _not_testable("1.3", quote, f"the filters analysis has not been run ({where}).")
    sums = gabor_summaries(filters)
    trained = next((v for k, v in sums.items() if "init" not in k.lower()), None)
    init = next((v for k, v in sums.items() if "init" in k.lower()), None)
    if trained is None or init is None:
        return _not_testable(
            "1.3",
            quote,
            "the filters output lacks Gabor summaries for trained and initial weights.",
        )
    st = trained["n_above_0.5"] / max(trained["n"], 1)
    si = init["n_above_0.5"] / max(init["n"], 1)
    text = (
        f"{trained['n_above_0.5']} of {trained['n']} trained filters ({pct(st, 0)}) have Gabor "
        f"R² > 0.5 against {init['n_above_0.5']} of {init['n']} ({pct(si, 0)}) at initialisation"
    )
    comparison = filters.get("comparison")
    if isinstance(comparison, dict) and "better" in comparison:
        # the analysis made the test (one place: convscope.analysis.gabor.compare_gabor)
        better = bool(comparison["better"])
        if comparison.get("p") is not None:
            rose = (
                f"R² rose for {comparison['n_rose']} of {comparison['n']} filters, "
                if comparison.get("n_rose") is not None
                else ""
            )
            text += (
                f"; {rose}median R² {comparison['median_trained']:.2f} vs "
                f"{comparison['median_init']:.2f}, {comparison['test']} p = {comparison['p']:.2g}"
            )
    else:
        better = st > si
    text += (
        ": the trained filters are measurably more Gabor-like than random weights."
        if better
        else ": the trained filters are not measurably more Gabor-like than random weights."
    )
    return Claim("1.3", quote, SUPPORTED if better else NOT_SUPPORTED, text)


_STEP_KEYS = ("settled_at", "converged_step", "convergence_step")
LATE_FRACTION = 0.9  # settling after this share of training = still changing (as the analysis)


@dataclass(frozen=True)
class Settled:
    """One layer's row of a convergence table."""

    layer: str
    kind: str
    step: float | None
    last_step: float | None


def convergence_layers(obj: Any) -> list[Settled]:
    """Per-layer settling steps from a convergence JSON, whatever its nesting.

    Looks for rows like :func:`convscope.analysis.convergence.convergence_table` writes:
    ``{"layer", "kind", "settled_at", "last_step"}`` (a list of them anywhere in the object, or
    a mapping layer -> row).
    """

    def row(name: str, d: dict[str, Any]) -> Settled | None:
        for key in _STEP_KEYS:
            if key in d:
                v = d[key]
                kind = str(d.get("kind") or ("logits" if name.lower().startswith("logit") else "?"))
                last = d.get("last_step")
                return Settled(
                    str(d.get("layer", name)),
                    kind,
                    None if v is None else float(v),
                    None if last is None else float(last),
                )
        return None

    if isinstance(obj, list):
        rows = [row(str(d.get("layer", i)), d) for i, d in enumerate(obj) if isinstance(d, dict)]
        if rows and all(r is not None for r in rows):
            return [r for r in rows if r is not None]
        for d in obj:
            found = convergence_layers(d)
            if found:
                return found
        return []
    if isinstance(obj, dict):
        as_map = [row(str(k), v) for k, v in obj.items() if isinstance(v, dict)]
        if as_map and all(r is not None for r in as_map) and len(as_map) == len(obj):
            return [r for r in as_map if r is not None]
        for v in obj.values():
            found = convergence_layers(v)
            if found:
                return found
    return []


def claim_early_layers(convergence: dict[str, Any] | None, where: str) -> Claim:
    """“early layers converge very quickly while the fully connected layers take longer”."""
    quote = "the early layers converge very quickly while the fully connected layers take longer"
    if convergence is None:
        return _not_testable("1.4", quote, f"the activations analysis has not been run ({where}).")
    layers = convergence_layers(convergence)
    conv = [r for r in layers if r.kind == "conv"]
    fc = [r for r in layers if r.kind in ("linear", "logits")]
    if not conv or not fc:
        return _not_testable(
            "1.4", quote, "the convergence output does not name conv and fully connected layers."
        )
    parts = ", ".join(
        f"{r.layer}: {'never' if r.step is None else f'{r.step:.0f}'}" for r in layers
    )
    head = (
        "Iteration after which each layer's statistics stay within 5% of their final value — "
        f"{parts}. "
    )
    lasts = [r.last_step for r in layers if r.last_step]
    last = max(lasts) if lasts else None
    steps = {r.step for r in layers}
    if last and all(r.step is not None and r.step >= LATE_FRACTION * last for r in layers):
        return _not_testable(
            "1.4",
            quote,
            head + f"No layer settles before the last {100 * (1 - LATE_FRACTION):.0f}% of "
            f"training (iteration {last:.0f}): training ended before the statistics converged.",
        )
    if len(steps) == 1 and None not in steps:
        return _not_testable(
            "1.4",
            quote,
            head + "Every layer settles at the same record; the records cannot order them "
            "(train longer or record activations more often).",
        )

    def val(x: float | None) -> float:
        return math.inf if x is None else x

    ok = max(val(r.step) for r in conv) < min(val(r.step) for r in fc)
    return Claim(
        "1.4",
        quote,
        SUPPORTED if ok else NOT_SUPPORTED,
        head
        + (
            "Every conv layer settled before every fully connected layer."
            if ok
            else "Not every conv layer settled before every fully connected layer."
        ),
    )
