"""How fast `riskengine.synth` generates and writes a national-scale file (about one million pupil-terms).

Run: python benchmarks/bench_synth.py [pupils_per_intake]   (default 13,250: ~1,000,000 pupil-terms)
Prints seconds for generating, for writing one file per school per term, for writing a single file, and
for the messy variant.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from riskengine.synth import generate
from riskengine.synth.files import write_destinations, write_uploads


def main(pupils: int = 13_250) -> None:
    start = time.perf_counter()
    la = generate(pupils=pupils, cohorts=8, schools=60, seed=0)
    generated = time.perf_counter() - start
    print(
        f"generate: {len(la.pupil_terms):,} pupil-terms, {len(la.destinations):,} destination rows, "
        f"{len(la.truth):,} pupils in {generated:.1f} s"
    )
    with tempfile.TemporaryDirectory() as folder:
        for label, options in (
            ("per school and term", {}),
            ("single file", {"single_file": True}),
            ("messy, per school and term", {"messy": True}),
        ):
            start = time.perf_counter()
            paths = write_uploads(la, Path(folder) / label.replace(" ", "_"), **options)
            seconds = time.perf_counter() - start
            size = sum(p.stat().st_size for p in paths) / 1e6
            print(f"write {label}: {len(paths):,} files, {size:.0f} MB in {seconds:.1f} s")
        start = time.perf_counter()
        write_destinations(la, Path(folder) / "destinations.csv")
        print(f"write destinations: {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 13_250)
