"""What evaluators see: aggregate figures and versions only, never a pupil.

Every frame here is grouped before it leaves the database, and the evaluation report file is checked for
anything shaped like a UPN before it is served.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from riskengine.evaluation.disclosure import DisclosureSettings, format_count, protect
from riskengine.evaluation.measures import load_measures
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


SCORER_WORDS = {"rules": "rules only", "model": "model only", "combined": "combined flag"}
COUNT_KEYS = ("pupils_scored", "pupils_with_outcome", "disparities_outside_band")


def headline_rows(headline: dict, settings: DisclosureSettings | None = None) -> list[dict[str, str]]:
    """The report's headline as rows of name in words, value (whole numbers as whole numbers, small
    counts under disclosure control) and a one-line definition."""
    measures = load_measures().headline
    rows = []
    for key, value in headline.items():
        suffix = next((s for s in measures if key == s or key.endswith("_" + s)), None)
        name, definition = measures.get(suffix, (key.replace("_", " "), ""))
        scorer = key.removesuffix("_" + suffix) if suffix and key != suffix else ""
        if scorer:
            name = f"{name}, {SCORER_WORDS.get(scorer, scorer)}"
        if value is None or (isinstance(value, float) and np.isnan(value)):
            text = "not shown"
        elif isinstance(value, str):
            text = value
        elif key in COUNT_KEYS:
            text = format_count(value, settings) if key != "disparities_outside_band" else f"{int(value):,}"
        else:
            text = f"{float(value):.3f}"
        rows.append({"name": name, "value": text, "definition": definition})
    return rows


def protected_flag_summary(store: Store, settings: DisclosureSettings | None = None) -> pd.DataFrame:
    """`flag_summary` under disclosure control: bands add up to each run, flags by source to flagged."""
    summary = flag_summary(store)
    counts = ["pupils", "flagged", "by_rule", "by_model", "by_both"]
    margins = [
        *({"column": c, "by": ["run_id"]} for c in counts),
        {"total": "pupils", "parts": ["flagged"]},
        {"total": "flagged", "parts": ["by_rule", "by_model", "by_both"]},
    ]
    return protect(summary, counts=counts, margins=margins, settings=settings)


def run_sizes(versions: pd.DataFrame, settings: DisclosureSettings | None = None) -> pd.DataFrame:
    """Versions in use with each run's pupil count as published (`n_pupils` as a whole number or text)."""
    if versions.empty:
        return versions
    return versions.assign(n_pupils=[format_count(n, settings) for n in versions["n_pupils"]])


def _guard_counts(frame: pd.DataFrame, settings: DisclosureSettings) -> pd.DataFrame:
    """A table from a report folder, with any count of 1-9 still in it (an old report) hidden."""
    from riskengine.evaluation.publish import is_count

    out = frame.copy()
    for column in (c for c in out.columns if is_count(str(c))):
        numbers = pd.to_numeric(out[column], errors="coerce")
        small = (numbers > 0) & (numbers < settings.threshold)
        whole = numbers.notna() & (numbers == numbers.round())
        values = out[column].astype(object).where(~whole, numbers.round().astype("Int64").astype(object))
        out[column] = values.where(~small, settings.fewer_than)
    return out


def fairness_summary(report: Path, settings: DisclosureSettings | None = None) -> list[dict]:
    """The fairness audit by attribute (and flag): how many groups, how many ratios outside the band or
    uncertain, the groups' base rates, and the detail tables, attributes with findings first."""
    settings = settings or DisclosureSettings.load()
    tables = {name: _guard_counts(frame, settings) for name, frame in fairness_tables(report).items()}
    groups = tables.get("audit_groups", pd.DataFrame())
    disparities = tables.get("disparities", pd.DataFrame())
    info = {}
    path = report.parent / "report.json"
    if path.exists():
        info = json.loads(_refuse_upns(path.read_text(encoding="utf-8"))).get("run_info", {})
    risk_factors = set(info.get("risk_factors", ()))
    titles = info.get("attribute_titles", {})
    keys = [k for k in ("scorer", "attribute") if k in groups.columns]
    if groups.empty or "attribute" not in keys:
        return []
    order = {"outside band": 0, "uncertain": 1}
    out = []
    for key, rows in groups.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        scorer, attribute = key if len(key) == 2 else ("", key[0])
        ratios = disparities
        if len(ratios) and "attribute" in ratios:
            ratios = ratios[ratios["attribute"] == attribute]
            if scorer and "scorer" in ratios:
                ratios = ratios[ratios["scorer"] == scorer]
            ratios = ratios.assign(_order=ratios["status"].map(order).fillna(2)).sort_values(
                "_order", kind="stable"
            )
            ratios = ratios.drop(columns="_order")
        status = ratios["status"] if "status" in ratios else pd.Series(dtype=str)
        parts = str(attribute).split(" & ")
        base = rows[["group", "base_rate"]].dropna() if "base_rate" in rows else pd.DataFrame()
        out.append(
            {
                "scorer": SCORER_WORDS.get(scorer, scorer),
                "attribute": attribute,
                "title": " & ".join(titles.get(p, p.replace("_", " ")) for p in parts),
                "groups": rows.drop(columns=list(keys)),
                "disparities": ratios.drop(columns=[c for c in ("scorer", "attribute") if c in ratios]),
                "n_groups": len(rows),
                "outside": int((status == "outside band").sum()),
                "uncertain": int((status == "uncertain").sum()),
                "base_rates": [
                    (g, float(r))
                    for g, r in zip(base.get("group", []), base.get("base_rate", []), strict=True)
                ],
                "risk_factor": any(p in risk_factors for p in parts),
            }
        )
    return sorted(out, key=lambda a: (-a["outside"], -a["uncertain"]))
