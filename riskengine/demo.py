"""The whole pipeline on a generated local authority, end to end, as a new user's first run.

Each step is the same public function a school, adviser or evaluator would use: schools' termly files are
uploaded and validated one by one, destinations loaded, the model trained on past cohorts and promoted,
the current term scored and explained, and the held-out cohort's flags evaluated against its destinations.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from riskengine.cohorts import cohort_year11_start
from riskengine.evaluation import evaluate_store
from riskengine.flags import export_scores, score_term
from riskengine.model import promote, train
from riskengine.model.tracking import quiet_mlflow
from riskengine.spec.upload import TERMS, academic_year, year_start
from riskengine.store import Store
from riskengine.synth import demo_la, write_destinations, write_uploads
from riskengine.synth.destinations import as_of_date
from riskengine.synth.service import ServiceSpec
from riskengine.upload import load_destinations, load_paths

#: Marks a folder this function made, so a rerun may replace it and nothing else is ever deleted.
MARKER = ".riskengine-demo"


@dataclass(frozen=True)
class DemoResult:
    out_dir: Path
    database: Path
    flags_csv: Path
    report_html: Path
    tracking_uri: str
    n_flagged: int
    n_scored: int
    validation_auc: float
    impact_html: Path | None = None


def _fresh_folder(out_dir: Path) -> None:
    if out_dir.exists() and any(out_dir.iterdir()):
        if not (out_dir / MARKER).exists():
            raise FileExistsError(f"{out_dir} exists and was not made by `riskengine demo`; choose another")
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MARKER).write_text("made by riskengine demo; safe to delete\n")


def _upload_all(store: Store, folder: Path) -> None:
    """Upload the folder of generated files as an analyst would (`riskengine upload FOLDER`): each file
    split by its school and term columns, validated and stored in term order."""
    batch = load_paths(store, [folder], uploaded_by="demo", progress=True)
    if not batch.ok:
        refused = batch.summary[batch.summary["status"] == "refused"]
        raise RuntimeError(f"generated files were rejected:\n{refused.to_string(index=False)}")


def _backtest_terms(validation_cohort: str) -> list[tuple[str, str]]:
    """Every term from the held-out cohort's Year 9 autumn to its Year 11 summer."""
    first = cohort_year11_start(validation_cohort) - 2
    return [(academic_year(first + k), term) for k in range(3) for term in TERMS]


def run_demo(out_dir: str | Path = "riskengine-demo", seed: int = 0) -> DemoResult:
    """Generate a local authority; run upload -> features -> rules + model -> explained flags -> evaluation.

    Everything lands in `out_dir`: the uploads as schools would send them, the SQLite store, the MLflow
    tracking store, the current term's explained flags and the evaluation report of the held-out cohort.
    """
    out = Path(out_dir).resolve()
    _fresh_folder(out)
    la = demo_la(seed, service=ServiceSpec())
    write_uploads(la, out / "uploads")
    destinations = write_destinations(la, out / "destinations.csv")
    database = out / "riskengine.db"
    store = Store.open(f"sqlite:///{database}")
    _upload_all(store, out / "uploads")
    # The generated extract is as of the end of the LA's as-of term, not the day the demo runs.
    loaded = load_destinations(store, destinations, uploaded_by="demo", as_of=as_of_date(la.as_of).date())
    if not loaded.ok:
        raise RuntimeError(f"generated destinations were rejected:\n{loaded.report()}")

    tracking_uri = f"sqlite:///{out / 'mlflow.db'}"
    with quiet_mlflow():
        trained, logged = train(store, tracking_uri=tracking_uri)
        promote(logged.version, tracking_uri=tracking_uri)
        run_ids = [
            score_term(store, year, term, tracking_uri=tracking_uri)[0]
            for year, term in tqdm(_backtest_terms(trained.validation_cohort), desc="scoring past terms")
        ]
        _, current = score_term(store, *la.as_of, tracking_uri=tracking_uri)
    flags_csv = out / "flags.csv"
    export_scores(current, flags_csv, flagged_only=True)

    # Only the held-out cohort: the model never saw its outcomes, so its flags are judged honestly.
    backtest = pd.concat([store.read_scores(run_id=i) for i in run_ids], ignore_index=True)
    cohort_of = backtest["academic_year"].map(year_start) - backtest["ncyear"].astype(int)
    held_out = backtest[cohort_of == cohort_year11_start(trained.validation_cohort) - 11]
    _, report = evaluate_store(store, scores=held_out, out_dir=out / "evaluation", tracking_uri=tracking_uri)
    impact_html = _impact(store, la, out, tracking_uri)
    return DemoResult(
        out_dir=out,
        database=database,
        flags_csv=flags_csv,
        report_html=report,
        tracking_uri=tracking_uri,
        n_flagged=int(current["flag"].sum()),
        n_scored=len(current),
        validation_auc=float(trained.metrics["validation"]["auc"]),
        impact_html=impact_html,
    )


def _impact(store: Store, la, out: Path, tracking_uri: str) -> Path:
    """The generated service's records imported as a service would, and its impact assessed from its
    Year 9 autumn scoring runs (the generator's own: the demo scores only recent terms)."""
    from riskengine.impact.workflow import impact_store
    from riskengine.interventions import import_assessments, import_interventions
    from riskengine.synth.service import scoring_run, write_service

    interventions, assessments, *_ = write_service(la, out / "service")
    for importer, path in ((import_interventions, interventions), (import_assessments, assessments)):
        result = importer(store, path, uploaded_by="demo")
        if not result.ok:
            raise RuntimeError(f"generated {path.name} was rejected:\n{result.report()}")
    with quiet_mlflow():
        _, html = impact_store(
            store, scores=scoring_run(la), out_dir=out / "impact", tracking_uri=tracking_uri
        )
    return html
