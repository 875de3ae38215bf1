"""Sentence builders whose edge cases (none reached, all tied, one run, zero counts) read right.

Small pure functions over numbers the report already has; ``tests/report/test_wording.py``
checks each on its edge cases.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

DATASET_NAMES = ("CIFAR-10", "CIFAR10", "MNIST")


def reach_phrase(threshold: str, steps_text: str) -> str:
    """``reaches 40% at iteration 1200``, or ``never reaches 40%`` (not ``at never``).

    Args:
        threshold: the threshold as shown, e.g. ``"40%"``.
        steps_text: :func:`convscope.report.stats.fmt_steps` of the runs (``"never"`` if none).
    """
    if steps_text == "never":
        return f"never reaches {threshold}"
    return f"reaches {threshold} at iteration {steps_text}"


def fastest_slowest(
    threshold: str, hit: Sequence[tuple[str, float, str]], never: Sequence[str]
) -> str:
    """The "iterations to reach" sentence over configurations.

    Args:
        threshold: e.g. ``"40%"``.
        hit: ``(label, mean iterations, shown iterations)`` of the configurations that reached
            it, in any order.
        never: labels of those that did not.
    """

    def names(labels: Sequence[str]) -> str:
        return ", ".join(f"`{n}`" for n in labels)

    if not hit:
        if not never:
            return f"No configuration to compare against {threshold} test accuracy."
        return f"No configuration reached {threshold} test accuracy ({names(never)})."
    hit = sorted(hit, key=lambda t: t[1])
    first, last = hit[0], hit[-1]
    if len(hit) == 1:
        text = f"Only `{first[0]}` reached {threshold} test accuracy, at iteration {first[2]}"
        if not never:
            text = f"`{first[0]}` reached {threshold} test accuracy at iteration {first[2]}"
    elif first[1] == last[1]:
        text = (
            f"All {len(hit)} configurations that reached {threshold} test accuracy did so at "
            f"the same iteration, {first[2]}: {names([h[0] for h in hit])}"
        )
    else:
        tied = [h[0] for h in hit if h[1] == first[1]]
        lead = f"`{first[0]}`" if len(tied) == 1 else f"{names(tied)} (tied)"
        text = (
            f"Fastest to {threshold} test accuracy: {lead} at iteration {first[2]}; slowest "
            f"that got there: `{last[0]}` at {last[2]}"
        )
    if never:
        text += f"; never reached it: {names(never)}"
    return text + "."


def data_title(title: str, dataset: str) -> str:
    """A group title that names a data set the runs did not use (the built-in digits replaced
    it) says so: ``LeNet5 on CIFAR10`` -> ``LeNet5 on the built-in digits (in place of
    CIFAR10)``. Titles that match their data are returned unchanged."""
    if "digits" not in dataset.lower():
        return title
    pattern = re.compile("|".join(re.escape(n) for n in DATASET_NAMES))
    return pattern.sub(lambda m: f"the built-in digits (in place of {m.group(0)})", title, count=1)


def join_sentences(*parts: str) -> str:
    """Join sentences, dropping one that only repeats what an earlier one said (case and
    punctuation aside), e.g. a title's "(same iteration axis)" then "All models on the same
    iteration axis."."""
    kept: list[str] = []
    seen: list[str] = []
    for p in parts:
        p = p.strip()
        if not p:
            continue
        key = re.sub(r"[^a-z0-9 ]", "", p.lower())
        key = re.sub(r"^(all models (are )?on |on )?(the )?", "", key).strip()
        if any(key and key in s for s in seen):
            continue
        seen.append(re.sub(r"[^a-z0-9 ]", "", p.lower()))
        kept.append(p)
    return " ".join(kept)


def share_phrase(n: int, total: int, what: str) -> str:
    """``none is fit with R^2 > 0.8``, ``1 of 32 is ...``, ``all 32 are ...``, ``5 of 32 are``.

    ``what`` is the predicate after the verb, e.g. ``"fit with R^2 > 0.8"``.
    """
    if total <= 0:
        return f"there is nothing to be {what}"
    if n == 0:
        return f"none is {what}"
    if n == total:
        return f"all {total} are {what}" if total > 1 else f"the only one is {what}"
    return f"{n} of {total} {'is' if n == 1 else 'are'} {what}"


def dead_units_headline(d: dict) -> str | None:
    """The dead-unit finding of ``dead_units.json`` in one sentence, or None if there is none:
    ``62% of conv2's 64 maps and 47% of fc1's 1024 units never activate on the 1000 test
    images; on the fixed batch most were already dead at iteration 25.``"""
    layers = d.get("layers")
    if not isinstance(layers, dict):
        return None
    parts, early = [], []
    over = d.get("on_fixed_batch_over_training") or {}
    for name, v in layers.items():
        if not isinstance(v, dict) or not v.get("n_dead"):
            continue
        what = "maps" if v.get("kind") == "conv" else "units"
        frac = v.get("dead_fraction") or v["n_dead"] / max(int(v.get("n_units") or 1), 1)
        module = v.get("layer") or name
        parts.append(f"{100 * frac:.1f}% of {module}'s {v.get('n_units')} {what}")
        series = over.get(name) if isinstance(over, dict) else None
        if isinstance(series, dict) and len(series.get("n_dead") or []) > 1:
            steps, dead = series["steps"], series["n_dead"]
            final = dead[-1]
            first = next((s for s, n in zip(steps, dead) if final and n >= 0.8 * final), None)
            if first is not None and first < steps[-1]:
                early.append((module, first))
    if not parts:
        return None
    text = " and ".join([", ".join(parts[:-1]), parts[-1]] if len(parts) > 1 else parts)
    text = text[0].upper() + text[1:] if not text[0].isdigit() else text
    text += (
        f" never activate on the {d.get('n_images', '?')} test images (step {d.get('step', '?')})"
    )
    if early:
        at = sorted({s for _, s in early})
        when = f"iteration {at[0]}" if len(at) == 1 else f"iterations {', '.join(map(str, at))}"
        text += f"; on the fixed batch, most of them were already dead by {when}"
    return text + "; on these images they contribute nothing to the prediction."
