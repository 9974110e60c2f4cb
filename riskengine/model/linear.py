"""The fitted risk model as plain numbers: what scoring needs, with numpy and pandas alone.

A fitted `RiskModel` is, per scoring point, a fixed transform of each feature (scale and impute a number,
impute a flag, one-hot a code) and a logistic model on the result. `riskengine promote` writes those
numbers beside the skops champion (`LinearRiskModel.from_model`), after checking that they give exactly
the fitted model's log-odds, probabilities and contributions on a probe frame; a fresh `riskengine score`
reads them (`LinearRiskModel.from_dict`) instead of importing scikit-learn and skops, which took seconds.

Shared with `RiskModel` so the two cannot drift: the input conversions, the `Explanation`, the arithmetic
from model columns to an explanation, and routing each pupil to their scoring point's model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from riskengine.features.catalogue import KIND_DTYPES
from riskengine.model.spec import POINT_TERM, SUPPORTED

_TERMS = ("autumn", "spring", "summer")
#: The one-hot level a blank category becomes: "not known" is a value of its own, never a guess.
MISSING_CATEGORY = "(missing)"
#: Version of `LinearRiskModel.to_dict`'s layout; a bundle with another is read through skops instead.
FORMAT = 2


def _float_values(column: pd.Series) -> np.ndarray:
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):  # as features come
        return column.to_numpy(float, na_value=np.nan)  # the same floats, without two conversions
    return pd.to_numeric(column, errors="raise").astype("Float64").to_numpy(float, na_value=np.nan)


def _category_values(column: pd.Series) -> np.ndarray:
    return column.astype("string").fillna(MISSING_CATEGORY).to_numpy(object)


def as_float(frame: pd.DataFrame) -> np.ndarray:
    """Nullable numbers and flags as float64 with NaN for "not known" (what sklearn's imputers expect)."""
    return np.column_stack([_float_values(frame[c]) for c in frame])


def as_category(frame: pd.DataFrame) -> np.ndarray:
    """Codes as plain objects, a blank becoming its own level."""
    return np.column_stack([_category_values(frame[c]) for c in frame])


@dataclass(frozen=True)
class Codes:
    """A category feature's values as integer `codes` into `levels` (its distinct codes as text), -1 for a
    blank: each pupil's code is looked up once per distinct code, not once per pupil."""

    codes: np.ndarray
    levels: pd.Index

    @classmethod
    def of(cls, column: pd.Series) -> Codes:
        codes, levels = pd.factorize(column.astype("string"), use_na_sentinel=True)
        return cls(np.asarray(codes, dtype=np.intp), pd.Index(np.asarray(levels, dtype=object)))

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, rows: np.ndarray) -> Codes:
        return Codes(self.codes[rows], self.levels)

    def of_levels(self, per_level: np.ndarray, blank: Any) -> np.ndarray:
        """Each row's entry of `per_level` (one per level), `blank` for a blank."""
        return np.append(per_level, np.asarray([blank], dtype=per_level.dtype))[self.codes]


def feature_inputs(
    X: pd.DataFrame, feature_kinds: Mapping[str, str], columns: Sequence[Mapping[str, Any]] = ()
) -> dict[str, np.ndarray | Codes]:
    """Each model feature as what its transform starts from: floats (NaN: blank), or `Codes`; a code that
    `columns` (`column_specs`) were not trained with is blank (`unseen_codes`)."""
    missing = [f for f in feature_kinds if f not in X.columns]
    if missing:
        raise ValueError(f"the feature frame lacks the model's features {missing}")
    inputs: dict[str, np.ndarray | Codes] = {
        name: Codes.of(X[name]) if kind == "category" else _float_values(X[name])
        for name, kind in feature_kinds.items()
    }
    for name, unseen in _unseen_levels(columns, inputs).items():
        codes = inputs[name]
        inputs[name] = Codes(np.where(codes.of_levels(unseen, False), -1, codes.codes), codes.levels)
    return inputs


def _unseen_levels(
    columns: Sequence[Mapping[str, Any]], inputs: Mapping[str, np.ndarray | Codes]
) -> dict[str, np.ndarray]:
    """Category feature -> which of its levels the model was not trained with (only features with one)."""
    found = {}
    for column in columns:
        codes = inputs.get(column["feature"])
        if column["kind"] == "category" and isinstance(codes, Codes):
            unseen = ~codes.levels.isin(column["known"])
            if unseen.any():
                found[column["feature"]] = unseen
    return found


def unseen_codes(columns: Sequence[Mapping[str, Any]], X: pd.DataFrame) -> dict[str, np.ndarray]:
    """Category feature -> the rows whose code the model was not trained with (not one of its codes, e.g.
    a code added to the spec after training). They are scored as not known (the blank level).
    `columns`: `column_specs`."""
    names = [c["feature"] for c in columns if c["kind"] == "category" and c["feature"] in X]
    inputs = {name: Codes.of(X[name]) for name in names}
    unseen = _unseen_levels(columns, inputs)
    return {name: inputs[name].of_levels(levels, False) for name, levels in unseen.items()}


def without_unseen(model: Any, X: pd.DataFrame) -> pd.DataFrame:
    """`X` with each code `model` was not trained with blanked: scored as not known, as the run's notice
    says (`unseen_code_notices`)."""
    unseen = model.unseen_codes(X)
    return X.assign(**{name: X[name].mask(rows) for name, rows in unseen.items()}) if unseen else X


def model_matrix(
    columns: Sequence[Mapping[str, Any]],
    inputs: Mapping[str, Any],
    rows: np.ndarray | None,
    width: int,
) -> np.ndarray:
    """The model columns of `rows` (None: all) of `inputs`, computed as the fitted transformers compute
    them (same operations, same order), filled in place: a number less its mean, over its scale; a blank
    the imputer's fill and a 1 in its missing indicator; a code a 1 in its column (an unknown code, or the
    reference code, none). `columns`: `column_specs`."""
    needed = sum(
        len(c["codes"]) if c["kind"] == "category" else (c["fill"] is not None) + bool(c["indicator"])
        for c in columns
    )
    if needed != width:
        raise ValueError(f"model numbers give {needed} columns for {width} coefficients")
    n = len(next(iter(inputs.values()))) if rows is None else len(rows)
    out, at = np.empty((n, width)), 0
    for column in columns:
        values = inputs[column["feature"]] if rows is None else inputs[column["feature"]][rows]
        if isinstance(values, Codes):  # one hash lookup per distinct code, then integer comparisons
            # each level's column among the model's codes; a blank reads as the blank level
            where = pd.Index(column["codes"], dtype=object).get_indexer([*values.levels, MISSING_CATEGORY])
            found = where[values.codes]
            for j in range(len(column["codes"])):
                np.equal(found, j, out=out[:, at], casting="unsafe")
                at += 1
            continue
        x = values
        if column.get("mean") is not None:
            x = x - column["mean"]
        if column.get("scale") is not None:
            x = x / column["scale"]
        blank = np.isnan(x)
        if column["fill"] is not None:
            out[:, at] = np.where(blank, column["fill"], x)
            at += 1
        if column["indicator"]:
            out[:, at] = blank
            at += 1
    return out


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


@dataclass(frozen=True)
class Explanation:
    """Per-pupil model output in log-odds, split by catalogue feature: base + contributions = log_odds.

    `base_value` is the log-odds of the reference pupil (every feature at its catalogue reference);
    `reference_probability` its risk.
    """

    base_value: float
    log_odds: np.ndarray
    probability: np.ndarray
    contributions: pd.DataFrame  # index as the input, one column per model feature or explained group
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # group column -> its features
    #: With a model per scoring point: each row's point ("10 spring") and a note where the pupil's own year
    #: group and term has no model of its own (e.g. Year 12, scored by the Year 11 summer model).
    points: np.ndarray | None = None
    notes: np.ndarray | None = None

    def risk_points(self) -> pd.DataFrame:
        """Each contribution as the change in this pupil's model risk, in percentage points, if that feature
        (or group) alone were at its reference: what an adviser reads. Same shape as `contributions`."""
        log_odds = np.asarray(self.log_odds, dtype=float)[:, None]
        without = log_odds - self.contributions.to_numpy(float)
        points = 100.0 * (sigmoid(log_odds) - sigmoid(without))
        return pd.DataFrame(points, index=self.contributions.index, columns=self.contributions.columns)


def column_effects(
    matrix: np.ndarray, coef: np.ndarray, intercept: float, reference_row: np.ndarray, grouping: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(contributions summed by `grouping`, log-odds) of model columns: `explain_columns`' arithmetic."""
    shifted = matrix - reference_row
    shifted *= coef  # in place: the same numbers as (matrix - reference_row) * coef, one array fewer
    return shifted @ grouping, matrix @ coef + intercept


def explain_columns(
    matrix: np.ndarray,
    coef: np.ndarray,
    intercept: float,
    reference_row: np.ndarray,
    names: list[str],
    grouping: np.ndarray,
    groups: dict[str, tuple[str, ...]],
    probability: Callable[[np.ndarray], np.ndarray],
    index: pd.Index,
) -> Explanation:
    """An explanation from model columns: contributions coefficient x (value - reference) per column (linear
    SHAP with the reference pupil as the single background row), summed by `grouping` into `names`."""
    contributions, log_odds = column_effects(matrix, coef, intercept, reference_row, grouping)
    return Explanation(
        base_value=float(reference_row @ coef + intercept),
        log_odds=log_odds,
        probability=probability(log_odds),
        contributions=pd.DataFrame(contributions, index=index, columns=names),
        groups=groups,
    )


def point_order(key: str) -> int:
    """ "10 spring" -> 10 * 3 + 1: scoring points in school order."""
    year, term = key.split()
    return int(year) * 3 + _TERMS.index(term)


def _point_names(keys: np.ndarray) -> list[str]:
    return [f"Year {k.split()[0]} {k.split()[1]}" for k in keys]


def supported_default(X: pd.DataFrame, features: Sequence[str] | Mapping[str, str]) -> pd.DataFrame:
    """A model trained with `support: adjust` (riskengine.model.support) scores every pupil as not
    supported unless the frame says otherwise: a score is the risk without help."""
    if SUPPORTED in features and SUPPORTED not in X.columns:
        X = X.assign(**{SUPPORTED: pd.array([False] * len(X), dtype="boolean")})
    return X


class PointRouting:
    """A model per scoring point: each pupil is explained by their year group and term's model.

    For a class with `_numbers()`, `_matrix(X)`, `_probability(log_odds)` and `_column_specs()`, `point_`
    (its own point) and `point_models_` (point -> model), both set when there is a model per point."""

    def point_for(self, ncyear: Any, term: Any) -> tuple[np.ndarray, np.ndarray]:
        """Each row's scoring point (a key of `point_models_`) and a note when it is not the pupil's own:
        the latest point at or before the pupil's year group and term (Years 12-14: the last point's),
        or the first point for a pupil before them all."""
        keys = sorted(self.all_points(), key=point_order)
        order = np.array([point_order(k) for k in keys])
        year = pd.to_numeric(pd.Series(ncyear), errors="coerce").fillna(order[0] // 3).to_numpy(int)
        term_codes, term_names = pd.factorize(pd.Series(term, dtype=object), use_na_sentinel=False)
        position = np.array([_TERMS.index(t) if t in _TERMS else 0 for t in term_names], dtype=int)[
            term_codes
        ]
        stage = year * 3 + position
        at = np.clip(np.searchsorted(order, stage, side="right") - 1, 0, len(keys) - 1)
        chosen = np.array(keys, dtype=object)[at]
        notes = np.full(len(chosen), None, dtype=object)
        other = np.flatnonzero(order[at] != stage)
        if len(other):  # written for the few not scored by their own point's model, once per case
            cases, which = np.unique(
                np.column_stack([year, term_codes, at])[other], axis=0, return_inverse=True
            )
            names = _point_names(np.array(keys, dtype=object))
            texts = [
                f"no model for Year {y} {term_names[t]!s}: scored by the {names[k]} model"
                for y, t, k in cases.tolist()
            ]
            notes[other] = np.array(texts, dtype=object)[which.reshape(-1)]
        return chosen, notes

    def all_points(self) -> dict[str, Any]:
        """Scoring point -> its model: this model at its own point (`point_`) and `point_models_`."""
        return {getattr(self, "point_", ""): self, **(getattr(self, "point_models_", None) or {})}

    def _routed(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
        models = getattr(self, "point_models_", None)
        if not models or POINT_TERM not in X.columns or "ncyear" not in X.columns:
            return None
        return self.point_for(X["ncyear"], X[POINT_TERM])

    def _numbers(self) -> tuple[np.ndarray, float, np.ndarray, list[str], np.ndarray, dict[str, tuple]]:
        """(coefficients, intercept, reference row, explained names, column -> name grouping, groups)."""
        raise NotImplementedError

    def _explain_one(
        self, X: pd.DataFrame, rows: np.ndarray | None = None, inputs: Mapping[str, Any] | None = None
    ) -> Explanation:
        """This model's explanation of `X` (of its `rows`; `inputs`: `_inputs(X)` if already made)."""
        coef, intercept, reference_row, names, grouping, groups = self._numbers()
        return explain_columns(
            self._matrix(X, rows, inputs),
            coef,
            intercept,
            reference_row,
            names,
            grouping,
            groups,
            self._probability,
            X.index if rows is None else X.index[rows],
        )

    def _log_odds_one(
        self, X: pd.DataFrame, rows: np.ndarray | None = None, inputs: Mapping[str, Any] | None = None
    ) -> np.ndarray:
        coef, intercept = self._numbers()[:2]
        return self._matrix(X, rows, inputs) @ coef + intercept

    def _column_specs(self) -> list[dict[str, Any]]:
        """The transform of each feature as numbers (`column_specs`)."""
        raise NotImplementedError

    def unseen_codes(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """Category feature -> the rows whose code the model was not trained with (`unseen_codes`)."""
        return unseen_codes(self._column_specs(), X)

    def _inputs(self, X: pd.DataFrame) -> dict[str, np.ndarray | Codes]:
        """The feature arrays the model columns are made from, unseen codes blanked (`without_unseen`) and
        support set to none where the frame does not say (`supported_default`)."""
        return feature_inputs(
            supported_default(X, self.feature_kinds), self.feature_kinds, self._column_specs()
        )

    def inputs(
        self, X: pd.DataFrame, base: Mapping[str, Any] | None = None, rows: np.ndarray | None = None
    ) -> dict[str, np.ndarray | Codes]:
        """The feature arrays of `X` the model columns are made from, for `log_odds` / `explain` to reuse.
        With `base` (this method's result for other pupils): those pupils' `rows` of it, with only the
        model features `X` has converted afresh; for many candidate rows that each change a few features."""
        if base is None:
            return self._inputs(X)
        kinds = {name: kind for name, kind in self.feature_kinds.items() if name in X.columns}
        fresh = feature_inputs(X, kinds, self._column_specs())
        return {name: fresh[name] if name in fresh else values[rows] for name, values in base.items()}

    def _by_point(
        self, X: pd.DataFrame, keys: np.ndarray, inputs: Mapping[str, Any] | None = None
    ) -> list[tuple[Any, np.ndarray, Any]]:
        """(model, rows, inputs) per scoring point in `keys`; the inputs are converted once for all."""
        inputs = self._inputs(X) if inputs is None else inputs
        found = []
        for key in dict.fromkeys(keys):
            model = self.all_points()[key]
            same = model.feature_kinds == self.feature_kinds
            found.append((model, np.flatnonzero(keys == key), inputs if same else None))
        return found

    def log_odds(self, X: pd.DataFrame, inputs: Mapping[str, Any] | None = None) -> np.ndarray:
        """Each row's log-odds from its point model (before any calibrator), as `explain` gives them but
        without the contributions: for callers that try many candidate rows ("what would change it").
        `inputs`: `self.inputs(X)` if already made."""
        routed = self._routed(X)
        if routed is None or not len(X):
            return self._log_odds_one(X, None, inputs)
        result = np.zeros(len(X))
        for model, rows, converted in self._by_point(X, routed[0], inputs):
            result[rows] = model._log_odds_one(X, rows, converted)
        return result

    def explain(self, X: pd.DataFrame, inputs: Mapping[str, Any] | None = None) -> Explanation:
        """Probabilities and each catalogue feature's contribution in log-odds against the reference pupil.

        Contributions are summed into the feature they came from, and the features of an
        `explain_together` group into the group. base_value + contributions = log-odds, exactly (with a
        model per point, `base_value` is per row). A frame with `scoring_term` and `ncyear` columns is
        explained by each pupil's point model (`point_models_`). `inputs`: `self.inputs(X)` if already made.
        """
        routed = self._routed(X)
        if routed is None or not len(X):
            return self._explain_one(X, None, inputs)
        keys, notes = routed
        base, log_odds, probability = np.zeros(len(X)), np.zeros(len(X)), np.zeros(len(X))
        contributions = None
        for model, rows, converted in self._by_point(X, keys, inputs):  # as `_explain_one`, whole-frame
            coef, intercept, reference_row, names, grouping, groups = model._numbers()
            effects, part = column_effects(
                model._matrix(X, rows, converted), coef, intercept, reference_row, grouping
            )
            base[rows], log_odds[rows] = float(reference_row @ coef + intercept), part
            probability[rows] = model._probability(part)
            if contributions is None:
                contributions = np.zeros((len(X), effects.shape[1]))
            contributions[rows] = effects
        frame = pd.DataFrame(contributions, index=X.index, columns=names)
        return Explanation(base, log_odds, probability, frame, groups, keys, notes)


def _column_spec(name: str, kind: str, steps: Mapping[str, Any]) -> dict[str, Any]:
    """One feature's fitted transform as numbers (see `LinearRiskModel._matrix` for how they are used)."""
    if "one_hot" in steps:
        encoder = steps["one_hot"]
        levels = list(encoder.categories_[0])
        dropped = None if encoder.drop_idx_ is None else encoder.drop_idx_[0]
        codes = [str(c) for i, c in enumerate(levels) if dropped is None or i != dropped]
        return {"feature": name, "kind": kind, "codes": codes, "known": [str(c) for c in levels]}
    scaler, imputer = steps.get("scale"), steps["impute"]
    fill = float(imputer.statistics_[0])
    indicator = imputer.indicator_ is not None and len(imputer.indicator_.features_) > 0
    return {
        "feature": name,
        "kind": kind,
        "mean": None if scaler is None or scaler.mean_ is None else float(scaler.mean_[0]),
        "scale": None if scaler is None or scaler.scale_ is None else float(scaler.scale_[0]),
        "fill": None if np.isnan(fill) else fill,  # an imputer drops a column it never saw a value of
        "indicator": bool(indicator),
    }


def column_specs(model: Any) -> list[dict[str, Any]]:
    """A fitted `RiskModel`'s transform of each feature as numbers, in column order (`model_matrix`)."""
    columns = model.pipeline_.named_steps["columns"]
    transforms = {name: pipeline for name, pipeline, _ in columns.transformers_ if name != "remainder"}
    return [
        _column_spec(name, model.feature_kinds[name], transforms[name].named_steps)
        for name in model.feature_names_in_
    ]


def _calibrator_spec(calibrator: Any) -> dict[str, Any] | None:
    """None, or a sigmoid calibrator's two numbers; any other calibrator cannot be written here."""
    if calibrator is None:
        return None
    if type(calibrator).__name__ == "LogisticRegression":
        return {
            "kind": "sigmoid",
            "coef": float(calibrator.coef_[0, 0]),
            "intercept": float(calibrator.intercept_[0]),
        }
    raise ValueError(f"a {type(calibrator).__name__} calibrator is scored through skops")


class LinearRiskModel(PointRouting):
    """A fitted `RiskModel` as numbers: the same `explain` (and so the same scores), numpy and pandas only.

    Attributes as `RiskModel`'s where scoring reads them: `metadata_`, `feature_kinds`, `categories`,
    `explain_together`, `point_`, `point_models_`.
    """

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.metadata_ = spec.get("metadata") or {}
        self.feature_kinds = spec["feature_kinds"]
        self.categories = spec.get("categories")
        self.explain_together = spec.get("explain_together")
        self.point_ = spec.get("point", "")
        self.point_models_ = {k: LinearRiskModel(v) for k, v in (spec.get("point_models") or {}).items()}
        self._coef = np.asarray(spec["coef"], dtype=float)
        self._reference_row = np.asarray(spec["reference_row"], dtype=float)
        self._names = list(spec["names"])
        self._grouping = np.zeros((len(self._coef), len(self._names)))
        self._grouping[np.arange(len(self._coef)), spec["column_owner"]] = 1.0
        self._groups = {name: tuple(m) for name, m in (self.explain_together or {}).items()}

    # --- from a fitted model, and back ------------------------------------------------------------------

    @classmethod
    def from_model(cls, model: Any) -> LinearRiskModel:
        """The numbers of a fitted `RiskModel` (and its point models); a ValueError if they do not give
        exactly its explanations on a probe frame (then scoring loads the skops model instead)."""
        linear = cls(cls._spec_of(model, top=True))
        for key, fitted in model.all_points().items():
            _check_same(fitted, linear.all_points()[key], key)
        return linear

    @classmethod
    def _spec_of(cls, model: Any, top: bool) -> dict[str, Any]:
        names, grouping = model.feature_grouping()
        spec = {
            "format": FORMAT,
            "feature_kinds": dict(model.feature_kinds),
            "categories": None
            if model.categories is None
            else {k: list(v) for k, v in model.categories.items()},
            "explain_together": None
            if model.explain_together is None
            else {k: list(v) for k, v in model.explain_together.items()},
            "columns": column_specs(model),
            "coef": model.logistic_.coef_[0].tolist(),
            "intercept": float(model.logistic_.intercept_[0]),
            "reference_row": np.asarray(model.reference_row_, dtype=float).tolist(),
            "names": names,
            "column_owner": np.argmax(grouping, axis=1).tolist(),
            "calibrator": _calibrator_spec(model.calibrator_),
        }
        if top:
            spec["metadata"] = getattr(model, "metadata_", {})
            spec["point"] = getattr(model, "point_", "")
            spec["point_models"] = {
                key: cls._spec_of(m, top=False)
                for key, m in (getattr(model, "point_models_", None) or {}).items()
            }
        return spec

    def to_dict(self) -> dict[str, Any]:
        return self.spec

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> LinearRiskModel:
        if spec.get("format") != FORMAT:
            raise ValueError(f"model numbers of format {spec.get('format')!r}, not {FORMAT}")
        return cls(spec)

    # --- scoring ----------------------------------------------------------------------------------------

    def _column_specs(self) -> list[dict[str, Any]]:
        return self.spec["columns"]

    def _matrix(
        self, X: pd.DataFrame, rows: np.ndarray | None = None, inputs: Mapping[str, Any] | None = None
    ) -> np.ndarray:
        """The model columns of `X` (of its `rows`; `inputs`: `_inputs(X)` if already made)."""
        inputs = self._inputs(X) if inputs is None else inputs
        return model_matrix(self.spec["columns"], inputs, rows, len(self._coef))

    def _probability(self, log_odds: np.ndarray) -> np.ndarray:
        calibrator = self.spec.get("calibrator")
        if calibrator is None:
            return sigmoid(log_odds)
        from scipy.special import expit  # as scikit-learn's LogisticRegression.predict_proba

        return expit(log_odds[:, None] @ np.array([[calibrator["coef"]]]) + calibrator["intercept"])[:, 0]

    def _numbers(self) -> tuple[np.ndarray, float, np.ndarray, list[str], np.ndarray, dict[str, tuple]]:
        return (
            self._coef,
            self.spec["intercept"],
            self._reference_row,
            self._names,
            self._grouping,
            self._groups,
        )


def probe_frame(
    feature_kinds: Mapping[str, str], categories: Mapping[str, Sequence[str]] | None
) -> pd.DataFrame:
    """Made-up feature rows (no pupil) covering every kind's blanks, edges and codes. (A code the model
    was not trained with is scored as a blank, before the columns: `unseen_codes`.)"""
    values: dict[str, list[Any]] = {
        "rate": [None, 0.0, 0.42, 0.9, 0.95, 1.0],
        "count": [None, 0, 1, 2, 7],
        "number": [None, 0, 1, 95, 104, 120],
        "flag": [None, False, True],
    }
    columns = {
        name: values.get(kind) or [None, *(categories or {}).get(name, ())]
        for name, kind in feature_kinds.items()
    }
    n = 2 * max(len(v) for v in columns.values())  # each column cycles at its own offset: mixed rows
    return pd.DataFrame(
        {
            name: pd.array([v[(i + j) % len(v)] for i in range(n)], dtype=KIND_DTYPES[feature_kinds[name]])
            for j, (name, v) in enumerate(columns.items())
        }
    )


def _check_same(fitted: Any, linear: LinearRiskModel, point: str) -> None:
    probe = probe_frame(fitted.feature_kinds, fitted.categories)
    expected = fitted._explain_one(probe)
    got = linear._explain_one(probe)
    transformed = fitted.transformed(probe)  # the scikit-learn transformers themselves
    same = (
        np.array_equal(transformed, linear._matrix(probe))
        and expected.base_value == got.base_value
        and np.array_equal(expected.log_odds, got.log_odds)
        and np.array_equal(expected.probability, got.probability)
        and expected.contributions.columns.tolist() == got.contributions.columns.tolist()
        and np.array_equal(expected.contributions.to_numpy(), got.contributions.to_numpy())
    )
    if not same:
        raise ValueError(f"the model numbers of point {point or '(own)'} do not reproduce the fitted model")


def unseen_code_notices(model: Any, X: pd.DataFrame, labels: Mapping[str, str]) -> list[str]:
    """In words, for a run's output: each category feature with codes the model was not trained with, how
    many pupils (a small count suppressed, never who) and how they were scored. For a `RiskModel` or its
    numbers alike (both have `unseen_codes`), so scoring imports no scikit-learn for it."""
    notices = []
    for name, rows in model.unseen_codes(X).items():
        from riskengine.evaluation.disclosure import format_count  # its package loads scikit-learn: only here

        codes = sorted(X.loc[rows, name].astype(str).unique())
        notices.append(
            f"{labels.get(name, name)}: {format_count(int(rows.sum()))} pupils had a code the model was not "
            f"trained with ({', '.join(codes[:5])}{', ...' if len(codes) > 5 else ''}); the model scored "
            "them as 'not known' for it (the rules read the code as it is)"
        )
    return notices
