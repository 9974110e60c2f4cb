"""The effect on the supported (ATT), by inverse-probability weighting with a bootstrap.

Supported pupils are compared with unsupported pupils weighted by the odds of support e(x) / (1 - e(x)),
so the weighted comparison group resembles the supported on risk score, flag, year group, school and the
main factors. Optionally an outcome model fitted on the weighted unsupported adjusts what imbalance
remains (the doubly robust "weighted regression adjustment" form). Balance is shown before and after
weighting.

The interval is a normal bootstrap interval, estimate +- z x the standard deviation of replicates that
each refit the propensity model (and the outcome model) on a resample stratified by support: valid for
this smooth estimator, unlike a naive bootstrap of nearest-neighbour matching. On generated data the
percentile and studentised (bootstrap-t) intervals covered less: with ~60 flagged non-takers the
replicates are skewed and their spread moves with the estimate, which those intervals follow too
closely (docs/impact-notes.md).

A count that is zero for most pupils and large for a few (days NEET) is different: its weighted
comparison mean rests on a handful of NEET pupils among ~60 flagged non-takers, so it is right-skewed
and its bootstrap spread is small exactly when few of them were NEET (the estimate then too high). For
it the interval is built from each group's mean on the log scale (`log_mover`), which reaches further
above a small comparison mean than below it; on generated data it misses equally often on each side.

Attendance (a rate, not skewed) is the third case: its bootstrap SD was ~30% wider than the estimate's
real spread, partly from replicates whose refitted propensity model nearly separated, so its interval
covered ~98%. For it `sandwich=True` gives the normal interval with the analytic M-estimation
("sandwich") standard error of the stacked estimating equations (propensity model, supported mean,
weighted comparison mean; Lunceford & Davidian 2004, for the ATT as in Reifeis & Hudgens 2022), which
allows for the estimated propensity score and needs no replicates (`sandwich_se`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from riskengine.impact.estimate import Estimate, design, logistic_fit, predict_logistic

ASSUMPTION = (
    "Among pupils alike on the compared characteristics, who was supported was as good as random "
    "(no unmeasured confounding), and every supported pupil had comparable unsupported pupils (overlap)."
)
CLIP = 0.99
RIDGE = 1e-3  # logistic_fit's default ridge, repeated in the propensity model's estimating equation


def _att(
    x: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    binary: bool,
    starts: tuple | None = None,
    outcome_model: bool = False,
) -> tuple[float, np.ndarray, tuple, tuple[float, float]]:
    """(ATT, the comparison weights, the fitted coefficients to start refits from, the two means whose
    difference is the ATT: supported and weighted comparison).

    Without `outcome_model`: the supported pupils' mean outcome less the unsupported pupils' mean weighted
    by e / (1 - e) (normalised inverse-probability weighting). With it, inverse-probability-weighted
    regression adjustment (doubly robust): an outcome model for the unsupported is fitted
    with the ATT weights e / (1 - e), so it is accurate where the supported are (not extrapolated from the
    many low-risk unsupported pupils), and the effect is the supported pupils' mean of outcome minus
    predicted outcome without support, less the weighted mean of the same among the unsupported (zero
    when the model has an intercept, kept so the formula holds for any model).
    """
    starts = starts or (None, None)
    beta_e = logistic_fit(x, t.astype(float), ridge=RIDGE, start=starts[0])
    e = np.clip(predict_logistic(x, beta_e), 1 - CLIP, CLIP)
    control = ~t
    weights = np.where(control, e / (1 - e), 0.0)
    beta_m = None
    if not outcome_model:
        means = (float(y[t].mean()), float(np.sum(weights * y) / weights.sum()))
        return means[0] - means[1], weights, (beta_e, None), means
    if binary:
        beta_m = logistic_fit(x[control], y[control], start=starts[1], weights=weights[control])
        m0 = predict_logistic(x, beta_m)
    else:
        root = np.sqrt(weights[control])[:, None]
        beta, *_ = np.linalg.lstsq(x[control] * root, y[control] * root[:, 0], rcond=None)
        m0 = x @ beta
    residual = y - m0
    means = (float(residual[t].mean()), float(np.sum(weights * residual) / weights.sum()))
    return means[0] - means[1], weights, (beta_e, beta_m), means


def sandwich_se(x: np.ndarray, t: np.ndarray, y: np.ndarray, beta_e: np.ndarray) -> float:
    """The M-estimation (sandwich) standard error of plain weighting's ATT, mean(y | supported) less the
    comparison mean weighted by e / (1 - e), allowing for the fitted propensity coefficients `beta_e`.

    Each pupil's contribution to (estimate - estimand) is linearised from the stacked estimating
    equations: the ridge logistic score x (t - p) - penalty beta / n; t (y - mu1) for the supported
    mean; (1 - t) w (y - mu0) for the comparison mean, which moves with beta through dw/dbeta = w x
    (zero where the clip binds). The variance is the sum of the squared contributions.
    """
    n, k = x.shape
    p = predict_logistic(x, beta_e)
    inside = (p >= 1 - CLIP) & (p <= CLIP)
    e = np.clip(p, 1 - CLIP, CLIP)
    w = np.where(t, 0.0, e / (1 - e))
    mu1, mu0 = y[t].mean(), np.sum(w * y) / w.sum()
    penalty = np.full(k, RIDGE * n)
    penalty[0] = 0.0
    score = x * (t - p)[:, None] - penalty * beta_e / n
    information = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty)
    shift = np.linalg.solve(information, score.T).T  # each pupil's share of (beta_hat - beta)
    comparison = w * (y - mu0)
    slope = (comparison * inside) @ x  # d/dbeta of sum (1 - t) w (y - mu0)
    contribution = np.where(t, y - mu1, 0.0) / t.sum() - (comparison + shift @ slope) / w.sum()
    return float(np.sqrt(np.sum(contribution**2)))


def log_mover(means: tuple[float, float], boot_means: np.ndarray, z: float) -> tuple[float, float]:
    """The interval for (supported mean - comparison mean) of a non-negative, skewed outcome, from each
    mean's own interval (MOVER, Zou & Donner 2008, with the correlation of the two means' replicates):
    each mean's normal bootstrap interval on the log scale, where its right skew is removed, mapped
    back, then combined."""
    logs = np.log(boot_means)
    spread = logs.std(axis=0, ddof=1)
    (m1, m2), d = means, means[0] - means[1]
    (l1, l2), (u1, u2) = np.exp(np.log(means) - z * spread), np.exp(np.log(means) + z * spread)
    r = float(np.corrcoef(boot_means.T)[0, 1])  # the refitted weights tie the two means together
    below = (m1 - l1) ** 2 + (u2 - m2) ** 2 - 2 * r * (m1 - l1) * (u2 - m2)
    above = (u1 - m1) ** 2 + (m2 - l2) ** 2 - 2 * r * (u1 - m1) * (m2 - l2)
    return float(d - np.sqrt(max(below, 0.0))), float(d + np.sqrt(max(above, 0.0)))


def balance_table(x: np.ndarray, names: list[str], t: np.ndarray, weights: np.ndarray) -> pd.DataFrame:
    """Standardised mean differences (supported minus comparison, over the pooled SD) before and after
    weighting; |SMD| < 0.1 is the usual mark of good balance."""
    xs, xc = x[t][:, 1:], x[~t][:, 1:]
    w = weights[~t]
    pooled = np.sqrt((xs.var(axis=0) + xc.var(axis=0)) / 2)
    pooled = np.where(pooled > 0, pooled, 1.0)
    before = (xs.mean(axis=0) - xc.mean(axis=0)) / pooled
    after = (xs.mean(axis=0) - np.average(xc, axis=0, weights=w)) / pooled
    return pd.DataFrame({"covariate": names[1:], "smd_before": before, "smd_after": after})


def weighted_att(
    frame: pd.DataFrame,
    outcome: str,
    *,
    supported: str = "supported",
    numeric: list[str],
    categorical: list[str] = (),  # type: ignore[assignment]
    baseline: str | None = None,
    n_boot: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    outcome_model: bool = False,
    log_scale: bool = False,
    sandwich: bool = False,
) -> Estimate:
    """The ATT of support on `outcome` (risk difference for a 0/1 outcome), with a normal bootstrap
    interval from refitted replicates, or with `log_scale` (for a skewed count such as days NEET) the
    interval combined from each group's mean on the log scale (`log_mover`), or with `sandwich` (used
    for attendance) a normal interval from the analytic sandwich standard error, without replicates.

    Plain inverse-probability weighting by default; `outcome_model=True` adds the weighted regression
    adjustment (doubly robust). On generated data the adjustment, fitted on the few weighted unsupported
    pupils that resemble the supported, added variance without removing bias (issue 13 notes), so it
    is an option rather than the default.

    `baseline` (optional) names the same measure before support (e.g. attendance at the scoring term):
    the naive figure is then the supported pupils' mean change from it (pre/post); otherwise it is the
    plain difference between supported and unsupported pupils. Rows with a blank outcome are left out
    (and counted in `details`).
    """
    if sandwich and (outcome_model or log_scale):
        raise ValueError("the sandwich interval is for plain weighting on the original scale")
    usable = frame[frame[outcome].notna()]
    dropped = len(frame) - len(usable)
    t = usable[supported].astype(bool).to_numpy()
    y = usable[outcome].astype(float).to_numpy()
    binary = bool(np.isin(y, (0.0, 1.0)).all())
    x, names = design(usable, list(numeric), list(categorical))
    point, weights, starts, means = _att(x, t, y, binary, outcome_model=outcome_model)
    if log_scale and (outcome_model or (y < 0).any() or min(means) <= 0):  # before any replicate
        raise ValueError("the log-scale interval needs plain weighting and a non-negative outcome")
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    n_boot = 0 if sandwich else n_boot
    rng = np.random.default_rng(seed)
    treated_rows, control_rows = np.flatnonzero(t), np.flatnonzero(~t)
    boots = np.empty(n_boot)
    boot_means = np.empty((n_boot, 2))
    for b in range(n_boot):  # replicates, not rows: each refits both models on a resample
        rows = np.concatenate(
            [rng.choice(treated_rows, len(treated_rows)), rng.choice(control_rows, len(control_rows))]
        )
        boots[b], _, _, boot_means[b] = _att(x[rows], t[rows], y[rows], binary, starts, outcome_model)
    se = sandwich_se(x, t, y, starts[0]) if sandwich else float(boots.std(ddof=1))
    low, high = point - z * se, point + z * se
    interval = "normal bootstrap (refitted replicates)"
    if sandwich:
        interval = "normal, sandwich standard error allowing for the fitted propensity model"
    if log_scale:
        low, high = log_mover(means, boot_means, z)
        interval = "each group's mean on the log scale, combined (MOVER), from refitted replicates"
    if baseline is not None:
        change = y[t] - usable.loc[t, baseline].astype(float).to_numpy()
        naive, naive_label = float(np.nanmean(change)), "supported pupils' change from before support"
    else:
        naive = float(y[t].mean() - y[~t].mean())
        naive_label = "supported minus unsupported, unadjusted"
    e_weights = weights[~t]
    return Estimate(
        method="doubly robust weighting" if outcome_model else "inverse-probability weighting",
        outcome=outcome,
        estimand="the average effect of support on the supported pupils (ATT)",
        assumption=ASSUMPTION,
        estimate=point,
        ci_low=float(low),
        ci_high=float(high),
        naive=naive,
        naive_label=naive_label,
        n_supported=int(t.sum()),
        n_compared=int((~t).sum()),
        confidence=confidence,
        details={
            "interval": interval,
            "bootstrap_replicates": n_boot,
            "standard_error": se,
            "rows_without_outcome": int(dropped),
            "effective_comparison_size": float(e_weights.sum() ** 2 / np.sum(e_weights**2)),
            "outcome_model": ("logistic" if binary else "linear") if outcome_model else "none",
        },
        tables={"balance": balance_table(x, names, t, weights)},
    )
