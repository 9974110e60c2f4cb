"""Time an evaluation report for a large generated population: `evaluate` + `write_report` (target < 60 s
for 200,000 pupils on 2 cores).

Usage: python benchmarks/bench_report.py [--pupils 200000] [--reps 200] [--mlflow]

Inputs come from the tests' generator (tests/evaluation/evaluation_data.py): made-up pupils with audit
attributes, outcomes drawn from a known risk and recorded as destinations, and two scoring runs. Building
them (and deriving outcomes) is not timed; the report's stages are, one by one.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "evaluation"))

from evaluation_data import DEFINITION, generated_inputs

from riskengine.evaluation import evaluate, load_audit_settings, log_evaluation, write_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pupils", type=int, default=200_000)
    parser.add_argument("--reps", type=int, default=None, help="bootstrap resamples (default: audit.yaml)")
    parser.add_argument("--mlflow", action="store_true", help="also time logging to a temporary MLflow store")
    args = parser.parse_args()

    started = time.perf_counter()
    inputs = generated_inputs(args.pupils, seed=0, under_record=("ethnicity", "BAFR", 0.5))
    print(
        f"generated {args.pupils:,} pupils, {len(inputs.scores):,} score rows in "
        f"{time.perf_counter() - started:.1f} s (not timed)"
    )
    settings = load_audit_settings()
    if args.reps:
        settings = replace(settings, bootstrap_reps=args.reps)

    with tempfile.TemporaryDirectory() as folder, tempfile.TemporaryDirectory() as tracking:
        timings = {}
        start = time.perf_counter()
        result = evaluate(
            inputs.scores,
            inputs.outcomes,
            inputs.attributes,
            settings,
            destinations=inputs.destinations,
            definition=DEFINITION,
        )
        timings["evaluate"] = time.perf_counter() - start
        start = time.perf_counter()
        html = write_report(result, folder)
        timings["write_report"] = time.perf_counter() - start
        if args.mlflow:
            start = time.perf_counter()
            log_evaluation(result, folder, tracking_uri=f"sqlite:///{Path(tracking) / 'mlflow.db'}")
            timings["log_evaluation"] = time.perf_counter() - start
        size = html.stat().st_size / 1e6

    report = timings["evaluate"] + timings["write_report"]
    print(f"bootstrap resamples: {settings.bootstrap_reps}")
    for stage, seconds in timings.items():
        print(f"{stage:>15}: {seconds:6.1f} s")
    print(
        f"report for {args.pupils:,} pupils built in {report:.1f} s "
        f"({'under' if report < 60 else 'OVER'} 60 s); "
        f"report.html {size:.1f} MB"
    )
    print(
        f"disparities outside the band: {result.headline['disparities_outside_band']:.0f} "
        "(the generated data under-records half of Black pupils' positive outcomes)"
    )


if __name__ == "__main__":
    main()
