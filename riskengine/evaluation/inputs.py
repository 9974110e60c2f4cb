"""Turning stored scores, outcomes and audit attributes into one evaluation table: a row per pupil.

Every figure in a report is computed from this table, so rules, model and combined flags are always
compared on the same pupils, and each pupil's audit attributes are the ones recorded at the scoring term.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from riskengine.evaluation.settings import KNOWN_ATTRIBUTES
from riskengine.spec.upload import ETHNICITY_MAJOR_GROUP, TERMS, year_start

NOT_RECORDED = "Not recorded"
RULE_SOURCES = ("rule", "both")
MODEL_SOURCES = ("model", "both")


def member_of(values: pd.Series, members: pd.Series | pd.Index) -> np.ndarray:
    """`values.isin(members)` by hash lookup: pandas' isin on long string columns is minutes, this ms."""
    return pd.Index(members).unique().get_indexer(values) >= 0


def _start_years(scores: pd.DataFrame) -> pd.Series:
    """'2024/25' -> 2024 (`spec.upload.year_start`), mapped once per distinct academic year."""
    years = scores["academic_year"].astype("category")
    return years.cat.rename_categories([year_start(y) for y in years.cat.categories]).astype(int)


def cohort_of(scores: pd.DataFrame) -> pd.Series:
    """Start year of each scored row's Year 11 (as `riskengine.outcomes.year11_start` counts it)."""
    return _start_years(scores) + 11 - scores["ncyear"].astype(int)


def with_term_order(scores: pd.DataFrame) -> pd.DataFrame:
    """Scores with `term_index` (increasing per term, as `spec.upload.term_index`) and `cohort` added."""
    terms = scores["term"].astype(str).map({t: i for i, t in enumerate(TERMS)})
    term_index = (_start_years(scores) * 3 + terms).astype(int)
    return scores.assign(term_index=term_index, cohort=cohort_of(scores))


def pick_scores(scores: pd.DataFrame, score_at: str | dict[str, Any]) -> pd.DataFrame:
    """One score per pupil: the latest, the earliest, or the one at a given year group and term."""
    ordered = with_term_order(scores).sort_values(["upn", "term_index"], kind="stable")
    if isinstance(score_at, dict):
        chosen = ordered[
            (ordered["ncyear"].astype(int) == int(score_at["ncyear"])) & (ordered["term"] == score_at["term"])
        ]
        return chosen.drop_duplicates("upn", keep="last")
    return ordered.drop_duplicates("upn", keep="last" if score_at == "latest" else "first")


def audit_labels(attributes: pd.DataFrame, names: tuple[str, ...] = KNOWN_ATTRIBUTES) -> pd.DataFrame:
    """Audit attributes as group labels: ethnicity in its DfE major group, yes/no as True/False, whole
    numbers without ".0", and a missing value as its own "Not recorded" group so no pupil drops out."""
    from riskengine.evaluation.audit_frame import group_labels

    labels = pd.DataFrame(index=attributes.index)
    if "ethnicity" in attributes and "ethnicity_major_group" not in attributes:
        labels["ethnicity_major_group"] = attributes["ethnicity"].astype("string").map(ETHNICITY_MAJOR_GROUP)
    for column in names:
        source = labels[column] if column in labels else attributes.get(column)
        if source is not None:
            labels[column] = group_labels(source)
    return labels


def attributes_at_scoring(
    picked: pd.DataFrame, attributes: pd.DataFrame, names: tuple[str, ...] = KNOWN_ATTRIBUTES
) -> pd.DataFrame:
    """Each picked pupil's audit labels at the scoring term (or their only row, if not per term)."""
    per_term = {"academic_year", "term"} <= set(attributes.columns)
    keys = ["upn", "academic_year", "term"] if per_term else ["upn"]
    attrs = attributes.reset_index() if "upn" not in attributes.columns else attributes
    attrs = attrs.drop_duplicates(keys, keep="last")
    labelled = pd.concat(
        [attrs[keys].reset_index(drop=True), audit_labels(attrs, names).reset_index(drop=True)], axis=1
    )
    merged = picked[keys].merge(labelled, on=keys, how="left")
    return merged.drop(columns=keys).fillna(NOT_RECORDED).set_index(picked.index)


@dataclass(frozen=True)
class Scorer:
    """One way of choosing pupils: a continuous score to rank by, and the yes/no flag it produced."""

    name: str
    score: np.ndarray
    flag: np.ndarray


def scorers(table: pd.DataFrame) -> dict[str, Scorer]:
    """Rules only (rule points), model only (probability) and combined (the flag advisers see).

    The combined flag has no score of its own, so it ranks flagged pupils first, then by model
    probability (rule points when there is no model), which is also the order an adviser would work in.
    """
    source = table["flag_source"].astype("string")
    points = table["points"].astype(float).to_numpy()
    always = table["always_flag"].astype("boolean").fillna(False)
    rules_flag = (source.isin(RULE_SOURCES).fillna(False) | always).to_numpy(dtype=bool)
    found = {"rules": Scorer("rules", points, rules_flag)}
    probability = table["probability"].astype("Float64")
    has_model = bool(probability.notna().all()) and len(table) > 0
    if has_model:
        found["model"] = Scorer(
            "model",
            probability.to_numpy(dtype=float),
            source.isin(MODEL_SOURCES).fillna(False).to_numpy(bool),
        )
    flag = table["flag"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    secondary = pd.Series(found["model"].score if has_model else points)
    combined = flag + secondary.rank(method="max", pct=True).to_numpy()
    found["combined"] = Scorer("combined", combined, flag)
    return found


def evaluation_table(
    scores: pd.DataFrame,
    outcomes: pd.DataFrame,
    attributes: pd.DataFrame | None,
    score_at: str | dict,
    names: tuple[str, ...] = KNOWN_ATTRIBUTES,
) -> pd.DataFrame:
    """The picked score of each pupil joined with their outcome (NA = none) and audit labels."""
    picked = pick_scores(scores, score_at).reset_index(drop=True)
    outcomes = outcomes if "upn" in outcomes.columns else outcomes.reset_index()
    joined = picked.merge(
        outcomes[["upn", "outcome", "any_neet", "any_not_known"]], on="upn", how="left", validate="one_to_one"
    )
    joined["outcome"] = joined["outcome"].astype("boolean")
    for column in ("any_neet", "any_not_known"):
        joined[column] = joined[column].astype("boolean").fillna(False)
    if attributes is not None and len(attributes):
        extra = attributes_at_scoring(joined, attributes, names)
        joined = pd.concat([joined.drop(columns=[c for c in extra.columns if c in joined]), extra], axis=1)
    return joined
