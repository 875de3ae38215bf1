"""The reference report's claims (../shared/reference/assignment2-report.md), as rules: a
plugin of ``experiments/assignment2.toml``, which names it (``claim_rules =
"assignment2_claims.py:RULES"``) as a study is named, by import path.

Each rule tests one quoted claim on a group's training curves and says how in the sentence the
report prints beside it. The engine that evaluates them is :mod:`convscope.report.claims`; a
verdict an analysis owns is named ``<study>.<verdict>`` in the experiment file instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from convscope.analysis.significance import welch
from convscope.formatting import p_value
from convscope.report import stats, wording
from convscope.report.claims import ClaimRule, RuleSet
from convscope.report.document import NOT_SUPPORTED, NOT_TESTABLE, SUPPORTED, Claim
from convscope.report.observations import ConfigStats, by_cell
from convscope.report.stats import fmt_ms, fmt_steps, pct, pp

TERRIBLE_GAP = 0.05  # "performed terribly": at least this far (accuracy) below the middle momenta
EQUAL_TOL = 0.01  # "equal to": within max(EQUAL_TOL, 2 x the larger seed std)
MUCH_SMALLER = 0.5  # "much smaller": at most this fraction of the other variation
AROUND_FACTOR = 2.0  # "at around 1000 iterations": reached by AROUND_FACTOR x 1000
NEAR_PERFECT = 0.95  # "almost perfect accuracy" on MNIST
LOSS_LEVEL = 0.2  # "loss dipping below 0.2"
ALPHA = 0.05  # significance level of "no significant differences"
CLEAR_GAP = 0.05  # a final-accuracy gap above this is a real difference, whatever a test says


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


def claim_hidden_units(cs: Sequence[ConfigStats], horizon_steps: int) -> Claim:
    quote = "increasing the number of hidden units increased the training speed and accuracy"
    cells = {k: v for k, v in by_cell(cs).items() if len({c.hidden_size for c in v}) >= 2}
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
            f"{' → '.join(pct(x) for x in fa)} ({'rising' if fa_up else 'not rising'})"
        )
    evidence = (
        f"Speed = mean test accuracy over the first {horizon_steps} iterations. "
        + "; ".join(parts)
        + "."
    )
    return Claim("3.1", quote, SUPPORTED if ok else NOT_SUPPORTED, evidence)


def gru_lstm_diffs(cs: Sequence[ConfigStats]) -> list[tuple[int, ConfigStats, ConfigStats]]:
    cells = by_cell(cs)
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
        f"h={h}: GRU {fmt_ms(g.final_ms)} vs LSTM {fmt_ms(lt.final_ms)} ({pp(d)})"
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
    cells = by_cell(cs)
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
        f"Mean |GRU − LSTM| final test accuracy difference: {100 * cell_var:.1f} pp; mean range "
        f"across hidden sizes (GRU, LSTM): {100 * size_var:.1f} pp; ratio "
        f"{cell_var / size_var if size_var > 0 else math.inf:.2f} "
        f"({'≤' if ok else '>'} {MUCH_SMALLER:g}).",
    )


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
        p = welch(a, b).p
        ps.append(p)
        d = r.final_mean - base.final_mean
        parts.append(
            f"`{r.label}` {fmt_ms(r.final_ms)} ({pp(d)}"
            + (f", Welch p = {p_value(p)}" if p is not None else "")
            + ")"
        )
    text = (
        _data_prefix(dataset, "MNIST")
        + f"final test accuracy of `{base.label}` {fmt_ms(base.final_ms)} against "
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


RULES: dict[str, ClaimRule] = {}
rule = RuleSet(RULES)


rule(
    "adam_lr_speed",
    "the Adam runs' learning speed (mean test accuracy over the shared horizon) rises strictly "
    "with the learning rate.",
)(lambda g: claim_adam_lr(g.stats, g.horizon, g.threshold))
rule(
    "rmsprop_extremes_terrible",
    f"final test accuracy of RMSProp momentum 0 and 1 each at least {100 * TERRIBLE_GAP:.0f} "
    "percentage points below both momentum 0.5 and 0.75.",
)(lambda g: claim_rmsprop_extremes(g.stats))
rule(
    "rmsprop_matches_adam",
    "momentum 0.5 and 0.75 each reach a final test accuracy no lower than the Adam run with the "
    "highest learning rate above RMSProp's, less a tolerance of "
    f"max({100 * EQUAL_TOL:.0f} pp, 2 × the larger seed std).",
)(lambda g: claim_rmsprop_vs_adam(g.stats))
rule(
    "hidden_units_help",
    "for every cell, learning speed and final test accuracy rise strictly with the hidden size.",
)(lambda g: claim_hidden_units(g.recurrent, g.horizon))
rule(
    "gru_beats_lstm",
    "GRU's mean final test accuracy is higher at every hidden size where both ran.",
)(lambda g: claim_gru_beats_lstm(g.recurrent))
rule(
    "gru_lstm_gap_small",
    f"the mean |GRU − LSTM| difference is at most {MUCH_SMALLER:g} × the mean (over GRU and "
    "LSTM) range across hidden sizes.",
)(lambda g: claim_gru_lstm_variation(g.recurrent))
rule(
    "cnn_rnn_no_difference",
    f"every gap in final test accuracy between the CNN and a recurrent model is within "
    f"{100 * CLEAR_GAP:.0f} pp and a two-sided Welch t-test over seeds finds none "
    f"(p ≥ {ALPHA:g}); a larger gap is a difference whatever the test says (a few seeds give "
    f"the test little power); with one seed, gaps within {100 * CLEAR_GAP:.0f} pp are not "
    "testable.",
)(lambda g: claim_cnn_rnn_no_difference(g.stats, g.dataset))
rule(
    "near_perfect_by_1000",
    f"the seed-mean test accuracy reaches {100 * NEAR_PERFECT:.0f}% by iteration "
    f"{AROUND_FACTOR * 1000:.0f} for every model.",
)(lambda g: claim_near_perfect_by_1000(g.stats, g.dataset))
rule(
    "loss_below_by_1000",
    f"the seed-mean train loss falls below {LOSS_LEVEL:g} by iteration "
    f"{AROUND_FACTOR * 1000:.0f} for every model.",
)(lambda g: claim_loss_below(g.stats, g.dataset))
