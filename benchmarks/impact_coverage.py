"""Do the impact estimators' 95% intervals cover their own estimands? (Not run in CI; figures in notes.)

Run: python benchmarks/impact_coverage.py [--seeds 200] [--pupils 1500] [--boot 100] [--out DIR]
For each seed it generates a local authority with a service (riskengine.synth.service) twice, with the
planted effect and with none, runs every estimator (riskengine.impact.check) and appends the rows to
DIR/impact_coverage.csv as it goes, so a long run can be summarised at any point with --summarise.
Prints, per estimator: mean truth, mean estimate, bias, coverage, median interval width, and with a
planted effect of zero the false-positive rate (intervals excluding 0); and the naive pre/post bias.
Run two processes (e.g. --first-seed 0 and --first-seed 100, each its own --out) on two cores: BLAS is
held to one thread per process, since on a shared machine its spinning threads made a seed three times
slower.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
from threadpoolctl import threadpool_limits

from riskengine.impact.check import estimates_against_truth
from riskengine.synth import generate
from riskengine.synth.service import ServiceSpec

PLANTED = ServiceSpec()
ZERO = ServiceSpec(neet_odds_ratio=1.0, attendance_effect=0.0, resilience_effect=0.0)


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """The table of planted against estimated effects."""
    rows = rows.assign(
        covered=(rows["ci_low"] <= rows["truth"]) & (rows["truth"] <= rows["ci_high"]),
        width=rows["ci_high"] - rows["ci_low"],
        excludes_zero=(rows["ci_low"] > 0) | (rows["ci_high"] < 0),
        error=rows["estimate"] - rows["truth"],
    )
    planted = rows[rows["effect"] == "planted"].groupby("estimator", sort=False)
    zero = rows[rows["effect"] == "zero"].groupby("estimator", sort=False)
    table = pd.DataFrame(
        {
            "seeds": planted.size(),
            "mean_truth": planted["truth"].mean(),
            "mean_estimate": planted["estimate"].mean(),
            "bias": planted["error"].mean(),
            "coverage": planted["covered"].mean(),
            "median_width": planted["width"].median(),
            "zero_effect_coverage": zero["covered"].mean(),
            "false_positive_rate": zero["excludes_zero"].mean(),
        }
    )
    naive = table.index.str.startswith("naive")
    table.loc[naive, ["coverage", "median_width", "zero_effect_coverage", "false_positive_rate"]] = float(
        "nan"
    )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--pupils", type=int, default=1500, help="pupils per Year 7 intake")
    parser.add_argument("--boot", type=int, default=100, help="bootstrap replicates per estimate")
    parser.add_argument("--out", default="benchmark-results")
    parser.add_argument("--only", help="run only the estimators whose names contain this, e.g. attendance")
    parser.add_argument("--summarise", action="store_true", help="only summarise the rows already written")
    args = parser.parse_args()
    threadpool_limits(1)  # small matrices, two processes: BLAS threads only spin
    path = Path(args.out) / "impact_coverage.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not args.summarise:
        started = time.perf_counter()
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for effect, spec in (("planted", PLANTED), ("zero", ZERO)):
                la = generate(pupils=args.pupils, cohorts=10, schools=4, seed=seed, service=spec)
                rows = estimates_against_truth(la, n_boot=args.boot, seed=seed, only=args.only).assign(
                    seed=seed, effect=effect
                )
                rows.to_csv(path, mode="a", header=not path.exists(), index=False)
            print(f"seed {seed} done ({time.perf_counter() - started:.0f} s)", flush=True)
    rows = pd.read_csv(path)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summarise(rows).round(4).to_string())


if __name__ == "__main__":
    main()
