"""Impact figures in the form local services publish them: NEET and Not Known rates at leaving, and days
spent NEET in the first six months after leaving, for flagged and unflagged pupils by school and cohort.

NEET and Not Known are always separate figures, because services are judged on both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskengine.cohorts import cohort_name
from riskengine.evaluation.inputs import member_of
from riskengine.spec.destinations import ACTIVITY_CODES, RE_ENGAGEMENT_CODE

ALL = "all"
NO_DESTINATIONS = "no destinations yet"
IMPACT_RATES = ("neet_rate", "not_known_rate", "no_outcome_rate", "mean_days_neet")


def days_neet_after_leaving(
    destinations: pd.DataFrame, cohort: pd.Series, re_engagement_is_eet: bool = False
) -> pd.Series:
    """Days NEET between 1 September after Year 11 and the end of the following February, per pupil.

    Each recorded activity lasts until the pupil's next record, or the end of the period; the activity
    recorded last before 1 September is the one in force on that day. Days before a pupil's first record
    are unknown, not NEET; pupils with no record before March have no figure (NaN).
    `cohort` maps upn -> start year of Year 11.
    """
    records = destinations[member_of(destinations["upn"], cohort.index)]
    codes = records["activity_code"].astype(int)
    category = codes.map({code: cat for code, (cat, _) in ACTIVITY_CODES.items()})
    neet = (category == "neet") & ~(re_engagement_is_eet & (codes == RE_ENGAGEMENT_CODE))
    frame = pd.DataFrame(
        {
            "upn": records["upn"].astype(str).to_numpy(),
            "date": pd.to_datetime(records["activity_date"]).to_numpy(),
            "neet": neet.to_numpy(),
        }
    ).sort_values(["upn", "date"], kind="stable")
    leaving = cohort.to_numpy(dtype=int)[pd.Index(cohort.index).get_indexer(frame["upn"])] + 1
    months = (leaving - 1970) * 12  # numpy months since 1970-01: January of the year they leave school
    period_start = pd.Series((months + 8).astype("datetime64[M]").astype("datetime64[ns]"), index=frame.index)
    period_end = pd.Series((months + 14).astype("datetime64[M]").astype("datetime64[ns]"), index=frame.index)
    following = frame.groupby("upn")["date"].shift(-1)
    start = frame["date"].where(frame["date"] > period_start, period_start)
    end = following.where(following.notna() & (following < period_end), period_end)
    days = (end - start).dt.days.clip(lower=0)
    known = frame["date"] < period_end
    per_pupil = pd.DataFrame({"upn": frame["upn"], "days": days.where(frame["neet"], 0), "known": known})
    summary = per_pupil.groupby("upn").agg(days=("days", "sum"), known=("known", "any"))
    result = summary["days"].where(summary["known"]).astype(float)
    return result.reindex(cohort.index.astype(str)).rename("days_neet").rename_axis("upn")


def impact_table(pupils: pd.DataFrame, min_group_size: int) -> pd.DataFrame:
    """Rates by school, cohort and flagged (plus totals), from one row per pupil with `school_urn`,
    `cohort`, `ever_flagged`, `outcome`, `any_neet`, `any_not_known` and `days_neet`.

    Rates are per pupil scored (no outcome counted in the denominator and shown as its own rate);
    cells with fewer than `min_group_size` pupils show their size and "too small" only.
    """
    base = pupils.assign(
        school_urn=pupils["school_urn"].astype(str),
        flag_group=np.where(pupils["ever_flagged"], "flagged", "not flagged"),
        no_outcome=pupils["outcome"].isna(),
        any_neet=pupils["any_neet"].astype(bool),
        any_not_known=pupils["any_not_known"].astype(bool),
    )
    variants = [
        base,
        base.assign(flag_group=ALL),
        base.assign(school_urn="all schools"),
        base.assign(school_urn="all schools", flag_group=ALL),
    ]
    table = (
        pd.concat(variants, ignore_index=True)
        .groupby(["school_urn", "cohort", "flag_group"], sort=True)
        .agg(
            pupils=("upn", "size"),
            neet_count=("any_neet", "sum"),
            not_known_count=("any_not_known", "sum"),
            no_outcome_count=("no_outcome", "sum"),
            neet_rate=("any_neet", "mean"),
            not_known_rate=("any_not_known", "mean"),
            no_outcome_rate=("no_outcome", "mean"),
            mean_days_neet=("days_neet", "mean"),
            pupils_with_activity_dates=("days_neet", "count"),
        )
        .reset_index()
    )
    counts = ["neet_count", "not_known_count", "no_outcome_count"]
    table[counts] = table[counts].astype("Int64")
    small = table["pupils"] < min_group_size
    # A cohort whose destinations are not in yet has no figure at all: a NEET rate of 0 would be a claim.
    cohort_has_outcome = base.groupby("cohort")["no_outcome"].transform("min").eq(False)
    with_outcome = set(base.loc[cohort_has_outcome, "cohort"])
    no_destinations = ~table["cohort"].isin(with_outcome)
    table["status"] = np.select([no_destinations, small], [NO_DESTINATIONS, "too small"], "reported")
    table.loc[small | no_destinations, list(IMPACT_RATES)] = np.nan
    table.loc[no_destinations, ["neet_count", "not_known_count"]] = pd.NA
    table["cohort"] = [cohort_name(c) for c in table["cohort"]]  # the one name of each cohort
    return table
