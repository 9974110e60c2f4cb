"""Support changes outcomes, and those outcomes train the next model: which way of handling supported
pupils in training gives the best risk *without* help (what the flag should rank by)?

Run: python benchmarks/impact_training_choice.py [--seeds 20] [--pupils 1500]
On a generated authority with a service (planted effect on NEET odds), a logistic model on the main
factors is fitted on one service cohort and tested on the other (and the reverse), three ways:
  all       every pupil, supported or not, with the observed outcome (support ignored);
  leave out supported pupils dropped from training;
  adjust    a `supported` indicator in the model, predictions made with it set to 0.
Each is scored against the outcome without help (y0, known in generated data only): ROC AUC, and the
calibration gap among the top 15% (mean predicted risk minus mean y0; negative = risk understated).
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from riskengine.impact.estimate import design, logistic_fit, predict_logistic
from riskengine.synth import generate
from riskengine.synth.service import MAIN_FACTORS, ServiceSpec, analysis_frame

CHOICES = ("all", "leave out", "adjust")


def measure(frame: pd.DataFrame) -> list[dict]:
    after = frame[~frame["before_service"]]
    cohorts = sorted(after["cohort"].unique())
    rows = []
    for train_cohort in cohorts:
        train = after[after["cohort"] == train_cohort]
        test = after[after["cohort"] != train_cohort]
        for choice in CHOICES:
            used = train[~train["supported"]] if choice == "leave out" else train
            numeric = list(MAIN_FACTORS) + (["supported"] if choice == "adjust" else [])
            both = pd.concat([used, test.assign(supported=False)])
            x, _ = design(both, numeric, [])
            x_train, x_test = x[: len(used)], x[len(used) :]
            beta = logistic_fit(x_train, used["outcome"].to_numpy(float))
            risk = predict_logistic(x_test, beta)
            y0 = test["y0"].to_numpy(float)
            top = risk >= np.quantile(risk, 0.85)
            rows.append(
                {
                    "choice": choice,
                    "auc_vs_y0": roc_auc_score(y0, risk),
                    "top15_gap": risk[top].mean() - y0[top].mean(),
                    "overall_gap": risk.mean() - y0.mean(),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--pupils", type=int, default=1500)
    args = parser.parse_args()
    rows = []
    for seed in range(args.seeds):
        la = generate(pupils=args.pupils, cohorts=10, schools=4, seed=seed, service=ServiceSpec())
        rows += [r | {"seed": seed} for r in measure(analysis_frame(la))]
    table = pd.DataFrame(rows).groupby("choice", sort=False)[["auc_vs_y0", "top15_gap", "overall_gap"]]
    print(f"{args.seeds} seeds x 2 train/test splits, {args.pupils} pupils per intake")
    summary = pd.concat([table.mean().add_suffix("_mean"), table.std().add_suffix("_sd")], axis=1)
    with pd.option_context("display.width", 200, "display.max_columns", 10):
        print(summary.round(4))


if __name__ == "__main__":
    main()
