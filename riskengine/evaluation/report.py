"""Writing an evaluation: one self-contained HTML page (plots inlined as base64 PNG, no scripts, no links
out, so it opens offline and can be e-mailed), the same figures as JSON, and one CSV per table.
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

from riskengine.evaluation.evaluate import EvaluationResult
from riskengine.evaluation.fairness import OUTSIDE, UNCERTAIN

TEMPLATE = "report.html.j2"
HTML_NAME, JSON_NAME, TABLES_DIR = "report.html", "report.json", "tables"


def _plain(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python, NaN/NA to null."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is pd.NA or value is pd.NaT or value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    return [_plain(row) for row in table.astype(object).to_dict(orient="records")]


def report_figures(result: EvaluationResult, band: tuple[float, float] | None = None) -> dict[str, bytes]:
    """The report's plots as PNG bytes, by name."""
    from riskengine.evaluation import figures  # matplotlib, only when figures are drawn

    tables = result.tables
    band = band or tuple(result.run_info.get("band", (0.8, 1.25)))
    capacities = tuple(tables["capacity"]["capacity"].unique())
    drawn = {
        "roc": figures.roc_figure(tables["roc_curve"], tables["accuracy"]),
        "precision_at_k": figures.precision_at_k_figure(
            tables["precision_curve"], capacities, result.headline["positive_rate"]
        ),
        "lead_time": figures.lead_time_figure(tables["lead_time"]),
    }
    if "calibration" in tables:
        drawn["calibration"] = figures.calibration_figure(tables["calibration"])
    if len(tables.get("disparities", ())):
        drawn["disparities"] = figures.disparities_figure(tables["disparities"], band)
    return drawn


def _html_table(table: pd.DataFrame) -> Markup:
    html = table.to_html(
        index=False, border=0, classes="data", na_rep="—", float_format=lambda x: f"{x:.3f}", escape=True
    )
    return Markup(html)


def write_report(result: EvaluationResult, out_dir: str | Path) -> Path:
    """Write report.html, report.json and tables/*.csv into `out_dir`; returns the HTML file's path."""
    out = Path(out_dir)
    (out / TABLES_DIR).mkdir(parents=True, exist_ok=True)
    for name, table in result.tables.items():
        table.to_csv(out / TABLES_DIR / f"{name}.csv", index=False)
    payload = {
        "run_info": _plain(result.run_info),
        "headline": _plain(result.headline),
        "tables": {name: _records(table) for name, table in result.tables.items()},
    }
    (out / JSON_NAME).write_text(json.dumps(payload, indent=1, allow_nan=False))

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("riskengine.evaluation", "."),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    disparities = result.tables.get("disparities", pd.DataFrame())
    findings = (
        disparities[disparities["status"].isin([OUTSIDE, UNCERTAIN])] if len(disparities) else disparities
    )
    html = environment.get_template(TEMPLATE).render(
        info=result.run_info,
        headline=result.headline,
        tables={name: _html_table(table) for name, table in result.tables.items()},
        has=set(result.tables),
        outside=findings[findings["status"] == OUTSIDE] if len(findings) else findings,
        uncertain=findings[findings["status"] == UNCERTAIN] if len(findings) else findings,
        images={name: base64.b64encode(png).decode("ascii") for name, png in report_figures(result).items()},
    )
    path = out / HTML_NAME
    path.write_text(html, encoding="utf-8")
    return path
