"""Lead time: how long before leaving school each young person who became NEET was first flagged.

An early flag is worth more than a late one, because an adviser needs terms, not weeks, to help. Lead
time is counted in school terms left including the flagging term: first flagged in the summer term of
Year 11 = 1 term, in the autumn of Year 11 = 3 terms, in the autumn of Year 9 = 9 terms.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskengine.evaluation.inputs import member_of

NOT_FLAGGED = "not flagged"


def terms_left(term_index: pd.Series, cohort: pd.Series) -> pd.Series:
    """School terms left until the end of Year 11, counting the current one."""
    return cohort * 3 + 2 - term_index + 1


def first_flags(rows: pd.DataFrame, flags: dict[str, np.ndarray], positive_upns: pd.Index) -> pd.DataFrame:
    """For every eventual positive and scorer: the first term flagged across all runs (NA if never).

    `rows` are scores from every run given (with `term_index` and `cohort`), `flags` the per-row flag of
    each scorer in the same row order.
    """
    positives = member_of(rows["upn"], positive_upns)
    frames = []
    for name, flag in flags.items():
        flagged = rows[positives & flag].sort_values("term_index", kind="stable").drop_duplicates("upn")
        first = pd.DataFrame({"upn": positive_upns}).merge(
            flagged[["upn", "ncyear", "term", "term_index", "cohort"]], on="upn", how="left"
        )
        frames.append(first.assign(scorer=name))
    first = pd.concat(frames, ignore_index=True)
    first["terms_left"] = terms_left(first["term_index"], first["cohort"]).astype("Int64")
    return first


def lead_time_tables(first: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """By year group first flagged (with the share of all eventual positives and median terms left), and
    the same by year group and term."""
    year_group = ("Y" + first["ncyear"].astype("Int64").astype("string")).fillna(NOT_FLAGGED)
    detail_label = (year_group + " " + first["term"].astype("string")).fillna(NOT_FLAGGED)
    positives = first.groupby("scorer")["upn"].transform("size")
    labelled = first.assign(first_flagged=year_group, first_flagged_term=detail_label, positives=positives)

    def summarise(by: str) -> pd.DataFrame:
        table = (
            labelled.groupby(["scorer", by], sort=False)
            .agg(
                pupils=("upn", "size"),
                positives=("positives", "first"),
                median_terms_left=("terms_left", "median"),
                sort_key=("terms_left", "max"),
            )
            .reset_index()
        )
        table["share_of_positives"] = table["pupils"] / table["positives"]
        table = table.sort_values(
            ["scorer", "sort_key"], ascending=[True, False], na_position="last", kind="stable"
        )
        return table.drop(columns=["sort_key", "positives"]).reset_index(drop=True)

    by_year = summarise("first_flagged")
    by_year["cumulative_share"] = (
        by_year.groupby("scorer")["share_of_positives"]
        .cumsum()
        .where(by_year["first_flagged"] != NOT_FLAGGED)
    )
    return by_year, summarise("first_flagged_term")
