""" "What would change it": the smallest rise in this term's attendance that takes a flagged pupil below both
the model's flag line (their year group's cut-off) and the rules' flagging band.

Computed exactly, not by search. The lever (attendance this term, x) feeds several catalogue features, each
a straight line in x: the term rate itself, attendance this year (x weighted by this term's share of the
year's possible sessions), the changes since last term and since last year, and the persistent / severe
absence flags, which switch where attendance this year crosses 90% / 50%. Between consecutive breakpoints
(where a flag switches or a rule's threshold is crossed) every rule is constant and the model's log-odds
are linear in x, so walking the pieces in order and solving one linear equation in each gives the smallest
x. The answer is rounded up to a whole percent (what an adviser reads) and checked once more through the
model and the rules themselves. The sign constraints make the model's risk fall as attendance rises; the
walk does not rely on it.

Attendance is the only lever computed here: suspensions this year are also marked actionable in the
catalogue, but a suspension cannot be undone by next term, so no change to them is offered.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from riskengine.features.compute import pupil_rows
from riskengine.features.derivations import SESSIONS
from riskengine.model.spec import POINT_TERM, RULE_POINTS
from riskengine.rules.language import Group, RuleSet, Test
from riskengine.rules.vectorised import fired_matrix_vectorised
from riskengine.spec import upload as spec

LEVER = "attendance_rate_term"
#: Feature -> how it moves with the lever x: "term" (x itself), "ytd" (this year's rate) or "change".
FED = {
    "attendance_rate_term": "term",
    "attendance_rate_ytd": "ytd",
    "attendance_change_prev_term": "change",
    "attendance_change_last_year": "change",
}
#: Flags switched by this year's rate: on at or below these lines (derivations.py: absent*10 >= possible).
YTD_FLAGS = {"persistent_absence": 0.9, "severe_absence": 0.5}
_EPS = 1e-9


def term_weights(pupil_terms: pd.DataFrame, upns: pd.Index, academic_year: str, term: str) -> pd.Series:
    """Each pupil's share of this year's known possible sessions that fall in the scoring term: how much
    attendance this year moves per point of attendance this term (NaN where not known)."""
    up_to = spec.TERMS[: spec.TERMS.index(term) + 1]
    rows = pupil_terms[
        (pupil_terms["academic_year"] == academic_year).fillna(False).to_numpy(bool)
        & pupil_terms["term"].isin(up_to).fillna(False).to_numpy(bool)
        & pupil_rows(pupil_terms, upns)
    ]
    known = rows[list(SESSIONS)].notna().all(axis=1) & (rows["sessions_possible"] > 0).fillna(False)
    rows = rows[known.to_numpy(bool)]
    possible = rows["sessions_possible"].astype(float)
    year = possible.groupby(rows["upn"]).sum()
    now = possible[(rows["term"] == term).to_numpy(bool)].groupby(rows.loc[rows["term"] == term, "upn"]).sum()
    return (now.reindex(upns) / year.reindex(upns)).astype(float)


def _thresholds(rule_set: RuleSet) -> dict[str, list[float]]:
    """Every number a rule compares a lever-fed feature with."""
    found: dict[str, list[float]] = {}

    def walk(condition: Any) -> None:
        if isinstance(condition, Group):
            for part in condition.parts:
                walk(part)
        elif isinstance(condition, Test) and condition.feature in FED and condition.op not in ("is_missing",):
            values = condition.value if isinstance(condition.value, tuple) else (condition.value,)
            found.setdefault(condition.feature, []).extend(float(v) for v in values)

    for rule in rule_set.rules:
        walk(rule.condition)
    return found


def _at(features: pd.DataFrame, x: np.ndarray, x0: np.ndarray, weight: np.ndarray) -> pd.DataFrame:
    """The pupils' feature rows with attendance this term set to x and everything it feeds moved with it."""
    moved = features.copy()
    delta = x - x0
    for name, how in FED.items():
        if name not in moved:
            continue
        base = moved[name].to_numpy(float, na_value=np.nan)
        step = delta if how != "ytd" else delta * weight
        value = x if how == "term" else base + np.nan_to_num(step)
        moved[name] = pd.array(np.where(np.isnan(base) & (how != "term"), np.nan, value), dtype="Float64")
    if "attendance_rate_ytd" in moved:
        ytd = moved["attendance_rate_ytd"].to_numpy(float, na_value=np.nan)
        for flag, line in YTD_FLAGS.items():
            if flag in moved:
                on = pd.array(ytd <= line + _EPS, dtype="boolean")
                on[np.isnan(ytd)] = pd.NA
                moved[flag] = on
    return moved


def _rules(rule_set: RuleSet, features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    fired = fired_matrix_vectorised(rule_set, features)
    points = fired.astype(float) @ np.array([rule.points for rule in rule_set.rules])
    always = (fired & np.array([rule.always_flag for rule in rule_set.rules])).any(axis=1)
    return points, always


def what_would_change(
    model: Any,
    rule_set: RuleSet,
    features: pd.DataFrame,
    term: str,
    weights: np.ndarray,
    cutoffs: np.ndarray,
    probability: np.ndarray,
    points: np.ndarray,
) -> list[dict[str, Any] | None]:
    """For each row of `features` (flagged pupils), the smallest attendance this term that takes them below
    their model cut-off (`cutoffs`, a probability; NaN: no model line) and below the rules' top band with
    no always-flag rule; or why no single change is enough. `weights` from `term_weights`."""
    n = len(features)
    if n == 0:
        return []
    line = rule_set.bands[-1][0]
    x0 = features[LEVER].to_numpy(float, na_value=np.nan)
    weight = np.asarray(weights, dtype=float)
    # breakpoints: where a rule threshold or a persistent/severe line is crossed, as a value of x
    slope = {"term": np.ones(n), "change": np.ones(n), "ytd": np.where(np.isnan(weight), np.nan, weight)}
    breaks = []
    for name, values in _thresholds(rule_set).items():
        f0 = features[name].to_numpy(float, na_value=np.nan)
        for t in values:
            breaks.append(x0 + (t - f0) / slope[FED[name]])
    if "attendance_rate_ytd" in features:
        ytd0 = features["attendance_rate_ytd"].to_numpy(float, na_value=np.nan)
        for flag_line in YTD_FLAGS.values():
            breaks.append(x0 + (flag_line - ytd0) / slope["ytd"])
    cuts = np.column_stack([*breaks, *(b + _EPS for b in breaks)]) if breaks else np.empty((n, 0))
    cuts = np.where(np.isfinite(cuts) & (cuts > x0[:, None]) & (cuts < 1.0), cuts, 1.0)
    starts = np.sort(np.column_stack([x0, cuts]), axis=1)  # piece j: [starts[j], starts[j+1]) (last: [.., 1])
    ends = np.column_stack([starts[:, 1:] - _EPS, np.ones(n)])
    ends = np.maximum(ends, starts)
    k = starts.shape[1]
    rows = np.repeat(np.arange(n), 2 * k)
    xs = np.column_stack([starts, ends]).ravel()  # per pupil: k starts then k ends
    candidates = _at(features.iloc[rows], xs, x0[rows], weight[rows])
    cand_points, cand_always = _rules(rule_set, candidates)
    inputs = candidates.assign(**{RULE_POINTS: pd.array(cand_points, dtype="Float64"), POINT_TERM: term})
    log_odds = model.log_odds(inputs).reshape(n, 2, k)
    rules_ok = ((cand_points < line) & ~cand_always).reshape(n, 2, k)[:, 0, :]
    cutoff = np.asarray(cutoffs, dtype=float)
    target = np.where(np.isnan(cutoff), np.inf, np.log(cutoff / (1 - cutoff)))[:, None]
    at_start, at_end = log_odds[:, 0, :], log_odds[:, 1, :]
    width = ends - starts
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = starts + (target - at_start) * width / (at_end - at_start)
    model_x = np.where(
        at_start < target,
        starts,
        np.where((at_end < target) & np.isfinite(crossing), np.minimum(crossing + _EPS, ends), np.nan),
    )
    solved = np.where(rules_ok, model_x, np.nan)
    first = np.where(np.isnan(solved).all(axis=1), -1, np.argmax(~np.isnan(solved), axis=1))
    best = np.where(first >= 0, solved[np.arange(n), np.maximum(first, 0)], np.nan)
    # what an adviser reads: a whole percent, rounded up; checked once more through the model and rules
    shown = np.minimum(np.ceil(np.round(best * 100, 6)) / 100, 1.0)
    checkable = np.flatnonzero(~np.isnan(shown))
    check = _at(features.iloc[checkable], shown[checkable], x0[checkable], weight[checkable])
    new_points, new_always = _rules(rule_set, check)
    new_inputs = check.assign(**{RULE_POINTS: pd.array(new_points, dtype="Float64"), POINT_TERM: term})
    new_probability = model.explain(new_inputs).probability
    verified = (
        (new_points < line) & ~new_always & ~(new_probability >= np.nan_to_num(cutoff[checkable], nan=np.inf))
    )
    result: list[dict[str, Any] | None] = [None] * n
    for i, j in enumerate(checkable):  # only the flagged pupils with an answer: a sentence each
        if not verified[i]:
            continue
        result[j] = {
            "enough": True,
            "feature": LEVER,
            "from": round(float(x0[j]), 4),
            "to": float(shown[j]),
            "probability_from": round(float(probability[j]), 4),
            "probability_to": round(float(new_probability[i]), 4),
            "points_from": float(points[j]),
            "points_to": float(new_points[i]),
            "text": (
                f"if attendance this term were {shown[j]:.0%} rather than {x0[j]:.0%}, model risk would "
                f"fall from {probability[j]:.0%} to {new_probability[i]:.0%} and the rule points from "
                f"{points[j]:g} to {new_points[i]:g}"
            ),
        }
    for j in np.flatnonzero([r is None for r in result]):
        result[j] = {"enough": False, "text": _not_enough(x0[j])}
    return result


def _not_enough(x0: float) -> str:
    if np.isnan(x0):
        return "no single change is enough: attendance this term is not known"
    return (
        "no single change is enough: even full attendance this term would not take the pupil below both the "
        "model's flag line and the rules' band (another factor, or an always-flag rule, keeps them flagged)"
    )
