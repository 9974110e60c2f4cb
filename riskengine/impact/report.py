"""Writing an impact assessment the way `riskengine evaluate` writes an evaluation: one self-contained HTML
page (no scripts, no links out), the same figures as JSON, one CSV per table; every count passes through
the disclosure-control module first, so small counts never leave the engine."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jinja2
import pandas as pd
from markupsafe import Markup

from riskengine.evaluation.disclosure import DisclosureSettings, format_count, protect
from riskengine.evaluation.measures import load_measures
from riskengine.evaluation.report import _plain
from riskengine.impact.assess import NO_COMPARISON, ImpactResult

HTML_NAME, JSON_NAME, TABLES_DIR = "impact.html", "impact.json", "tables"

#: table -> (count columns, rate -> the count(s) it rests on)
PROTECTED = {
    "measures": (
        ["pupils", "with_outcome", "neet", "not_known", "with_days_neet", "with_behaviour_terms",
         "behaviour_improved", "qualification_gained"],
        {"neet_rate": ["neet", "with_outcome"], "not_known_rate": ["not_known", "with_outcome"],
         "mean_days_neet": "with_days_neet",
         "behaviour_improved_rate": ["behaviour_improved", "with_behaviour_terms"],
         "qualification_gained_rate": ["qualification_gained", "pupils"]},
    ),
    "distance_travelled": (
        ["pupils", "improved", "reliably_improved"],
        {"improved_rate": ["improved", "pupils"], "reliably_improved_rate": ["reliably_improved", "pupils"],
         "mean_change": "pupils", "ci_low": "pupils", "ci_high": "pupils", "sd_change": "pupils",
         "d_z": "pupils"},
    ),
    "assessments_unpaired": (["pre_only", "post_only"], None),
}  # fmt: skip

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("riskengine.impact", "."), autoescape=True, keep_trailing_newline=True
)


def protected_tables(result: ImpactResult, settings: DisclosureSettings) -> dict[str, pd.DataFrame]:
    """Every table with its counts under disclosure control."""
    out = {}
    for name, table in result.tables.items():
        if name in PROTECTED:
            counts, rates = PROTECTED[name]
            present = [c for c in counts if c in table]
            rates = {k: v for k, v in (rates or {}).items() if k in table} if rates else None
            if rates:
                rates = {
                    k: [s for s in ([v] if isinstance(v, str) else v) if s in present]
                    for k, v in rates.items()
                }
                rates = {k: v for k, v in rates.items() if v}
            table = protect(table, counts=present, rates=rates, settings=settings)
        out[name] = table
    return out


def write_impact_report(
    result: ImpactResult, out_dir: str | Path, settings: DisclosureSettings | None = None
) -> Path:
    """impact.html, impact.json and tables/*.csv in `out_dir`; returns the HTML path."""
    settings = settings or DisclosureSettings.load()
    measures = load_measures()
    folder = Path(out_dir)
    (folder / TABLES_DIR).mkdir(parents=True, exist_ok=True)
    tables = protected_tables(result, settings)
    estimates = []
    for estimate in result.estimates:
        summary = estimate.summary()
        summary["n_supported"] = format_count(estimate.n_supported, settings)
        summary["n_compared"] = format_count(estimate.n_compared, settings)
        estimates.append(summary)
    for name, table in tables.items():
        table.to_csv(folder / TABLES_DIR / f"{name}.csv", index=False)
    pd.DataFrame(estimates).drop(columns=["details"], errors="ignore").to_csv(
        folder / TABLES_DIR / "estimates.csv", index=False
    )
    info = dict(result.run_info)
    info["pupils"] = format_count(info.get("pupils"), settings)
    info["supported"] = format_count(info.get("supported"), settings)
    info["left_out"] = {k: format_count(v, settings) for k, v in (info.get("left_out") or {}).items()}
    document = {
        "run_info": info,
        "estimates": estimates,
        "not_estimated": result.not_estimated,
        "tables": {name: table.to_dict(orient="records") for name, table in tables.items()},
        "disclosure": {"threshold": settings.threshold, "round_to": settings.round_to},
    }
    (folder / JSON_NAME).write_text(json.dumps(_plain(document), indent=2, default=str))
    html = _TEMPLATES.get_template("impact.html.j2").render(
        info={**info, "pupils_text": info["pupils"], "supported_text": info["supported"]},
        estimates=[
            {**e, "n_supported_text": e["n_supported"], "n_compared_text": e["n_compared"]} for e in estimates
        ],
        not_estimated=result.not_estimated,
        tables={
            n: Markup(
                t.rename(columns=lambda c: measures.column(c)[0]).to_html(
                    index=False, na_rep="", float_format=lambda v: f"{v:.3f}"
                )
            )
            for n, t in tables.items()
        },
        titles={n: measures.table_title(n) for n in tables},
        definitions={n: [measures.column(c) for c in t.columns] for n, t in tables.items()},
        no_comparison=NO_COMPARISON if "distance_travelled" in result.tables else "",
        threshold=settings.threshold,
        fewer_than=settings.fewer_than,
    )
    path = folder / HTML_NAME
    path.write_text(html, encoding="utf-8")
    return path


def log_impact(result: ImpactResult, report_dir: str | Path, tracking_uri: str | None = None) -> str:
    """Log the written report and the estimates (as metrics) to MLflow; returns the run id."""
    from mlflow import MlflowClient

    from riskengine.evaluation.tracking import _artifact_location
    from riskengine.model.tracking import default_tracking_uri, quiet_mlflow

    uri = tracking_uri or default_tracking_uri()
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    with quiet_mlflow():
        client = MlflowClient(tracking_uri=uri)
        experiment = client.get_experiment_by_name("riskengine-impact")
        experiment_id = (
            experiment.experiment_id
            if experiment is not None
            else client.create_experiment("riskengine-impact", artifact_location=_artifact_location(uri))
        )
        run_id = client.create_run(experiment_id, run_name="impact").info.run_id
        for key in (
            "cohorts_before_service",
            "cohorts_with_service",
            "bootstrap_replicates",
            "at_risk_share",
        ):
            client.log_param(run_id, key, str(result.run_info.get(key))[:500])
        for estimate in result.estimates:
            stem = re.sub(r"[^A-Za-z0-9]+", "_", f"{estimate.method} {estimate.outcome}").strip("_")
            for name in ("estimate", "ci_low", "ci_high", "naive"):
                value = getattr(estimate, name)
                if value == value:
                    client.log_metric(run_id, f"{stem}_{name}", float(value))
        folder = Path(report_dir)
        for name in (HTML_NAME, JSON_NAME):
            client.log_artifact(run_id, str(folder / name), "impact")
        client.log_artifacts(run_id, str(folder / TABLES_DIR), f"impact/{TABLES_DIR}")
        client.set_terminated(run_id)
    return run_id
