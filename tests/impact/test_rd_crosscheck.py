"""The engine's own fuzzy RD (statsmodels) against rdrobust, the reference implementation (GPL-3.0, so an
optional extra: `pip install riskengine[rdcheck]`; skipped without it). Given the same bandwidth for both
the estimate and the bias correction (rho = 1), the conventional estimate must agree exactly and the
robust interval to within the HC1 small-sample factor."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskengine.impact.discontinuity import fuzzy_rd


def test_fuzzy_rd_agrees_with_rdrobust() -> None:
    rdrobust = pytest.importorskip("rdrobust").rdrobust
    rng = np.random.default_rng(8)
    n = 8000
    r = rng.uniform(-1, 1, n)
    d = np.where(r >= 0, rng.random(n) < 0.75, rng.random(n) < 0.15)
    y = (rng.random(n) < 0.3 + 0.1 * r - 0.12 * d).astype(float)
    ours = fuzzy_rd(pd.DataFrame({"running": r, "supported": d, "y": y}), "y")
    h = ours.details["bandwidth"]
    theirs = rdrobust(y, r, c=0, fuzzy=d.astype(float), h=h, b=h, kernel="triangular", vce="hc1")
    assert ours.estimate == pytest.approx(theirs.coef.loc["Conventional"].iloc[0], rel=1e-6)
    low, high = theirs.ci.loc["Robust"]
    assert ours.ci_low == pytest.approx(low, abs=0.01 * (high - low))
    assert ours.ci_high == pytest.approx(high, abs=0.01 * (high - low))
