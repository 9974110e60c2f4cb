"""Which cohorts count is decided by the destinations extract's as-of date, by one function, and every cohort
left out is named with why, how many pupils and what to do; every output names a cohort the same way."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from riskengine.cohorts import CLOSED, FEW_RECORDS, NO_RECORDS, OPEN, cohort_name, outcome_windows
from riskengine.features import load_catalogue
from riskengine.model import build_training_frame, load_model_spec
from riskengine.outcomes import load_outcome_definition, window_end, year11_start
from riskengine.synth import generate

DEFINITION = load_outcome_definition()


def pupils(start: int, n: int, prefix: str) -> pd.Series:
    return pd.Series(start, index=pd.Index([f"{prefix}{i:04d}" for i in range(n)], name="upn"))


def records(upns, day: str, code: int = 220) -> pd.DataFrame:
    upns = list(upns)
    return pd.DataFrame(
        {
            "upn": pd.array(upns, dtype="string"),
            "activity_code": pd.array([code] * len(upns), dtype="Int64"),
            "activity_date": pd.to_datetime([day] * len(upns)),
            "academic_age": pd.array([16] * len(upns), dtype="Int64"),
        }
    )


def test_cohort_names_say_when_pupils_left_year_11() -> None:
    assert cohort_name(2022) == "left Year 11 in summer 2023"
    assert window_end(2022, DEFINITION) == dt.date(2024, 3, 31)


def test_a_cohort_whose_records_all_lie_inside_its_window_closes_by_the_as_of_date() -> None:
    year11 = pd.concat(
        [pupils(2020, 20, "N"), pupils(2021, 40, "F"), pupils(2022, 50, "C"), pupils(2023, 30, "O")]
    )
    destinations = pd.concat(
        [
            records(year11.index[year11 == 2021][:10], "2022-11-01"),  # a quarter covered
            records(year11.index[year11 == 2022], "2023-11-01"),  # every record inside the window
            records(year11.index[year11 == 2023], "2024-11-01"),
        ],
        ignore_index=True,
    )

    windows = outcome_windows(year11, destinations, as_of="2024-04-30", definition=DEFINITION)

    status = windows.table.set_index("year11_start")["status"].to_dict()
    assert status == {2020: NO_RECORDS, 2021: FEW_RECORDS, 2022: CLOSED, 2023: OPEN}
    assert windows.included_starts() == [2021, 2022]
    assert windows.included(year11).sum() == 40 + 50
    notices = windows.notices()
    assert len(notices) == 3
    no_records, few, still_open = notices
    assert "Left out left Year 11 in summer 2021 (20 pupils)" in no_records
    assert "none of its pupils has a destination record" in no_records
    assert "25%" in few and "left Year 11 in summer 2022" in few and "40 pupils" in few
    assert "Left out left Year 11 in summer 2024 (30 pupils)" in still_open
    assert "runs to 31 March 2025" in still_open and "30 April 2024" in still_open and "--as-of" in still_open
    # The day the window ends is enough.
    assert 2023 in outcome_windows(year11, destinations, "2025-03-31", DEFINITION).included_starts()


@pytest.fixture(scope="module")
def la_with_november_records():
    """A generated LA whose NCCIS rows are one per young person, dated 1 November after Year 11 (as many
    local authorities' extracts are): no record ever lies after the window's end."""
    la = generate(pupils=240, cohorts=9, schools=2, seed=21)
    year11 = year11_start(la.pupil_terms)
    first = la.destinations.drop_duplicates("upn").copy()
    first = first[first["upn"].isin(year11.index)]
    starts = first["upn"].map(year11).astype(int)
    first["activity_date"] = pd.to_datetime((starts + 1).astype(str) + "-11-01").to_numpy()
    return la, first.reset_index(drop=True)


def test_training_counts_every_closed_cohort_and_names_the_one_left_out(la_with_november_records) -> None:
    la, destinations = la_with_november_records
    spec, catalogue = load_model_spec(), load_catalogue()
    newest = int(destinations["activity_date"].max().year)  # the newest cohort's November
    as_of = dt.date(newest, 12, 1)  # its window (to March) is still open

    frame = build_training_frame(la.pupil_terms, destinations, spec, catalogue, as_of=as_of)

    cohorts = sorted(frame.cohort.unique())
    assert len(cohorts) >= 2  # the bug: none of these closed when only activity dates were looked at
    assert all(c.startswith("left Year 11 in summer ") for c in cohorts)
    assert cohort_name(newest - 1) not in cohorts
    assert any(f"Left out {cohort_name(newest - 1)}" in line for line in frame.cohort_notices)
    assert frame.n_window_open > 0 and frame.fingerprint()["destinations_as_of"] == as_of.isoformat()

    later = build_training_frame(
        la.pupil_terms, destinations, spec, catalogue, as_of=dt.date(newest + 1, 4, 1)
    )
    assert cohort_name(newest - 1) in set(later.cohort)  # the same data, a later extract: now it counts
    assert np.array_equal(sorted(later.cohort.unique())[:-1], cohorts)
