"""Load test: the caseload page for a 2,000-pupil caseload under 20 concurrent signed-in users.

Seeds a temporary SQLite store with generated pupils (riskengine.synth) and two scoring runs, starts
`uvicorn riskengine.web.app:create_app` on 127.0.0.1 in a subprocess, signs 20 clients in through the login
form and has each request caseload pages back to back (no think time) for a fixed time, cycling through
the default view, sorting, filtering and paging. Prints p50/p95/p99 latency and requests per second.

    python benchmarks/load_caseload.py [--users 20] [--seconds 30] [--workers 2]

Only loopback is ever contacted. The target in issue 7 is p95 < 300 ms on 2 cores.
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
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from riskengine.spec import upload as spec  # noqa: E402
from riskengine.store import Store  # noqa: E402
from riskengine.web.accounts import add_user  # noqa: E402
from tests.web.seeding import seed_store  # noqa: E402

EMAIL, PASSWORD = "load-adviser@example.org", "a long load-test password"
VIEWS = (
    "/caseload",
    "/caseload?sort=change&order=desc",
    "/caseload?band=high",
    "/caseload?all_pupils=1&page=3",
    "/caseload?ncyear=10&sort=points&order=asc",
)


def seed(url: str) -> int:
    """Generate an authority with about 2,000 scored (Year 9-11) pupils; returns their number."""
    store = Store.open(url)
    pupil_terms = seed_store(store, pupils=700, cohorts=5, schools=4, seed=7, as_of=("2026/27", "spring"))
    latest = pupil_terms[(pupil_terms["academic_year"] == "2026/27") & (pupil_terms["term"] == "spring")]
    scored = int((latest["ncyear"] >= spec.SCORED_FROM_NCYEAR).sum())
    add_user(store, EMAIL, PASSWORD, "adviser", sorted(latest["school_urn"].unique()))
    store.close()
    return scored


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def sign_in(client: httpx.AsyncClient) -> None:
    page = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = await client.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token})
    if response.status_code != 303:
        raise RuntimeError(f"sign-in failed with {response.status_code}")


async def user(client: httpx.AsyncClient, index: int, stop_at: float, latencies: list, errors: list) -> None:
    """One user requesting caseload views back to back until `stop_at`."""
    n = index
    while time.perf_counter() < stop_at:
        started = time.perf_counter()
        response = await client.get(VIEWS[n % len(VIEWS)])
        elapsed = time.perf_counter() - started
        if response.status_code != 200 or "Caseload" not in response.text:
            errors.append(response.status_code)
        else:
            latencies.append(elapsed)
        n += 1


def server_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by the uvicorn process `pid` and its worker processes (Linux)."""
    pids = [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]
    ticks = 0
    for p in pids:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


async def run_load(
    base: str, users: int, seconds: float, server_pid: int
) -> tuple[list[float], list[int], float, float, float]:
    """Sign every user in, warm every worker's cache on every view, then measure for `seconds`; also
    returns the CPU seconds the server and this client used meanwhile (the machine may be shared)."""
    clients = [httpx.AsyncClient(base_url=base, follow_redirects=False, timeout=60) for _ in range(users)]
    try:
        await asyncio.gather(*(sign_in(client) for client in clients))
        warm_up = [client.get(view) for client in clients for view in VIEWS]
        for response in await asyncio.gather(*warm_up):
            response.raise_for_status()
        latencies: list[float] = []
        errors: list[int] = []
        server_cpu, client_cpu = server_cpu_seconds(server_pid), time.process_time()
        started = time.perf_counter()
        await asyncio.gather(
            *(user(client, i, started + seconds, latencies, errors) for i, client in enumerate(clients))
        )
        elapsed = time.perf_counter() - started
        server_cpu = server_cpu_seconds(server_pid) - server_cpu
        return latencies, errors, elapsed, server_cpu, time.process_time() - client_cpu
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/load.db"
        scored = seed(url)
        port = free_port()
        env = {**os.environ, "RISKENGINE_DB_URL": url, "RISKENGINE_REPORTS_DIR": folder}
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "riskengine.web.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"{base}/login", timeout=2).raise_for_status()
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise RuntimeError("the server did not start") from None
                    time.sleep(0.3)
            latencies, errors, elapsed, server_cpu, client_cpu = asyncio.run(
                run_load(base, args.users, args.seconds, server.pid)
            )
            load = os.getloadavg()[0]
        finally:
            server.terminate()
            server.wait(timeout=30)

    ms = np.array(latencies) * 1000
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    print(
        f"caseload: {scored} scored pupils in the adviser's schools; {args.users} concurrent users; "
        f"{args.workers} uvicorn worker(s); {os.cpu_count()} CPUs"
    )
    print(f"requests: {len(ms)} ok, {len(errors)} failed, in {elapsed:.1f} s = {len(ms) / elapsed:.1f} req/s")
    print(f"latency ms: p50 {p50:.0f}  p95 {p95:.0f}  p99 {p99:.0f}  max {ms.max():.0f}")
    print(
        f"CPU per request: server {server_cpu / len(ms) * 1000:.1f} ms, load generator "
        f"{client_cpu / len(ms) * 1000:.1f} ms; 1-minute load average at the end {load:.1f}"
    )
    print(f"target p95 < 300 ms: {'met' if p95 < 300 else 'NOT met'}")


if __name__ == "__main__":
    main()
