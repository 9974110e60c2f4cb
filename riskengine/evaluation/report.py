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

from riskengine.evaluation.disclosure import DisclosureSettings, format_count
from riskengine.evaluation.evaluate import EvaluationResult
from riskengine.evaluation.fairness import OUTSIDE, UNCERTAIN
from riskengine.evaluation.publish import as_numbers, protect_headline, protect_tables

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

    tables = {name: as_numbers(table) for name, table in result.tables.items()}
    band = band or tuple(result.run_info.get("band", (0.8, 1.25)))
    drawn = {"roc": figures.roc_figure(tables["roc_curve"], tables["accuracy"])}
    if "precision_curve" in tables and "capacity" in tables:
        capacities = tuple(tables["capacity"]["capacity"].unique())
        drawn["precision_at_k"] = figures.precision_at_k_figure(
            tables["precision_curve"], capacities, result.headline.get("positive_rate")
        )
    if "lead_time" in tables:
        drawn["lead_time"] = figures.lead_time_figure(tables["lead_time"])
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


def findings_by_attribute(result: EvaluationResult) -> list[dict[str, Any]]:
    """Disparities outside the band (or uncertain), grouped by attribute, each with its groups' base
    rates and, where the attribute is itself a rule or model input, the sentence saying a different
    flag rate is expected there. Attributes with most findings outside the band come first."""
    disparities = result.tables.get("disparities", pd.DataFrame())
    groups = result.tables.get("audit_groups", pd.DataFrame())
    if disparities is None or disparities.empty:
        return []
    findings = disparities[disparities["status"].isin([OUTSIDE, UNCERTAIN])]
    risk_factors = set(result.run_info.get("risk_factors", ()))
    titles = result.run_info.get("attribute_titles", {})
    out = []
    for (scorer, attribute), rows in findings.groupby(["scorer", "attribute"], sort=False):
        parts = str(attribute).split(" & ")
        base = groups[(groups["scorer"] == scorer) & (groups["attribute"] == attribute)]
        out.append(
            {
                "scorer": scorer,
                "attribute": attribute,
                "title": " & ".join(titles.get(p, p.replace("_", " ")) for p in parts),
                "outside": rows[rows["status"] == OUTSIDE],
                "uncertain": rows[rows["status"] == UNCERTAIN],
                "base_rates": [
                    (g, r)
                    for g, r in zip(base["group"], base["base_rate"], strict=True)
                    if r == r and r is not None
                ],
                "risk_factor": any(p in risk_factors for p in parts),
            }
        )
    return sorted(out, key=lambda f: (-len(f["outside"]), f["risk_factor"]))


def published(result: EvaluationResult, disclosure: DisclosureSettings | None = None) -> EvaluationResult:
    """The result as it may leave the engine: every table and headline through disclosure control."""
    settings = disclosure or DisclosureSettings.load()
    info = dict(result.run_info, disclosure={"threshold": settings.threshold, "round_to": settings.round_to})
    if "pupils_per_file" in info:  # other tools' files: how many pupils each scored
        info["pupils_per_file"] = {k: format_count(v, settings) for k, v in info["pupils_per_file"].items()}
    if "pupils_in_every_file" in info:
        info["pupils_in_every_file"] = format_count(info["pupils_in_every_file"], settings)
    return EvaluationResult(
        run_info=info,
        headline=protect_headline(result.headline, settings),
        tables=protect_tables(result.tables, settings),
    )


def write_report(
    result: EvaluationResult, out_dir: str | Path, disclosure: DisclosureSettings | None = None
) -> Path:
    """Write report.html, report.json and tables/*.csv into `out_dir`, all under disclosure control
    (`disclosure`, default: the shipped settings); returns the HTML file's path. Plots are drawn from the
    unprotected figures only where they show rates and ratios, never counts."""
    out = Path(out_dir)
    (out / TABLES_DIR).mkdir(parents=True, exist_ok=True)
    result = published(result, disclosure)
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
    html = environment.get_template(TEMPLATE).render(
        info=result.run_info,
        headline=result.headline,
        tables={name: _html_table(table) for name, table in result.tables.items()},
        has=set(result.tables),
        findings=(findings := findings_by_attribute(result)),
        n_outside=sum(len(f["outside"]) for f in findings),
        images={name: base64.b64encode(png).decode("ascii") for name, png in report_figures(result).items()},
    )
    path = out / HTML_NAME
    path.write_text(html, encoding="utf-8")
    return path
