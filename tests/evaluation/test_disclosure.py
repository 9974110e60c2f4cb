"""Disclosure control: small counts never shown, rates on them blanked, none recoverable by subtraction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from disclosure_check import recoverable, small_counts_shown

from riskengine.evaluation.disclosure import WITHHELD, DisclosureSettings, format_count, protect

SETTINGS = DisclosureSettings(threshold=10, round_to=None)


def _groups(pupils: list[int], flagged: list[int], attribute: str = "sex") -> pd.DataFrame:
    frame = pd.DataFrame({"attribute": attribute, "group": [f"g{i}" for i in range(len(pupils))]})
    frame["pupils"] = pupils
    frame["flagged"] = flagged
    frame["selection_rate"] = frame["flagged"] / frame["pupils"]
    return frame


def test_small_counts_read_fewer_than_and_their_rates_are_blank() -> None:
    frame = _groups([120, 4, 60], [30, 2, 0])
    out = protect(frame, counts=["pupils", "flagged"], rates=["selection_rate"], settings=SETTINGS)
    assert out.loc[1, "pupils"] == "fewer than 10"
    assert out.loc[1, "flagged"] == "fewer than 10"
    assert np.isnan(out.loc[1, "selection_rate"])
    assert out.loc[0, "pupils"] == 120 and isinstance(out.loc[0, "pupils"], int)
    assert out.loc[2, "flagged"] == 0  # zero is not a small count
    assert out.loc[0, "selection_rate"] == pytest.approx(0.25)
    assert small_counts_shown(out, ["pupils", "flagged"], 10) == []


def test_a_lone_small_group_cannot_be_worked_out_from_its_total() -> None:
    frame = _groups([120, 4, 60], [30, 2, 20])
    margins = [{"column": "pupils", "by": ["attribute"]}]
    out = protect(
        frame, counts=["pupils", "flagged"], rates=["selection_rate"], margins=margins, settings=SETTINGS
    )
    assert out.loc[1, "pupils"] == "fewer than 10"
    assert out.loc[2, "pupils"] == WITHHELD  # the smallest other group, so 184 - 120 - x has two unknowns
    assert out.loc[0, "pupils"] == 120
    assert recoverable(frame, out, margins, 10) == []


def test_flagged_against_not_flagged_hides_a_small_remainder() -> None:
    frame = _groups([100, 100, 50], [95, 40, 5])
    margins = [{"total": "pupils", "parts": ["flagged"]}]
    out = protect(
        frame, counts=["pupils", "flagged"], rates=["selection_rate"], margins=margins, settings=SETTINGS
    )
    assert out.loc[0, "flagged"] == WITHHELD  # 100 - 95 would give 5 pupils not flagged
    assert np.isnan(out.loc[0, "selection_rate"])
    assert out.loc[0, "pupils"] == 100
    assert out.loc[1, "flagged"] == 40
    assert out.loc[2, "flagged"] == "fewer than 10"
    assert recoverable(frame, out, margins, 10) == []


def test_rates_named_with_their_counts_blank_only_on_those() -> None:
    frame = _groups([100, 100], [5, 50]).assign(positives=[50, 5], base_rate=[0.5, 0.05])
    out = protect(
        frame,
        counts=["pupils", "flagged", "positives"],
        rates={"selection_rate": ["pupils", "flagged"], "base_rate": "positives"},
        settings=SETTINGS,
    )
    assert np.isnan(out.loc[0, "selection_rate"]) and out.loc[0, "base_rate"] == 0.5
    assert np.isnan(out.loc[1, "base_rate"]) and out.loc[1, "selection_rate"] == 0.5


def test_rounding_to_five_where_set() -> None:
    frame = _groups([123, 4, 67], [31, 2, 20])
    out = protect(frame, counts=["pupils", "flagged"], settings=DisclosureSettings(threshold=10, round_to=5))
    assert list(out["pupils"]) == [125, "fewer than 10", 65]
    assert list(out["flagged"]) == [30, "fewer than 10", 20]


@pytest.mark.parametrize("seed", range(40))
def test_random_tables_leave_nothing_small_or_recoverable(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = int(rng.integers(2, 12))
    pupils = rng.choice([0, 1, 3, 8, 12, 25, 40, 200], size=rows)
    flagged = np.floor(pupils * rng.uniform(0, 1, size=rows)).astype(int)
    frame = _groups(list(pupils), list(flagged), attribute="a")
    frame["attribute"] = rng.choice(["a", "b"], size=rows)
    margins = [
        {"column": "pupils", "by": ["attribute"]},
        {"column": "flagged", "by": ["attribute"]},
        {"total": "pupils", "parts": ["flagged"]},
    ]
    out = protect(
        frame, counts=["pupils", "flagged"], rates=["selection_rate"], margins=margins, settings=SETTINGS
    )
    assert small_counts_shown(out, ["pupils", "flagged"], 10) == []
    assert recoverable(frame, out, margins, 10) == []
    hidden = out[["pupils", "flagged"]].map(lambda c: isinstance(c, str)).any(axis=1)
    assert out.loc[hidden, "selection_rate"].isna().all()


def test_format_count_in_sentences() -> None:
    assert format_count(3, SETTINGS) == "fewer than 10"
    assert format_count(0, SETTINGS) == "0"
    assert format_count(12_345, SETTINGS) == "12,345"
    assert format_count(12_347, DisclosureSettings(round_to=5)) == "12,345"
    assert format_count(None, SETTINGS) == ""


def test_settings_come_from_the_audit_file(tmp_path) -> None:
    shipped = DisclosureSettings.load()
    assert shipped.threshold == 10
    path = tmp_path / "audit.yaml"
    path.write_text("disclosure:\n  threshold: 5\n  round_to: 5\n")
    assert DisclosureSettings.load(path) == DisclosureSettings(threshold=5, round_to=5)
    path.write_text("disclosure:\n  treshold: 5\n")
    with pytest.raises(ValueError, match="treshold"):
        DisclosureSettings.load(path)
