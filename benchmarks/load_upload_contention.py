"""Load test: while a 100,000-row termly file is validated and stored, do GET /login and the caseload stay
fast for 20 concurrent users? On SQLite (the embedded default) and on PostgreSQL.

For each database: seeds generated pupils and two scoring runs (tests.web.seeding), starts the web service
(`uvicorn riskengine.web.app:create_app`, one worker, with its upload process pool) on 127.0.0.1, signs in
20 advisers and a school data manager, measures the two pages for a few seconds with no upload (the
baseline), then uploads a 100,000-row file (benchmarks/bench_upload.py's generator) and measures again
until the upload has finished. Prints p50/p95/max per page and phase, the server process's CPU per
request, the upload's own time, and the load average (the machine may be shared, so compare the ratio to
the baseline too, and CPU per request between versions).

    python benchmarks/load_upload_contention.py [--users 20] [--rows 100000] [--pg-url URL]

PostgreSQL runs when --pg-url or RISKENGINE_TEST_PG_URL names a server; a throwaway schema is created and
dropped. Only loopback is ever contacted, and every loop is bounded by a deadline. Target (issue 12): p95
under 300 ms for both pages while the upload runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_upload import generated_file  # noqa: E402

from riskengine.store import Store  # noqa: E402
from riskengine.web.accounts import add_user  # noqa: E402
from tests.web.seeding import seed_store  # noqa: E402

PASSWORD = "a long load-test password"
ADVISER, SCHOOL = "load-adviser@example.org", "load-school@example.org"
UPLOAD_SCHOOL = "123456"  # bench_upload's generated file is for this URN, 2024/25 autumn
MAX_UPLOAD_SECONDS = 300


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite:///{folder}/contention.db"


@contextmanager
def postgres_database(url: str) -> Iterator[str]:
    """A throwaway schema on the server `url` names, dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url)
    with admin.begin() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        yield (
            sa.make_url(url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def seed(url: str) -> None:
    store = Store.open(url)
    pupil_terms = seed_store(store, pupils=500, cohorts=5, schools=4, seed=11, as_of=("2026/27", "spring"))
    add_user(store, ADVISER, PASSWORD, "adviser", sorted(pupil_terms["school_urn"].unique()))
    add_user(store, SCHOOL, PASSWORD, "school", [UPLOAD_SCHOOL])
    store.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (not its children: the upload workers are counted apart)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def server(url: str, folder: str) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {**os.environ, "RISKENGINE_DB_URL": url, "RISKENGINE_REPORTS_DIR": folder, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "riskengine.web.app:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--no-access-log"],
        env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                httpx.get(f"{base}/login", timeout=2).raise_for_status()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.3)
        yield base, process.pid
    finally:
        process.terminate()
        process.wait(timeout=60)


async def sign_in(client: httpx.AsyncClient, email: str) -> None:
    page = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = await client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    if response.status_code != 303:
        raise RuntimeError(f"sign-in failed with {response.status_code}")


async def visitor(client: httpx.AsyncClient, index: int, until, timings: dict[str, list[float]]) -> None:
    """One user alternating GET /login and the caseload, back to back, until `until()` says stop."""
    n = index
    while not until():
        path = ("/login", "/caseload")[n % 2]
        started = time.perf_counter()
        response = await client.get(path)
        elapsed = time.perf_counter() - started
        timings[path if response.status_code == 200 else "errors"].append(elapsed)
        n += 1


async def measure(clients: list[httpx.AsyncClient], until, pid: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {"/login": [], "/caseload": [], "errors": []}
    cpu, clients_cpu = cpu_seconds(pid), time.process_time()
    await asyncio.gather(*(visitor(c, i, until, timings) for i, c in enumerate(clients)))
    timings["server_cpu"] = [cpu_seconds(pid) - cpu]
    timings["client_cpu"] = [time.process_time() - clients_cpu]
    return timings


async def run(base: str, pid: int, users: int, rows: int, baseline_seconds: float) -> dict:
    data = generated_file(rows)
    clients = [httpx.AsyncClient(base_url=base, timeout=120) for _ in range(users)]
    school = httpx.AsyncClient(base_url=base, timeout=300)
    try:
        for client in clients:  # one after another: parallel sign-ins of one account would be throttled
            await sign_in(client, ADVISER)
        await sign_in(school, SCHOOL)
        await asyncio.gather(*(c.get("/caseload") for c in clients))  # warm the caseload cache
        stop = time.perf_counter() + baseline_seconds
        baseline = await measure(clients, lambda: time.perf_counter() > stop, pid)

        form = (await school.get("/school")).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        done = asyncio.Event()
        outcome: dict = {}

        async def upload() -> None:
            started = time.perf_counter()
            try:
                accepted = await school.post(
                    "/school/upload",
                    data={"academic_year": "2024/25", "term": "autumn", "csrf_token": token},
                    files={"file": ("big.csv", data, "text/csv")},
                )
                outcome["answered_in"] = time.perf_counter() - started
                status_url = accepted.headers.get("location") or str(accepted.url)
                deadline = started + MAX_UPLOAD_SECONDS
                while time.perf_counter() < deadline:
                    page = await school.get(status_url)
                    if 'http-equiv="refresh"' not in page.text:
                        status = re.search(r'id="upload-status">([^<]+)<', page.text)
                        outcome["status"] = status.group(1).strip() if status else "unknown"
                        break
                    await asyncio.sleep(0.5)
                else:
                    outcome["status"] = "still running at the deadline"
                outcome["seconds"] = time.perf_counter() - started
            finally:
                done.set()

        task = asyncio.create_task(upload())
        during = await measure(clients, done.is_set, pid)
        await task
        return {"baseline": baseline, "during": during, "upload": outcome}
    finally:
        await asyncio.gather(*(c.aclose() for c in clients), school.aclose())


def describe(name: str, result: dict, users: int, rows: int) -> bool:
    met = True
    upload = result["upload"]
    print(f"\n== {name}: {users} concurrent users, {rows:,}-row upload ==")
    print(
        f"upload: page answered in {upload.get('answered_in', float('nan')):.2f} s; checked and stored in "
        f"{upload.get('seconds', float('nan')):.1f} s; {upload.get('status', '?')}"
    )
    for phase in ("baseline", "during"):
        for path in ("/login", "/caseload"):
            ms = np.array(result[phase][path]) * 1000
            if not len(ms):
                print(f"{phase:>8} {path:<10} no successful requests")
                met = False
                continue
            p50, p95 = np.percentile(ms, [50, 95])
            print(
                f"{phase:>8} {path:<10} n={len(ms):5d}  p50 {p50:6.0f} ms  p95 {p95:6.0f} ms  "
                f"max {ms.max():6.0f} ms"
            )
            if phase == "during":
                met &= bool(p95 < 300)
        n = len(result[phase]["/login"]) + len(result[phase]["/caseload"])
        if n:
            cpu_ms = result[phase]["server_cpu"][0] * 1000 / n
            client_ms = result[phase]["client_cpu"][0] * 1000 / n
            print(
                f"{phase:>8} server CPU {cpu_ms:5.1f} ms per request (the server process alone); "
                f"the simulated users' process {client_ms:4.1f} ms"
            )
        if result[phase]["errors"]:
            print(f"{phase:>8} failed requests: {len(result[phase]['errors'])}")
            met = False
    print(f"1-minute load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"target p95 < 300 ms during the upload: {'met' if met else 'NOT met'}")
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--baseline-seconds", type=float, default=5)
    parser.add_argument("--pg-url", default=os.environ.get("RISKENGINE_TEST_PG_URL"))
    args = parser.parse_args()
    databases = [("SQLite", sqlite_database())]
    if args.pg_url:
        databases.append(("PostgreSQL", postgres_database(args.pg_url)))
    else:
        print("PostgreSQL: skipped (no --pg-url and no RISKENGINE_TEST_PG_URL)")
    for name, database in databases:
        with database as url, tempfile.TemporaryDirectory() as folder:
            seed(url)
            with server(url, folder) as (base, pid):
                result = asyncio.run(run(base, pid, args.users, args.rows, args.baseline_seconds))
            describe(name, result, args.users, args.rows)


if __name__ == "__main__":
    main()
