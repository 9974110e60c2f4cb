"""Measure what each pupil's explanation records cost scoring and the store (issue 15).

Scoring keeps a run's `contributions` ({feature: log-odds}) and `details` ({"risk_points": {...},
"values": {...}}) as matrices, and each pupil's record makes its dict only when read
(`riskengine.model.records`). For `--pupils` pupils x the catalogue's explained columns (made-up numbers
and value texts, no pupil rows), this prints the CPU seconds of:
1. making the records as scoring does (what a scoring run pays);
2. reading every pupil's dicts (what a notebook reading the whole run pays);
3. encoding them as JSON text, as the store does when it saves the run.
The collector is paused, as in `score_frame`. The machine is shared: the load average is printed beside
the figures.

    python benchmarks/bench_explanation_records.py --pupils 1000000
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource

import numpy as np
import pandas as pd

from riskengine.features import load_catalogue
from riskengine.model.records import contribution_records, detail_records, plain


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pupils", type=int, default=200_000)
    args = parser.parse_args()
    names = [*load_catalogue().names, "rule_points"]
    rng = np.random.default_rng(7)
    log_odds = pd.DataFrame(rng.normal(0, 0.3, (args.pupils, len(names))), columns=names)
    risk_points = pd.DataFrame(rng.normal(0, 2, (args.pupils, len(names))), columns=names)
    texts = np.array(["not known", "yes", "no", "59%", "93%", "3", "SEN support"], dtype=object)
    values = {n: texts[rng.integers(0, len(texts), args.pupils)] for n in names}

    gc.disable()  # as in score_frame
    timings: dict[str, float] = {}
    start = _cpu()
    contributions, details = contribution_records(log_odds), detail_records(risk_points, values)
    timings["1. records made, as scoring makes them"] = _cpu() - start
    start = _cpu()
    for records in (contributions, details):
        for record in records:
            plain(record)
    timings["2. every pupil's dicts read"] = _cpu() - start
    start = _cpu()
    for records in (contributions, details):
        [json.dumps(plain(record)) for record in records]
    timings["3. JSON text for every pupil, as the store writes it"] = _cpu() - start
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{args.pupils:,} pupils x {len(names)} explained columns; load average {load}")
    for what, seconds in timings.items():
        print(f"  {what}: {seconds:.2f} s CPU")


if __name__ == "__main__":
    main()
