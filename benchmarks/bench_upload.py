"""Benchmark: upload a 100,000-row termly file (generated pupils) into a fresh SQLite store.

Target (issue 3): under 15 s on 2 cores. Prints wall-clock and CPU seconds (CPU time is what the upload
costs when the machine is not shared) for the upload and for reading the term back.
    python benchmarks/bench_upload.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from riskengine.spec import upload as spec
from riskengine.spec.upn import with_check_letter
from riskengine.store import Store
from riskengine.upload import upload_file


def generated_file(rows: int, seed: int = 0) -> bytes:
    """A valid canonical CSV of `rows` generated pupils (vectorised; no real data)."""
    rng = np.random.default_rng(seed)
    la = rng.choice([343, 201, 302, 380, 936], rows)
    upns = [with_check_letter(f"{a}{s:09d}") for a, s in zip(la, range(rows), strict=True)]
    possible = rng.integers(100, 150, rows)
    authorised = rng.integers(0, 20, rows)
    sen = rng.choice(["N", "K", "E"], rows, p=[0.8, 0.15, 0.05])
    yn = np.array(["N", "Y"])
    frame = pd.DataFrame(
        {
            "upn": upns,
            "school_urn": "123456",
            "academic_year": "2024/25",
            "term": "autumn",
            "ncyear": rng.integers(7, 12, rows),
            "sessions_possible": possible,
            "sessions_authorised_absence": authorised,
            "sessions_unauthorised_absence": np.minimum(rng.integers(0, 30, rows), possible - authorised),
            "suspensions": rng.integers(0, 3, rows),
            "suspension_sessions": rng.integers(0, 6, rows),
            "permanent_exclusion": yn[(rng.random(rows) < 0.01).astype(int)],
            "sen_provision": sen,
            "sen_primary_need": np.where(sen == "N", "", rng.choice(list(spec.SEN_PRIMARY_NEED), rows)),
            **{
                c: yn[(rng.random(rows) < 0.1).astype(int)]
                for c in spec.BOOL_COLUMNS
                if c != "permanent_exclusion"
            },
            "school_moves": rng.integers(0, 4, rows),
            "ks2_reading_scaled": rng.integers(80, 121, rows),
            "ks2_maths_scaled": rng.integers(80, 121, rows),
            "sex": rng.choice(list(spec.SEX), rows),
            "ethnicity": rng.choice(list(spec.ETHNICITY_MAJOR_GROUP), rows),
        }
    )[list(spec.COLUMNS)]
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "autumn.csv"
        path.write_bytes(generated_file(args.rows))
        store = Store.open(f"sqlite:///{Path(folder) / 'bench.db'}")
        start, cpu_start = time.perf_counter(), time.process_time()
        result = upload_file(store, path, "123456", "2024/25", "autumn")
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        assert result.status == "stored", result.report()
        read_start = time.perf_counter()
        back = store.read_pupil_terms()
        read_seconds = time.perf_counter() - read_start
        megabytes = path.stat().st_size / 1e6
        store.close()
    print(f"file: {args.rows} rows, {megabytes:.1f} MB")
    print(f"upload (read + validate + store, SQLite): {seconds:.2f} s wall, {cpu_seconds:.2f} s CPU")
    print(f"target < 15 s: {'met' if seconds < 15 else 'NOT met'}")
    print(f"read back {len(back)} rows: {read_seconds:.2f} s")


if __name__ == "__main__":
    main()
