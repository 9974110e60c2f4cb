"""NCCIS destination records rendered from each young person's drawn outcome.

A positive outcome (drawn from the true probability) becomes NEET codes mostly, Not Known codes often and
an "Other" code (custody 290 for pupils known to youth justice, refugee 720 for some EAL pupils) now and
then, recorded in October-November and/or January-February after Year 11. A negative one becomes EET
codes in both. Later years' records (academic age 17 and 18) follow the young person on. A few per cent of
young people have no record at all (moved away), chosen at random, so "no outcome" is unrelated to risk.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import numpy as np
import pandas as pd

from riskengine.spec import destinations as spec
from riskengine.spec.upload import TERMS, year_start
from riskengine.synth.population import choose

MOVED_AWAY_SHARE: Final = 0.03
#: Month-day the data stands at, per as-of term: a term's data is complete by its end.
AS_OF_MONTH_DAY: Final = {"autumn": (0, "12-01"), "spring": (1, "04-01"), "summer": (1, "07-20")}

EET_CODES: Final = {210: 0.33, 220: 0.12, 230: 0.38, 310: 0.07, 250: 0.01, 270: 0.01, 320: 0.01,
                    330: 0.02, 340: 0.01, 360: 0.01, 410: 0.02, 430: 0.01}  # fmt: skip
EET_CODES_ACADEMIC: Final = {210: 0.55, 220: 0.25, 230: 0.15, 310: 0.05}
EET_CODES_EHC: Final = {230: 0.45, 280: 0.2, 210: 0.15, 460: 0.08, 410: 0.05, 310: 0.03, 220: 0.04}
NEET_CODES: Final = {619: 0.42, 610: 0.14, 640: 0.10, 680: 0.05, 615: 0.06, 616: 0.05, 530: 0.06, 630: 0.03,
                     650: 0.01, 620: 0.02, 670: 0.03, 540: 0.02, 550: 0.01}  # fmt: skip
NOT_KNOWN_CODES: Final = {810: 0.60, 820: 0.35, 830: 0.05}
NOT_KNOWN_SHARE: Final = 0.4  # of positive outcomes (England 16-17s: ~2.5% NEET and ~2.5% not known)

UNDER_RECORD_ATTRIBUTES: Final = ("sex", "ethnicity", "ethnic_group")


def as_of_date(as_of: tuple[str, str]) -> pd.Timestamp:
    """The date by which an as-of term's data is complete (autumn: 1 December)."""
    if as_of[1] not in TERMS:
        raise ValueError(f"unknown term {as_of[1]!r}")
    offset, month_day = AS_OF_MONTH_DAY[as_of[1]]
    return pd.Timestamp(f"{year_start(as_of[0]) + offset}-{month_day}")


def _dates(rng: np.random.Generator, years: np.ndarray, month_day: str, span_days: int) -> np.ndarray:
    """A random day in the `span_days` from `month_day` of each of `years`."""
    start = pd.to_datetime(pd.Series(years).astype(str) + "-" + month_day).to_numpy("datetime64[D]")
    return start + rng.integers(0, span_days, len(years)).astype("timedelta64[D]")


def check_under_record(under_record: Mapping[str, object] | None) -> None:
    """Raise ValueError unless `under_record` is None or a valid bias specification."""
    if under_record is None:
        return
    unknown = set(under_record) - {"attribute", "group", "share", "record_as"}
    if unknown or under_record.get("attribute") not in UNDER_RECORD_ATTRIBUTES:
        raise ValueError(
            "under_record needs attribute (one of sex, ethnicity, ethnic_group), group, share (0-1) and "
            "optionally record_as ('eet' or 'missing')"
        )
    if not 0.0 <= float(under_record.get("share", -1)) <= 1.0:  # type: ignore[arg-type]
        raise ValueError("under_record share must lie between 0 and 1")
    if under_record.get("record_as", "eet") not in ("eet", "missing"):
        raise ValueError("under_record record_as must be 'eet' or 'missing'")


def draw_destinations(people: pd.DataFrame, as_of: tuple[str, str], rng: np.random.Generator) -> pd.DataFrame:
    """NCCIS rows for `people` (one row each, in a fixed order) who have a record.

    `people` needs: upn, year11_start, outcome (positive drawn), recorded (has any record), shown_positive
    (the outcome as recorded), true_probability, youth_justice, eal, ehc_plan and ks2 (mean, NaN blank).
    """
    people = people[people["recorded"].to_numpy()]
    n = len(people)
    y = people["year11_start"].to_numpy()
    positive = people["shown_positive"].to_numpy()
    p = people["true_probability"].to_numpy()

    def eet() -> np.ndarray:
        general = choose(rng, EET_CODES, n)
        academic = choose(rng, EET_CODES_ACADEMIC, n)
        ehc = choose(rng, EET_CODES_EHC, n)
        return np.where(people["ehc_plan"], ehc, np.where(people["ks2"].fillna(0) >= 108, academic, general))

    def not_eet() -> np.ndarray:
        kind = rng.random(n)
        other = np.where(people["youth_justice"], 290, 720)
        other_chance = np.where(people["youth_justice"], 0.35, np.where(people["eal"], 0.08, 0.0))
        return np.where(
            kind < other_chance,
            other,
            np.where(
                kind < other_chance + NOT_KNOWN_SHARE,
                choose(rng, NOT_KNOWN_CODES, n),
                choose(rng, NEET_CODES, n),
            ),
        )

    first_eet = eet()
    # Positive cases: Oct/Nov record NEET-type in 70%; otherwise they drop out of EET by Jan/Feb.
    autumn_positive = positive & (rng.random(n) < 0.7)
    winter_positive = positive & (~autumn_positive | (rng.random(n) < 0.6))
    winter_eet = np.where(rng.random(n) < 0.85, first_eet, eet())
    autumn_code = np.where(autumn_positive, not_eet(), first_eet)
    winter_code = np.where(winter_positive, not_eet(), winter_eet)
    later_positive = rng.random((2, n)) < np.where(positive, 0.45, 0.5 * p)
    slots = [
        # (codes, dates, academic age, kept)
        (np.full(n, 110), _dates(rng, y + 1, "01-10", 60), pd.NA, rng.random(n) < 0.25),
        (autumn_code, _dates(rng, y + 1, "10-01", 61), 16, np.ones(n, dtype=bool)),
        (winter_code, _dates(rng, y + 2, "01-05", 55), 16, np.ones(n, dtype=bool)),
        (
            np.where(later_positive[0], not_eet(), winter_eet),
            _dates(rng, y + 2, "10-01", 61),
            17,
            np.ones(n, bool),
        ),
        (
            np.where(later_positive[1], not_eet(), eet()),
            _dates(rng, y + 3, "10-01", 61),
            18,
            np.ones(n, bool),
        ),
    ]
    # Some young people have a single confirmation that year when both would say the same.
    single = (autumn_positive == winter_positive) & (rng.random(n) < 0.08)
    drop_autumn = rng.random(n) < 0.5
    slots[1] = (*slots[1][:3], ~(single & drop_autumn))
    slots[2] = (*slots[2][:3], ~(single & ~drop_autumn))

    upn = people["upn"].to_numpy()
    frames = [
        pd.DataFrame(
            {
                "upn": upn[kept],
                "activity_code": codes[kept],
                "activity_date": dates[kept],
                "academic_age": age,
            }
        )
        for codes, dates, age, kept in slots
    ]
    records = pd.concat(frames, ignore_index=True)
    records = records[records["activity_date"] <= as_of_date(as_of)]
    records = records.sort_values(["upn", "activity_date", "activity_code"], kind="stable", ignore_index=True)
    records["activity_date"] = records["activity_date"].astype("datetime64[ns]")
    return records.astype(spec.canonical_dtypes())[list(spec.COLUMNS)]
