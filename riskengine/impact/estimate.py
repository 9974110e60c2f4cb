"""What every impact figure carries: the estimand it targets, its assumptions in one sentence, the
adjusted estimate with its interval, and the naive figure beside it (so regression to the mean shows)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class Estimate:
    """One fair comparison. `estimate` and (`ci_low`, `ci_high`) are the adjusted figure and its interval;
    `naive` is what a simple comparison (`naive_label`) would have said."""

    method: str
    outcome: str
    estimand: str
    assumption: str
    estimate: float
    ci_low: float
    ci_high: float
    naive: float
    naive_label: str
    n_supported: int
    n_compared: int
    confidence: float = 0.95
    details: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def width(self) -> float:
        return self.ci_high - self.ci_low

    def covers(self, value: float) -> bool:
        return bool(self.ci_low <= value <= self.ci_high)

    def summary(self) -> dict[str, Any]:
        """The figures as plain JSON-able values (no tables, no pupil rows)."""
        out = {k: v for k, v in asdict(self).items() if k != "tables"}
        return {k: (float(v) if isinstance(v, np.floating) else v) for k, v in out.items()}


def logistic_fit(
    x: np.ndarray,
    y: np.ndarray,
    ridge: float = 1e-3,
    iterations: int = 50,
    start: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Coefficients of a logistic regression (first column of `x` the intercept, left unpenalised) by
    Newton's method with a small ridge, which keeps separated data finite. Fast enough to refit inside a
    bootstrap, especially from a `start` near the answer (the full-sample fit)."""
    n, k = x.shape
    w = np.ones(n) if weights is None else weights * (n / weights.sum())
    beta = np.zeros(k) if start is None else start.copy()
    penalty = np.full(k, ridge * n)
    penalty[0] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ beta, -30, 30)))
        gradient = x.T @ (w * (y - p)) - penalty * beta
        hessian = (x * (w * p * (1 - p))[:, None]).T @ x + np.diag(penalty)
        step = np.linalg.solve(hessian + 1e-9 * np.eye(k), gradient)
        beta += step
        if np.max(np.abs(step)) < 1e-8:
            break
    return beta


def predict_logistic(x: np.ndarray, beta: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x @ beta, -30, 30)))


def design(frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> tuple[np.ndarray, list[str]]:
    """An intercept, standardised numeric columns (blank = column mean) and one-hot categories (the
    commonest dropped); returns the matrix and its column names."""
    parts, names = [np.ones((len(frame), 1))], ["intercept"]
    for column in numeric:
        values = frame[column].astype(float).to_numpy()
        values = np.where(np.isnan(values), np.nanmean(values) if np.isfinite(values).any() else 0, values)
        sd = values.std()
        parts.append(((values - values.mean()) / (sd if sd > 0 else 1.0))[:, None])
        names.append(column)
    for column in categorical:
        values = frame[column].astype("string").fillna("missing")
        levels = values.value_counts().index[1:]
        for level in levels:
            parts.append((values == level).to_numpy(dtype=float)[:, None])
            names.append(f"{column}={level}")
    return np.hstack(parts), names
