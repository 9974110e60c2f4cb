"""Measure what the per-pupil explanation records cost, against column-wise representations (issue 15).

Scoring stores, per pupil, `contributions` ({feature: log-odds}) and `details` ({"risk_points": {...},
"values": {...}}) as Python dicts, and the store writes each as JSON text (one `json.dumps` per pupil and
column). For `--pupils` pupils x the catalogue's explained columns (made-up numbers and value texts, no
pupil rows), this prints the CPU seconds of:
1. building the records as scoring does (`contribution_records`, `detail_records`);
2. encoding them as the store does;
3. keeping the matrices instead (float32 risk points and contributions, value texts as codes into a table
   per run), with a pupil's dicts made only when a page or `explain` reads that pupil;
4. the store's JSON text made straight from the columns by pandas' C encoder (`to_json(lines=True)`),
   with no Python dict per pupil.
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
from riskengine.model.explain import contribution_records, detail_records


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
    codes = {n: rng.integers(0, len(texts), args.pupils) for n in names}
    values = {n: texts[c] for n, c in codes.items()}

    gc.disable()  # as in score_frame, which builds the records with the cyclic collector paused
    timings: dict[str, float] = {}
    start = _cpu()
    contributions = contribution_records(log_odds)
    timings["1. contributions as a dict per pupil (scoring today)"] = _cpu() - start
    start = _cpu()
    details = detail_records(risk_points, values)
    timings["1. details as dicts per pupil (scoring today)"] = _cpu() - start
    start = _cpu()
    [json.dumps(record) for record in contributions]
    timings["2. contributions: json.dumps per pupil (the store today)"] = _cpu() - start
    start = _cpu()
    [json.dumps(record) for record in details]
    timings["2. details: json.dumps per pupil (the store today)"] = _cpu() - start
    start = _cpu()
    kept = (
        np.round(log_odds.to_numpy(), 4).astype(np.float32),
        np.round(risk_points.to_numpy(), 1).astype(np.float32),
        np.column_stack([codes[n] for n in names]).astype(np.int16),
    )
    timings["3. both kept as matrices per run"] = _cpu() - start
    start = _cpu()
    one = 12_345 % args.pupils  # a page reading one pupil builds that pupil's dicts
    {"risk_points": dict(zip(names, kept[1][one].tolist(), strict=True))}
    timings["3. ... then one pupil's dicts when read"] = _cpu() - start
    start = _cpu()
    frame = pd.DataFrame(np.round(log_odds.to_numpy(), 4), columns=names)
    frame.to_json(orient="records", lines=True, double_precision=4)
    timings["4. contributions: JSON lines straight from the columns (C encoder)"] = _cpu() - start
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{args.pupils:,} pupils x {len(names)} explained columns; load average {load}")
    for what, seconds in timings.items():
        print(f"  {what}: {seconds:.2f} s CPU")


if __name__ == "__main__":
    main()
