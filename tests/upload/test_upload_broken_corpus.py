"""Every deliberately broken file in tests/upload/broken/ is rejected with a clear, located error and leaves
the database byte-for-byte unchanged (SQLite file bytes; PostgreSQL table contents)."""

from __future__ import annotations

import csv
import hashlib
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from riskengine.store import Store
from riskengine.upload import upload_bytes
from tests.store.stores import table_contents
from tests.upload.pupil_frames import to_csv_bytes, valid_pupils

BROKEN = Path(__file__).resolve().parent / "broken"
EXPECTED = list(csv.DictReader((BROKEN / "expected.csv").open(encoding="utf-8")))
REQUEST = {"school_urn": "123456", "academic_year": "2024/25", "term": "autumn"}


@cache
def junk_10mb() -> bytes:
    return np.random.default_rng(10).integers(0, 256, 10 * 1024 * 1024, dtype=np.uint8).tobytes()


@cache
def printable_junk_10mb() -> bytes:
    """Junk that decodes as text: it must still fail on its (missing) columns, not crash."""
    alphabet = np.frombuffer(b"abcdefghij,;\r\n\"'=0123456789 ", dtype=np.uint8)
    return np.random.default_rng(11).choice(alphabet, 10 * 1024 * 1024).tobytes()


CASES = [(row["file"], (BROKEN / row["file"]).read_bytes(), row["message"]) for row in EXPECTED] + [
    ("junk_10mb.csv", None, "not plain text"),
    ("printable_junk_10mb.csv", None, "file"),
]


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 25
    assert {p.name for p in BROKEN.iterdir()} - {"expected.csv"} == {row["file"] for row in EXPECTED}


@pytest.fixture
def filled_store(store: Store) -> Store:
    """A store already holding this school's valid autumn upload, which a broken re-upload must not touch."""
    result = upload_bytes(store, to_csv_bytes(valid_pupils(6, seed=2024)), "autumn.csv", **REQUEST)
    assert result.status == "stored"
    return store


def fingerprint(store: Store) -> object:
    if store.engine.dialect.name == "sqlite":
        return hashlib.sha256(Path(store.engine.url.database).read_bytes()).hexdigest()
    return table_contents(store)


@pytest.mark.slow
def test_every_broken_file_is_rejected_and_changes_nothing(filled_store: Store) -> None:
    before = fingerprint(filled_store)
    for name, data, message in CASES:
        if data is None:
            data = junk_10mb() if name == "junk_10mb.csv" else printable_junk_10mb()
        result = upload_bytes(filled_store, data, name, **REQUEST)
        report = result.report(limit=None)
        assert result.status == "rejected", f"{name} was not rejected"
        assert message in report, f"{name}: expected {message!r} in\n{report}"
        assert len(result.errors) > 0 and "nothing was stored" in report
        assert fingerprint(filled_store) == before, f"{name} changed the database"
