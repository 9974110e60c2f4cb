"""The scoring run written as directly as numpy allows: the performance limit for `score_frame`.

The same features, rules (fired rules, points, band), model probabilities (each pupil by their year group
and term's point model), contributions against that model's reference pupil and their risk points,
material top reasons (never a feature a fired rule reads as lowering risk) and flags (model capacity
within each year group) as `riskengine.flags.score_frame` produces today, from the same canonical
pupil-terms, with plain arrays: one Arrow hash lookup to find the scored pupils' rows, one pass of sorting
and `bincount` per kind of feature, boolean masks for the rules, one matrix product per point model. No
pandas groupby, no per-pupil Python. Pandas appears only at the edges (columns in, factorised codes) and the
reason sentences come from the catalogue, as scoring's do. The explanations issue's additions, the detail
records (each feature's value as text, the scoring point) and "what would change it" for flagged pupils, are
the last section of this file.

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
    additions: Additions | None = None  # detail records and "what would change it" (end of this file)


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
    if model is not None:
        reference.additions = additions_numpy(
            pupil_terms, academic_year, term, reference, features, by_model, rule_set, catalogue, model
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
    if reference.additions is not None:
        same |= compare_additions(reference.additions, scores)
    return [f"{what} differ" for what, ok in same.items() if not ok]


# ---------------------------------------------------------------------------------------------------------
# The explanations issue's additions (issue 11): each pupil's detail record (every explained feature's value
# as text beside its risk points, and the scoring point's model) and "what would change it" for flagged
# pupils. The numbers are the reference's own arrays: the lever is moved along every candidate distance of
# every flagged pupil at once, through `rules_numpy` and each point model's matrix product. What is shared
# with scoring is what is declared or worded, not computed: the levers and their followers (the
# catalogue's `Lever`), the numbers the rules compare with, and the sentence helpers (as reasons share the
# catalogue's sentences).
# ---------------------------------------------------------------------------------------------------------

_EPS = 1e-9


@dataclass
class Additions:
    values: dict[str, np.ndarray]  # explained column -> each pupil's value as text
    model_point: np.ndarray  # each pupil's scoring point ("9 autumn")
    model_note: np.ndarray  # where that is not the pupil's own year group and term (else None)
    what_would_change: list[dict[str, Any] | None]  # None for pupils not flagged


def _value_texts(
    features: dict[str, np.ndarray],
    names: list[str],
    groups: dict[str, tuple[str, ...]],
    catalogue: Catalogue,
) -> dict[str, np.ndarray]:
    """Each explained column's value as an adviser reads it, written once per distinct value."""
    from riskengine.model.explain import value_text

    table = {}
    for name in names:
        parts = []
        for member in groups.get(name, (name,)):
            values = features[member]
            kind = "number" if member == RULE_POINTS else catalogue.kind(member)
            categories = {} if member == RULE_POINTS else catalogue[member].categories
            codes, distinct = pd.factorize(values)  # a blank: code -1, the last text
            written = [value_text(kind, v, categories) for v in distinct.tolist()] + ["not known"]
            parts.append(np.array(written, dtype=object)[codes])
        joined = parts[0]
        for part in parts[1:]:
            joined = joined + ", " + part
        table[name] = joined
    return table


def _term_weights(pupil_terms: pd.DataFrame, upn: np.ndarray, academic_year: str, term: str) -> np.ndarray:
    """Each pupil's share of the year's known possible sessions that fall in the term (NaN: not known)."""
    at = np.flatnonzero((pupil_terms["academic_year"] == academic_year).to_numpy(bool, na_value=False))
    rows = pupil_terms[["upn", "term", *derivation_sessions()]].take(at)  # this year's rows only
    found = pc.index_in(pa.array(rows["upn"]), value_set=pa.array(upn, type=pa.large_string()))
    pupil = found.fill_null(-1).to_numpy(zero_copy_only=False)
    sessions = [_as_float(rows[c]) for c in derivation_sessions()]
    possible = sessions[0]
    with np.errstate(invalid="ignore"):
        usable = (pupil >= 0) & ~np.isnan(sum(sessions)) & (possible > 0)
    up_to = usable & rows["term"].isin(spec.TERMS[: spec.TERMS.index(term) + 1]).to_numpy(
        bool, na_value=False
    )
    now = up_to & (rows["term"] == term).to_numpy(bool, na_value=False)
    n = len(upn)
    year = np.bincount(pupil[up_to], weights=possible[up_to], minlength=n)
    this = np.bincount(pupil[now], weights=possible[now], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.bincount(pupil[now], minlength=n) > 0, this / year, np.nan)


def _log_odds(model: Any, features: dict[str, np.ndarray], term: str) -> np.ndarray:
    """Each row's log-odds from its point model."""
    keys, point = _point_of(model, features["ncyear"], term)
    models, log_odds = model.all_points(), np.zeros(len(point))
    for number in np.unique(point):
        one, rows = models[keys[number]], np.flatnonzero(point == number)
        log_odds[rows] = (
            _model_matrix(one, features, rows) @ one.logistic_.coef_[0] + one.logistic_.intercept_[0]
        )
    return log_odds


def _moved_log_odds(
    model: Any,
    features: dict[str, np.ndarray],
    base: np.ndarray,
    rows: np.ndarray,
    moved: dict[str, np.ndarray],
    term: str,
) -> np.ndarray:
    """Log-odds of moved copies of `rows`: each pupil's own (`base`) plus every moved number's change times
    its coefficient over its scale. The model is linear in its columns, a move never blanks or fills a
    value (so no imputer or missing indicator changes), and codes do not move."""
    keys, point = _point_of(model, features["ncyear"][rows], term)
    models, log_odds = model.all_points(), base[rows].copy()
    for number in np.unique(point):
        one, at = models[keys[number]], np.flatnonzero(point == number)
        coef, column = one.logistic_.coef_[0], {}
        for position, feature in enumerate(one.column_features_):  # a number's value column comes first
            column.setdefault(feature, position)
        for name, pipeline, _ in one.pipeline_.named_steps["columns"].transformers_:
            steps = getattr(pipeline, "named_steps", {})
            if name not in moved or "one_hot" in steps or np.isnan(steps["impute"].statistics_[0]):
                continue  # a code, or a number the model has no value column for
            change = np.nan_to_num(moved[name][at] - features[name][rows[at]])
            if change.any():
                scale = steps["scale"].scale_[0] if "scale" in steps else 1.0
                log_odds[at] += coef[column[name]] * change / scale
    return log_odds


def _candidates(
    lever: Any,
    rule_set: RuleSet,
    features: dict[str, np.ndarray],
    rows: np.ndarray,
    t: np.ndarray,
    rates: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Feature rows `rows` with the lever moved by `t` (one per row), its followers with it, and the rules'
    points for the moved rows."""
    moved = {name: values[rows] for name, values in features.items() if name != RULE_POINTS}
    for name, rate in rates.items():
        moved[name] = moved[name] + np.nan_to_num(rate[rows] * t)
    for flag, (followed, line) in lever.flags.items():
        level = moved[followed]
        moved[flag] = np.where(np.isnan(level), np.nan, level <= line + _EPS)
    moved[RULE_POINTS] = rules_numpy(rule_set, moved)[1].astype(float)
    return moved


def _lever_answers(
    lever: Any,
    model: Any,
    rule_set: RuleSet,
    features: dict[str, np.ndarray],
    term: str,
    weights: np.ndarray,
    cutoff: np.ndarray,
    probability: np.ndarray,
    base: np.ndarray,
) -> list[dict[str, Any] | None]:
    """One lever's smallest change for each pupil of `features` (None: it cannot move, or is not enough);
    `base`: their log-odds as they are."""
    from riskengine.flags.counterfactual import _STEP, _effect, _thresholds

    n = len(cutoff)
    answers: list[dict[str, Any] | None] = [None] * n
    x0 = features[lever.name]
    reach = np.abs(lever.bound - x0)
    movable = ~np.isnan(x0) & (reach > _EPS)
    rates = {lever.name: np.full(n, lever.sign)}  # how fast each feature moves with the lever
    for name, (followed, by) in lever.moves.items():  # followers come nearest first
        rates[name] = rates[followed] * (weights if by == "share_of_year" else 1.0)
    breaks = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for name, values in _thresholds(rule_set, set(rates)).items():
            breaks += [(v - features[name]) / rates[name] for v in values]
        for followed, line in lever.flags.values():
            breaks.append((line - features[followed]) / rates[followed])
    cuts = np.column_stack([*breaks, *(b + _EPS for b in breaks), reach])
    cuts = np.where(np.isfinite(cuts) & (cuts > 0) & (cuts <= reach[:, None]), cuts, reach[:, None])
    starts = np.sort(np.column_stack([np.zeros(n), cuts]), axis=1)
    ends = np.maximum(np.column_stack([starts[:, 1:] - _EPS, reach]), starts)
    k = starts.shape[1]
    # every movable pupil's candidate distances, each distinct (pupil, t) once
    rows, ts = np.repeat(np.arange(n), 2 * k), np.column_stack([starts, ends]).ravel()
    keep = np.flatnonzero(np.repeat(movable, 2 * k))
    order = keep[np.lexsort((ts[keep], rows[keep]))]
    first = np.r_[True, (np.diff(ts[order]) != 0) | (np.diff(rows[order]) != 0)]
    slot = np.cumsum(first) - 1
    moved = _candidates(lever, rule_set, features, rows[order][first], ts[order][first], rates)
    _, points, _, always = rules_numpy(rule_set, moved)
    log_odds, ok = np.full(len(ts), np.nan), np.zeros(len(ts), dtype=bool)
    log_odds[order] = _moved_log_odds(model, features, base, rows[order][first], moved, term)[slot]
    ok[order] = ((points < rule_set.bands[-1][0]) & ~always)[slot]
    log_odds, rules_ok = log_odds.reshape(n, 2, k), ok.reshape(n, 2, k)[:, 0, :]
    target = np.where(np.isnan(cutoff), np.inf, np.log(cutoff / (1 - cutoff)))[:, None]
    at_start, at_end = log_odds[:, 0, :], log_odds[:, 1, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = starts + (target - at_start) * (ends - starts) / (at_end - at_start)
    model_t = np.where(
        at_start < target,
        starts,
        np.where((at_end < target) & np.isfinite(crossing), np.minimum(crossing + _EPS, ends), np.nan),
    )
    solved = np.where(rules_ok, model_t, np.nan)
    first = np.where(np.isnan(solved).all(axis=1), -1, np.argmax(~np.isnan(solved), axis=1))
    t = np.where(movable & (first >= 0), solved[np.arange(n), np.maximum(first, 0)], np.nan)

    step = _STEP[lever.kind]
    exact = (x0 + lever.sign * t) / step
    shown = (np.ceil(exact - 1e-11) if lever.sign > 0 else np.floor(exact + 1e-11)) * step
    shown = np.clip(shown, 0.0, 1.0 if lever.kind == "rate" else np.inf)
    found = np.flatnonzero(~np.isnan(shown))
    moved = _candidates(lever, rule_set, features, found, lever.sign * (shown[found] - x0[found]), rates)
    _, new_points, _, new_always = rules_numpy(rule_set, moved)
    new_probability = 1 / (1 + np.exp(-_moved_log_odds(model, features, base, found, moved, term)))
    below = ~(new_probability >= np.nan_to_num(cutoff[found], nan=np.inf))
    for i in np.flatnonzero((new_points < rule_set.bands[-1][0]) & ~new_always & below):
        j = found[i]
        follows = {
            f: [None if np.isnan(v) else float(v) for v in (features[f][j], moved[f][i])] for f in lever.shown
        }
        said = "".join(
            f" (and so {lever.shown[f].lower()} {lever.text(new)} rather than {lever.text(old)})"
            for f, (old, new) in follows.items()
            if old is not None and new is not None
        )
        p0, p1, r0, r1 = probability[j], new_probability[i], features[RULE_POINTS][j], new_points[i]
        answers[j] = {
            "feature": lever.name,
            "from": round(float(x0[j]), 4),
            "to": float(shown[j]),
            "moves": follows,
            "probability_from": round(float(p0), 4),
            "probability_to": round(float(p1), 4),
            "points_from": float(r0),
            "points_to": float(r1),
            "text": f"if {lever.label.lower()} were {lever.text(shown[j])} rather than "
            f"{lever.text(x0[j], shown[j])}{said}, " + _effect(p0, p1, r0, float(r1)),
        }
    return answers


def what_would_change_numpy(
    pupil_terms: pd.DataFrame,
    academic_year: str,
    term: str,
    upn: np.ndarray,
    features: dict[str, np.ndarray],
    probability: np.ndarray,
    by_model: np.ndarray,
    flag: np.ndarray,
    rule_set: RuleSet,
    catalogue: Catalogue,
    model: Any,
) -> list[dict[str, Any] | None]:
    """ "What would change it" for every flagged pupil: each lever's smallest change that takes them below
    their year group's model cut-off (the lowest risk the model flagged there) and the rules' top band."""
    from riskengine.flags.counterfactual import Lever, _not_enough_texts

    result: list[dict[str, Any] | None] = [None] * len(upn)
    rows = np.flatnonzero(flag)
    if not len(rows):
        return result
    year = np.nan_to_num(features["ncyear"], nan=0).astype(int)
    cutoff_of = {
        y: probability[by_model & (year == y)].min() if (by_model & (year == y)).any() else np.nan
        for y in np.unique(year[rows]).tolist()
    }
    cutoff = np.array([cutoff_of[y] for y in year[rows].tolist()])
    picked = {name: values[rows] for name, values in features.items()}
    weights = _term_weights(pupil_terms, upn, academic_year, term)[rows]
    levers = [Lever.from_catalogue(catalogue, name) for name in catalogue.levers if name in features]
    base = _log_odds(model, picked, term)
    by_lever = [
        _lever_answers(lever, model, rule_set, picked, term, weights, cutoff, probability[rows], base)
        for lever in levers
    ]
    none = _not_enough_texts(levers, pd.DataFrame({lever.name: picked[lever.name] for lever in levers}))
    for i, row in enumerate(rows.tolist()):
        changes = [answers[i] for answers in by_lever if answers[i] is not None]
        text = "; or ".join(c["text"] for c in changes) if changes else none[i]
        result[row] = {"enough": bool(changes), "text": text, "changes": changes}
    return result


def additions_numpy(
    pupil_terms: pd.DataFrame,
    academic_year: str,
    term: str,
    reference: Reference,
    features: dict[str, np.ndarray],
    by_model: np.ndarray,
    rule_set: RuleSet,
    catalogue: Catalogue,
    model: Any,
) -> Additions:
    """Detail records' values and scoring points, and "what would change it", for a scored term."""
    groups = {g: tuple(m) for g, m in (model.explain_together or {}).items()}
    keys, point = _point_of(model, features["ncyear"], term)
    order = np.array([int(k.split()[0]) * 3 + spec.TERMS.index(k.split()[1]) for k in keys])
    year = np.where(np.isnan(features["ncyear"]), order[0] // 3, features["ncyear"]).astype(int)
    own = order[point] == year * 3 + spec.TERMS.index(term)
    names = [f"Year {k.split()[0]} {k.split()[1]}" for k in keys]
    note = np.array(
        [
            None if ok else f"no model for Year {y} {term}: scored by the {names[p]} model"
            for ok, y, p in zip(own.tolist(), year.tolist(), point.tolist(), strict=True)
        ],
        dtype=object,
    )
    per_point = bool(getattr(model, "point_models_", None))  # a single model's records name no point
    return Additions(
        values=_value_texts(features, reference.contribution_names, groups, catalogue),
        model_point=np.array(keys, dtype=object)[point] if per_point else np.full(len(point), None),
        model_note=note if per_point else np.full(len(point), None),
        what_would_change=what_would_change_numpy(
            pupil_terms,
            academic_year,
            term,
            reference.upn,
            features,
            reference.probability,
            by_model,
            reference.flag,
            rule_set,
            catalogue,
            model,
        ),
    )


def compare_additions(additions: Additions, scores: pd.DataFrame) -> dict[str, bool]:
    """Whether the detail records' values and points and "what would change it" agree (probabilities in
    the answers to their rounding)."""
    names = list(additions.values)
    details = scores["details"].tolist()
    values = np.column_stack([additions.values[n] for n in names]).tolist()

    def same_answer(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
        if a is None or b is None:
            return a is b
        if (a["enough"], a["text"], len(a["changes"])) != (b["enough"], b["text"], len(b["changes"])):
            return False
        for x, y in zip(a["changes"], b["changes"], strict=True):
            close = ("probability_from", "probability_to")
            if {k: v for k, v in x.items() if k not in close} != {
                k: v for k, v in y.items() if k not in close
            }:
                return False
            if any(abs(x[k] - y[k]) > 1.0001e-4 for k in close):
                return False
        return True

    return {
        "detail values": [[d["values"][n] for n in names] for d in details] == values,
        "model points": [d.get("model_point") for d in details] == additions.model_point.tolist()
        and [d.get("model_note") for d in details] == additions.model_note.tolist(),
        "what would change it": all(
            same_answer(a, b)
            for a, b in zip(additions.what_would_change, scores["what_would_change"].tolist(), strict=True)
        ),
    }
