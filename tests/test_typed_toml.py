"""The one coercion of TOML/CLI values: a run config's conversions and a study option's strict
check each accept, convert and refuse exactly what they did before."""

from __future__ import annotations

from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convscope.errors import ConfigError
from convscope.studies.base import make_options
from convscope.typed_toml import coerce


def _fits_before(v: object, want: type) -> bool:
    """studies/base.py's check of a study option before the merge (the oracle)."""
    if want is float:
        return isinstance(v, int | float) and not isinstance(v, bool)
    if want is int:
        return isinstance(v, int) and not isinstance(v, bool)
    return isinstance(v, want)


VALUES = st.one_of(
    st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=5), st.none()
)


@settings(max_examples=400, deadline=None)
@given(VALUES, st.sampled_from([bool, int, float, str]))
def test_strict_is_the_study_options_check(v: object, want: type) -> None:
    if _fits_before(v, want):
        out = coerce("k", v, want, strict=True)
        assert out is v  # nothing converted: an int for a float stays the int
    else:
        with pytest.raises(ConfigError, match=f"expected {want.__name__}"):
            coerce("k", v, want, strict=True)


def test_run_config_conversions_pinned() -> None:
    assert coerce("lr", "0.1", float) == 0.1 and coerce("lr", 3, float) == 3.0
    assert isinstance(coerce("lr", 3, float), float)
    assert coerce("epochs", 4.0, int) == 4 and coerce("epochs", "12", int) == 12
    assert coerce("pin", "yes", bool) is True and coerce("pin", "0", bool) is False
    assert coerce("seeds", "1, 2 3", list[int]) == [1, 2, 3]
    assert coerce("hidden_size", "none", int | None) is None
    assert coerce("device", "cpu", Literal["auto", "cpu", "cuda"]) == "cpu"
    for key, value, ann, msg in (
        ("epochs", True, int, "config key 'epochs': expected an integer, got True"),
        ("lr", "x", float, "config key 'lr': expected a number, got 'x'"),
        ("pin", "maybe", bool, "config key 'pin': expected true or false, got 'maybe'"),
        ("name", 3, str, "config key 'name': expected a string, got 3"),
        ("seed", 2**64, int, "config key 'seed': 18446744073709551616 is out of range"),
    ):
        with pytest.raises(ConfigError) as e:
            coerce(key, value, ann)
        assert str(e.value).startswith(msg)


def test_study_option_message_pinned() -> None:
    from convscope.studies.base import resolve

    cls = resolve("occlusion")
    with pytest.raises(ConfigError) as e:
        make_options(cls, {"size": "7"}, "experiment.toml [analysis]")
    assert (
        str(e.value) == "experiment.toml [analysis]: option occlusion.size: expected int, got '7'"
    )
    assert make_options(cls, {"size": 7}, "w").size == 7
