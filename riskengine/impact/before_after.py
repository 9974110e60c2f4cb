"""Before and after the service started: the at-risk NEET rate in cohorts before the service against
cohorts after it, the kind of figure services publish, made fair by out-of-sample risk.

Every pupil's risk comes from a model that never saw their own cohort's outcomes: cohorts before the
service are cross-fitted (each scored by a model trained on the other pre-service cohorts), and cohorts
after it by those same models (their outcomes, changed by support, train nothing). "At risk" is the top
share of each cohort by that risk. The adjusted figure compares observed minus expected NEET between the
two groups, so a change in who was at risk does not pass for an effect.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from riskengine.impact.estimate import Estimate, design, logistic_fit, predict_logistic

ASSUMPTION = (
    "Apart from the service, nothing changed between the earlier and later cohorts that moved NEET "
    "rates beyond what their risk factors predict (no other trend or policy change)."
)


def cross_fitted_risk(
    frame: pd.DataFrame,
    outcome: str,
    *,
    cohort: str,
    before: pd.Series,
    numeric: list[str],
    categorical: list[str] = (),  # type: ignore[assignment]
    seed: int = 0,
) -> pd.Series:
    """Out-of-sample risk for every pupil. Pre-service cohorts are split into folds (by cohort, or five by
    pupil when there is only one cohort) and each fold is scored by the model fitted on the other folds.
    Later cohorts are scored by the same fold models, each pupil by one chosen at random: a model's
    over-fitting shows most at the top of the risk order, so both sides must see models of equal
    quality, or the at-risk comparison would pick up the difference between the models."""
    x, _ = design(frame, list(numeric), list(categorical))
    y = frame[outcome].astype(float).to_numpy()
    earlier = before.to_numpy(dtype=bool)
    pre = earlier & ~np.isnan(y)
    rng = np.random.default_rng(seed)
    cohorts = frame[cohort].to_numpy()
    folds = cohorts if len(np.unique(cohorts[pre])) >= 2 else rng.integers(0, 5, len(frame))
    risk = np.full(len(frame), np.nan)
    fold_ids = np.unique(folds[pre])
    chosen = rng.integers(0, len(fold_ids), len(frame))
    for i, fold in enumerate(fold_ids):
        beta = logistic_fit(x[pre & (folds != fold)], y[pre & (folds != fold)])
        target = (earlier & (folds == fold)) | (~earlier & (chosen == i))
        risk[target] = predict_logistic(x[target], beta)
    return pd.Series(risk, index=frame.index, name="cross_fitted_risk")


def at_risk(risk: pd.Series, cohort: pd.Series, share: float) -> pd.Series:
    """The top `share` of each cohort by risk."""
    rank = risk.groupby(cohort).rank(ascending=False, method="first")
    size = cohort.map(cohort.value_counts())
    return rank <= np.maximum(1, np.round(share * size))


def before_after(
    frame: pd.DataFrame,
    outcome: str,
    *,
    cohort: str,
    before: str = "before_service",
    numeric: list[str],
    categorical: list[str] = (),  # type: ignore[assignment]
    share: float = 0.15,
    confidence: float = 0.95,
) -> Estimate:
    """At-risk pupils' outcome after the service started against before, adjusted for out-of-sample risk.
    The table `pupils` (in `tables`) marks who counted as at risk, for computing the estimand."""
    usable = frame[frame[outcome].notna()].copy()
    pre = usable[before].astype(bool)
    if pre.all() or not pre.any():
        raise ValueError("a before/after comparison needs cohorts both before and after the service")
    risk = cross_fitted_risk(
        usable, outcome, cohort=cohort, before=pre, numeric=numeric, categorical=categorical
    )
    risky = at_risk(risk, usable[cohort], share)
    y = usable[outcome].astype(float)
    residual = y - risk
    post_group, pre_group = risky & ~pre, risky & pre
    adjusted = residual[post_group].mean() - residual[pre_group].mean()
    se = np.sqrt(residual[post_group].var() / post_group.sum() + residual[pre_group].var() / pre_group.sum())
    z = stats.norm.ppf(0.5 + confidence / 2)
    naive = y[post_group].mean() - y[pre_group].mean()
    return Estimate(
        method="before and after the service, risk-adjusted",
        outcome=outcome,
        estimand=(
            "the change in at-risk pupils' outcome rate that the service's availability made, in the "
            "cohorts after it started (intention to treat: supported or not)"
        ),
        assumption=ASSUMPTION,
        estimate=float(adjusted),
        ci_low=float(adjusted - z * se),
        ci_high=float(adjusted + z * se),
        naive=float(naive),
        naive_label="at-risk outcome rate after minus before the service, unadjusted",
        n_supported=int(post_group.sum()),
        n_compared=int(pre_group.sum()),
        confidence=confidence,
        details={
            "at_risk_share": share,
            "expected_rate_before": float(risk[pre_group].mean()),
            "expected_rate_after": float(risk[post_group].mean()),
            "observed_rate_before": float(y[pre_group].mean()),
            "observed_rate_after": float(y[post_group].mean()),
        },
        tables={"pupils": pd.DataFrame({"at_risk": risky, "after": ~pre, "risk": risk})},
    )
