"""The scoring run written as directly as numpy allows: the performance limit for `score_frame`.

The same features, rules (fired rules, points, band), model probabilities, per-feature contributions, top
reasons and flags as `riskengine.flags.score_frame` produces today, from the same canonical pupil-terms,
with plain arrays: one pass of sorting and `bincount` per kind of feature, boolean masks for the rules, one
matrix product for the model. No pandas groupby, no per-pupil Python. Pandas appears only at the edges
(columns in, factorised UPNs) and the reason sentences come from the catalogue, as scoring's do.

It grows with the explanations issue's additions. `bench_scoring.py` runs it beside scoring on the same
data and checks that the outputs agree (`compare`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from riskengine.features import Catalogue
from riskengine.model.explain import GROUP_JOINER, MIN_CONTRIBUTION
from riskengine.model.pipeline import MISSING_CATEGORY, RULE_POINTS
from riskengine.rules.language import RuleSet, Test
from riskengine.spec import upload as spec

LOOKBACK = 3  # terms before the scoring term that attendance features read (the same term last year)


@dataclass
class Reference:
    upn: np.ndarray  # object, scope order
    school_urn: np.ndarray
    features: dict[str, np.ndarray]  # float (NaN: not known); categories as object (None: not known)
    fired: np.ndarray  # pupils x rules, bool
    points: np.ndarray
    band: np.ndarray  # object
    probability: np.ndarray | None = None
    contributions: np.ndarray | None = None  # pupils x explained columns
    contribution_names: list[str] | None = None
    reasons_up: list[list[str]] | None = None
    reasons_down: list[list[str]] | None = None
    flag: np.ndarray | None = None


def _first_per_group(group: np.ndarray) -> np.ndarray:
    """Positions of the first element of each run of equal values in a sorted array."""
    return np.flatnonzero(np.r_[True, group[1:] != group[:-1]])


def _known(values: np.ndarray) -> np.ndarray:
    return ~np.isnan(values) if values.dtype.kind == "f" else np.not_equal(values, None)


def _as_float(column: pd.Series) -> np.ndarray:
    return column.to_numpy(dtype=float, na_value=np.nan)


def features_numpy(
    pupil_terms: pd.DataFrame, academic_year: str, term: str, catalogue: Catalogue
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(upn, school_urn, features) of every Year 9+ pupil on roll in the term, in `pupils_in_scope` order."""
    now = spec.year_start(academic_year) * 3 + spec.TERMS.index(term)
    years, year_names = pd.factorize(pupil_terms["academic_year"])
    terms, term_names = pd.factorize(pupil_terms["term"])
    year_start = np.array([int(y[:4]) * 3 for y in year_names])
    term_offset = np.array([spec.TERMS.index(t) for t in term_names])
    t = year_start[years] + term_offset[terms]
    codes, upns = pd.factorize(pupil_terms["upn"])
    ncyear = _as_float(pupil_terms["ncyear"])

    # scope: rows in the term in Year 9+, one per pupil at its last such row, in the order of those rows
    at = np.flatnonzero((t == now) & (ncyear >= spec.SCORED_FROM_NCYEAR))
    reversed_codes = codes[at][::-1]
    _, first_reversed = np.unique(reversed_codes, return_index=True)
    last_rows = np.sort(at[len(at) - 1 - first_reversed])
    pupil_of_code = np.full(len(upns), -1)
    pupil_of_code[codes[last_rows]] = np.arange(len(last_rows))
    n = len(last_rows)

    rows = np.flatnonzero((t <= now) & (pupil_of_code[codes] >= 0))
    p, rt = pupil_of_code[codes[rows]], t[rows]
    order = np.lexsort((rows, rt, p))  # by pupil, then term, then upload order
    p, rt, rows = p[order], rt[order], rows[order]

    def column(name: str) -> np.ndarray:
        return _as_float(pupil_terms[name])[rows]

    def current(values: np.ndarray, flag: bool) -> np.ndarray:
        """The term's value: first known code or number in upload order; a flag is "any yes"."""
        result = np.full(n, np.nan)
        mask = (rt == now) & _known(values)
        if flag:
            np.fmax.at(result, p[mask], values[mask])
            return result
        first = _first_per_group(p[mask])
        result[p[mask][first]] = values[mask][first]
        return result

    def total(values: np.ndarray, since: int) -> np.ndarray:
        mask = (rt >= since) & _known(values)
        sums = np.bincount(p[mask], weights=values[mask], minlength=n)
        return np.where(np.bincount(p[mask], minlength=n) > 0, sums, np.nan)

    def ever(values: np.ndarray) -> np.ndarray:
        result = np.full(n, np.nan)
        mask = _known(values)
        np.fmax.at(result, p[mask], values[mask])
        return result

    def latest_known(values: np.ndarray) -> np.ndarray:
        mask = _known(values)
        kp, kv = p[mask], values[mask]
        last = np.r_[kp[1:] != kp[:-1], True] if len(kp) else np.zeros(0, bool)  # sorted: last = latest
        result = np.full(n, np.nan)
        result[kp[last]] = kv[last]
        return result

    # attendance: absent and possible sessions per pupil and term over the last year (n x 4)
    possible, authorised, unauthorised = (column(c) for c in derivation_sessions())
    usable = (rt >= now - LOOKBACK) & ~np.isnan(possible + authorised + unauthorised) & (possible > 0)
    cell = p[usable] * (LOOKBACK + 1) + (rt[usable] - (now - LOOKBACK))
    size = n * (LOOKBACK + 1)
    absent = np.bincount(cell, weights=(authorised + unauthorised)[usable], minlength=size)
    sessions = np.bincount(cell, weights=possible[usable], minlength=size)
    seen = np.bincount(cell, minlength=size) > 0
    absent, sessions, seen = (a.reshape(n, LOOKBACK + 1) for a in (absent, sessions, seen))

    def window(first: int) -> tuple[np.ndarray, np.ndarray]:
        known = seen[:, first:].any(axis=1)
        return (
            np.where(known, absent[:, first:].sum(axis=1), np.nan),
            np.where(known, sessions[:, first:].sum(axis=1), np.nan),
        )

    def rate(offset: int) -> np.ndarray:
        divisor = np.where(seen[:, offset], sessions[:, offset], 1.0)
        return np.where(seen[:, offset], 1 - absent[:, offset] / divisor, np.nan)

    ytd_absent, ytd_possible = window(LOOKBACK - now % 3)
    with np.errstate(invalid="ignore"):
        values: dict[str, np.ndarray] = {
            "attendance_rate_term": rate(LOOKBACK),
            "attendance_rate_ytd": 1 - ytd_absent / ytd_possible,
            "persistent_absence": np.where(np.isnan(ytd_absent), np.nan, ytd_absent * 10 >= ytd_possible),
            "severe_absence": np.where(np.isnan(ytd_absent), np.nan, ytd_absent * 2 >= ytd_possible),
            "attendance_change_prev_term": rate(LOOKBACK) - rate(LOOKBACK - 1),
            "attendance_change_last_year": rate(LOOKBACK) - rate(0),
            "attendance_rate_last_year": rate(0),
        }
    year_start_term = now - now % 3
    for name in ("suspensions", "suspension_sessions"):
        counts = column(name)
        values[f"{name}_year"] = total(counts, year_start_term)
        values[f"{name}_ever"] = total(counts, -1)
    for name in ("permanent_exclusion", "looked_after"):
        values[f"{name}_ever"] = ever(column(name))
    for name in spec.KS2_COLUMNS:
        values[name] = latest_known(column(name))
    for name in ("sen_provision", "sen_primary_need"):  # codes as numbers, then back to text
        code, levels = pd.factorize(pupil_terms[name])
        found = current(np.where(code < 0, np.nan, code)[rows].astype(float), flag=False)
        text = np.full(n, None, dtype=object)
        text[~np.isnan(found)] = np.asarray(levels, dtype=object)[found[~np.isnan(found)].astype(int)]
        values[name] = text
    for name in (*spec.BOOL_COLUMNS, "school_moves", "ncyear"):
        if name != "permanent_exclusion":
            values[name] = current(column(name), flag=name in spec.BOOL_COLUMNS)
    school = pupil_terms["school_urn"].to_numpy(dtype=object)[last_rows]
    return np.asarray(upns, dtype=object)[codes[last_rows]], school, {k: values[k] for k in catalogue.names}


def derivation_sessions() -> tuple[str, str, str]:
    return ("sessions_possible", "sessions_authorised_absence", "sessions_unauthorised_absence")


def _test(test: Test, values: np.ndarray) -> np.ndarray:
    known = _known(values)
    if test.op == "is_missing":
        return ~known if test.value else known
    if values.dtype.kind != "f":  # codes
        wanted = test.value if test.op in ("in", "not_in") else (test.value,)
        member = np.logical_or.reduce([values == code for code in wanted]) & known
        return member if test.op in ("in", "==") else known & ~member
    target = np.array([float(v) for v in test.value]) if test.op in ("in", "not_in") else float(test.value)
    with np.errstate(invalid="ignore"):
        if test.op in ("in", "not_in"):
            member = np.isin(values, target)
            return known & (member if test.op == "in" else ~member)
        compare = {
            "==": np.equal, "!=": np.not_equal, "<": np.less,
            "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
        }[test.op]  # fmt: skip
        return known & compare(values, target)


def _condition(condition: Any, features: dict[str, np.ndarray]) -> np.ndarray:
    if isinstance(condition, Test):
        return _test(condition, features[condition.feature])
    parts = [_condition(part, features) for part in condition.parts]
    return np.logical_and.reduce(parts) if condition.kind == "all" else np.logical_or.reduce(parts)


def rules_numpy(rule_set: RuleSet, features: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """(fired, points, band, always_flag)."""
    fired = np.column_stack([_condition(rule.condition, features) for rule in rule_set.rules])
    points = fired @ np.array([rule.points for rule in rule_set.rules])
    always = (fired & np.array([rule.always_flag for rule in rule_set.rules])).any(axis=1)
    thresholds = np.array([threshold for threshold, _ in rule_set.bands])
    band = np.array(rule_set.band_names, dtype=object)[
        np.maximum(np.searchsorted(thresholds, points, side="right") - 1, 0)
    ]
    band[always] = rule_set.top_band
    return fired, points, band, always


def _model_matrix(model: Any, features: dict[str, np.ndarray]) -> np.ndarray:
    """The model's columns: per feature, scaled-and-imputed value (+ missing indicator) or one-hot."""
    blocks = []
    columns = model.pipeline_.named_steps["columns"]
    for name, pipeline, _ in columns.transformers_:
        if name == "remainder":
            continue
        values = features[name]
        steps = pipeline.named_steps
        if "one_hot" in steps:
            coded = np.where(_known(values), values, MISSING_CATEGORY)
            levels = steps["one_hot"].categories_[0]
            blocks.append(np.column_stack([coded == level for level in levels]).astype(float))
            continue
        x = values.astype(float)
        if "scale" in steps:
            x = (x - steps["scale"].mean_[0]) / steps["scale"].scale_[0]
        imputer = steps["impute"]
        missing = np.isnan(x)
        blocks.append(np.where(missing, imputer.statistics_[0], x)[:, None])
        if imputer.indicator_ is not None and len(imputer.indicator_.features_):
            blocks.append(missing[:, None].astype(float))
    return np.hstack(blocks)


def _sentences(catalogue: Catalogue, name: str, values: np.ndarray) -> np.ndarray:
    """Each value's catalogue sentence, written once per distinct value."""
    if name == RULE_POINTS:
        distinct, inverse = np.unique(values, return_inverse=True)
        return np.array([f"rule points were {v:g}" for v in distinct], dtype=object)[inverse]
    known = _known(values)
    out = np.full(len(values), catalogue.describe(name, None), dtype=object)
    if known.any():
        distinct, inverse = np.unique(values[known].astype(values.dtype), return_inverse=True)
        out[known] = np.array([catalogue.describe(name, v) for v in distinct.tolist()], dtype=object)[inverse]
    return out


def model_numpy(model: Any, features: dict[str, np.ndarray], catalogue: Catalogue, k: int) -> dict[str, Any]:
    """Probability, contributions per explained column, and the top-k reasons raising and lowering risk."""
    matrix = _model_matrix(model, features)
    coef = model.logistic_.coef_[0]
    log_odds = matrix @ coef + model.logistic_.intercept_[0]
    probability = 1 / (1 + np.exp(-log_odds)) if model.calibrator_ is None else model._probability(log_odds)
    groups = {g: tuple(m) for g, m in (getattr(model, "explain_together", None) or {}).items()}
    owner = {member: group for group, members in groups.items() for member in members}
    names = list(dict.fromkeys(owner.get(f, f) for f in model.feature_names_in_))
    column_owner = np.array([names.index(owner.get(f, f)) for f in model.column_features_])
    grouping = np.zeros((len(column_owner), len(names)))
    grouping[np.arange(len(column_owner)), column_owner] = 1
    reference = getattr(model, "reference_row_", None)  # the reference pupil, once explanations have one
    reference = model.background_mean_ if reference is None else reference
    contributions = ((matrix - reference) * coef) @ grouping

    reasons = []
    k = min(k, len(names))
    for sign in (1.0, -1.0):
        signed = sign * contributions
        chosen = np.argsort(-signed, axis=1, kind="stable")[:, :k]
        keep = np.take_along_axis(signed, chosen, axis=1) > MIN_CONTRIBUTION
        text = np.full(chosen.shape, None, dtype=object)
        for j, name in enumerate(names):
            rows, ranks = np.nonzero(keep & (chosen == j))
            if len(rows):
                members = groups.get(name, (name,))
                parts = [_sentences(catalogue, m, features[m][rows]) for m in members]
                joined = parts[0]
                for part in parts[1:]:
                    joined = joined + GROUP_JOINER + part
                text[rows, ranks] = joined
        counts = keep.sum(axis=1)
        lists = text.tolist()
        for row in np.flatnonzero(counts < k):
            lists[row] = lists[row][: counts[row]]
        reasons.append(lists)
    return {
        "probability": probability,
        "contributions": contributions,
        "contribution_names": names,
        "reasons_up": reasons[0],
        "reasons_down": reasons[1],
    }


def score_numpy(
    pupil_terms: pd.DataFrame,
    academic_year: str,
    term: str,
    rule_set: RuleSet,
    catalogue: Catalogue,
    model: Any = None,
    top_percent: float = 10.0,
    k: int = 3,
) -> Reference:
    """Features, rules, model, reasons and flags of one term, as `score_frame` makes them."""
    upn, school, features = features_numpy(pupil_terms, academic_year, term, catalogue)
    fired, points, band, always = rules_numpy(rule_set, features)
    reference = Reference(upn, school, features, fired, points, band)
    by_rule = always | (band == rule_set.top_band)
    if model is None:
        reference.flag = by_rule
        return reference
    if RULE_POINTS in model.feature_kinds:
        features = {**features, RULE_POINTS: points.astype(float)}
    side = model_numpy(model, features, catalogue, k)
    p = side["probability"]
    by_model = np.zeros(len(p), dtype=bool)
    by_model[np.argsort(-p, kind="stable")[: int(np.ceil(len(p) * top_percent / 100))]] = True
    for key, value in side.items():
        setattr(reference, key, value)
    reference.flag = by_rule | by_model
    return reference


def compare(reference: Reference, scores: pd.DataFrame, rule_set: RuleSet) -> list[str]:
    """Where the reference and a `score_frame` result differ (empty: they agree)."""
    problems = []
    if list(reference.upn) != scores["upn"].astype(object).tolist():
        return ["the pupils scored, or their order, differ"]
    ids = np.array(rule_set.rule_ids, dtype=object)
    fired = [ids[row].tolist() for row in reference.fired]
    if fired != scores["fired"].tolist():
        problems.append("fired rules differ")
    if not np.array_equal(reference.points, scores["points"].to_numpy(float)):
        problems.append("points differ")
    if list(reference.band) != scores["band"].astype(object).tolist():
        problems.append("bands differ")
    if not np.array_equal(reference.flag, scores["flag"].to_numpy(bool)):
        problems.append("flags differ")
    if reference.probability is not None:
        if not np.allclose(reference.probability, scores["probability"].to_numpy(float), rtol=0, atol=1e-12):
            problems.append("probabilities differ")
        stored = np.array(
            [[c[n] for n in reference.contribution_names] for c in scores["contributions"]], dtype=float
        )
        if not np.allclose(np.round(reference.contributions, 4), stored, rtol=0, atol=1.0001e-4):
            problems.append("contributions differ")
        if reference.reasons_up != scores["reasons_up"].tolist():
            problems.append("reasons raising risk differ")
        if reference.reasons_down != scores["reasons_down"].tolist():
            problems.append("reasons lowering risk differ")
    return problems
