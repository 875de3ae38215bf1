"""Sentence builders on their edge cases: none reached, all tied, one run, zero counts."""

from __future__ import annotations

from convscope.report.wording import (
    data_title,
    fastest_slowest,
    join_sentences,
    reach_phrase,
    share_phrase,
)


def test_reach_phrase_never_says_at_never() -> None:
    assert reach_phrase("40%", "never") == "never reaches 40%"
    assert reach_phrase("40%", "1200 ± 141") == "reaches 40% at iteration 1200 ± 141"


def test_fastest_slowest_none_reached() -> None:
    text = fastest_slowest("40%", [], ["a", "b"])
    assert text == "No configuration reached 40% test accuracy (`a`, `b`)."


def test_fastest_slowest_one_run() -> None:
    assert fastest_slowest("40%", [("a", 25.0, "25")], []) == (
        "`a` reached 40% test accuracy at iteration 25."
    )
    assert fastest_slowest("40%", [("a", 25.0, "25")], ["b"]) == (
        "Only `a` reached 40% test accuracy, at iteration 25; never reached it: `b`."
    )


def test_fastest_slowest_all_tied_names_no_fastest_or_slowest() -> None:
    text = fastest_slowest("40%", [("a", 25.0, "25"), ("b", 25.0, "25"), ("c", 25.0, "25")], [])
    assert "Fastest" not in text and "slowest" not in text
    assert text == (
        "All 3 configurations that reached 40% test accuracy did so at the same iteration, 25: "
        "`a`, `b`, `c`."
    )


def test_fastest_slowest_ordered_with_a_tie_for_first() -> None:
    text = fastest_slowest(
        "40%", [("slow", 300.0, "300"), ("a", 25.0, "25"), ("b", 25.0, "25")], ["x"]
    )
    assert text == (
        "Fastest to 40% test accuracy: `a`, `b` (tied) at iteration 25; slowest that got there: "
        "`slow` at 300; never reached it: `x`."
    )


def test_data_title_says_when_digits_replaced_the_data() -> None:
    t = "LeNet5 on CIFAR10: train/test accuracy and train loss"
    assert data_title(t, "digits") == (
        "LeNet5 on the built-in digits (in place of CIFAR10): train/test accuracy and train loss"
    )
    assert data_title(t, "CIFAR10") == t  # real data: unchanged
    assert data_title("Optimizers", "digits") == "Optimizers"  # names no data set


def test_join_sentences_drops_a_repeat() -> None:
    title = "LeNet5 against the recurrent models on MNIST (same iteration axis)."
    assert join_sentences(title, "All models on the same iteration axis.") == title
    assert join_sentences("A.", "B.") == "A. B."


def test_share_phrase_zero_one_all() -> None:
    what = "fit with R^2 > 0.8"
    assert share_phrase(0, 32, what) == "none is fit with R^2 > 0.8"
    assert share_phrase(1, 32, what) == "1 of 32 is fit with R^2 > 0.8"
    assert share_phrase(32, 32, what) == "all 32 are fit with R^2 > 0.8"
    assert share_phrase(5, 32, what) == "5 of 32 are fit with R^2 > 0.8"


def test_dead_units_headline_in_words() -> None:
    from convscope.report.wording import dead_units_headline

    layer = {"layer": "conv2", "kind": "conv", "n_units": 64, "n_dead": 40, "dead_fraction": 0.625}
    fc = {"layer": "fc1", "kind": "linear", "n_units": 1024, "n_dead": 482, "dead_fraction": 0.47}
    d = {
        "step": 400,
        "n_images": 1000,
        "layers": {
            "A": {"layer": "conv1", "kind": "conv", "n_units": 32, "n_dead": 0},
            "B": layer,
            "C": fc,
        },
        "on_fixed_batch_over_training": {
            "B": {"steps": [0, 25, 50, 400], "n_dead": [0, 46, 45, 44]},
            "C": {"steps": [0, 25, 50, 400], "n_dead": [52, 300, 480, 494]},
        },
    }
    text = dead_units_headline(d)
    assert text is not None
    assert text.startswith("62.5% of conv2's 64 maps and 47.0% of fc1's 1024 units never activate")
    assert "conv1" not in text  # no dead unit there
    assert "already dead by iterations 25, 50" in text
    none_dead = {"layers": {"A": {"layer": "conv1", "n_units": 32, "n_dead": 0}}}
    assert dead_units_headline(none_dead) is None
