"""Every estimator on a generated local authority, beside the truth it targets: what the coverage
benchmark (benchmarks/impact_coverage.py) repeats over many seeds and the CI tests run on a few."""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskengine.impact.before_after import before_after
from riskengine.impact.discontinuity import fuzzy_rd
from riskengine.impact.weighting import weighted_att
from riskengine.synth.service import MAIN_FACTORS, analysis_frame, true_estimands

COMPARED_ON = ["score_logit", *MAIN_FACTORS, "flagged", "rule_flag"]
CATEGORIES = ["school_urn", "cohort"]


def estimates_against_truth(la, n_boot: int = 200, seed: int = 0, only: str | None = None) -> pd.DataFrame:
    """One row per estimator: estimate, interval, naive figure and the true value of its estimand.

    Also rows for the naive pre/post change among supported pupils (attendance and resilience), with the
    true effect beside them, which shows the regression to the mean those figures carry. `only` (a part
    of the estimators' names) runs just those, e.g. "attendance" without the bootstrapped estimators.
    """
    frame = analysis_frame(la)
    truth = true_estimands(frame)
    after = frame[~frame["before_service"]]
    rows = []

    def row(name: str, estimate, true_value) -> None:  # true_value: a number or f(estimate)
        if only is not None and only not in name:
            return
        estimate = estimate()
        true_value = true_value(estimate) if callable(true_value) else true_value
        rows.append(
            {
                "estimator": name,
                "estimate": estimate.estimate,
                "ci_low": estimate.ci_low,
                "ci_high": estimate.ci_high,
                "naive": estimate.naive,
                "truth": true_value,
                "n_supported": estimate.n_supported,
                "standard_error": estimate.details.get("standard_error", np.nan),
            }
        )

    row(
        "weighted ATT, outcome",
        lambda: weighted_att(
            after, "outcome", numeric=COMPARED_ON, categorical=CATEGORIES, n_boot=n_boot, seed=seed
        ),
        truth["att_outcome"],
    )
    row(
        "weighted ATT, attendance",
        lambda: weighted_att(
            after,
            "attendance",
            numeric=[*COMPARED_ON, "attendance_pre"],
            categorical=CATEGORIES,
            baseline="attendance_pre",
            sandwich=True,
        ),
        truth["att_attendance"],
    )
    row(
        "weighted ATT, days NEET",
        lambda: weighted_att(
            after,
            "days_neet",
            numeric=COMPARED_ON,
            categorical=CATEGORIES,
            n_boot=n_boot,
            seed=seed,
            log_scale=True,
        ),
        truth["att_days_neet"],
    )
    row("fuzzy RD at the cut-off, outcome", lambda: fuzzy_rd(after, "outcome"), truth["rd_outcome"])
    share = la.service.spec.capacity

    def itt(estimate) -> float:
        marked = estimate.tables["pupils"]
        group = frame.loc[marked.index[marked["at_risk"] & marked["after"]]]
        return float((group["supported"] * (group["y1"] - group["y0"])).mean())

    row(
        "before/after, at-risk outcome (ITT)",
        lambda: before_after(
            frame,
            "outcome",
            cohort="cohort",
            numeric=["score_logit", *MAIN_FACTORS],
            categorical=["school_urn"],
            share=share,
        ),
        itt,
    )

    supported = frame[frame["supported"]]
    naive_attendance = float((supported["attendance"] - supported["attendance_pre"]).mean())
    pupils = la.service.pupils
    helped = pupils[pupils["supported"] & pupils["scored"]]
    subscales = [c[: -len("_pre")] for c in helped.columns if c.endswith("_pre") and c != "attendance_pre"]
    pre = helped[[f"{s}_pre" for s in subscales]].mean(axis=1)
    post1 = helped[[f"{s}_post1" for s in subscales]].mean(axis=1)
    post0 = helped[[f"{s}_post0" for s in subscales]].mean(axis=1)
    for name, naive, true_value in (
        ("naive pre/post, attendance", naive_attendance, truth["att_attendance"]),
        (
            "naive pre/post, resilience (mean sten)",
            float((post1 - pre).mean()),
            float((post1 - post0).mean()),
        ),
    ):
        if only is not None and only not in name:
            continue
        rows.append(
            {"estimator": name, "estimate": naive, "ci_low": np.nan, "ci_high": np.nan, "naive": naive,
             "truth": true_value, "n_supported": len(helped)}
        )  # fmt: skip
    return pd.DataFrame(rows)
