""" "What would change it": for each lever the catalogue declares (an actionable feature that follows no
other: attendance this term, suspensions this year), the smallest change that takes a flagged pupil below
both the model's flag line (their year group's cut-off) and the rules' flagging band.

Computed exactly, not by search. Moving a lever by t (up for a feature that lowers risk, down for one that
raises it) moves every feature that `follows` it in the catalogue, each a straight line in t: attendance
this year by t times this term's share of the year's possible sessions, the changes since last term and
last year by t, suspensions ever by t; and switches the flags that follow a line (persistent / severe
absence where attendance this year crosses 90% / 50%). Between consecutive breakpoints (where a flag
switches or a rule's threshold is crossed) every rule is constant and the model's log-odds are linear in t,
so walking the pieces in order and solving one linear equation in each gives the smallest t. The answer is
rounded to what an adviser reads (a whole percent up, a whole number down) and checked once more through
the model and the rules themselves. The sign constraints make risk fall along the walk; it does not rely
on it.

Suspensions this year cannot be undone by next term; the answer says what the record would have to be
("if suspensions this year were 0 rather than 3"), and that suspensions ever, which counts this year's,
would fall with it. Sessions lost to suspension come from another upload column and are left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from riskengine.features import Catalogue, load_catalogue
from riskengine.features.derivations import SESSIONS
from riskengine.model.explain import value_text
from riskengine.model.spec import POINT_TERM, RULE_POINTS
from riskengine.rules.language import RuleSet
from riskengine.rules.patterns import rule_tests, test_constants
from riskengine.rules.vectorised import Column, fired_from_columns, rule_columns, take_columns
from riskengine.spec import upload as spec

_EPS = 1e-9
#: What an adviser reads of a lever's new value: a whole percent of attendance, a whole number of events.
_STEP = {"rate": 0.01, "count": 1.0}
#: How far a lever can go: to full attendance (a rate that lowers risk) or to none (a count that raises it).
_BOUND = {"lowers": 1.0, "raises": 0.0}


def term_weights(pupil_terms: pd.DataFrame, upns: pd.Index, academic_year: str, term: str) -> pd.Series:
    """Each pupil's share of this year's known possible sessions that fall in the scoring term: how much
    attendance this year moves per point of attendance this term (NaN where not known). Plain arrays:
    one Arrow hash lookup finds each row's pupil, `bincount` sums their sessions."""
    import pyarrow as pa  # with the data, not at start-up
    import pyarrow.compute as pc

    wanted = pa.array(upns.to_numpy(dtype=object, na_value=None), type=pa.large_string())
    found = pc.index_in(pa.array(pupil_terms["upn"]), value_set=wanted).fill_null(-1)
    pupil = np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.intp)
    in_year = (pupil_terms["academic_year"] == academic_year).to_numpy(bool, na_value=False)
    at = np.flatnonzero(in_year & (pupil >= 0))
    terms = pupil_terms["term"].take(at)
    sessions = np.column_stack([pupil_terms[c].take(at).to_numpy(float, na_value=np.nan) for c in SESSIONS])
    with np.errstate(invalid="ignore"):
        known = ~np.isnan(sessions).any(axis=1) & (sessions[:, 0] > 0)
    year = known & terms.isin(spec.TERMS[: spec.TERMS.index(term) + 1]).to_numpy(bool, na_value=False)
    now = year & (terms == term).to_numpy(bool, na_value=False)
    n, possible = len(upns), sessions[:, 0]
    in_term = np.bincount(pupil[at][now], weights=possible[now], minlength=n)
    whole = np.bincount(pupil[at][year], weights=possible[year], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(np.bincount(pupil[at][now], minlength=n) > 0, in_term / whole, np.nan)
    return pd.Series(share, index=upns, dtype=float)


@dataclass(frozen=True)
class Lever:
    """A lever and how it moves, from the catalogue: `sign` +1 (it rises) or -1 (it falls) to `bound`;
    `moves` each numeric follower's "same" / "share_of_year"; `flags` each flag follower's (feature, line)."""

    name: str
    label: str
    kind: str
    sign: float
    bound: float
    moves: dict[str, tuple[str, str]]  # follower -> (followed feature, by)
    flags: dict[str, tuple[str, float]]  # flag follower -> (followed feature, at or below)
    shown: dict[str, str]  # follower whose new value the sentence says -> its label
    describe: Any  # the catalogue's sentence for a value of the lever

    @classmethod
    def from_catalogue(cls, catalogue: Catalogue, name: str) -> Lever:
        feature = catalogue[name]
        if feature.kind not in _STEP or feature.direction not in _BOUND:
            raise ValueError(
                f"catalogue: {name} is actionable, but only a rate or count that raises or lowers risk can "
                "be offered as a change"
            )
        followers = {f: catalogue[f] for f in catalogue.followers(name)}
        return cls(
            name=name,
            label=feature.label,
            kind=feature.kind,
            sign=1.0 if feature.direction == "lowers" else -1.0,
            bound=_BOUND[str(feature.direction)],
            moves={f: (s.follows.feature, str(s.follows.by)) for f, s in followers.items() if s.follows.by},
            flags={
                f: (s.follows.feature, float(s.follows.at_or_below))
                for f, s in followers.items()
                if s.follows.at_or_below is not None
            },
            shown={f: s.label for f, s in followers.items() if s.follows.shown},
            describe=feature.describe,
        )

    def rates(self, features: pd.DataFrame, weights: np.ndarray) -> dict[str, np.ndarray]:
        """How fast each numeric feature moves per unit of t (the lever's distance moved), per pupil."""
        n = len(features)
        rates = {self.name: np.full(n, self.sign)}
        for name, (followed, by) in self.moves.items():  # followers come nearest first
            if name in features and followed in rates:
                rates[name] = rates[followed] * (weights if by == "share_of_year" else 1.0)
        return rates

    def at(self, features: pd.DataFrame, t: np.ndarray, rates: dict[str, np.ndarray]) -> pd.DataFrame:
        """The pupils' feature rows with the lever moved by t and everything that follows it moved too."""
        moved = features.copy()
        for name, rate in rates.items():  # as numbers: the walk's points fall between whole counts
            base = moved[name].to_numpy(float, na_value=np.nan)
            moved[name] = pd.array(base + np.nan_to_num(rate * t), dtype="Float64")
        for flag, (followed, line) in self.flags.items():
            if flag in moved and followed in moved:
                level = moved[followed].to_numpy(float, na_value=np.nan)
                on = pd.array(level <= line + _EPS, dtype="boolean")
                on[np.isnan(level)] = pd.NA
                moved[flag] = on
        return moved

    def text(self, value: float, beside: float | None = None) -> str:
        """A value as an adviser reads it; to two decimals of a percent where it would read as `beside`."""
        said = value_text(self.kind, value, {})
        if beside is not None and self.kind == "rate" and said == value_text(self.kind, beside, {}):
            said = f"{value:.2%}"
        return said


def _thresholds(rule_set: RuleSet, names: set[str]) -> dict[str, set[float]]:
    """Every number a rule compares one of `names` with."""
    tested = rule_tests(rule_set)
    found = {name: {float(v) for v in test_constants(tested[name])} for name in names & tested.keys()}
    return {name: values for name, values in found.items() if values}


def _model_inputs(features: pd.DataFrame, points: np.ndarray, term: str) -> pd.DataFrame:
    return features.assign(**{RULE_POINTS: pd.array(points, dtype="Float64"), POINT_TERM: term})


@dataclass(frozen=True)
class _Converted:
    """Pupils' features as the rules and the model read them, converted once: a candidate row (a pupil
    with a lever moved) converts afresh only the columns the lever moves, and takes the rest. `whole`:
    some scoring point's model reads other features than the model's own, so candidates keep every
    column and the model converts them itself."""

    rules: dict[str, Column]
    model: dict[str, Any]
    whole: bool

    @classmethod
    def of(
        cls, model: Any, rule_set: RuleSet, features: pd.DataFrame, points: np.ndarray, term: str
    ) -> _Converted:
        points_models = getattr(model, "all_points", dict)().values()
        whole = any(m.feature_kinds != model.feature_kinds for m in points_models)
        inputs = {} if whole else model.inputs(_model_inputs(features, points, term))
        return cls(rule_columns(features, rule_set.features), inputs, whole)

    def take(self, rows: np.ndarray) -> _Converted:
        inputs = {n: v[rows] for n, v in self.model.items()}
        return _Converted(take_columns(self.rules, rows), inputs, self.whole)

    def columns(self, lever: Lever, features: pd.DataFrame, rates: dict[str, np.ndarray]) -> pd.DataFrame:
        """The columns `lever.at` reads and moves, those an answer shows, and the year group (which
        scoring point's model reads the pupil): a candidate takes these rows, not every feature's."""
        if self.whole:
            return features
        flags = [c for f, (on, _) in lever.flags.items() if f in features and on in features for c in (f, on)]
        shown = [f for f in lever.shown if f in features]
        routing = [c for c in ("ncyear", POINT_TERM) if c in features]
        return features[list(dict.fromkeys([*rates, *flags, *shown, *routing]))]

    def rules_at(self, rule_set: RuleSet, rows: np.ndarray, moved: pd.DataFrame) -> tuple[np.ndarray, ...]:
        """(rule points, always-flag) of the pupils at `rows` with the moved columns `moved`."""
        columns = take_columns(self.rules, rows) | rule_columns(moved, set(rule_set.features) & set(moved))
        fired = fired_from_columns(rule_set, columns, len(rows))
        points = fired.astype(float) @ np.array([rule.points for rule in rule_set.rules])
        always = (fired & np.array([rule.always_flag for rule in rule_set.rules])).any(axis=1)
        return points, always

    def log_odds_at(self, model: Any, rows: np.ndarray, moved: pd.DataFrame) -> np.ndarray:
        """The model's log-odds of the pupils at `rows` with the moved columns `moved` (with rule points)."""
        return model.log_odds(moved, None if self.whole else model.inputs(moved, self.model, rows))

    def probability_at(self, model: Any, rows: np.ndarray, moved: pd.DataFrame) -> np.ndarray:
        """The model's probability of the same: an answer's check."""
        inputs = None if self.whole else model.inputs(moved, self.model, rows)
        return model.explain(moved, inputs).probability


def _walk(
    lever: Lever,
    model: Any,
    rule_set: RuleSet,
    features: pd.DataFrame,
    converted: _Converted,
    term: str,
    rates: dict[str, np.ndarray],
    target: np.ndarray,
    line: float,
) -> np.ndarray:
    """The smallest distance t along the lever that takes each pupil below both lines (NaN: none)."""
    n = len(features)
    x0 = features[lever.name].to_numpy(float, na_value=np.nan)
    reach = np.abs(lever.bound - x0)  # t from 0 (now) to reach (full attendance, no suspensions)
    breaks = []
    for name, values in _thresholds(rule_set, set(rates)).items():
        f0 = features[name].to_numpy(float, na_value=np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            breaks += [(v - f0) / rates[name] for v in values]
    for followed, flag_line in lever.flags.values():
        if followed in rates:
            f0 = features[followed].to_numpy(float, na_value=np.nan)
            with np.errstate(divide="ignore", invalid="ignore"):
                breaks.append((flag_line - f0) / rates[followed])
    cuts = np.column_stack([*breaks, *(b + _EPS for b in breaks), reach]) if breaks else reach[:, None]
    cuts = np.where(np.isfinite(cuts) & (cuts > 0) & (cuts <= reach[:, None]), cuts, reach[:, None])
    starts = np.sort(np.column_stack([np.zeros(n), cuts]), axis=1)  # piece j: [starts[j], starts[j+1])
    ends = np.maximum(np.column_stack([starts[:, 1:] - _EPS, reach]), starts)
    k = starts.shape[1]
    rows = np.repeat(np.arange(n), 2 * k)
    ts = np.column_stack([starts, ends]).ravel()  # per pupil: k starts then k ends
    # each distinct (pupil, t) once: cuts past the lever's reach all collapse onto it
    order = np.lexsort((ts, rows))
    first = np.r_[True, (np.diff(ts[order]) != 0) | (np.diff(rows[order]) != 0)]
    back = np.empty(len(ts), dtype=np.intp)
    back[order] = np.cumsum(first) - 1
    rows, ts = rows[order][first], ts[order][first]
    moved = lever.at(
        converted.columns(lever, features, rates).iloc[rows], ts, {n: rate[rows] for n, rate in rates.items()}
    )
    points, always = converted.rules_at(rule_set, rows, moved)
    rules_ok = ((points < line) & ~always)[back].reshape(n, 2, k)[:, 0, :]
    # the model only where the rules are already below the band (elsewhere no answer can lie), in one pass
    # for every pupil; log-odds only (no contributions are needed here)
    needed = np.zeros(len(ts), dtype=bool)
    needed[back.reshape(n, 2, k)[np.broadcast_to(rules_ok[:, None, :], (n, 2, k))]] = True
    at = np.flatnonzero(needed)
    scored = np.full(len(ts), np.nan)
    scored[at] = converted.log_odds_at(model, rows[at], _model_inputs(moved.iloc[at], points[at], term))
    log_odds = scored[back].reshape(n, 2, k)
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
    return np.where(first >= 0, solved[np.arange(n), np.maximum(first, 0)], np.nan)


def _answers_for(
    lever: Lever,
    model: Any,
    rule_set: RuleSet,
    features: pd.DataFrame,
    converted: _Converted,
    term: str,
    weights: np.ndarray,
    cutoff: np.ndarray,
    probability: np.ndarray,
    points: np.ndarray,
) -> list[dict[str, Any] | None]:
    """One lever's answer for each pupil (None where it cannot move or no change of it is enough)."""
    n = len(features)
    answers: list[dict[str, Any] | None] = [None] * n
    x0 = features[lever.name].to_numpy(float, na_value=np.nan)
    movable = np.flatnonzero(~np.isnan(x0) & (np.abs(lever.bound - x0) > _EPS))
    if not len(movable):
        return answers
    picked, here = features.iloc[movable], converted.take(movable)
    rates = lever.rates(picked, weights[movable])
    target = np.where(np.isnan(cutoff), np.inf, np.log(cutoff / (1 - cutoff)))[movable, None]
    t = _walk(lever, model, rule_set, picked, here, term, rates, target, rule_set.bands[-1][0])
    # what an adviser reads: a whole percent up, a whole number down; checked through the model and rules.
    # A walk's answer just past a breakpoint (by _EPS) is past it: the rounding tolerance is far smaller.
    step = _STEP[lever.kind]
    exact = (x0[movable] + lever.sign * t) / step
    shown = (np.ceil(exact - 1e-11) if lever.sign > 0 else np.floor(exact + 1e-11)) * step
    shown = np.clip(shown, 0.0, 1.0 if lever.kind == "rate" else np.inf)
    found = np.flatnonzero(~np.isnan(shown))
    if not len(found):
        return answers
    moved = lever.at(
        here.columns(lever, picked, rates).iloc[found],
        lever.sign * (shown[found] - x0[movable][found]),
        {name: rate[found] for name, rate in rates.items()},
    )
    new_points, new_always = here.rules_at(rule_set, found, moved)
    new_probability = here.probability_at(model, found, _model_inputs(moved, new_points, term))
    below = ~(new_probability >= np.nan_to_num(cutoff[movable][found], nan=np.inf))
    verified = np.flatnonzero((new_points < rule_set.bands[-1][0]) & ~new_always & below)
    rows = movable[found[verified]]
    # plain lists from here: one small dict and sentence per pupil with an answer, no pandas per pupil
    follows = {
        f: (_numbers(features[f], rows), _numbers(moved[f], verified)) for f in lever.shown if f in moved
    }
    said = [""] * len(rows)
    for f, (olds, news) in follows.items():
        said = [
            s
            if old is None or new is None
            else f"{s} (and so {lever.shown[f].lower()} {lever.text(new)} rather than {lever.text(old)})"
            for s, old, new in zip(said, olds, news, strict=True)
        ]
    for i, (j, x, to, p0, p1, r0, r1) in enumerate(
        zip(
            rows.tolist(),
            x0[rows].tolist(),
            shown[found[verified]].tolist(),
            probability[rows].tolist(),
            new_probability[verified].tolist(),
            points[rows].tolist(),
            new_points[verified].tolist(),
            strict=True,
        )
    ):
        answers[j] = {
            "feature": lever.name,
            "from": round(x, 4),
            "to": to,
            "moves": {f: [olds[i], news[i]] for f, (olds, news) in follows.items()},
            "probability_from": round(p0, 4),
            "probability_to": round(p1, 4),
            "points_from": r0,
            "points_to": r1,
            "text": (
                f"if {lever.label.lower()} were {lever.text(to)} rather than {lever.text(x, to)}{said[i]}, "
                + _effect(p0, p1, r0, r1)
            ),
        }
    return answers


def _effect(p0: float, p1: float, points0: float, points1: float) -> str:
    """What the change does, saying only what moves: "model risk would fall from 34% to 15% and the rule
    points from 11 to 8", or "the rule points would fall from 6 to 4 (model risk stays at 18%)". A risk
    that moves by less than a whole percent is given to a tenth (9.4% to 9.1%), so a fall that crosses the
    model's line never reads as "stays at 9%"."""
    before, after = _percents(p0, p1)
    risk = before != after
    rules = points0 != points1
    if risk and rules:
        return (
            f"model risk would fall from {before} to {after} and the rule points from {points0:g} to "
            f"{points1:g}"
        )
    if risk:
        return f"model risk would fall from {before} to {after} (the rule points stay at {points0:g})"
    return f"the rule points would fall from {points0:g} to {points1:g} (model risk stays at {before})"


def _percents(p0: float, p1: float) -> tuple[str, str]:
    """Two risks as an adviser reads them: whole percents, or tenths where the whole percents agree."""
    whole = f"{p0:.0%}", f"{p1:.0%}"
    return whole if whole[0] != whole[1] else (f"{p0:.1%}", f"{p1:.1%}")


def _numbers(column: pd.Series, rows: np.ndarray) -> list[float | None]:
    """A column's values at `rows` as floats, None where not known."""
    values = column.to_numpy(float, na_value=np.nan)[rows]
    return [None if v != v else v for v in values.tolist()]  # NaN is the only value not equal to itself


def what_would_change(
    model: Any,
    rule_set: RuleSet,
    features: pd.DataFrame,
    term: str,
    weights: np.ndarray,
    cutoffs: np.ndarray,
    probability: np.ndarray,
    points: np.ndarray,
    catalogue: Catalogue | None = None,
) -> list[dict[str, Any] | None]:
    """For each row of `features` (flagged pupils), each catalogue lever's smallest change that takes them
    below their model cut-off (`cutoffs`, a probability; NaN: no model line) and below the rules' top band
    with no always-flag rule, or why no single change is enough. `weights` from `term_weights`.

    Each answer: {"enough", "text" (every lever's sentence, joined by "; or "), "changes" (one record per
    lever that is enough: feature, from, to, what follows it, risk and rule points before and after)}."""
    catalogue = catalogue or load_catalogue()
    n = len(features)
    levers = [Lever.from_catalogue(catalogue, name) for name in catalogue.levers if name in features]
    weights = np.asarray(weights, dtype=float)
    cutoff = np.asarray(cutoffs, dtype=float)
    converted = _Converted.of(model, rule_set, features, np.asarray(points, dtype=float), term)
    by_lever = [
        _answers_for(lever, model, rule_set, features, converted, term, weights, cutoff, probability, points)
        for lever in levers
    ]
    none = _not_enough_texts(levers, features)
    result: list[dict[str, Any] | None] = []
    for j, answers in enumerate(zip(*by_lever, strict=True) if by_lever else [()] * n):
        changes = [answer for answer in answers if answer is not None]
        text = "; or ".join(c["text"] for c in changes) if changes else none[j]
        result.append({"enough": bool(changes), "text": text, "changes": changes})
    return result


def _not_enough_texts(levers: list[Lever], features: pd.DataFrame) -> np.ndarray:
    """`_not_enough` for every row, written once per distinct case: which levers were tried, and the value
    of each lever that could not move."""
    n = len(features)
    if not levers or not n:
        return np.array([_not_enough(levers, features, j) for j in range(n)], dtype=object)
    cases = []
    for lever in levers:  # per lever: -1 tried, else the code of the value it is stuck at
        values = features[lever.name].to_numpy(float, na_value=np.nan)
        stuck = np.isnan(values) | (np.abs(values - lever.bound) <= _EPS)
        codes, _ = pd.factorize(values, use_na_sentinel=False)
        cases.append(np.where(stuck, codes, -1))
    _, first, inverse = np.unique(np.column_stack(cases), axis=0, return_index=True, return_inverse=True)
    texts = np.array([_not_enough(levers, features, int(j)) for j in first], dtype=object)
    return texts[inverse.reshape(-1)]


def _not_enough(levers: list[Lever], features: pd.DataFrame, row: int) -> str:
    """Why no single change is enough: which levers were tried to their end, and which could not move."""
    tried, stuck = [], []
    for lever in levers:
        value = features[lever.name].iloc[row]
        if pd.isna(value) or abs(float(value) - lever.bound) <= _EPS:
            stuck.append(lever.describe(value))  # "attendance this term is not known"
        else:
            tried.append(f"{lever.label.lower()} at {lever.text(lever.bound)}")
    said = "no single change is enough"
    if tried:
        even = f"even {tried[0]}" if len(tried) == 1 else "neither " + " nor ".join(tried)
        said += (
            f": {even} would {'not ' if len(tried) == 1 else ''}take the pupil below both the model's flag "
            "line and the rules' band (another factor, or an always-flag rule, keeps them flagged)"
        )
    elif stuck:
        said += ": " + "; ".join(stuck)
    return said
