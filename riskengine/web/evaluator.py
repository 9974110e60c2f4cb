"""What evaluators see: aggregate figures and versions only, never a pupil.

Every frame here is grouped before it leaves the database, and the evaluation report file is checked for
anything shaped like a UPN before it is served.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from riskengine.store import Store
from riskengine.store import tables as st

#: A UPN's shape (check letter, 11 digits, final digit or letter): served text must never contain one.
UPN_PATTERN = re.compile(r"\b[A-HJ-NP-RT-Z][0-9]{11}[0-9A-Z]\b")
REPORT_NAME = "report.html"
FAIRNESS_TABLES = ("disparities", "audit_groups")


def versions_in_use(store: Store) -> pd.DataFrame:
    """Every scoring run, newest first, with the rule-set, feature and model versions and threshold."""
    runs = store.list_score_runs()
    if runs.empty:
        return runs
    columns = [
        "id",
        "academic_year",
        "term",
        "created_at",
        "rule_set_version",
        "feature_version",
        "model_version",
        "threshold",
        "n_pupils",
    ]
    return runs[columns].sort_values("id", ascending=False).reset_index(drop=True)


def flag_summary(store: Store) -> pd.DataFrame:
    """Per run and band: pupils scored and flagged, and flags by source (rule, model, both)."""
    s = st.scores
    query = (
        sa.select(
            s.c.run_id,
            s.c.band,
            sa.func.count().label("pupils"),
            sa.func.sum(sa.case((s.c.flag.is_(True), 1), else_=0)).label("flagged"),
            sa.func.sum(sa.case((s.c.flag_source == "rule", 1), else_=0)).label("by_rule"),
            sa.func.sum(sa.case((s.c.flag_source == "model", 1), else_=0)).label("by_model"),
            sa.func.sum(sa.case((s.c.flag_source == "both", 1), else_=0)).label("by_both"),
        )
        .group_by(s.c.run_id, s.c.band)
        .order_by(s.c.run_id.desc(), s.c.band)
    )
    return pd.read_sql(query, store.engine)


def latest_report(reports_dir: Path | None) -> Path | None:
    """The newest report.html under `reports_dir` (riskengine.evaluation.write_report writes it, with
    report.json and tables/*.csv beside it), or None."""
    if reports_dir is None or not reports_dir.is_dir():
        return None
    candidates = sorted(reports_dir.rglob(REPORT_NAME), key=lambda p: p.stat().st_mtime)
    return candidates[-1] if candidates else None


def _refuse_upns(text: str) -> str:
    if UPN_PATTERN.search(text):
        raise ValueError("the report contains pupil identifiers and cannot be shown to evaluators")
    return text


def report_headline(report: Path) -> dict:
    """The report's headline figures (report.json), or {} when it has none."""
    path = report.parent / "report.json"
    if not path.exists():
        return {}
    return json.loads(_refuse_upns(path.read_text(encoding="utf-8"))).get("headline", {})


def fairness_tables(report: Path) -> dict[str, pd.DataFrame]:
    """The fairness audit's tables (group sizes and rates, disparity ratios) written beside the report."""
    tables = {}
    for name in FAIRNESS_TABLES:
        path = report.parent / "tables" / f"{name}.csv"
        if path.exists():
            tables[name] = pd.read_csv(io.StringIO(_refuse_upns(path.read_text(encoding="utf-8"))))
    return tables


def safe_report_html(path: Path) -> str:
    """The report's HTML, refused (ValueError) if anything in it looks like a UPN."""
    return _refuse_upns(path.read_text(encoding="utf-8", errors="replace"))
