"""The scoring run written as directly as numpy allows: the performance limit for `score_frame`.

The same features, rules (fired rules, points, band), model probabilities (each pupil by their year group
and term's point model), contributions against that model's reference pupil and their risk points,
material top reasons (never a feature a fired rule reads as lowering risk) and flags (model capacity
within each year group) as `riskengine.flags.score_frame` produces today, from the same canonical
pupil-terms, with plain arrays: one Arrow hash lookup to find the scored pupils' rows, one pass of sorting
and `bincount` per kind of feature, boolean masks for the rules, one matrix product per point model. No
pandas groupby, no per-pupil Python. Pandas appears only at the edges (columns in, factorised codes) and the
reason sentences come from the catalogue, as scoring's do. Not reproduced: "what would change it" and the
per-pupil detail records (values as text), which scoring stores beside these.

It grows with the explanations issue's additions. `bench_scoring.py` runs it beside scoring on the same
data and checks that the outputs agree (`compare`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from riskengine.features import Catalogue
from riskengine.model.explain import GROUP_JOINER
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
    contributions: np.ndarray | None = None  # pupils x explained columns, log-odds
    contribution_names: list[str] | None = None
    risk_points: np.ndarray | None = None  # pupils x explained columns, percentage points of risk
    reasons_up: list[list[str]] | None = None
    reasons_down: list[list[str]] | None = None
    flag: np.ndarray | None = None
    flag_source: np.ndarray | None = None  # rule, model, both or "" (not flagged)


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
    ncyear = _as_float(pupil_terms["ncyear"])
    in_term = (pupil_terms["academic_year"] == academic_year) & (pupil_terms["term"] == term)
    # scope: rows in the term in Year 9+, one per pupil at its last such row, in the order of those rows
    at = np.flatnonzero(in_term.to_numpy(bool, na_value=False) & (ncyear >= spec.SCORED_FROM_NCYEAR))
    codes, upns = pd.factorize(pupil_terms["upn"].take(at))
    _, first_reversed = np.unique(codes[::-1], return_index=True)
    last = np.sort(len(at) - 1 - first_reversed)
    last_rows, upn = at[last], np.asarray(upns, dtype=object)[codes[last]]
    n = len(last_rows)

    # every row of those pupils up to the term: one Arrow hash lookup gives each row's pupil number
    found = pc.index_in(pa.array(pupil_terms["upn"]), value_set=pa.array(upn, type=pa.large_string()))
    of_row = found.fill_null(-1).to_numpy(zero_copy_only=False)
    theirs = np.flatnonzero(of_row >= 0)
    years, year_names = pd.factorize(pupil_terms["academic_year"].take(theirs))
    terms, term_names = pd.factorize(pupil_terms["term"].take(theirs))
    year_start = np.array([int(y[:4]) * 3 for y in year_names])
    term_offset = np.array([spec.TERMS.index(t) for t in term_names])
    t = year_start[years] + term_offset[terms]
    rows, p, rt = theirs[t <= now], of_row[theirs][t <= now], t[t <= now]
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
        code, levels = pd.factorize(pupil_terms[name].take(rows))
        found = current(np.where(code < 0, np.nan, code).astype(float), flag=False)
        text = np.full(n, None, dtype=object)
        text[~np.isnan(found)] = np.asarray(levels, dtype=object)[found[~np.isnan(found)].astype(int)]
        values[name] = text
    for name in (*spec.BOOL_COLUMNS, "school_moves", "ncyear"):
        if name != "permanent_exclusion":
            values[name] = current(column(name), flag=name in spec.BOOL_COLUMNS)
    school = pupil_terms["school_urn"].take(last_rows).to_numpy(dtype=object)
    return upn, school, {k: values[k] for k in catalogue.names}


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


def _model_matrix(model: Any, features: dict[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
    """One point model's columns for `rows`: per feature, scaled-and-imputed value (+ missing indicator),
    or one-hot codes without the reference code's column."""
    blocks = []
    for name, pipeline, _ in model.pipeline_.named_steps["columns"].transformers_:
        if name == "remainder":
            continue
        values = features[name][rows]
        steps = pipeline.named_steps
        if "one_hot" in steps:
            encoder = steps["one_hot"]
            levels = list(encoder.categories_[0])
            if encoder.drop_idx_ is not None:
                del levels[int(encoder.drop_idx_[0])]
            seen = pd.Index(encoder.categories_[0]).get_indexer(values) >= 0  # an unseen code: not known
            coded = np.where(_known(values) & seen, values, MISSING_CATEGORY)
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


def _point_of(model: Any, ncyear: np.ndarray, term: str) -> tuple[list[str], np.ndarray]:
    """(scoring points in school order, each pupil's point number): the latest point at or before the
    pupil's year group and term, the first point before them all (`RiskModel.point_for`)."""
    keys = sorted(
        model.all_points(), key=lambda key: int(key.split()[0]) * 3 + spec.TERMS.index(key.split()[1])
    )
    order = np.array([int(key.split()[0]) * 3 + spec.TERMS.index(key.split()[1]) for key in keys])
    stage = np.where(np.isnan(ncyear), order[0] // 3, ncyear).astype(int) * 3 + spec.TERMS.index(term)
    return keys, np.clip(np.searchsorted(order, stage, side="right") - 1, 0, len(keys) - 1)


def _sentences(catalogue: Catalogue, name: str, values: np.ndarray) -> np.ndarray:
    """Each value's catalogue sentence, written once per distinct value."""
    if name == RULE_POINTS:
        distinct, inverse = np.unique(values, return_inverse=True)
        return np.array([f"rule points were {v:g}" for v in distinct], dtype=object)[inverse]
    known = _known(values)
    out = np.full(len(values), catalogue.reason(name, None), dtype=object)
    if known.any():
        distinct, inverse = np.unique(values[known].astype(values.dtype), return_inverse=True)
        out[known] = np.array([catalogue.reason(name, v) for v in distinct.tolist()], dtype=object)[inverse]
    return out


def _unlisted_blanks(
    names: list[str],
    groups: dict[str, tuple[str, ...]],
    features: dict[str, np.ndarray],
    catalogue: Catalogue,
) -> np.ndarray:
    """(pupils x columns) True where a column's whole effect comes from blanks the catalogue gives no
    reason words for (no `when_missing_reason`): each member such a blank or at its reference, one a blank."""
    n = len(features["ncyear"])
    blocked = np.zeros((n, len(names)), dtype=bool)
    for j, name in enumerate(names):
        unlisted, neutral = np.zeros(n, bool), np.ones(n, bool)
        for member in groups.get(name, (name,)):
            if member not in catalogue.features:
                neutral[:] = False
                continue
            spec_of, values = catalogue[member], features[member]
            blank = ~_known(values)
            silent = blank & (spec_of.when_missing_reason is None and spec_of.reference is not None)
            at_reference = ~blank & (values == spec_of.reference) if spec_of.reference is not None else blank
            unlisted |= silent
            neutral &= silent | at_reference
        blocked[:, j] = neutral & unlisted
    return blocked


def _reasons(
    size: np.ndarray,
    blocked: np.ndarray,
    unlisted: np.ndarray,
    names: list[str],
    groups: dict[str, tuple[str, ...]],
    features: dict[str, np.ndarray],
    catalogue: Catalogue,
    k: int,
    floor: float,
) -> list[list[list[str]]]:
    """The top-k material reasons raising and lowering risk (percentage points at least `floor`); a column
    read by a fired rule (`blocked`) is never listed as lowering risk, an unworded blank (`unlisted`) not
    at all."""
    reasons = []
    for signed in (np.where(unlisted, -np.inf, size), np.where(blocked | unlisted, -np.inf, -size)):
        chosen = np.argsort(-signed, axis=1, kind="stable")[:, :k]
        keep = np.take_along_axis(signed, chosen, axis=1) >= floor
        text = np.full(chosen.shape, None, dtype=object)
        for j, name in enumerate(names):
            rows, ranks = np.nonzero(keep & (chosen == j))
            if len(rows):
                parts = [_sentences(catalogue, m, features[m][rows]) for m in groups.get(name, (name,))]
                joined = parts[0]
                for part in parts[1:]:
                    joined = joined + GROUP_JOINER + part
                text[rows, ranks] = joined
        counts = keep.sum(axis=1)
        lists = text.tolist()
        for row in np.flatnonzero(counts < k):
            lists[row] = lists[row][: counts[row]]
        reasons.append(lists)
    return reasons


def model_numpy(
    model: Any,
    features: dict[str, np.ndarray],
    term: str,
    fired: np.ndarray,
    rule_set: RuleSet,
    catalogue: Catalogue,
) -> dict[str, Any]:
    """Probability from each pupil's point model, contributions against that model's reference pupil,
    risk points, the top material reasons up and down, and the model flags (capacity per year group)."""
    trained = model.metadata_["spec"]
    models = model.all_points()
    if (
        any(one.calibrator_ is not None for one in models.values())
        or trained["flag_threshold"]["top_percent"] is None
    ):
        raise ValueError("calibrated point models, or capacity other than a top percent")
    n = len(features["ncyear"])
    groups = {g: tuple(m) for g, m in (model.explain_together or {}).items()}
    owner = {member: group for group, members in groups.items() for member in members}
    names = list(dict.fromkeys(owner.get(f, f) for f in model.feature_names_in_))
    keys, point = _point_of(model, features["ncyear"], term)
    log_odds, contributions = np.zeros(n), np.zeros((n, len(names)))
    for number in np.unique(point):
        one = models[keys[number]]
        rows = np.flatnonzero(point == number)
        matrix = _model_matrix(one, features, rows)
        coef = one.logistic_.coef_[0]
        grouping = np.zeros((len(coef), len(names)))
        grouping[np.arange(len(coef)), [names.index(owner.get(f, f)) for f in one.column_features_]] = 1
        log_odds[rows] = matrix @ coef + one.logistic_.intercept_[0]
        contributions[rows] = ((matrix - one.reference_row_) * coef) @ grouping
    probability = 1 / (1 + np.exp(-log_odds))  # the point models have no calibrator (checked by compare)
    with np.errstate(over="ignore"):
        without = 1 / (1 + np.exp(-(log_odds[:, None] - contributions)))
    risk_points = 100 * (probability[:, None] - without)

    reads = np.zeros((len(rule_set.rules), len(names)), dtype=bool)
    for r, rule in enumerate(rule_set.rules):
        for f in rule.features:
            if owner.get(f, f) in names:
                reads[r, names.index(owner.get(f, f))] = True
    blocked = (fired.astype(np.int64) @ reads) > 0
    floor = max(trained.get("materiality_pp", 1.0), 1e-9)
    k = min(trained["reasons_per_side"], len(names))
    unlisted = _unlisted_blanks(names, groups, features, catalogue)
    up, down = _reasons(risk_points, blocked, unlisted, names, groups, features, catalogue, k, floor)

    year = np.nan_to_num(features["ncyear"], nan=0).astype(int)
    flag = np.zeros(n, dtype=bool)
    share = trained["flag_threshold"]["top_percent"]
    for y in np.unique(year):  # capacity within each year group, as each has its own model
        rows = np.flatnonzero(year == y)
        wanted = int(np.ceil(len(rows) * share / 100))
        flag[rows[np.argsort(-probability[rows], kind="stable")[:wanted]]] = True
    return {
        "probability": probability,
        "contributions": contributions,
        "contribution_names": names,
        "risk_points": risk_points,
        "reasons_up": up,
        "reasons_down": down,
        "model_flag": flag,
    }


def score_numpy(
    pupil_terms: pd.DataFrame,
    academic_year: str,
    term: str,
    rule_set: RuleSet,
    catalogue: Catalogue,
    model: Any = None,
) -> Reference:
    """Features, rules, model, reasons and flags of one term, as `score_frame` makes them."""
    upn, school, features = features_numpy(pupil_terms, academic_year, term, catalogue)
    fired, points, band, always = rules_numpy(rule_set, features)
    reference = Reference(upn, school, features, fired, points, band)
    by_rule = always | (band == rule_set.top_band)
    by_model = np.zeros(len(upn), dtype=bool)
    if model is not None:
        features = {**features, RULE_POINTS: points.astype(float)}
        side = model_numpy(model, features, term, fired, rule_set, catalogue)
        by_model = side.pop("model_flag")
        for key, value in side.items():
            setattr(reference, key, value)
    reference.flag = by_rule | by_model
    reference.flag_source = np.select(
        [by_rule & by_model, by_rule, by_model], ["both", "rule", "model"], default=""
    )
    return reference


def compare(reference: Reference, scores: pd.DataFrame, rule_set: RuleSet) -> list[str]:
    """Where the reference and a `score_frame` result differ (empty: they agree). Rules, bands, reasons and
    flags must be identical; probabilities agree to 1e-12, stored (rounded) contributions and risk points
    to their rounding."""
    if list(reference.upn) != scores["upn"].astype(object).tolist():
        return ["the pupils scored, or their order, differ"]
    ids = np.array(rule_set.rule_ids, dtype=object)
    same = {
        "fired rules": [ids[row].tolist() for row in reference.fired] == scores["fired"].tolist(),
        "points": np.array_equal(reference.points, scores["points"].to_numpy(float)),
        "bands": list(reference.band) == scores["band"].astype(object).tolist(),
        "flags": np.array_equal(reference.flag, scores["flag"].to_numpy(bool)),
        "flag sources": list(reference.flag_source) == scores["flag_source"].fillna("").tolist(),
    }
    if reference.probability is not None:
        names = reference.contribution_names
        stored = np.array([[c[n] for n in names] for c in scores["contributions"]], dtype=float)
        shown = np.array([[d["risk_points"][n] for n in names] for d in scores["details"]], dtype=float)
        probability = scores["probability"].to_numpy(float)
        same |= {
            "probabilities": np.allclose(reference.probability, probability, rtol=0, atol=1e-12),
            "contributions": np.allclose(
                np.round(reference.contributions, 4), stored, rtol=0, atol=1.0001e-4
            ),
            "risk points": np.allclose(np.round(reference.risk_points, 1), shown, rtol=0, atol=0.1001),
            "reasons raising risk": reference.reasons_up == scores["reasons_up"].tolist(),
            "reasons lowering risk": reference.reasons_down == scores["reasons_down"].tolist(),
        }
    return [f"{what} differ" for what, ok in same.items() if not ok]
