"""The risk model: catalogue features -> preprocessing -> sign-bounded logistic regression (-> calibrator).

One small sklearn estimator, so it trains, pickles, logs to MLflow and scores like any other, and carries
what explanations need (the reference pupil in model columns, and which catalogue feature each column
belongs to). Every column transformer is per feature, so a model column always maps back to exactly one
catalogue feature: a one-hot group and a missing indicator sum into the feature they came from.

Explanations are measured against a reference pupil (every feature at its catalogue `reference`: no factor,
or a stated line such as 95% attendance): a contribution is coefficient x (value - reference) in model
columns, which is exactly SHAP's linear explainer with that single background row. The absence of a factor
is then never a reason, and with coefficients held to the catalogue's directions a factor always reads the
way the catalogue says it works.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut, StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import check_is_fitted

from riskengine.features.catalogue import KIND_DTYPES, NUMERIC_KINDS
from riskengine.model.bounded import BoundedLogisticRegression
from riskengine.model.linear import MISSING_CATEGORY as MISSING_CATEGORY  # importable from here too
from riskengine.model.linear import Explanation as Explanation
from riskengine.model.linear import (
    PointRouting,
    as_category,
    as_float,
    column_specs,
    model_matrix,
    sigmoid,
    supported_default,
    without_unseen,
)
from riskengine.model.spec import POINT_TERM as POINT_TERM  # importable from here (flags.counterfactual)
from riskengine.model.spec import RULE_POINTS as RULE_POINTS  # defined with the spec; importable from here
from riskengine.model.spec import explain_together_problems

_KINDS = tuple(KIND_DTYPES)
#: The C values `C="auto"` chooses from: from strong shrinkage (small local authorities) to almost none.
C_GRID = tuple(float(c) for c in np.logspace(-3, 1, 9))


def _column_transformer(kind: str, categories: Sequence[str] | None, reference: Any = None) -> Pipeline:
    if kind in NUMERIC_KINDS:
        # Scale first (StandardScaler ignores NaN), then a blank takes the mean (0) plus its own indicator.
        return Pipeline(
            [
                ("as_float", FunctionTransformer(as_float, feature_names_out="one-to-one")),
                ("scale", StandardScaler()),
                ("impute", SimpleImputer(strategy="mean", add_indicator=True)),
            ]
        )
    if kind == "flag":
        return Pipeline(
            [
                ("as_float", FunctionTransformer(as_float, feature_names_out="one-to-one")),
                ("impute", SimpleImputer(strategy="constant", fill_value=0.0, add_indicator=True)),
            ]
        )
    # Reference coding: the reference code (a blank when the reference is "none recorded") has no column,
    # so each other code's coefficient is its effect against the reference and a direction bounds just it.
    levels = "auto" if categories is None else [[*categories, MISSING_CATEGORY]]
    drop = None if categories is None else [MISSING_CATEGORY if reference is None else str(reference)]
    encoder = OneHotEncoder(categories=levels, drop=drop, handle_unknown="ignore", sparse_output=False)
    return Pipeline(
        [
            ("as_category", FunctionTransformer(as_category, feature_names_out="one-to-one")),
            ("one_hot", encoder),
        ]
    )


def default_reference(kind: str, categories: Sequence[str] | None = None) -> Any:
    """The reference of a feature the catalogue gives none for: no (flag), 0 (count), the first code."""
    if kind == "flag":
        return False
    if kind == "category":
        return next(iter(categories or ()), None)
    return 0


class RiskModel(PointRouting, ClassifierMixin, BaseEstimator):
    """Preprocessing and a sign-bounded, L2-regularised logistic regression on named catalogue features.

    `feature_kinds` maps each input feature to its catalogue kind (rate, count, number, flag, category);
    `categories` lists the codes of category features so the one-hot columns do not depend on which codes
    a training cohort happened to contain. With `calibration` sigmoid or isotonic, probabilities go through
    a calibrator fitted on out-of-group log-odds (each group predicted by a model fitted without it);
    explanations stay in the logistic model's own log-odds.

    `references` gives each feature's reference value (the catalogue's; by default no / 0 / the first code)
    and `directions` its declared direction ("raises", "lowers", "either"; for a category a mapping of code
    -> direction against the reference code). With `constrained` the coefficients keep those signs, and
    `priors` (flag feature -> log-odds per "yes") moves the L2 penalty's centre from 0 to that value, so a
    rare strong factor is not shrunk to nothing by a few local cases. An unconstrained fit at the same C is
    kept as `unconstrained_`, so the model card can show where local data disagree with the catalogue.

    `explain_together` names groups of overlapping features (e.g. SEN provision and primary need) whose
    contributions `explain` sums into one column named after the group: the model can split a shared
    effect between them either way, but their sum is well determined.

    `C="auto"` picks C from `C_GRID` by cross-validated log-loss on the training rows: folds by group
    (cohort) when there are three or more groups, else stratified folds. The C used is `C_`; with "auto",
    `C_search_` says how it was chosen.
    """

    def __init__(
        self,
        feature_kinds: Mapping[str, str] | None = None,
        categories: Mapping[str, Sequence[str]] | None = None,
        penalty: str = "l2",
        C: float | str = 1.0,
        class_weight: str | None = None,
        calibration: str = "none",
        max_iter: int = 1000,
        explain_together: Mapping[str, Sequence[str]] | None = None,
        references: Mapping[str, Any] | None = None,
        directions: Mapping[str, Any] | None = None,
        priors: Mapping[str, float] | None = None,
        constrained: bool = True,
    ) -> None:
        self.feature_kinds = feature_kinds
        self.categories = categories
        self.penalty = penalty
        self.C = C
        self.class_weight = class_weight
        self.calibration = calibration
        self.max_iter = max_iter
        self.explain_together = explain_together
        self.references = references
        self.directions = directions
        self.priors = priors
        self.constrained = constrained

    # --- fitting ----------------------------------------------------------------------------------------

    def _validate_params_(self) -> None:
        if not self.feature_kinds:
            raise ValueError("feature_kinds must name at least one feature")
        bad = {f: k for f, k in self.feature_kinds.items() if k not in _KINDS}
        if bad:
            raise ValueError(f"unknown feature kinds {bad}; expected one of {_KINDS}")
        if self.penalty != "l2":
            raise ValueError("penalty must be 'l2' (sign bounds need a smooth penalty)")
        if self.calibration not in ("none", "sigmoid", "isotonic"):
            raise ValueError("calibration must be 'none', 'sigmoid' or 'isotonic'")
        if self.C != "auto" and not (isinstance(self.C, int | float) and self.C > 0):
            raise ValueError(f"C must be 'auto' or a positive number, not {self.C!r}")
        if self.class_weight not in (None, "balanced"):
            raise ValueError("class_weight must be None or 'balanced'")
        problems = explain_together_problems(self.explain_together or {}, list(self.feature_kinds))
        if problems:
            raise ValueError("; ".join(problems))
        for name, direction in (self.directions or {}).items():
            allowed = ("raises", "lowers", "either")
            values = direction.values() if isinstance(direction, Mapping) else [direction]
            if name not in self.feature_kinds or any(v not in allowed for v in values):
                raise ValueError(f"direction of {name!r} must be one of {allowed} for a model feature")
        for name, prior in (self.priors or {}).items():
            if self.feature_kinds.get(name) != "flag" or not isinstance(prior, int | float):
                raise ValueError(f"a prior is a number of log-odds for a flag feature of the model: {name!r}")

    def reference_values(self) -> dict[str, Any]:
        """Each feature's reference value: the given one, else no / 0 / the first code."""
        given, categories = self.references or {}, self.categories or {}
        return {
            name: given[name] if name in given else default_reference(kind, categories.get(name))
            for name, kind in self.feature_kinds.items()
        }

    def _columns(self) -> ColumnTransformer:
        categories, references = self.categories or {}, self.reference_values()
        return ColumnTransformer(
            [
                (name, _column_transformer(kind, categories.get(name), references[name]), [name])
                for name, kind in self.feature_kinds.items()
            ],
            sparse_threshold=0.0,
            verbose_feature_names_out=True,
        )

    def _reference_frame(self) -> pd.DataFrame:
        """One row: the reference pupil, in the feature frame's dtypes."""
        dtypes = {name: KIND_DTYPES[kind] for name, kind in self.feature_kinds.items()}
        values = self.reference_values()
        return pd.DataFrame({n: pd.array([values[n]], dtype=d) for n, d in dtypes.items()})

    def _bounds(self, names: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lower, upper, prior mean) for every model column, from the features' directions and priors.

        A number's or flag's value column takes its feature's direction ("lowers": coefficient <= 0); a
        code's column the code's direction; a missing indicator or a blank category's column is free.
        """
        directions, priors = self.directions or {}, self.priors or {}
        lower, upper, prior = np.full(len(names), -np.inf), np.full(len(names), np.inf), np.zeros(len(names))
        for i, full in enumerate(names):
            feature, column = full.split("__", 1)
            if column.startswith("missingindicator_"):
                continue
            direction = directions.get(feature, "either")
            if self.feature_kinds[feature] == "category":
                code = column[len(feature) + 1 :]
                direction = (
                    "either"
                    if code == MISSING_CATEGORY
                    else direction.get(code, "either")
                    if isinstance(direction, Mapping)
                    else direction
                )
            elif feature in priors:
                prior[i] = float(priors[feature])
            if self.constrained and direction == "raises":
                lower[i] = 0.0
            elif self.constrained and direction == "lowers":
                upper[i] = 0.0
        return lower, upper, np.clip(prior, lower, upper)

    def _weights(self, y: np.ndarray) -> np.ndarray | None:
        return None if self.class_weight is None else compute_sample_weight(self.class_weight, y)

    def _logistic(self, C: float, constrained: bool = True) -> BoundedLogisticRegression:
        if not constrained:
            return BoundedLogisticRegression(C=C, max_iter=self.max_iter)
        return BoundedLogisticRegression(
            C=C, lower=self.lower_, upper=self.upper_, prior_mean=self.prior_mean_, max_iter=self.max_iter
        )

    def _choose_C(self, matrix: np.ndarray, y: np.ndarray, groups: Any) -> tuple[float, dict[str, Any]]:
        """The grid C with the best cross-validated log-loss on these rows, and how it was found.

        Preprocessing (scaling, imputation, one-hot) uses no outcome, so it is fitted once on all rows.
        Each fold walks the grid from strong to weak shrinkage, each fit starting from the previous one.
        """
        n_groups = 0 if groups is None else len(np.unique(groups))
        if n_groups >= 3:
            splitter, folds = GroupKFold(n_splits=min(5, n_groups)), "by cohort"
        else:
            splitter, folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0), "stratified"
            groups = None
        weights = self._weights(y)
        losses = np.zeros((splitter.get_n_splits(), len(C_GRID)))
        for fold, (train, test) in enumerate(splitter.split(matrix, y, groups)):
            start = None
            for j, C in enumerate(C_GRID):
                w = None if weights is None else weights[train]
                fitted = self._logistic(C).fit(matrix[train], y[train], sample_weight=w, coef_init=start)
                start = np.r_[fitted.coef_[0], fitted.intercept_]
                p = fitted.predict_proba(matrix[test])[:, 1]
                losses[fold, j] = log_loss(y[test], p, labels=[False, True])
        mean = losses.mean(axis=0)
        best = int(np.argmin(mean))
        return C_GRID[best], {
            "folds": f"{splitter.get_n_splits()} {folds}",
            "C_grid": list(C_GRID),
            "cv_log_loss": [round(float(v), 5) for v in mean],
        }

    def fit(self, X: pd.DataFrame, y: Any, groups: Any = None) -> RiskModel:
        """Fit on a feature frame; `groups` (e.g. cohorts) make the folds for `C="auto"` and a calibrator."""
        self._validate_params_()
        X = X[list(self.feature_kinds)]
        y = np.asarray(y, dtype=bool)
        columns = self._columns().fit(X)
        matrix = columns.transform(X)
        self.column_names_ = columns.get_feature_names_out()
        self.column_features_ = np.array([n.split("__", 1)[0] for n in self.column_names_], dtype=object)
        self.lower_, self.upper_, self.prior_mean_ = self._bounds(self.column_names_)
        self.C_search_ = None
        if self.C == "auto":
            self.C_, self.C_search_ = self._choose_C(matrix, y, groups)
        else:
            self.C_ = float(self.C)
        weights = self._weights(y)
        logistic = self._logistic(self.C_).fit(matrix, y, sample_weight=weights)
        self.pipeline_ = Pipeline([("columns", columns), ("logistic", logistic)])
        self.unconstrained_ = self._logistic(self.C_, constrained=False).fit(matrix, y, sample_weight=weights)
        self.classes_ = np.array([False, True])
        self.feature_names_in_ = np.array(list(self.feature_kinds), dtype=object)
        self.reference_row_ = columns.transform(self._reference_frame())[0]
        self.calibrator_ = None
        if self.calibration != "none":
            if groups is None or len(np.unique(groups)) < 2:
                raise ValueError("calibration needs groups (e.g. cohorts) with at least two distinct values")
            out_of_group = cross_val_predict(
                clone(self.pipeline_), X, y, groups=groups, cv=LeaveOneGroupOut(), method="decision_function"
            )
            if self.calibration == "sigmoid":
                self.calibrator_ = LogisticRegression(C=1e6).fit(out_of_group[:, None], y)
            else:
                self.calibrator_ = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(
                    out_of_group, y
                )
        return self

    # --- prediction -------------------------------------------------------------------------------------

    def transformed(self, X: pd.DataFrame) -> np.ndarray:
        """The model columns by the fitted scikit-learn transformers themselves: what `_matrix` computes
        from their numbers (`linear.column_specs`), bit for bit (tested, and checked by promote)."""
        check_is_fitted(self, "pipeline_")
        X = supported_default(X, self.feature_names_in_)
        missing = [f for f in self.feature_names_in_ if f not in X.columns]
        if missing:
            raise ValueError(f"the feature frame lacks the model's features {missing}")
        X = without_unseen(self, X[list(self.feature_names_in_)])
        return self.pipeline_.named_steps["columns"].transform(X)

    def _column_specs(self) -> list[dict[str, Any]]:
        return column_specs(self)

    def _matrix(
        self, X: pd.DataFrame, rows: np.ndarray | None = None, inputs: Mapping[str, Any] | None = None
    ) -> np.ndarray:
        """The model columns of `X` (of its `rows`; `inputs`: `_inputs(X)` if already made),
        from the fitted transformers' numbers: without their per-call checks and copies, which were most
        of the cost of scoring a million pupils. A code the model was not trained with reads as not known."""
        check_is_fitted(self, "pipeline_")
        inputs = self._inputs(X) if inputs is None else inputs
        return model_matrix(self._column_specs(), inputs, rows, len(self.column_names_))

    def _probability(self, log_odds: np.ndarray) -> np.ndarray:
        if self.calibrator_ is None:
            return sigmoid(log_odds)
        if isinstance(self.calibrator_, LogisticRegression):
            return self.calibrator_.predict_proba(log_odds[:, None])[:, 1]
        return self.calibrator_.predict(log_odds)

    @property
    def logistic_(self) -> BoundedLogisticRegression:
        return self.pipeline_.named_steps["logistic"]

    def decision_function(self, X: pd.DataFrame, constrained: bool = True) -> np.ndarray:
        """The logistic model's log-odds (before any calibrator): what explanations add up to.

        `constrained=False` gives the unconstrained fit's, for measuring what the directions cost."""
        logistic = self.logistic_ if constrained else self.unconstrained_
        return logistic.decision_function(self._matrix(X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = self.explain(X).probability if self._routed(X) is not None else None
        if p is None:
            p = self._probability(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.predict_proba(X)[:, 1] >= 0.5

    def column_contributions(self, matrix: np.ndarray) -> np.ndarray:
        """coefficient x (value - reference) per model column: linear SHAP with the reference pupil as the
        single background row (checked against shap.LinearExplainer in the tests)."""
        return (matrix - self.reference_row_) * self.logistic_.coef_[0]

    def feature_grouping(self) -> tuple[list[str], np.ndarray]:
        """(explained names, a column -> name 0/1 matrix): columns summed into features, features into
        their `explain_together` group (in the place of its first feature)."""
        groups = {name: tuple(m) for name, m in (getattr(self, "explain_together", None) or {}).items()}
        owner = {member: name for name, members in groups.items() for member in members}
        names = list(dict.fromkeys(owner.get(f, f) for f in self.feature_names_in_))
        position = {name: i for i, name in enumerate(names)}
        grouping = np.zeros((len(self.column_features_), len(names)))
        for column, feature in enumerate(self.column_features_):
            grouping[column, position[owner.get(feature, feature)]] = 1.0
        return names, grouping

    @property
    def base_value_(self) -> float:
        """The reference pupil's log-odds."""
        return float(self.reference_row_ @ self.logistic_.coef_[0] + self.logistic_.intercept_[0])

    def _numbers(self) -> tuple[np.ndarray, float, np.ndarray, list[str], np.ndarray, dict[str, tuple]]:
        names, grouping = self.feature_grouping()
        groups = {name: tuple(m) for name, m in (getattr(self, "explain_together", None) or {}).items()}
        logistic = self.logistic_
        return logistic.coef_[0], logistic.intercept_[0], self.reference_row_, names, grouping, groups

    def coefficients(self) -> pd.DataFrame:
        """One row per model column: its feature, the coefficient (held to the declared direction), the
        unconstrained fit's coefficient at the same C, the bounds and prior, and the odds ratio."""
        check_is_fitted(self, "pipeline_")
        coef = self.logistic_.coef_[0]
        table = pd.DataFrame(
            {
                "column": [n.split("__", 1)[1] for n in self.column_names_],
                "feature": self.column_features_,
                "coefficient": coef,
                "unconstrained": self.unconstrained_.coef_[0],
                "bound": [_bound_text(lo, hi) for lo, hi in zip(self.lower_, self.upper_, strict=True)],
                "prior": self.prior_mean_,
                "odds_ratio": np.exp(coef),
                "reference": self.reference_row_,
            }
        )
        intercept = pd.DataFrame(
            [
                {
                    "column": "(intercept)",
                    "feature": "",
                    "coefficient": self.logistic_.intercept_[0],
                    "unconstrained": self.unconstrained_.intercept_[0],
                    "bound": "",
                    "prior": np.nan,
                    "odds_ratio": np.exp(self.logistic_.intercept_[0]),
                    "reference": np.nan,
                }
            ]
        )
        return pd.concat([intercept, table], ignore_index=True)


def _bound_text(lower: float, upper: float) -> str:
    if lower == 0 and np.isinf(upper):
        return ">= 0"
    if upper == 0 and np.isinf(lower):
        return "<= 0"
    return ""
