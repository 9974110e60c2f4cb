"""A logistic regression whose coefficients keep the signs the catalogue declares, with an L2 prior.

A risk factor the data want the other way is usually a stand-in for another feature (attendance change,
given this term's attendance, carries last year's level), and an adviser reading "attendance fell, which
lowers risk" stops trusting the list. So each coefficient may be bounded (e.g. >= 0 for "raises risk"),
and shrunk towards a prior mean rather than zero: a rare but strong factor (permanent exclusion) seen in a
handful of local pupils keeps an effect near the published one instead of being shrunk to nothing.

The fit minimises, as scikit-learn's LogisticRegression does,

    0.5 * sum((coef - prior_mean)**2) + C * sum(sample_weight * log_loss)

with scipy's L-BFGS-B, which honours box bounds exactly. The intercept is neither bounded nor penalised.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted, validate_data


class BoundedLogisticRegression(ClassifierMixin, BaseEstimator):
    """Binary logistic regression with per-coefficient bounds and an L2 prior (scikit-learn estimator).

    `lower` and `upper` are arrays with one bound per input column (-inf / +inf for none), or None;
    `prior_mean` (one per column, or None for zeros) is where the L2 penalty pulls each coefficient.
    Fitted: `coef_` (1, n_features), `intercept_` (1,), `classes_`, `n_iter_`, `converged_`.
    """

    def __init__(
        self,
        C: float = 1.0,
        lower: Any = None,
        upper: Any = None,
        prior_mean: Any = None,
        max_iter: int = 1000,
        tol: float = 1e-8,
    ) -> None:
        self.C = C
        self.lower = lower
        self.upper = upper
        self.prior_mean = prior_mean
        self.max_iter = max_iter
        self.tol = tol

    def _vector(self, value: Any, fill: float, n: int, name: str) -> np.ndarray:
        vector = np.full(n, fill) if value is None else np.asarray(value, dtype=float).ravel()
        if vector.shape != (n,):
            raise ValueError(f"{name} needs one value per column ({n}), not {vector.shape}")
        return vector

    def fit(
        self, X: Any, y: Any, sample_weight: Any = None, coef_init: Any = None
    ) -> BoundedLogisticRegression:
        """Fit by L-BFGS-B; `coef_init` (coefficients then intercept) warm-starts a path of C values."""
        X, y = validate_data(self, X, y, dtype=np.float64)
        if not (isinstance(self.C, int | float) and self.C > 0):
            raise ValueError(f"C must be a positive number, not {self.C!r}")
        if not (isinstance(self.max_iter, int) and self.max_iter > 0):
            raise ValueError("max_iter must be a positive whole number")
        self.classes_, target = np.unique(y, return_inverse=True)
        if len(self.classes_) != 2:
            raise ValueError(f"needs exactly two classes in y, found {len(self.classes_)}")
        n, p = X.shape
        lower = self._vector(self.lower, -np.inf, p, "lower")
        upper = self._vector(self.upper, np.inf, p, "upper")
        prior = self._vector(self.prior_mean, 0.0, p, "prior_mean")
        if np.any(lower > upper):
            raise ValueError("a lower bound is above its upper bound")
        weight = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        sign = np.where(target == 1, 1.0, -1.0)
        scale = 1.0 / weight.sum()  # the objective per unit weight: better conditioned for L-BFGS

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            coef, intercept = theta[:p], theta[p]
            z = sign * (X @ coef + intercept)
            loss = -np.sum(weight * log_expit(z))
            residual = -weight * sign * expit(-z)  # d loss / d (X @ coef + intercept)
            gap = coef - prior
            value = (0.5 * gap @ gap + self.C * loss) * scale
            gradient = np.r_[gap + self.C * (X.T @ residual), self.C * residual.sum()] * scale
            return value, gradient

        start = (
            np.r_[np.clip(prior, lower, upper), 0.0] if coef_init is None else np.asarray(coef_init, float)
        )
        result = minimize(
            objective,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=[*zip(lower, upper, strict=True), (-np.inf, np.inf)],
            options={"maxiter": self.max_iter, "ftol": self.tol, "gtol": 1e-6},
        )
        self.coef_ = result.x[:p][None, :]
        self.intercept_ = np.array([result.x[p]])
        self.n_iter_ = int(result.nit)
        self.converged_ = bool(result.success)
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return X @ self.coef_[0] + self.intercept_[0]

    def predict_proba(self, X: Any) -> np.ndarray:
        p = expit(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[(self.decision_function(X) > 0).astype(int)]
