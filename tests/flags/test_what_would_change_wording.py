"""How "what would change it" states the model's risk: a fall an adviser cannot see in whole percents (but
which can cross the model's line) is given to a tenth, never as "stays at"."""

from __future__ import annotations

from riskengine.flags.counterfactual import _effect


def test_a_fall_within_a_whole_percent_is_stated_in_tenths() -> None:
    assert (
        _effect(0.094, 0.091, 4, 3)
        == "model risk would fall from 9.4% to 9.1% and the rule points from 4 to 3"
    )
    assert (
        _effect(0.094, 0.091, 4, 4) == "model risk would fall from 9.4% to 9.1% (the rule points stay at 4)"
    )


def test_whole_percents_where_they_differ_and_stays_only_when_unchanged() -> None:
    assert (
        _effect(0.34, 0.15, 11, 8) == "model risk would fall from 34% to 15% and the rule points from 11 to 8"
    )
    assert (
        _effect(0.0941, 0.0940, 4, 3) == "the rule points would fall from 4 to 3 (model risk stays at 9.4%)"
    )
