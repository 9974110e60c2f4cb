"""Time `compute_features` and `compute_features_at_year_group` on a large made-up pupil-terms frame.

Usage: python benchmarks/bench_features.py [--pupils 100000] [--terms 10] [--repeat 3]

The frame is random (not riskengine.synth, to keep this independent and quick to build): every pupil has
`--terms` consecutive terms ending at summer 2024/25, with about 5% of each risk factor blank.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from riskengine.features import compute_features, compute_features_at_year_group, load_catalogue
from riskengine.spec import upload as spec


def random_pupil_terms(pupils: int, terms: int, seed: int = 0) -> pd.DataFrame:
    """`pupils` x `terms` canonical rows of made-up pupils (placeholder UPNs), built column-wise."""
    rng = np.random.default_rng(seed)
    n = pupils * terms
    last = spec.term_index("2024/25", "summer")
    term_number = np.tile(np.arange(last - terms + 1, last + 1), pupils)
    cohort_start = rng.integers(7, 12, pupils).repeat(terms)  # year group at the first term
    ncyear = cohort_start + (term_number - term_number.min()) // 3
    possible = rng.integers(100, 131, n)
    authorised = rng.binomial(possible, 0.04)
    unauthorised = rng.binomial(possible - authorised, rng.beta(1, 30, n))
    distinct = np.unique(term_number)
    year_of = pd.Series([spec.academic_year(int(t) // 3) for t in distinct], index=distinct)
    term_of = pd.Series([spec.TERMS[int(t) % 3] for t in distinct], index=distinct)
    frame = pd.DataFrame(
        {
            "upn": pd.Series(np.char.add("X", np.arange(pupils).astype(str)).repeat(terms), dtype="string"),
            "school_urn": "100001",
            "academic_year": year_of.loc[term_number].to_numpy(),
            "term": term_of.loc[term_number].to_numpy(),
            "ncyear": ncyear,
            "sessions_possible": possible,
            "sessions_authorised_absence": authorised,
            "sessions_unauthorised_absence": unauthorised,
            "suspensions": rng.poisson(0.05, n),
            "suspension_sessions": rng.poisson(0.1, n),
            "sen_provision": rng.choice(["N", "K", "E"], n, p=[0.83, 0.13, 0.04]),
            "sen_primary_need": rng.choice(list(spec.SEN_PRIMARY_NEED), n),
            "school_moves": rng.poisson(0.2, n),
            "ks2_reading_scaled": rng.integers(80, 121, n),
            "ks2_maths_scaled": rng.integers(80, 121, n),
            "sex": rng.choice(list(spec.SEX), n),
            "ethnicity": rng.choice(list(spec.ETHNICITY_MAJOR_GROUP), n),
        }
    )
    for column in spec.BOOL_COLUMNS:
        frame[column] = rng.random(n) < 0.05
    frame = frame.reindex(columns=list(spec.COLUMNS)).astype(spec.canonical_dtypes())
    for column in spec.COLUMNS[len(spec.KEY_COLUMNS) :]:
        blank = rng.random(n) < 0.05
        frame.loc[blank, column] = pd.NA
    return frame


def _best_of(repeat: int, call) -> float:
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        timings.append(time.perf_counter() - start)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pupils", type=int, default=100_000)
    parser.add_argument("--terms", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    start = time.perf_counter()
    frame = random_pupil_terms(args.pupils, args.terms)
    built = time.perf_counter() - start
    print(f"built {len(frame):,} pupil-term rows of {args.pupils:,} pupils in {built:.1f} s")
    catalogue = load_catalogue()
    compute_features(frame, "2024/25", "summer", catalogue)  # warm-up (imports, caches)
    for year, term in (("2024/25", "summer"), ("2024/25", "autumn")):
        seconds = _best_of(args.repeat, lambda y=year, t=term: compute_features(frame, y, t, catalogue))
        print(f"compute_features {term} {year}: {seconds:.2f} s (best of {args.repeat})")
    seconds = _best_of(1, lambda: compute_features_at_year_group(frame, 9, "autumn", catalogue))
    pupils = len(compute_features_at_year_group(frame, 9, "autumn", catalogue))
    print(f"compute_features_at_year_group Year 9 autumn: {seconds:.2f} s for {pupils:,} pupils")


if __name__ == "__main__":
    main()
