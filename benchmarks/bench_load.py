"""Benchmark: a local authority's folder of termly files loaded with one `riskengine upload FOLDER`.

4 schools x 3 cohorts x 10,000 pupils followed from Year 7 to Year 11, generated (no real pupils): 84 files
of the mainstream schools plus the referral unit's 20 small ones, about 427,000 rows. Target (issue 10):
under 60 s on 2 cores. Prints the CLI's wall time and rows per second beside the library call's
(`riskengine.upload.load_paths`) alone, each into a fresh SQLite store, with CPU seconds and the load
average, since the machine may be shared.
    python benchmarks/bench_load.py [--pupils 10000] [--skip-cli]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from riskengine.spec import upload as spec
from riskengine.store import Store
from riskengine.synth import generate, write_uploads
from riskengine.upload import load_paths

AS_OF = ("2026/27", "summer")


def write_la(folder: Path, pupils: int) -> int:
    """Write the three oldest of seven intakes (each followed Year 7 to 11) as one file per school and
    term; returns the number of rows written."""
    la = generate(pupils=pupils, cohorts=7, schools=4, seed=0, as_of=AS_OF)
    oldest = spec.year_start(AS_OF[0]) - 6  # Year 7 start of the oldest intake
    y7 = la.pupil_terms["academic_year"].str.slice(0, 4).astype(int) - (la.pupil_terms["ncyear"] - 7)
    frame = la.pupil_terms[(y7 < oldest + 3).to_numpy()].reset_index(drop=True)
    write_uploads(dataclasses.replace(la, pupil_terms=frame), folder)
    return len(frame)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pupils", type=int, default=10_000, help="Pupils per intake across the LA.")
    parser.add_argument("--skip-cli", action="store_true", help="Time the library call only.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "uploads"
        rows = write_la(folder, args.pupils)
        n_files = len(list(folder.glob("*.csv")))
        print(f"{n_files} files, {rows:,} rows; load average before: {os.getloadavg()}")

        store = Store.open(f"sqlite:///{Path(tmp) / 'library.db'}")
        start, cpu = time.perf_counter(), time.process_time()
        batch = load_paths(store, [folder])
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
        assert batch.ok and (batch.summary["status"] == "stored").all(), batch.summary
        print(
            f"library load_paths: {seconds:.1f} s wall ({cpu_seconds:.1f} s CPU), "
            f"{rows / seconds:,.0f} rows/s; load average {os.getloadavg()}"
        )
        if args.skip_cli:
            return
        command = [sys.executable, "-m", "riskengine", "upload", str(folder)]
        command += ["--db", f"sqlite:///{Path(tmp) / 'cli.db'}"]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        print(
            f"riskengine upload FOLDER: {seconds:.1f} s wall, {rows / seconds:,.0f} rows/s "
            f"(target under 60 s); load average {os.getloadavg()}"
        )


if __name__ == "__main__":
    main()
