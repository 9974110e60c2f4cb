"""Benchmark: the real `riskengine score` command, from a fresh process, on a generated store (issue 15).

A generated local authority with about 30,000 pupils on roll in Years 7-11 in the scored term (about
18,000 of them in Years 9+) and five years of history is loaded into a SQLite store and into a PostgreSQL
schema; a model is trained and promoted (writing the local champion bundle); then `riskengine score` is run
as a subprocess and timed, several times, on each database. Target: under 5 s wall on 2 cores, and
PostgreSQL as fast as SQLite. Also times `riskengine --help`, `riskengine explain` and `riskengine promote`,
and `import riskengine.model`.

    python benchmarks/bench_score_cli.py                        # SQLite, plus PostgreSQL if a URL is given
    python benchmarks/bench_score_cli.py --pg postgresql+psycopg://riskengine:riskengine@127.0.0.1:5432/riskengine_test
    python benchmarks/bench_score_cli.py --pupils 1000          # quick check

Generation, loading and training are not timed (they are cached in --work between runs).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
YEAR, TERM = "2026/27", "autumn"
UPLOAD = {"filename": "generated.csv", "sha256": "0" * 64, "mapping": "canonical", "mapping_sha256": None,
          "n_rows": 0, "n_warnings": 0, "uploaded_by": "benchmark"}  # fmt: skip


def _load(url: str, pupils: int, seed: int) -> int:
    """Fill a fresh store with a generated authority, one upload per school and term; returns rows."""
    from riskengine.store import Store
    from riskengine.synth import generate

    la = generate(pupils=pupils, cohorts=9, schools=8, seed=seed, as_of=(YEAR, TERM))
    store = Store.open(url)
    for (school, year, term), rows in la.pupil_terms.groupby(["school_urn", "academic_year", "term"]):
        store.write_pupil_terms(rows, school_urn=school, academic_year=year, term=term, upload=UPLOAD)
    store.write_destinations(la.destinations, upload=UPLOAD)
    store.close()
    return len(la.pupil_terms)


def _pg_url(base: str, schema: str, rows: int) -> tuple[str, bool]:
    """The PostgreSQL URL with its own schema as the search path, and whether that schema already holds
    the generated store (`rows` pupil-terms); if not, the schema is created anew (emptied)."""
    import sqlalchemy as sa

    engine = sa.create_engine(base)
    with engine.begin() as connection:
        table = connection.exec_driver_sql("SELECT to_regclass(%(t)s)", {"t": f'"{schema}".pupil_terms'})
        stored = (
            table.scalar()
            and connection.exec_driver_sql(f'SELECT count(*) FROM "{schema}".pupil_terms').scalar()
        )
        if stored != rows:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine.dispose()
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}options=-csearch_path%3D{schema}", stored == rows


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RISKENGINE_HOME": str(home)}
    env.pop("RISKENGINE_DB_URL", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(args: list[str], env: dict[str, str], repeat: int = 1) -> tuple[float, str, float]:
    """Best wall time of `repeat` fresh runs of a command, the last run's output, and the CPU seconds
    (user + system, the command and its children) of the best run: on a shared machine CPU time is what
    the command costs, wall time what it waited."""
    best, output, cpu = float("inf"), "", 0.0
    for _ in range(repeat):
        before = _children_cpu()
        started = time.perf_counter()
        done = subprocess.run(args, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(args[:4])} failed:\n{done.stdout}\n{done.stderr}")
        if seconds < best:
            best, output, cpu = seconds, done.stdout, _children_cpu() - before
    return best, output, cpu


def _load_average() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _on_roll(url: str) -> str:
    """How many pupils the store has on roll in the scored term, in Years 7-11 and in Years 9+."""
    import sqlalchemy as sa

    from riskengine.spec import upload as spec

    engine = sa.create_engine(url)
    query = (
        "SELECT sum(CASE WHEN ncyear BETWEEN 7 AND 11 THEN 1 ELSE 0 END), "
        "sum(CASE WHEN ncyear >= 9 THEN 1 ELSE 0 END) FROM pupil_terms WHERE term_index = "
        f"{spec.term_index(YEAR, TERM)}"
    )
    with engine.connect() as connection:
        years_7_11, years_9_up = connection.exec_driver_sql(query).one()
    engine.dispose()
    return f"{years_7_11:,} on roll in Years 7-11, {years_9_up:,} in Years 9+"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pupils",
        type=int,
        default=6_340,
        help="pupils per intake: the default puts 30,000 on roll in Years 7-11",
    )
    parser.add_argument("--pg", default=os.environ.get("RISKENGINE_TEST_PG_URL"), help="PostgreSQL URL")
    parser.add_argument("--work", default=str(ROOT / ".bench-score-cli"), help="folder for the stores")
    parser.add_argument("--repeat", type=int, default=3, help="runs per command (the best is printed)")
    args = parser.parse_args()
    work = Path(args.work) / f"p{args.pupils}"
    work.mkdir(parents=True, exist_ok=True)
    cli = [sys.executable, "-m", "riskengine"]
    env = _env(work)
    print(f"cores available: {len(os.sched_getaffinity(0))}; {_load_average()}")

    sqlite_url = f"sqlite:///{work / 'riskengine.db'}"
    if not (work / "ready").exists():
        started = time.perf_counter()
        rows = _load(sqlite_url, args.pupils, seed=15)
        trained = subprocess.run([*cli, "train", "--db", sqlite_url], env=env, capture_output=True, text=True)
        if trained.returncode != 0:
            raise SystemExit(trained.stderr)
        (work / "ready").write_text(str(rows))
        print(f"set-up: {rows:,} pupil-terms loaded, model trained: {time.perf_counter() - started:.0f} s")
    rows = int((work / "ready").read_text())

    seconds, _, cpu = _timed([*cli, "promote", "1"], env)
    print(f"riskengine promote 1: {seconds:.2f} s wall, {cpu:.2f} s CPU; {_load_average()}")
    seconds, _, cpu = _timed([*cli, "--help"], env, args.repeat)
    print(f"riskengine --help: {seconds:.2f} s wall, {cpu:.2f} s CPU; {_load_average()}")
    seconds, _, cpu = _timed([sys.executable, "-c", "import riskengine.model"], env, args.repeat)
    print(f"import riskengine.model: {seconds:.2f} s wall, {cpu:.2f} s CPU; {_load_average()}")

    databases = [("SQLite", sqlite_url)]
    if args.pg:
        pg_url, loaded = _pg_url(args.pg, f"bench_score_cli_{args.pupils}", rows)
        if not loaded:  # generated and loaded once, then reused like the SQLite store
            started = time.perf_counter()
            _load(pg_url, args.pupils, seed=15)
            print(f"PostgreSQL store loaded in {time.perf_counter() - started:.0f} s")
        databases.append(("PostgreSQL", pg_url))

    timings = {}
    for name, url in databases:
        score = [*cli, "score", "--year", YEAR, "--term", TERM, "--db", url]
        seconds, output, cpu = _timed(score, env, args.repeat)
        timings[name] = seconds, cpu
        summary = output.splitlines()[0] if output else ""
        print(
            f"riskengine score on {name} ({rows:,} stored pupil-terms, {_on_roll(url)}): "
            f"{seconds:.2f} s wall (target < 5 s), {cpu:.2f} s CPU; {_load_average()}; {summary}"
        )
        from riskengine.store import Store

        scores = Store.open(url).read_scores(academic_year=YEAR, term=TERM)
        upn = scores["upn"].iloc[0]
        seconds, _, cpu = _timed([*cli, "explain", upn, "--db", url], env, args.repeat)
        print(
            f"riskengine explain on {name}: {seconds:.2f} s wall, {cpu:.2f} s CPU (target < 2 s); "
            f"{_load_average()}"
        )
    if "PostgreSQL" in timings:
        (pg_wall, pg_cpu), (lite_wall, lite_cpu) = timings["PostgreSQL"], timings["SQLite"]
        print(f"PostgreSQL / SQLite score time: wall {pg_wall / lite_wall:.2f}, CPU {pg_cpu / lite_cpu:.2f}")
    print(_load_average())


if __name__ == "__main__":
    main()
