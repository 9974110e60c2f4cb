"""Time `riskengine explain UPN`'s lookup: the library call `explain_pupil` and the whole command.

Usage: python benchmarks/bench_explain.py [--runs 12] [--pupils 20000] [--calls 20] [--db PATH]

Builds (once, in --db) a store of `--runs` scoring runs of `--pupils` made-up pupils each (placeholder UPNs
and reasons, no real or generated pupil rows needed: only the lookup is timed), then times explain_pupil for
`--calls` pupils of the latest run, and the `riskengine explain` command (a fresh process) for three.
Prints the median per call. The machine is shared: the load average is printed beside the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from riskengine.spec import upload as spec
from riskengine.store import Store


def made_up_scores(pupils: int, academic_year: str, term: str, seed: int) -> pd.DataFrame:
    """One run's rows of made-up pupils, with the list columns a real run stores."""
    rng = np.random.default_rng(seed)
    probability = rng.beta(1, 12, pupils)
    flag = probability > np.quantile(probability, 0.9)
    contributions = [{"attendance_rate_term": 0.1, "looked_after": -0.02}] * pupils
    return pd.DataFrame(
        {
            "upn": [f"X{i:012d}" for i in range(pupils)],
            "school_urn": rng.choice(["100001", "100002", "100003", "100004"], pupils),
            "academic_year": academic_year,
            "term": term,
            "ncyear": rng.integers(9, 12, pupils),
            "points": rng.integers(0, 12, pupils).astype(float),
            "band": "low",
            "always_flag": False,
            "fired": [["attendance_below_90"]] * pupils,
            "reasons": [["attendance this term is below 90%"]] * pupils,
            "probability": probability,
            "flag": flag,
            "flag_source": np.where(flag, "model", None),
            "flag_reason": np.where(flag, "model risk in the top 10%", None),
            "reasons_up": [["attendance this term is 85%"]] * pupils,
            "reasons_down": [["no suspensions"]] * pupils,
            "contributions": contributions,
        }
    )


def build(db: Path, runs: int, pupils: int) -> None:
    store = Store.open(f"sqlite:///{db}")
    last = spec.term_index("2026/27", "autumn")
    for k, index in enumerate(range(last - runs + 1, last + 1)):
        year, term = spec.academic_year(index // 3), spec.TERMS[index % 3]
        run = {
            "academic_year": year,
            "term": term,
            "rule_set_version": "bench",
            "feature_version": "bench",
            "model_version": "bench",
            "threshold": {},
            "settings": {},
        }
        store.save_scores(run, made_up_scores(pupils, year, term, seed=k))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--pupils", type=int, default=20_000)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--db", type=Path, default=Path("bench_explain.db"))
    args = parser.parse_args()
    if not args.db.exists():
        started = time.perf_counter()
        build(args.db, args.runs, args.pupils)
        print(f"built {args.runs} runs x {args.pupils} pupils in {time.perf_counter() - started:.1f} s")

    from riskengine.flags import explain_pupil

    store = Store.open(f"sqlite:///{args.db}")
    upns = [f"X{i:012d}" for i in np.linspace(0, args.pupils - 1, args.calls).astype(int)]
    times = []
    for upn in upns:
        started = time.perf_counter()
        explain_pupil(store, upn)
        times.append(time.perf_counter() - started)
    print(f"explain_pupil (library): median {statistics.median(times) * 1000:.1f} ms per call")

    command = [sys.executable, "-m", "riskengine", "explain", "--db", f"sqlite:///{args.db}"]
    whole = []
    for upn in upns[:3]:
        started = time.perf_counter()
        subprocess.run([*command, upn], check=True, capture_output=True, env=os.environ.copy())
        whole.append(time.perf_counter() - started)
    print(f"riskengine explain (fresh process): median {statistics.median(whole):.2f} s per call")
    print(f"load average: {os.getloadavg()[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()
