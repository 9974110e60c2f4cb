"""The local effect at the cut-off: a fuzzy regression discontinuity at the capacity threshold.

When a scoring run flags the top share of a year group, pupils just above and just below its cut-off are
alike except for the flag, so the jump in outcomes at the cut-off, divided by the jump in support there,
is the effect of support for pupils at the cut-off whose support followed the flag. It is fuzzy because
take-up is not complete and rules flag pupils below the cut-off too.

Built with statsmodels, not rdrobust (GPL-3.0; an optional cross-check only):
- local-linear regressions on each side, triangular kernel, bandwidth by Imbens and Kalyanaraman's (2012)
  MSE-optimal rule (computed on the outcome);
- the point estimate is the local-linear ratio of jumps;
- the robust interval is the bias-corrected one of Calonico, Cattaneo and Titiunik (2014) with the pilot
  bandwidth equal to the main one (rho = 1), which is exactly the local-quadratic estimate at that
  bandwidth with its heteroskedasticity-robust (HC1) standard error; the ratio's standard error is the
  delta-method one, from the regression of (outcome - tau x support) on the same design.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from riskengine.impact.estimate import Estimate

ASSUMPTION = (
    "Nothing but the flag changes abruptly at the cut-off (pupils cannot place themselves either side of "
    "it), and the flag changes outcomes only through support."
)
TRIANGULAR_CONSTANT = 3.4375


def triangular(u: np.ndarray) -> np.ndarray:
    return np.clip(1.0 - np.abs(u), 0.0, None)


def ik_bandwidth(running: np.ndarray, outcome: np.ndarray) -> float:
    """Imbens-Kalyanaraman (2012) MSE-optimal bandwidth for local-linear RD at 0, triangular kernel."""
    x, y = np.asarray(running, float), np.asarray(outcome, float)
    n = len(x)
    above = x >= 0
    h1 = 1.84 * x.std() * n ** (-1 / 5)
    near = np.abs(x) <= h1
    left, right = near & ~above, near & above
    if left.sum() < 2 or right.sum() < 2:
        raise ValueError("too few pupils near the cut-off for a discontinuity estimate")
    density = near.sum() / (2 * n * h1)
    sigma2 = (
        ((y[left] - y[left].mean()) ** 2).sum() + ((y[right] - y[right].mean()) ** 2).sum()
    ) / near.sum()
    window = (x >= np.median(x[~above])) & (x <= np.median(x[above]))
    xw = x[window]
    cubic = np.column_stack([np.ones_like(xw), xw >= 0, xw, xw**2, xw**3])
    m3 = 6 * np.linalg.lstsq(cubic, y[window], rcond=None)[0][4]
    m3 = m3 if abs(m3) > 1e-12 else 1e-12

    def curvature(side: np.ndarray) -> tuple[float, float]:
        h2 = 3.56 * (sigma2 / (density * m3**2)) ** (1 / 7) * side.sum() ** (-1 / 7)
        rows = side & (np.abs(x) <= h2)
        if rows.sum() < 4:
            rows = side
        xs = x[rows]
        quad = np.column_stack([np.ones_like(xs), xs, xs**2])
        m2 = 2 * np.linalg.lstsq(quad, y[rows], rcond=None)[0][2]
        regular = 2160 * sigma2 / (rows.sum() * h2**4)
        return m2, regular

    m2_right, r_right = curvature(above)
    m2_left, r_left = curvature(~above)
    h = (
        TRIANGULAR_CONSTANT
        * (2 * sigma2 / density / ((m2_right - m2_left) ** 2 + r_right + r_left)) ** (1 / 5)
        * n ** (-1 / 5)
    )
    return float(h)


def _design(r: np.ndarray, order: int) -> np.ndarray:
    above = (r >= 0).astype(float)
    columns = [np.ones_like(r), above]
    for power in range(1, order + 1):
        columns += [r**power, above * r**power]
    return np.column_stack(columns)


def _jumps(r, y, d, w, order):
    x = _design(r, order)
    jump_y = sm.WLS(y, x, weights=w).fit().params[1]
    first = sm.WLS(d, x, weights=w).fit(cov_type="HC1")
    return x, jump_y, first


def fuzzy_rd(
    frame: pd.DataFrame,
    outcome: str,
    *,
    running: str = "running",
    supported: str = "supported",
    bandwidth: float | None = None,
    confidence: float = 0.95,
) -> Estimate:
    """Fuzzy RD of `outcome` on support at `running` = 0 (the run's cut-off; above = flagged by it)."""
    usable = frame[frame[outcome].notna() & frame[running].notna()]
    r = usable[running].astype(float).to_numpy()
    y = usable[outcome].astype(float).to_numpy()
    d = usable[supported].astype(float).to_numpy()
    h = float(bandwidth) if bandwidth is not None else ik_bandwidth(r, y)
    w = triangular(r / h)
    inside = w > 0
    r, y, d, w = r[inside], y[inside], d[inside], w[inside]
    if (r >= 0).sum() < 5 or (r < 0).sum() < 5:
        raise ValueError("too few pupils within the bandwidth on one side of the cut-off")
    _, jump_y, first = _jumps(r, y, d, w, order=1)
    tau = jump_y / first.params[1]
    x2, jump_y2, first2 = _jumps(r, y, d, w, order=2)
    tau2 = jump_y2 / first2.params[1]
    adjusted = sm.WLS(y - tau2 * d, x2, weights=w).fit(cov_type="HC1")
    se = float(adjusted.bse[1] / abs(first2.params[1]))
    z = stats.norm.ppf(0.5 + confidence / 2)
    near = np.abs(r) <= h / 2
    naive = float(y[near & (d == 1)].mean() - y[near & (d == 0)].mean()) if near.any() else np.nan
    return Estimate(
        method="fuzzy regression discontinuity",
        outcome=outcome,
        estimand=("the local effect of support at the cut-off, for pupils whose support followed the flag"),
        assumption=ASSUMPTION,
        estimate=float(tau),
        ci_low=float(tau2 - z * se),
        ci_high=float(tau2 + z * se),
        naive=naive,
        naive_label="supported minus unsupported within half a bandwidth of the cut-off, unadjusted",
        n_supported=int(d.sum()),
        n_compared=int((d == 0).sum()),
        confidence=confidence,
        details={
            "bandwidth": h,
            "bandwidth_rule": "Imbens-Kalyanaraman" if bandwidth is None else "given",
            "first_stage_jump": float(first.params[1]),
            "first_stage_f": float((first.params[1] / first.bse[1]) ** 2),
            "bias_corrected_estimate": float(tau2),
            "robust_se": se,
            "pupils_in_bandwidth": len(r),
        },
    )
