"""The risk model: catalogue features -> preprocessing -> regularised logistic regression (-> calibrator).

One small sklearn estimator, so it trains, pickles, logs to MLflow and scores like any other, and carries
what explanations need (the training mean of every model column and which catalogue feature each column
belongs to). Every column transformer is per feature, so a model column always maps back to exactly one
catalogue feature: a one-hot group and a missing indicator sum into the feature they came from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut, StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from riskengine.features.catalogue import KIND_DTYPES, NUMERIC_KINDS
from riskengine.model.spec import explain_together_problems

#: The one-hot level a blank category becomes: "not known" is a value of its own, never a guess.
MISSING_CATEGORY = "(missing)"
#: The extra model input holding the rule set's points, when the spec asks for it.
RULE_POINTS = "rule_points"
_KINDS = tuple(KIND_DTYPES)
#: The C values `C="auto"` chooses from: from strong shrinkage (small local authorities) to almost none.
C_GRID = tuple(float(c) for c in np.logspace(-3, 1, 9))


def as_float(frame: pd.DataFrame) -> np.ndarray:
    """Nullable numbers and flags as float64 with NaN for "not known" (what sklearn's imputers expect)."""
    return np.column_stack(
        [
            pd.to_numeric(frame[c], errors="raise").astype("Float64").to_numpy(float, na_value=np.nan)
            for c in frame
        ]
    )


def as_category(frame: pd.DataFrame) -> np.ndarray:
    """Codes as plain objects, a blank becoming its own level."""
    return np.column_stack(
        [frame[c].astype("string").fillna(MISSING_CATEGORY).to_numpy(object) for c in frame]
    )


def _column_transformer(kind: str, categories: Sequence[str] | None) -> Pipeline:
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
    levels = "auto" if categories is None else [[*categories, MISSING_CATEGORY]]
    return Pipeline(
        [
            ("as_category", FunctionTransformer(as_category, feature_names_out="one-to-one")),
            ("one_hot", OneHotEncoder(categories=levels, handle_unknown="ignore", sparse_output=False)),
        ]
    )


@dataclass(frozen=True)
class Explanation:
    """Per-pupil model output in log-odds, split by catalogue feature: base + contributions = log_odds."""

    base_value: float
    log_odds: np.ndarray
    probability: np.ndarray
    contributions: pd.DataFrame  # index as the input, one column per model feature or explained group
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # group column -> its features


class RiskModel(ClassifierMixin, BaseEstimator):
    """Preprocessing and a regularised logistic regression on named catalogue features.

    `feature_kinds` maps each input feature to its catalogue kind (rate, count, number, flag, category);
    `categories` lists the codes of category features so the one-hot columns do not depend on which codes
    a training cohort happened to contain. With `calibration` sigmoid or isotonic, probabilities go through
    a calibrator fitted on out-of-group log-odds (each group predicted by a model fitted without it);
    explanations stay in the logistic model's own log-odds.

    `explain_together` names groups of overlapping features (e.g. SEN provision and primary need) whose
    contributions `explain` sums into one column named after the group: the model can split a shared
    effect between them either way, but their sum is well determined.

    `C="auto"` picks C from `C_GRID` by cross-validated log-loss on the training rows: folds by group
    (cohort) when there are three or more groups, else stratified folds. Few pupils and outcomes give noisy
    coefficients (a risk factor can come out lowering risk); the data then choose more shrinkage. The C
    used is `C_`; with "auto", `C_search_` says how it was chosen.
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
    ) -> None:
        self.feature_kinds = feature_kinds
        self.categories = categories
        self.penalty = penalty
        self.C = C
        self.class_weight = class_weight
        self.calibration = calibration
        self.max_iter = max_iter
        self.explain_together = explain_together

    # --- fitting ----------------------------------------------------------------------------------------

    def _validate_params_(self) -> None:
        if not self.feature_kinds:
            raise ValueError("feature_kinds must name at least one feature")
        bad = {f: k for f, k in self.feature_kinds.items() if k not in _KINDS}
        if bad:
            raise ValueError(f"unknown feature kinds {bad}; expected one of {_KINDS}")
        if self.penalty not in ("l1", "l2"):
            raise ValueError("penalty must be 'l1' or 'l2'")
        if self.calibration not in ("none", "sigmoid", "isotonic"):
            raise ValueError("calibration must be 'none', 'sigmoid' or 'isotonic'")
        if self.C != "auto" and not (isinstance(self.C, int | float) and self.C > 0):
            raise ValueError(f"C must be 'auto' or a positive number, not {self.C!r}")
        problems = explain_together_problems(self.explain_together or {}, list(self.feature_kinds))
        if problems:
            raise ValueError("; ".join(problems))

    def _columns(self) -> ColumnTransformer:
        categories = self.categories or {}
        return ColumnTransformer(
            [
                (name, _column_transformer(kind, categories.get(name)), [name])
                for name, kind in self.feature_kinds.items()
            ],
            sparse_threshold=0.0,
            verbose_feature_names_out=True,
        )

    def _solver(self) -> dict[str, Any]:
        return {
            "solver": "liblinear" if self.penalty == "l1" else "lbfgs",
            "class_weight": self.class_weight,
            "max_iter": self.max_iter,
        }

    def _choose_C(self, X: pd.DataFrame, y: np.ndarray, groups: Any) -> tuple[float, dict[str, Any]]:
        """The grid C with the best cross-validated log-loss on these rows, and how it was found.

        Preprocessing (scaling, imputation, one-hot) uses no outcome, so it is fitted once on all rows.
        """
        n_groups = 0 if groups is None else len(np.unique(groups))
        if n_groups >= 3:
            splitter, folds = GroupKFold(n_splits=min(5, n_groups)), "by cohort"
        else:
            splitter, folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0), "stratified"
            groups = None
        search = LogisticRegressionCV(
            Cs=list(C_GRID),
            l1_ratios=(1.0 if self.penalty == "l1" else 0.0,),
            cv=list(splitter.split(X, y, groups)),
            scoring="neg_log_loss",
            use_legacy_attributes=False,
            refit=False,
            **self._solver(),
        ).fit(self._columns().fit_transform(X), y)
        log_loss = -search.scores_.mean(axis=0)[0]  # (folds, l1_ratios, Cs) -> per C
        best = int(np.argmin(log_loss))
        return C_GRID[best], {
            "folds": f"{splitter.get_n_splits()} {folds}",
            "C_grid": list(C_GRID),
            "cv_log_loss": [round(float(v), 5) for v in log_loss],
        }

    def _make_pipeline(self, C: float) -> Pipeline:
        logistic = LogisticRegression(C=C, l1_ratio=1.0 if self.penalty == "l1" else 0.0, **self._solver())
        return Pipeline([("columns", self._columns()), ("logistic", logistic)])

    def fit(self, X: pd.DataFrame, y: Any, groups: Any = None) -> RiskModel:
        """Fit on a feature frame; `groups` (e.g. cohorts) make the folds for `C="auto"` and a calibrator."""
        self._validate_params_()
        X = X[list(self.feature_kinds)]
        y = np.asarray(y, dtype=bool)
        self.C_search_ = None
        if self.C == "auto":
            self.C_, self.C_search_ = self._choose_C(X, y, groups)
        else:
            self.C_ = float(self.C)
        self.pipeline_ = self._make_pipeline(self.C_).fit(X, y)
        self.classes_ = np.array([False, True])
        self.feature_names_in_ = np.array(list(self.feature_kinds), dtype=object)
        columns: ColumnTransformer = self.pipeline_.named_steps["columns"]
        matrix = columns.transform(X)
        self.background_mean_ = matrix.mean(axis=0)
        self.column_names_ = columns.get_feature_names_out()
        self.column_features_ = np.array([n.split("__", 1)[0] for n in self.column_names_], dtype=object)
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

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "pipeline_")
        missing = [f for f in self.feature_names_in_ if f not in X.columns]
        if missing:
            raise ValueError(f"the feature frame lacks the model's features {missing}")
        return self.pipeline_.named_steps["columns"].transform(X[list(self.feature_names_in_)])

    def _probability(self, log_odds: np.ndarray) -> np.ndarray:
        if self.calibrator_ is None:
            return 1.0 / (1.0 + np.exp(-log_odds))
        if isinstance(self.calibrator_, LogisticRegression):
            return self.calibrator_.predict_proba(log_odds[:, None])[:, 1]
        return self.calibrator_.predict(log_odds)

    @property
    def logistic_(self) -> LogisticRegression:
        return self.pipeline_.named_steps["logistic"]

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """The logistic model's log-odds (before any calibrator): what explanations add up to."""
        return self.logistic_.decision_function(self._matrix(X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = self._probability(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.predict_proba(X)[:, 1] >= 0.5

    def explain(self, X: pd.DataFrame) -> Explanation:
        """Probabilities and each catalogue feature's SHAP contribution in log-odds, in one pass.

        Interventional SHAP of a linear model against the training mean of every model column, which is
        exactly coefficient x (value - mean), what shap's LinearExplainer computes, written out so scoring
        does not import shap (seconds); columns are then summed into the feature they came from, and the
        features of an `explain_together` group into the group (in the place of its first feature).
        """
        matrix = self._matrix(X)
        coef = self.logistic_.coef_[0]
        per_column = (matrix - self.background_mean_) * coef
        groups = {
            name: tuple(members) for name, members in (getattr(self, "explain_together", None) or {}).items()
        }
        owner = {member: name for name, members in groups.items() for member in members}
        column_owner = pd.Series(self.column_features_).replace(owner)
        names = list(dict.fromkeys(owner.get(f, f) for f in self.feature_names_in_))
        grouping = pd.get_dummies(column_owner).reindex(columns=names, fill_value=False)
        contributions = per_column @ grouping.to_numpy(float)
        base = float(self.background_mean_ @ coef + self.logistic_.intercept_[0])
        log_odds = matrix @ self.logistic_.coef_[0] + self.logistic_.intercept_[0]
        return Explanation(
            base_value=base,
            log_odds=log_odds,
            probability=self._probability(log_odds),
            contributions=pd.DataFrame(contributions, index=X.index, columns=names),
            groups=groups,
        )

    def coefficients(self) -> pd.DataFrame:
        """One row per model column: the feature it belongs to, its coefficient and odds ratio."""
        check_is_fitted(self, "pipeline_")
        coef = self.logistic_.coef_[0]
        table = pd.DataFrame(
            {
                "column": [n.split("__", 1)[1] for n in self.column_names_],
                "feature": self.column_features_,
                "coefficient": coef,
                "odds_ratio": np.exp(coef),
                "training_mean": self.background_mean_,
            }
        )
        intercept = pd.DataFrame(
            [
                {
                    "column": "(intercept)",
                    "feature": "",
                    "coefficient": self.logistic_.intercept_[0],
                    "odds_ratio": np.exp(self.logistic_.intercept_[0]),
                    "training_mean": np.nan,
                }
            ]
        )
        return pd.concat([intercept, table], ignore_index=True)
