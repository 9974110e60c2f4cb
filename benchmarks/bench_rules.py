"""Benchmark: rules-only scoring of one million pupil-terms through durable-rules (issue 4).

Builds random but realistic feature frames (riskengine.rules.simulate), then times `evaluate_rules` with
the shipped rule set, in joblib worker processes. Prints pupils per second and total seconds.

    python benchmarks/bench_rules.py [--rows 1000000] [--jobs 2] [--cpu-sample 100000]
"""

from __future__ import annotations

import argparse
import time

from riskengine.rules import evaluate_rules, evaluate_rules_vectorised, load_rule_set
from riskengine.rules.simulate import random_features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="pupil-terms to score")
    parser.add_argument("--jobs", type=int, default=2, help="joblib worker processes")
    parser.add_argument("--cpu-sample", type=int, default=100_000, help="rows timed in CPU seconds")
    args = parser.parse_args()

    rule_set = load_rule_set()
    started = time.perf_counter()
    features = random_features(args.rows, seed=2026)
    print(f"generated {len(features):,} feature rows in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    results = evaluate_rules(rule_set, features, n_jobs=args.jobs)
    seconds = time.perf_counter() - started
    print(
        f"durable-rules ({rule_set.name} {rule_set.version}, {len(rule_set.rules)} rules, "
        f"n_jobs={args.jobs}): {len(results):,} pupil-terms in {seconds:.1f} s = "
        f"{len(results) / seconds:,.0f} pupils/s; {results['fired'].str.len().sum():,} rule firings"
    )

    # On a shared machine the wall time above depends on the load; CPU time does not.
    sample = features.iloc[: args.cpu_sample]
    cpu = time.process_time()
    evaluate_rules(rule_set, sample, n_jobs=1)
    cpu = time.process_time() - cpu
    print(
        f"CPU time in one process: {cpu:.1f} s for {len(sample):,} pupil-terms = {len(sample) / cpu:,.0f} "
        f"pupils per CPU-second; {args.rows:,} pupil-terms would need "
        f"{cpu * args.rows / len(sample) / 2:.0f} s on 2 idle cores"
    )

    started = time.perf_counter()
    evaluate_rules_vectorised(rule_set, features)
    print(f"vectorised cross-check (1 process): {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
