"""Limits before work, against a real server process (`riskengine serve`): an XLSX whose sheet declares a
huge range, a 50 MB body without a session, and a CSV over the row cap are each refused in under 2 s with
a clear message, while the server's memory (its own and its upload workers', from /proc) grows by under
100 MB. Authentication comes before any upload body is read."""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import sys
import time
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import openpyxl
import pandas as pd
import pytest

from riskengine.store import Store
from riskengine.upload.reading import FileProblem, read_table
from riskengine.web.accounts import add_user
from riskengine.web.limits import load_limits
from tests.web.conftest import PASSWORD

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SCHOOL = "100001"
MB = 2**20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_tree(pid: int) -> list[int]:
    """pid and every descendant (the upload worker processes), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = [pid], [pid]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier]
        tree += children
        frontier = children
    return tree


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class Memory:
    """Resident memory of the server's process tree: the baseline now (with each process's peak reset via
    /proc/PID/clear_refs), then the growth = the sum of peaks since, minus the baseline."""

    def __init__(self, pid: int) -> None:
        self.pids = process_tree(pid)
        for p in self.pids:
            Path(f"/proc/{p}/clear_refs").write_text("5")  # resets VmHWM (Linux 4.0+)
        self.baseline = sum(_status_kb(p, "VmRSS") for p in self.pids)

    def growth_mb(self) -> float:
        return (sum(_status_kb(p, "VmHWM") for p in self.pids) - self.baseline) / 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('limits') / 'limits.db'}"
    store = Store.open(url)
    add_user(store, "dm@school.example.org", PASSWORD, "school", [SCHOOL])
    store.close()
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "riskengine", "serve", "--db", url, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{base}/login").status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.3)
    try:
        yield base, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def signed_in(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"email": "dm@school.example.org", "password": PASSWORD, "csrf_token": token})
    return client


def form_token(client: httpx.Client) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/school").text).group(1)


def upload(client: httpx.Client, name: str, data: bytes, kind: str) -> httpx.Response:
    return client.post(
        "/school/upload",
        data={"academic_year": "2026/27", "term": "autumn", "csrf_token": form_token(client)},
        files={"file": (name, data, kind)},
        follow_redirects=True,
    )


def settled(client: httpx.Client, response: httpx.Response, timeout: float = 60) -> httpx.Response:
    """Reload the status page a 303 led to until it stops refreshing."""
    deadline = time.monotonic() + timeout
    while 'http-equiv="refresh"' in response.text and time.monotonic() < deadline:
        time.sleep(0.1)
        response = client.get(response.url)
    return response


@pytest.fixture(scope="module")
def warm_client(server) -> httpx.Client:
    """A signed-in school whose first (small, valid-shaped) upload has gone through a worker, so the
    measurements below see a warm worker, as a running service has."""
    client = signed_in(server[0])
    settled(client, upload(client, "warm.csv", b"upn,school_urn\nA1,1\n", "text/csv"))
    return client


def dimension_bomb() -> bytes:
    """A tiny valid workbook whose sheet declares A1:XFD1000 (16 million cells)."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["upn", "school_urn", "academic_year"])
    sheet.append(["A123456789012", SCHOOL, "2026/27"])
    buffer = io.BytesIO()
    book.save(buffer)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename.startswith("xl/worksheets/sheet"):
                content = re.sub(rb'<dimension ref="[^"]+"', b'<dimension ref="A1:XFD1000"', content)
            target.writestr(info, content)
    return out.getvalue()


def lying_workbook() -> bytes:
    """A sheet that declares A1:C2 but holds a value in the last column Excel has (XFD)."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["upn", "school_urn", "academic_year"])
    sheet.cell(row=2, column=16384, value="far away")
    buffer = io.BytesIO()
    book.save(buffer)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename.startswith("xl/worksheets/sheet"):
                content = re.sub(rb'<dimension ref="[^"]+"', b'<dimension ref="A1:C2"', content)
            target.writestr(info, content)
    return out.getvalue()


def test_xlsx_dimension_bomb_is_refused_at_once(server, warm_client):
    data = dimension_bomb()
    assert len(data) < 10_000
    memory = Memory(server[1])
    started = time.monotonic()
    response = warm_client.post(
        "/school/upload",
        data={"academic_year": "2026/27", "term": "autumn", "csrf_token": form_token(warm_client)},
        files={"file": ("bomb.xlsx", data, "application/octet-stream")},
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 422
    assert "more columns (16,384) than the 200 one upload may hold" in response.text
    growth = memory.growth_mb()
    print(f"XLSX dimension bomb: refused in {elapsed:.2f} s, server memory grew {growth:.1f} MB")
    assert elapsed < 2, f"took {elapsed:.2f} s"
    assert growth < 100


def test_the_reader_caps_what_it_reads_whatever_the_sheet_declares():
    """The declared dimension can lie: the reader ignores it and caps the columns and cells it reads."""
    tracemalloc.start()
    started = time.monotonic()
    for data in (dimension_bomb(), lying_workbook()):
        with pytest.raises(FileProblem, match="more columns"):
            read_table(data, "sheet.xlsx")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert time.monotonic() - started < 2 and peak < 100 * MB


def raw_request(base: str, head: str, body_prefix: bytes = b"") -> tuple[str, float]:
    """Send a request's head (and the start of its body, never the rest) on a raw socket; returns the
    answer's status line and how long it took. An answer proves the server did not wait for the body."""
    host, port = base.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode() + body_prefix)
        answer = sock.recv(65536).decode("latin-1")
    return answer.split("\r\n", 1)[0], time.monotonic() - started


def test_a_50_mb_body_without_a_session_is_refused_before_it_is_read(server, warm_client):
    base, pid = server
    memory = Memory(pid)
    status, elapsed = raw_request(
        base,
        "POST /api/v1/uploads HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {50 * MB}\r\n\r\n",
        b"--b\r\n" + b"x" * MB,
    )
    assert status.endswith("413 Request Entity Too Large") and elapsed < 2
    page = httpx.post(f"{base}/school/upload", content=b"x" * (50 * MB), timeout=30)
    assert page.status_code == 413 and "larger than the 20 MB" in page.text
    login = httpx.post(
        f"{base}/login", content=b'{"email": "' + b"x" * (50 * MB) + b'"}', timeout=30
    )  # a huge sign-in body: the small limit for every other route
    assert login.status_code == 413 and "64 KB" in login.text
    growth = memory.growth_mb()
    print(f"50 MB bodies: refused in {elapsed:.2f} s (head only), server memory grew {growth:.1f} MB")
    assert growth < 100


def test_authentication_comes_before_any_upload_body_is_read(server):
    """Under the size limit, an anonymous upload is answered 401 without the server waiting for the
    body: only the head is ever sent."""
    status, elapsed = raw_request(
        server[0],
        "POST /api/v1/uploads HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {10 * MB}\r\n\r\n",
    )
    assert status.endswith("401 Unauthorized") and elapsed < 2
    page, elapsed = raw_request(
        server[0],
        "POST /school/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {10 * MB}\r\n\r\n",
    )
    assert page.endswith("303 See Other") and elapsed < 2, "the page sends the visitor to sign in"


def test_a_streamed_body_is_stopped_at_the_limit(server):
    """No Content-Length (chunked): the body is counted as it arrives and refused at the limit."""

    def chunks(first: bytes) -> Iterator[bytes]:
        yield first
        for _ in range(50):
            yield b"x" * MB

    form = {"Content-Type": "application/x-www-form-urlencoded"}
    page = httpx.post(f"{server[0]}/login", content=chunks(b"email="), headers=form, timeout=30)
    assert page.status_code == 413 and "64 KB" in page.text
    json = {"Content-Type": "application/json"}
    api = httpx.post(f"{server[0]}/api/v1/session", content=chunks(b'{"email": "'), headers=json, timeout=30)
    assert api.status_code == 413 and "64 KB" in api.json()["detail"]


def test_a_csv_over_the_row_cap_is_refused_quickly(server, warm_client):
    cap = load_limits().file.max_rows
    data = b"upn,ncyear\n" + b"A123456789012,9\n" * (cap + 1)
    assert len(data) < 20 * MB
    memory = Memory(server[1])
    started = time.monotonic()
    page = upload(warm_client, "too-long.csv", data, "text/csv")
    elapsed = time.monotonic() - started
    assert page.status_code == 422 and f"more than {cap:,} rows of pupils" in page.text
    growth = memory.growth_mb()
    print(f"CSV over the row cap: refused in {elapsed:.2f} s, server memory grew {growth:.1f} MB")
    assert elapsed < 2, f"took {elapsed:.2f} s"
    assert growth < 100


def test_a_quoted_csv_over_the_row_cap_is_refused_by_its_worker(server, warm_client):
    """With quotes, newlines may sit inside a cell, so the rows are counted as they are parsed, in the
    worker process, which stops at the cap."""
    cap = load_limits().file.max_rows
    data = b"upn,ncyear\n" + b'"A123456789012",9\n' * (cap + 1)
    memory = Memory(server[1])
    page = settled(warm_client, upload(warm_client, "quoted.csv", data, "text/csv"))
    assert "rejected" in page.text and f"more than {cap:,} rows of pupils" in page.text
    growth = memory.growth_mb()
    print(f"quoted CSV over the row cap: rejected by its worker, server memory grew {growth:.1f} MB")
    assert growth < 100


def test_sheet_rows_ending_before_the_last_column_read_as_blanks():
    """Ignoring the declared dimension must not turn a blank last cell into a 'short row' problem."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["upn", "school_urn", "ethnicity"])
    sheet.append(["A123456789012", SCHOOL])  # ethnicity blank: the row's XML ends at column B
    sheet.append(["B123456789012", SCHOOL, "WBRI"])
    buffer = io.BytesIO()
    book.save(buffer)
    cells, row_problems = read_table(buffer.getvalue(), "term.xlsx")
    assert row_problems.empty and list(cells.index) == [2, 3]
    assert cells.loc[2, "ethnicity"] is pd.NA and cells.loc[3, "ethnicity"] == "WBRI"
