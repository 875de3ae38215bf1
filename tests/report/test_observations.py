"""Claim rules and sentences, from hand-chosen numbers (the 1.3/1.4 verdicts are the studies')."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from convscope.analysis.gabor import summarize_r2
from convscope.models import _import_file
from convscope.report import observations as obs
from convscope.report import stats
from convscope.report.document import NOT_SUPPORTED, NOT_TESTABLE, SUPPORTED

# the assignment's claim rules: a plugin beside experiments/assignment2.toml
cl = _import_file(Path(__file__).resolve().parents[2] / "experiments" / "assignment2_claims.py")


def make(
    label: str,
    *,
    final: list[float],
    speed: list[float] | None = None,
    optimizer: str = "adam",
    lr: float = 1e-3,
    momentum: float = 0.0,
    model: str = "lenet5",
    hidden: int = 128,
    curves: dict[str, tuple[list[int], list[float]]] | None = None,
    diverged: list[int] | None = None,
    last_step: int = 1000,
) -> obs.ConfigStats:
    """A configuration with the given numbers (one list entry per seed)."""
    agg = {m: stats.aggregate([(np.array(s), np.array(v))]) for m, (s, v) in (curves or {}).items()}
    config: dict[str, Any] = {
        "model": {"model": model, "hidden_size": hidden},
        "optim": {"optimizer": optimizer, "lr": lr, "momentum": momentum},
    }
    return obs.ConfigStats(
        label=label,
        config=config,
        n_runs=len(final),
        best=list(final),
        final=list(final),
        to_threshold=[None] * len(final),
        speed=speed if speed is not None else list(final),
        diverged_steps=diverged or [],
        last_steps=[last_step] * len(final),
        agg=agg,
        statuses=["completed"] * len(final),
    )


def test_accuracy_threshold_choices() -> None:
    assert obs.accuracy_threshold("CIFAR10", 10, 0.5)[0] == 0.40
    assert obs.accuracy_threshold("MNIST", 10, 0.99)[0] == 0.95
    # other data: half-way from chance (10%) to best (90%) = 50%
    thr, why = obs.accuracy_threshold("digits", 10, 0.90)
    assert thr == pytest.approx(0.5) and "half-way" in why
    # rounded down to 5%: chance 10%, best 83% -> 46.5% -> 45%
    assert obs.accuracy_threshold("bars", 10, 0.83)[0] == pytest.approx(0.45)


# --- 1.2 -----------------------------------------------------------------------------------------
def adam(lrs_speeds: list[tuple[float, float]]) -> list[obs.ConfigStats]:
    return [make(f"adam_lr={lr:g}", final=[s], speed=[s], lr=lr) for lr, s in lrs_speeds]


def test_adam_lr_claim() -> None:
    ok = cl.claim_adam_lr(adam([(1e-5, 0.2), (1e-4, 0.3), (1e-3, 0.45)]), 1000, 0.4)
    assert ok.verdict == SUPPORTED and "ρ(lr, speed) = 1.00" in ok.evidence
    bad = cl.claim_adam_lr(adam([(1e-5, 0.2), (1e-4, 0.5), (1e-3, 0.45)]), 1000, 0.4)
    assert bad.verdict == NOT_SUPPORTED
    assert "lr 0.001 was not faster than lr 0.0001" in bad.evidence
    assert cl.claim_adam_lr(adam([(1e-3, 0.5)]), 1000, 0.4).verdict == NOT_TESTABLE


def rms(finals: dict[float, float], std: float = 0.0) -> list[obs.ConfigStats]:
    return [
        make(
            f"rms_m={m:g}",
            final=[f - std, f + std] if std else [f],
            optimizer="rmsprop",
            lr=1e-4,
            momentum=m,
        )
        for m, f in finals.items()
    ]


def test_rmsprop_extremes_claim() -> None:
    good = rms({0.0: 0.30, 0.5: 0.55, 0.75: 0.56, 1.0: 0.10})
    assert cl.claim_rmsprop_extremes(good).verdict == SUPPORTED
    # momentum 0 only 2 pp worse than the worse middle: not "terrible"
    close = rms({0.0: 0.53, 0.5: 0.55, 0.75: 0.56, 1.0: 0.10})
    c = cl.claim_rmsprop_extremes(close)
    assert c.verdict == NOT_SUPPORTED and "momentum 0: 53.0%, -2.0 pp" in c.evidence
    assert cl.claim_rmsprop_extremes(rms({0.0: 0.3, 0.5: 0.5})).verdict == NOT_TESTABLE


def test_rmsprop_vs_adam_claim() -> None:
    a = adam([(1e-4, 0.45), (1e-3, 0.55)])
    # within the 1 pp tolerance of Adam 1e-3 (the highest Adam lr above 1e-4)
    eq = cl.claim_rmsprop_vs_adam(a + rms({0.5: 0.545, 0.75: 0.56}))
    assert eq.verdict == SUPPORTED and "Adam lr 0.001" in eq.evidence
    worse = cl.claim_rmsprop_vs_adam(a + rms({0.5: 0.52, 0.75: 0.56}))
    assert worse.verdict == NOT_SUPPORTED
    # seed spread widens the tolerance: std ~2.1 pp -> tolerance ~4.2 pp
    noisy = cl.claim_rmsprop_vs_adam(a + rms({0.5: 0.52, 0.75: 0.56}, std=0.015))
    assert noisy.verdict == SUPPORTED
    no_adam = cl.claim_rmsprop_vs_adam(adam([(1e-5, 0.3)]) + rms({0.5: 0.5, 0.75: 0.5}))
    assert no_adam.verdict == NOT_TESTABLE


# --- 3.1 -----------------------------------------------------------------------------------------
def rnn(values: dict[tuple[str, int], tuple[float, float]]) -> list[obs.ConfigStats]:
    """(cell, hidden) -> (final accuracy, speed)."""
    return [
        make(f"{c}_{h}", final=[f], speed=[s], model=c, hidden=h)
        for (c, h), (f, s) in values.items()
    ]


GOOD_RNN = {
    ("lstm", 32): (0.960, 0.90),
    ("lstm", 64): (0.975, 0.93),
    ("gru", 32): (0.963, 0.91),
    ("gru", 64): (0.978, 0.94),
}


def test_hidden_units_claim() -> None:
    assert cl.claim_hidden_units(rnn(GOOD_RNN), 1000).verdict == SUPPORTED
    slower = dict(GOOD_RNN)
    slower[("gru", 64)] = (0.978, 0.80)  # more accurate but slower
    c = cl.claim_hidden_units(rnn(slower), 1000)
    assert (
        c.verdict == NOT_SUPPORTED and "GRU h=32/64: speed 91.0% → 80.0% (not rising)" in c.evidence
    )
    assert cl.claim_hidden_units(rnn({("gru", 32): (0.9, 0.8)}), 1000).verdict == NOT_TESTABLE


def test_gru_vs_lstm_claims() -> None:
    c = cl.claim_gru_beats_lstm(rnn(GOOD_RNN))
    assert c.verdict == SUPPORTED and "2 of 2" in c.evidence and "+0.3 pp" in c.evidence
    mixed = dict(GOOD_RNN)
    mixed[("gru", 64)] = (0.970, 0.94)
    c = cl.claim_gru_beats_lstm(rnn(mixed))
    assert c.verdict == NOT_SUPPORTED and "1 of 2" in c.evidence
    # |GRU-LSTM| = 0.3 pp, hidden-size range 1.5 pp -> ratio 0.2
    v = cl.claim_gru_lstm_variation(rnn(GOOD_RNN))
    assert v.verdict == SUPPORTED and "ratio 0.20" in v.evidence
    big = dict(GOOD_RNN)
    big[("gru", 32)] = (
        0.972,
        0.9,
    )  # |diff| (1.2 + 0.3)/2 = 0.75 pp; range (0.6+1.5)/2 -> ratio > 0.5
    assert cl.claim_gru_lstm_variation(rnn(big)).verdict == NOT_SUPPORTED
    assert cl.claim_gru_beats_lstm(rnn({("gru", 32): (0.9, 0.8)})).verdict == NOT_TESTABLE


def test_hidden_size_sentences_rank_cells() -> None:
    s = obs.hidden_size_sentences(rnn(GOOD_RNN))
    assert "h=32: GRU 96.3% > LSTM 96.0% (spread 0.3 pp)." in s
    assert any(x.startswith("GRU: best hidden size 64") for x in s)


# --- 3.2 -----------------------------------------------------------------------------------------
def curve_model(
    label: str, model: str, reach: int | None, last: int, finals: list[float]
) -> obs.ConfigStats:
    """Test accuracy 0.5 until ``reach``, then 0.97; loss 1.0 then 0.1 (same step)."""
    steps = list(range(100, last + 1, 100))
    acc = [0.97 if reach is not None and s >= reach else 0.5 for s in steps]
    loss = [0.1 if reach is not None and s >= reach else 1.0 for s in steps]
    return make(
        label,
        final=finals,
        model=model,
        curves={"test_accuracy": (steps, acc), "train_loss": (steps, loss)},
        last_step=last,
    )


def test_near_perfect_and_loss_claims() -> None:
    cs = [
        curve_model("cnn", "lenet5", 800, 3000, [0.98]),
        curve_model("gru", "gru", 1200, 3000, [0.97]),
    ]
    c = cl.claim_near_perfect_by_1000(cs, "MNIST")
    assert c.verdict == SUPPORTED and "`cnn` at iteration 800" in c.evidence
    assert cl.claim_loss_below(cs, "MNIST").verdict == SUPPORTED
    late = [cs[0], curve_model("gru", "gru", 2500, 3000, [0.97])]
    assert cl.claim_near_perfect_by_1000(late, "MNIST").verdict == NOT_SUPPORTED
    never = [cs[0], curve_model("gru", "gru", None, 3000, [0.5])]
    c = cl.claim_near_perfect_by_1000(never, "MNIST")
    assert c.verdict == NOT_SUPPORTED and "never (ran 3000 iterations)" in c.evidence
    short = [curve_model("cnn", "lenet5", None, 500, [0.5])]
    c = cl.claim_near_perfect_by_1000(short, "digits")
    assert c.verdict == NOT_TESTABLE
    assert c.evidence.startswith("On digits (the reference used MNIST)")


def test_cnn_rnn_difference_claim() -> None:
    cnn = make("cnn", final=[0.985, 0.987, 0.986], model="lenet5")
    same = make("gru", final=[0.986, 0.984, 0.988], model="gru")
    worse = make("rnn", final=[0.90, 0.91, 0.905], model="rnn")
    assert cl.claim_cnn_rnn_no_difference([cnn, same], "MNIST").verdict == SUPPORTED
    c = cl.claim_cnn_rnn_no_difference([cnn, same, worse], "MNIST")
    assert c.verdict == NOT_SUPPORTED and "Welch p" in c.evidence
    one = cl.claim_cnn_rnn_no_difference(
        [make("cnn", final=[0.98]), make("gru", final=[0.97], model="gru")], "MNIST"
    )
    assert one.verdict == NOT_TESTABLE and "One seed" in one.evidence
    far = cl.claim_cnn_rnn_no_difference(
        [make("cnn", final=[0.98]), make("rnn", final=[0.50], model="rnn")], "MNIST"
    )
    assert far.verdict == NOT_SUPPORTED and "real difference" in far.evidence
    # two noisy seeds: Welch finds nothing, but a 45 pp gap is still a difference
    noisy = cl.claim_cnn_rnn_no_difference(
        [make("cnn", final=[0.95, 0.91]), make("gru", final=[0.54, 0.42], model="gru")], "MNIST"
    )
    assert noisy.verdict == NOT_SUPPORTED


# --- 1.3 / 1.4: the verdicts the studies save ------------------------------------------------------
def test_gabor_verdict() -> None:
    from convscope.analysis.gabor import compare_gabor
    from convscope.studies.filters import gabor_verdict

    trained = summarize_r2(np.array([0.9, 0.85, 0.7, 0.6, 0.55, 0.3]))
    init = summarize_r2(np.array([0.2, 0.3, 0.1, 0.45, 0.35, 0.25]))
    v = gabor_verdict(compare_gabor(trained, init, paired=True), trained, init)
    assert v.verdict == SUPPORTED and "5 of 6 trained filters (83.3%)" in v.evidence
    same = gabor_verdict(compare_gabor(init, init, paired=True), init, init)
    assert same.verdict == NOT_SUPPORTED


def test_early_layers_verdict_is_the_convergence_rule() -> None:
    from convscope.studies.activations import early_layers_verdict

    def rows(*steps: int, last: int = 1000) -> list[dict[str, Any]]:
        kinds = ("conv", "conv", "linear", "logits")
        names = ("relu1", "relu2", "relu3", "fc2")
        return [
            {"layer": n, "kind": k, "settled_at": s, "last_step": last}
            for n, k, s in zip(names, kinds, steps)
        ]

    assert early_layers_verdict(rows(200, 300, 700, 900), 25).verdict == SUPPORTED
    v = early_layers_verdict(rows(200, 800, 700, 900), 25)
    assert v.verdict == NOT_SUPPORTED and "relu2: 800" in v.evidence
    # one record interval apart is "about the same time", not earlier
    assert early_layers_verdict(rows(200, 300, 320, 900), 25).verdict == NOT_SUPPORTED
    # the quick profile's case: conv layers at 325 and 375 of 400 do not settle first
    assert early_layers_verdict(rows(325, 375, 350, 400, last=400), 25).verdict == NOT_SUPPORTED
    # every layer settling in the last 10% of training: still changing, not an ordering
    v = early_layers_verdict(rows(920, 940, 960, 1000), 25)
    assert v.verdict == NOT_TESTABLE and "last 10% of training" in v.evidence
    assert early_layers_verdict(rows(200, 300)[:2], 25).verdict == NOT_TESTABLE


def test_ranking_and_divergence_sentences() -> None:
    cs = [
        make("a", final=[0.50]),
        make("b", final=[0.55]),
        make("c", final=[0.10], diverged=[300]),
    ]
    s = obs.ranking_sentences(cs)
    assert (
        s[0]
        == "Best configuration: `b` with 55.0% final test accuracy, +5.0 pp ahead of `a` (50.0%)."
    )
    assert s[1] == "Worst: `c` with 10.0%, -45.0 pp below the best."
    assert obs.divergence_sentence(cs) == "Diverged: `c` (1/1 seeds, at iteration 300)."
    assert obs.divergence_sentence(cs[:2]) == "No run diverged."
