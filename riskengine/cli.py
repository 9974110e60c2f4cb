"""The `riskengine` command. Thin: every command parses its options and calls one documented function.

Each section below belongs to one stage of the data flow; keep a command's logic in its stage's module.
"""

from __future__ import annotations

import contextlib

import typer

app = typer.Typer(
    help="Early-warning engine for pupils at risk of becoming NEET.",
    no_args_is_help=True,
    add_completion=False,
)

# --- project folder (issue 10) ---------------------------------------------------------------------------


@app.callback()
def main(
    project: str | None = typer.Option(
        None,
        "--project",
        envvar="RISKENGINE_PROJECT",
        help="Project folder (made by riskengine init); default: the nearest one at or above the "
        "current folder. Its declarative files and its database and MLflow locations are used, unless "
        "a command's option or RISKENGINE_DB_URL / MLFLOW_TRACKING_URI / RISKENGINE_HOME says otherwise.",
    ),
) -> None:
    """Early-warning engine for pupils at risk of becoming NEET."""
    from riskengine.project import Project, use

    if project is not None:
        try:
            Project.load(project)
        except (FileNotFoundError, ValueError) as error:
            typer.echo(f"Error: {error}", err=True)
            raise typer.Exit(1) from None
    use(project)


@app.command("init")
def init_command(
    folder: str = typer.Argument(..., help="Folder for the new project (created if need be)."),
) -> None:
    """Start a project: editable copies of the upload mappings, features, rules, models and evaluation
    settings, and a riskengine_project.yaml naming the database and MLflow locations."""
    from riskengine.project import FOLDERS, PROJECT_FILE, init_project

    try:
        project = init_project(folder)
    except FileExistsError as error:
        typer.echo(f"Error: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"Project {project.name} in {project.root}: {', '.join(f'{f}/' for f in FOLDERS)}, {PROJECT_FILE}"
    )
    typer.echo(f"Database: {project.database}\nMLflow:   {project.tracking_uri}")
    typer.echo(f"Edit the files there; run riskengine commands inside {folder} (or with --project {folder}).")


# --- demo (issue 2) ---------------------------------------------------------------------------------------


@app.command("demo")
def demo_command(
    out_dir: str = typer.Argument("riskengine-demo", help="Folder for everything the demo makes."),
    seed: int = typer.Option(0, "--seed", help="Seed of the generated local authority."),
) -> None:
    """Run the whole pipeline on a generated local authority: upload, train, score, explain, evaluate."""
    from riskengine.demo import run_demo

    try:
        result = run_demo(out_dir, seed=seed)
    except FileExistsError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"\nScored {result.n_scored} Year 9+ pupils this term; {result.n_flagged} flagged for review.")
    typer.echo(f"Held-out cohort AUC of the model: {result.validation_auc:.3f}")
    typer.echo(f"Explained flags:     {result.flags_csv}")
    typer.echo(f"Evaluation report:   {result.report_html}")
    if result.impact_html is not None:
        typer.echo(f"Impact report:       {result.impact_html}")
    typer.echo(f"Store (SQLite):      {result.database}")
    typer.echo(f"MLflow tracking:     {result.tracking_uri}")
    typer.echo(f"Try: riskengine explain UPN --db sqlite:///{result.database}")


# --- synthetic cohorts (issue 2) --------------------------------------------------------------------------


@app.command("synth")
def synth_command(
    out_dir: str = typer.Argument(..., help="Folder to write the uploads and destinations.csv into."),
    pupils: int = typer.Option(600, "--pupils", help="Pupils per Year 7 intake across the local authority."),
    cohorts: int = typer.Option(8, "--cohorts", help="Consecutive Year 7 intakes (the newest is in Year 7)."),
    schools: int = typer.Option(4, "--schools", help="Mainstream secondary schools (plus a referral unit)."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed writes byte-identical files."),
    as_of: str = typer.Option("2026/27 autumn", "--as-of", help="Academic year and term the data runs to."),
    messy: bool = typer.Option(
        False,
        "--messy",
        help="Write real-export mess: renamed headers, cp1252, blank cells, a few invalid UPNs.",
    ),
    single_file: bool = typer.Option(
        False, "--single-file", help="One pupil_terms.csv instead of one file per school per term."
    ),
    service: bool = typer.Option(
        False,
        "--service",
        help="Add an early-intervention service with a planted effect: also writes interventions.csv, "
        "assessments.csv, service_scores.csv and service_truth.json (the true effects).",
    ),
) -> None:
    """Generate a synthetic local authority (seeded, calibrated to English figures) and write its files."""
    from pathlib import Path

    from riskengine.synth import generate, write_destinations, write_uploads

    year, _, term = as_of.partition(" ")
    try:
        from riskengine.synth.service import ServiceSpec

        planted = ServiceSpec() if service else None
        la = generate(
            pupils=pupils,
            cohorts=cohorts,
            schools=schools,
            seed=seed,
            as_of=(year, term.strip()),
            service=planted,
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    paths = write_uploads(la, out_dir, messy=messy, single_file=single_file, progress=True)
    destinations = write_destinations(la, Path(out_dir) / "destinations.csv")
    typer.echo(
        f"Wrote {len(paths)} upload file(s) with {len(la.pupil_terms):,} pupil-terms "
        f"({len(la.truth):,} pupils, {len(la.schools) - 1} schools + a referral unit) to {out_dir}"
    )
    typer.echo(
        f"Wrote {len(la.destinations):,} destination rows for "
        f"{int(la.truth['has_destination'].sum()):,} young people to {destinations}"
    )
    if service:
        from riskengine.synth.service import write_service

        written = write_service(la, out_dir)
        typer.echo(f"Wrote the service's records and true effects: {', '.join(p.name for p in written)}")


# --- upload and store (issue 3) ---------------------------------------------------------------------------

_DB_HELP = "Database URL (default: $RISKENGINE_DB_URL, else SQLite in $RISKENGINE_HOME or ./.riskengine)."
_MAPPING_HELP = "Column mapping: a YAML file, or the name of a shipped one in upload/mappings (e.g. sims)."


def _finish_upload(result, errors_csv) -> None:
    """One imported file (interventions, assessments): its report, its problems CSV, exit 1 if refused."""
    typer.echo(result.report())
    if errors_csv is not None and (len(result.errors) or len(result.warnings)):
        result.errors_csv(errors_csv)
        typer.echo(f"Problems written to {errors_csv}")
    if not result.ok:
        raise typer.Exit(1)


def _finish_batch(batch, errors_csv, check: bool) -> None:
    """One file: its full report, as ever. More: the summary table, then each refused part's problems."""
    if len(batch.results) == 1:
        typer.echo(batch.results[0].report())
    else:
        summary = batch.summary
        typer.echo(summary.to_string(index=False) if len(summary) else "No files found.")
        for part, result in zip(batch.parts, batch.results, strict=True):
            if not result.ok:
                where = " ".join(v for v in (part["school"], part["term"]) if v)
                typer.echo(f"\n{part['file']}{f' ({where})' if where else ''}: refused")
                typer.echo(result.report(limit=10).split("\n", 1)[-1])
        counts = summary["status"].value_counts()
        totals = ", ".join(f"{n} {status}" for status, n in counts.items())
        typer.echo(f"\n{len(summary)} part(s): {totals}; {int(summary['rows'].sum()):,} rows.")
    if check:
        typer.echo("Checked only (--check): nothing was stored.")
    if errors_csv is not None and len(problems := batch.problems_frame()):
        problems.to_csv(errors_csv, index=False, encoding="utf-8-sig")
        typer.echo(f"Problems written to {errors_csv}")
    if not batch.ok:
        raise typer.Exit(1)


@app.command("upload")
def upload_command(
    paths: list[str] = typer.Argument(
        ..., help="Termly files (CSV or XLSX) and folders of them; one file may hold many schools and terms."
    ),
    school: str | None = typer.Option(
        None, "--school", help="School URN, for files without a school_urn column."
    ),
    year: str | None = typer.Option(
        None, "--year", help="Academic year (e.g. 2024/25), for files without one."
    ),
    term: str | None = typer.Option(
        None, "--term", help="autumn, spring or summer, for files without a term."
    ),
    mapping: str | None = typer.Option(None, "--mapping", help=_MAPPING_HELP),
    errors_csv: str | None = typer.Option(None, "--errors-csv", help="Also write every problem to this CSV."),
    check: bool = typer.Option(False, "--check", help="Validate everything and store nothing."),
    stop_on_error: bool = typer.Option(False, "--stop-on-error", help="Stop at the first refused file."),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
    by: str = typer.Option("cli", "--by", help="Who is uploading (recorded with the upload)."),
) -> None:
    """Validate termly pupil files and store each school's term; a term with any error stores nothing.

    Files are split by their school, year and term columns and stored in term order; exit 1 if any
    file was refused.
    """
    from riskengine.store import Store
    from riskengine.upload.batch import load_paths

    try:
        batch = load_paths(
            Store.open(db), paths, school_urn=school, academic_year=year, term=term, mapping=mapping,
            check=check, stop_on_error=stop_on_error, uploaded_by=by, progress=True,
        )  # fmt: skip
    except (ValueError, FileNotFoundError) as error:
        typer.echo(f"Error: {error}", err=True)
        raise typer.Exit(1) from None
    _finish_batch(batch, errors_csv, check)


@app.command("destinations")
def destinations_command(
    paths: list[str] = typer.Argument(
        ..., help="NCCIS destinations files (CSV or XLSX) and folders of them."
    ),
    as_of: str | None = typer.Option(
        None, "--as-of", help="The day the extract was taken, e.g. 2026-04-30 (default: today)."
    ),
    mapping: str | None = typer.Option(None, "--mapping", help=_MAPPING_HELP),
    errors_csv: str | None = typer.Option(None, "--errors-csv", help="Also write every problem to this CSV."),
    check: bool = typer.Option(False, "--check", help="Validate everything and store nothing."),
    stop_on_error: bool = typer.Option(False, "--stop-on-error", help="Stop at the first refused file."),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
    by: str = typer.Option("cli", "--by", help="Who is loading (recorded with the upload)."),
) -> None:
    """Validate NCCIS destinations files and add their rows, recording the extract's as-of date, which
    decides whose outcome windows have closed; a file with any error stores nothing."""
    import datetime as dt

    from riskengine.store import Store
    from riskengine.upload.batch import load_destination_paths

    try:
        day = dt.date.fromisoformat(as_of) if as_of else dt.date.today()
    except ValueError:
        raise typer.BadParameter(f"--as-of should be a date like 2026-04-30, not {as_of!r}") from None
    said = "" if as_of else " (today; give --as-of DATE if the extract was taken earlier)"
    typer.echo(f"Destinations as of {day.day} {day:%B %Y}{said}.")  # "1 April 2024", as the notices say
    try:
        batch = load_destination_paths(
            Store.open(db), paths, as_of=day, mapping=mapping, check=check,
            stop_on_error=stop_on_error, uploaded_by=by, progress=True,
        )  # fmt: skip
    except (ValueError, FileNotFoundError) as error:
        typer.echo(f"Error: {error}", err=True)
        raise typer.Exit(1) from None
    _finish_batch(batch, errors_csv, check)


@app.command("uploads")
def uploads_command(
    school: str | None = typer.Option(None, "--school", help="Only this school's uploads."),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """List accepted uploads: file SHA-256, row counts, who and when, and which upload holds each term."""
    from riskengine.store import Store

    uploads = Store.open(db).list_uploads(school)
    shown = ["id", "kind", "school_urn", "academic_year", "term", "filename", "n_rows", "status"]
    shown += ["active", "uploaded_by", "uploaded_at"]
    typer.echo(uploads[shown].to_string(index=False) if len(uploads) else "No uploads yet.")


# --- features and rules (issue 4) -------------------------------------------------------------------------


@app.command("catalogue")
def catalogue_command(
    path: str | None = typer.Argument(None, help="A catalogue file (default: the shipped one)."),
    details: bool = typer.Option(False, "--details", help="Also show units, sources and blank handling."),
) -> None:
    """Check a feature catalogue and list its features, with the version recorded with scores."""
    from riskengine.features import CatalogueError, load_catalogue

    try:
        catalogue = load_catalogue(path)
    except CatalogueError as error:
        typer.echo(f"Invalid catalogue: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Catalogue {catalogue.path} version {catalogue.version} ({catalogue.title})")
    summary = catalogue.summary()
    if not details:
        typer.echo(summary[["name", "kind", "label"]].to_string(index=False))
        return
    for feature in summary.itertuples():  # a few dozen features, not pupil rows
        typer.echo(f"\n{feature.name} ({feature.kind}): {feature.label}\n  unit: {feature.unit}")
        typer.echo(f"  source: {feature.source}\n  blanks: {feature.missing}")


rules_app = typer.Typer(help="Declarative Risk-of-NEET rule sets (rules/*.yaml).", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


@rules_app.command("check")
def rules_check_command(
    paths: list[str] = typer.Argument(..., help="Rule files to check, e.g. rules/default.yaml."),
) -> None:
    """Load each rule file and run the example pupils written in it; exit 1 if any file or example fails."""
    from riskengine.rules import RuleError, check_rule_set

    failed = False
    for path in paths:
        try:
            report = check_rule_set(path)
        except RuleError as error:
            typer.echo(f"Invalid rule file: {error}", err=True)
            failed = True
            continue
        typer.echo(f"{report.path} (version {report.version})")
        for line in report.lines():
            typer.echo(f"  {line}")
        passed = len(report.results) - len(report.failures)
        typer.echo(f"  {passed} of {len(report.results)} examples passed")
        failed |= not report.passed
    if failed:
        raise typer.Exit(1)


# --- model, explanations and flags (issue 5) --------------------------------------------------------------

_OUT_HELP = "Export file, .csv or .xlsx: every scored pupil, highest risk first, with reasons in words."
_TRACKING_HELP = "MLflow tracking URI (default: SQLite mlflow.db in $RISKENGINE_HOME or ./.riskengine)."


@contextlib.contextmanager
def _stage_bar(description: str, stages: int):
    """A tqdm bar (on stderr) moved by a `progress(stage)` callback; filled when the work is done."""
    from tqdm import tqdm

    with tqdm(total=stages, desc=description, unit="step", leave=False) as bar:

        def progress(stage: str) -> None:
            bar.set_postfix_str(stage)
            bar.update(1)

        yield progress
        bar.update(bar.total - bar.n)


@contextlib.contextmanager
def _clear_errors():
    """Bad input (a malformed spec, an unknown term or model version) or a rule-engine failure as one line
    and exit code 1. MLflow's exception type is looked up only if MLflow was loaded (scoring never is)."""
    import sys

    try:
        yield
    except Exception as error:
        from riskengine.rules.engine import RuleEngineError

        mlflow_error = getattr(sys.modules.get("mlflow.exceptions"), "MlflowException", None)
        known = (ValueError, LookupError, FileNotFoundError, RuleEngineError)
        known += (mlflow_error,) if mlflow_error else ()
        if not isinstance(error, known):
            raise
        message = error.message if mlflow_error and isinstance(error, mlflow_error) else str(error)
        typer.echo(f"Error: {message}", err=True)
        raise typer.Exit(1) from None


@app.command("train")
def train_command(
    spec: str | None = typer.Option(None, "--spec", help="Model spec YAML (default: models/logistic.yaml)."),
    outcome: str | None = typer.Option(None, "--outcome", help="Outcome definition YAML (default: shipped)."),
    no_register: bool = typer.Option(False, "--no-register", help="Log the run but do not register it."),
    as_of: str | None = typer.Option(
        None,
        "--as-of",
        help="Count cohorts whose outcome window ended by this date (default: the "
        "as-of date of the newest destinations extract loaded).",
    ),
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help=_TRACKING_HELP),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Train the model on past cohorts (temporal validation on the newest), log it to MLflow and register it.

    With one cohort of outcomes, the model is validated by stratified cross-validation within it instead.

    The new version is not used for scoring until you run `riskengine promote VERSION`.
    """
    from tqdm import tqdm

    from riskengine.model import train
    from riskengine.store import Store

    with _clear_errors(), _stage_bar("training", stages=4) as progress:
        result, logged = train(
            Store.open(db),
            spec,
            tracking_uri=tracking_uri,
            register=not no_register,
            outcome_path=outcome,
            progress=progress,
            as_of=as_of,
            notify=tqdm.write,  # cohorts left out, said at once (before any error that follows from it)
        )
    valid = result.metrics["validation"]
    for notice in result.notices:
        typer.echo(f"Note: {notice}")
    typer.echo(f"Trained {result.spec.version} on {', '.join(result.train_cohorts)}")
    typer.echo(f"Validation: {result.validation_note}")
    calibrated = "calibrated" if result.calibration_ok else "consider calibration in the spec"
    typer.echo(
        f"Validation: AUC {valid['auc']:.3f}, PR AUC {valid['pr_auc']:.3f}, "
        f"Brier {valid['brier']:.4f}, ECE {valid['ece']:.4f} ({calibrated})"
    )
    typer.echo(f"MLflow run {logged.run_id}")
    if logged.version is not None:
        typer.echo(
            f"Registered {logged.model_name} version {logged.version}; "
            f"promote it with: riskengine promote {logged.version}"
        )


@app.command("promote")
def promote_command(
    version: str = typer.Argument(..., help="Registered model version to promote."),
    alias: str = typer.Option("champion", "--alias", help="Alias to point at it (the scorer uses champion)."),
    name: str | None = typer.Option(None, "--name", help="Registered model name (default: from the spec)."),
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help=_TRACKING_HELP),
) -> None:
    """Make a registered model version the one scoring uses (sets its alias, default champion)."""
    from riskengine.model import promote
    from riskengine.model.bundle import numbers_not_written

    with _clear_errors():
        bundle = promote(version, alias=alias, model_name=name, tracking_uri=tracking_uri)
    typer.echo(f"Version {version} is now @{alias}.")
    if why := numbers_not_written(bundle):
        typer.echo(f"Note: scoring will load this version through scikit-learn (slower): {why}")


@app.command("score")
def score_command(
    year: str = typer.Option(..., "--year", help="Academic year, e.g. 2024/25."),
    term: str = typer.Option(..., "--term", help="autumn, spring or summer."),
    model: str | None = typer.Option(
        None,
        "--model",
        help="champion (default if registered), another alias or version, a .joblib path, "
        "or none for rules only.",
    ),
    top_n: int | None = typer.Option(None, "--top-n", help="Model flags the N highest-risk pupils."),
    top_percent: float | None = typer.Option(None, "--top-percent", help="Model flags the top P% by risk."),
    probability: float | None = typer.Option(None, "--probability", help="Model flags risk >= this (0-1)."),
    jobs: int = typer.Option(1, "--jobs", help="Parallel workers for the rules."),
    out: str | None = typer.Option(None, "--out", help=_OUT_HELP),
    flagged_only: bool = typer.Option(False, "--flagged-only", help="With --out: only flagged pupils."),
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help=_TRACKING_HELP),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Score every Year 9+ pupil on roll in a term: features, rules, model, explanations and flags, saved."""
    from pathlib import Path

    from riskengine.flags import score_term
    from riskengine.model.tracking import quiet_mlflow
    from riskengine.spreadsheet import FORMATS
    from riskengine.store import Store

    if out is not None and Path(out).suffix.lower() not in FORMATS:
        raise typer.BadParameter(f"--out {out}: write a .csv or .xlsx file")
    given = {"top_n": top_n, "top_percent": top_percent, "probability": probability}
    chosen = {k: v for k, v in given.items() if v is not None}
    if len(chosen) > 1:
        raise typer.BadParameter("give at most one of --top-n, --top-percent, --probability")
    # the bar before quiet_mlflow, which silences stderr
    with _clear_errors(), _stage_bar("scoring", stages=6) as progress, quiet_mlflow():
        run_id, scores = score_term(
            Store.open(db),
            year,
            term,
            model=model,
            capacity=chosen or None,
            tracking_uri=tracking_uri,
            n_jobs=jobs,
            progress=progress,
        )
    run = scores.attrs["run"]
    sources = scores["flag_source"].value_counts().to_dict()
    typer.echo(
        f"Run {run_id}: {len(scores)} pupils scored for {term} {year}; {int(scores['flag'].sum())} "
        f"flagged (rule {sources.get('rule', 0)}, model {sources.get('model', 0)}, "
        f"both {sources.get('both', 0)})"
    )
    if run["threshold"]["model"]:
        t = run["threshold"]["model"]
        cutoff = "" if t["probability_cutoff"] is None else f", risk cut-off {t['probability_cutoff']:.1%}"
        if t.get("by_year_group"):  # capacity within each year group: each year group's cut-off
            cutoff = ", within each year group: " + ", ".join(
                f"Year {y} cut-off {e['probability_cutoff']:.1%} ({e['n_model_flagged']} of {e['n_scored']})"
                for y, e in t["by_year_group"].items()
                if e["probability_cutoff"] is not None
            )
        typer.echo(f"Model threshold: {t['description']}{cutoff}")
    typer.echo(
        f"Versions: rules {run['rule_set_version']}, features {run['feature_version']}, "
        f"model {run['model_version'] or 'none (rules only)'}"
    )
    for notice in run["settings"].get("notices", []):
        typer.echo(f"Note: {notice}")
    if out is not None:
        from riskengine.flags import export_scores

        written = export_scores(scores, out, flagged_only=flagged_only)
        n = int(scores["flag"].sum()) if flagged_only else len(scores)
        typer.echo(f"Wrote {n} {'flagged ' if flagged_only else ''}pupils, highest risk first, to {written}")


@app.command("export")
def export_command(
    out: str = typer.Argument(..., help=_OUT_HELP),
    run: int | None = typer.Option(None, "--run", help="Scoring run id (default: latest of --year/--term)."),
    year: str | None = typer.Option(None, "--year", help="Academic year, e.g. 2024/25."),
    term: str | None = typer.Option(None, "--term", help="autumn, spring or summer."),
    flagged_only: bool = typer.Option(
        False, "--flagged-only/--all", help="Only flagged pupils, or every scored pupil (default)."
    ),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Write a stored scoring run's pupils to CSV or XLSX, highest risk first, with reasons in words."""
    from riskengine.flags import export_run
    from riskengine.store import Store

    try:
        done = export_run(Store.open(db), out, run, year, term, flagged_only=flagged_only)
    except (ValueError, LookupError) as error:
        typer.echo(f"Error: {error}", err=True)
        raise typer.Exit(1) from None
    which = "flagged pupils" if flagged_only else "scored pupils"
    typer.echo(
        f"Wrote {done.n_pupils} {which} of run {done.run_id} ({done.term} {done.academic_year}) "
        f"to {done.path}"
    )


@app.command("explain")
def explain_command(
    upn: str = typer.Argument(..., help="The pupil's UPN."),
    year: str | None = typer.Option(None, "--year", help="Academic year (default: the pupil's latest)."),
    term: str | None = typer.Option(None, "--term", help="Term (default: the pupil's latest)."),
    run: int | None = typer.Option(None, "--run", help="Scoring run id (default: the pupil's latest term)."),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Print one pupil's full reasoning from the latest term they were scored in (says which run)."""
    from riskengine.flags import explain_pupil
    from riskengine.store import Store

    try:
        typer.echo(explain_pupil(Store.open(db), upn.strip().upper(), year, term, run_id=run))
    except LookupError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None


# --- evaluation (issue 6) ---------------------------------------------------------------------------------


@app.command("evaluate")
def evaluate_command(
    runs: list[int] | None = typer.Option(
        None,
        "--run",
        help="Scoring run id to evaluate; repeat for several (lead time looks across them). "
        "Default: the latest run of every term, or of --year/--term.",
    ),
    year: str | None = typer.Option(None, "--year", help="Only runs of this academic year, e.g. 2023/24."),
    term: str | None = typer.Option(None, "--term", help="Only runs of this term: autumn, spring or summer."),
    scores: list[str] | None = typer.Option(
        None,
        "--scores",
        help="Evaluate scores file(s) (CSV or Parquet) instead of stored runs: this engine's scores, or "
        "another tool's (only a UPN and a score and/or flag column needed; repeat to compare several on "
        "the same pupils). Destinations and audit attributes come from the store unless an outcome column "
        "is named.",
    ),
    upn_column: str | None = typer.Option(None, "--upn-column", help="Another tool's file: its UPN column."),
    score_column: str | None = typer.Option(
        None, "--score-column", help="Another tool's file: its score column."
    ),
    flag_column: str | None = typer.Option(
        None, "--flag-column", help="Another tool's file: its yes/no flag column."
    ),
    outcome_column: str | None = typer.Option(
        None,
        "--outcome-column",
        help="Another tool's file: a yes/no outcome column (destinations not in the store).",
    ),
    columns_yaml: str | None = typer.Option(
        None,
        "--columns",
        help="YAML naming the columns (name, upn, score, flag, outcome; per file under files:).",
    ),
    outcome: str | None = typer.Option(
        None, "--outcome", help="Outcome definition YAML (default: evaluation/outcome.yaml)."
    ),
    audit: str | None = typer.Option(
        None, "--audit", help="Audit settings YAML (default: evaluation/audit.yaml)."
    ),
    out_dir: str = typer.Option(
        "evaluation-report", "--out", help="Folder for report.html, report.json and tables/*.csv."
    ),
    mlflow: bool = typer.Option(
        True, "--mlflow/--no-mlflow", help="Log the report and headline metrics to MLflow."
    ),
    as_of: str | None = typer.Option(
        None,
        "--as-of",
        help="Count cohorts whose outcome window ended by this date (default: the as-of date of the "
        "newest destinations extract loaded).",
    ),
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help=_TRACKING_HELP),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Judge past flags against actual destinations: accuracy, fairness audit, lead time and impact, as a
    self-contained HTML report (plus JSON and CSV), logged to MLflow."""
    from riskengine.evaluation import evaluate_store, format_count
    from riskengine.evaluation.workflow import evaluate_scores_files, read_scores_file
    from riskengine.store import Store

    frame = None
    mapped = {"upn": upn_column, "score": score_column, "flag": flag_column, "outcome": outcome_column}
    if scores and (len(scores) > 1 or any(mapped.values()) or columns_yaml or not _engine_file(scores[0])):
        try:
            result, report = evaluate_scores_files(
                Store.open(db) if outcome_column is None or db else None,
                scores,
                mapped,
                columns_yaml,
                outcome_definition=outcome,
                settings=audit,
                out_dir=out_dir,
                mlflow=mlflow,
                tracking_uri=tracking_uri,
            )
        except ValueError as error:
            typer.echo(str(error), err=True)
            raise typer.Exit(1) from None
        headline = result.headline
        typer.echo(
            f"{format_count(headline['pupils_with_outcome'])} of {format_count(headline['pupils_scored'])} "
            "pupils have an outcome; ROC AUC "
            + ", ".join(
                f"{k.removesuffix('_roc_auc')} {v:.3f}" for k, v in headline.items() if k.endswith("_roc_auc")
            )
        )
        typer.echo(f"Report: {report}")
        return
    frame = read_scores_file(scores[0]) if scores else None
    with _clear_errors(), _stage_bar("evaluation", stages=4) as progress:
        result, report = evaluate_store(
            Store.open(db),
            runs,
            year,
            term,
            scores=frame,
            outcome_definition=outcome,
            settings=audit,
            out_dir=out_dir,
            mlflow=mlflow,
            tracking_uri=tracking_uri,
            progress=progress,
            as_of=as_of,
        )
    for line in result.run_info.get("cohort_notices", []):
        typer.echo(line)
    headline = result.headline
    typer.echo(
        f"{format_count(headline['pupils_with_outcome'])} of {format_count(headline['pupils_scored'])} "
        "pupils have an outcome; "
        f"ROC AUC rules {headline['rules_roc_auc']:.3f}, combined {headline['combined_roc_auc']:.3f}"
        + (f", model {headline['model_roc_auc']:.3f}" if "model_roc_auc" in headline else "")
    )
    typer.echo(f"Disparities outside the band: {headline['disparities_outside_band']:.0f}")
    typer.echo(f"Report: {report}")
    if "mlflow_run_id" in result.run_info:
        typer.echo(f"MLflow run {result.run_info['mlflow_run_id']}")


def _engine_file(path: str) -> bool:
    """Whether a scores file is in this engine's own scores contract (read by its header only)."""
    import pandas as pd

    from riskengine.evaluation.workflow import is_engine_scores

    parquet = path.lower().endswith((".parquet", ".pq"))
    return is_engine_scores(pd.read_parquet(path).head(0) if parquet else pd.read_csv(path, nrows=0))


# --- interventions, assessments and impact (issue 13) ------------------------------------------------------

interventions_app = typer.Typer(help="A service's intervention records (interventions/types.yaml).")
app.add_typer(interventions_app, name="interventions")
assessments_app = typer.Typer(help="Pre/post assessments (instruments in interventions/instruments/).")
app.add_typer(assessments_app, name="assessments")


@interventions_app.command("import")
def interventions_import_command(
    file: str = typer.Argument(..., help="interventions.csv (CSV or XLSX; shared/spec/interventions.md)."),
    mapping: str | None = typer.Option(None, "--mapping", help=_MAPPING_HELP),
    errors_csv: str | None = typer.Option(None, "--errors-csv", help="Also write every problem to this CSV."),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
    by: str = typer.Option("cli", "--by", help="Who is importing (recorded with the import)."),
) -> None:
    """Validate a service's intervention records and append them as events; nothing is stored on error."""
    from riskengine.interventions import import_interventions
    from riskengine.store import Store

    _finish_upload(import_interventions(Store.open(db), file, mapping=mapping, uploaded_by=by), errors_csv)


@assessments_app.command("import")
def assessments_import_command(
    file: str = typer.Argument(..., help="assessments.csv (CSV or XLSX; shared/spec/interventions.md)."),
    mapping: str | None = typer.Option(None, "--mapping", help=_MAPPING_HELP),
    errors_csv: str | None = typer.Option(None, "--errors-csv", help="Also write every problem to this CSV."),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
    by: str = typer.Option("cli", "--by", help="Who is importing (recorded with the import)."),
) -> None:
    """Validate pre/post assessment scores and store them; nothing is stored on error."""
    from riskengine.interventions import import_assessments
    from riskengine.store import Store

    _finish_upload(import_assessments(Store.open(db), file, mapping=mapping, uploaded_by=by), errors_csv)


@app.command("impact")
def impact_command(
    scores: str | None = typer.Option(
        None,
        "--scores",
        help="A scores file (CSV or Parquet, with probability_cutoff) instead of stored runs.",
    ),
    ncyear: int = typer.Option(9, "--ncyear", help="Year group of the service's scoring point."),
    term: str = typer.Option("autumn", "--term", help="Term of the service's scoring point."),
    share: float = typer.Option(0.15, "--at-risk-share", help="Share of each cohort counted at risk."),
    boot: int = typer.Option(200, "--boot", help="Bootstrap replicates for the weighting intervals."),
    out_dir: str = typer.Option(
        "impact-report", "--out", help="Folder for impact.html, impact.json, tables/."
    ),
    mlflow: bool = typer.Option(True, "--mlflow/--no-mlflow", help="Log the report to MLflow."),
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help=_TRACKING_HELP),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Did the help work? Fair comparisons (weighting, discontinuity at the cut-off, before/after) beside
    the naive figures, and the outcome measures, as a self-contained HTML report plus JSON and CSV."""
    from riskengine.evaluation.workflow import read_scores_file
    from riskengine.impact.workflow import impact_store
    from riskengine.store import Store

    frame = read_scores_file(scores) if scores is not None else None
    with _clear_errors():
        result, report = impact_store(
            Store.open(db),
            scores=frame,
            ncyear=ncyear,
            term=term,
            out_dir=out_dir,
            n_boot=boot,
            at_risk_share=share,
            mlflow=mlflow,
            tracking_uri=tracking_uri,
        )
    for estimate in result.estimates:
        typer.echo(
            f"{estimate.method}, {estimate.outcome}: {estimate.estimate:+.3f} "
            f"({estimate.ci_low:+.3f} to {estimate.ci_high:+.3f}); naive {estimate.naive:+.3f}"
        )
    for name, reason in result.not_estimated.items():
        typer.echo(f"Not estimated ({name}): {reason}")
    typer.echo(f"Report: {report}")


# --- web service (issue 7) --------------------------------------------------------------------------------

users_app = typer.Typer(
    help="Web accounts: school data managers, advisers, evaluators and admins.", no_args_is_help=True
)
app.add_typer(users_app, name="users")


@users_app.command("add")
def users_add_command(
    email: str = typer.Argument(..., help="The user's email, used to sign in."),
    role: str = typer.Option(..., "--role", help="admin, school, adviser or evaluator."),
    school: list[str] = typer.Option(
        [], "--school", help="A school URN (one for school, repeat for adviser)."
    ),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Create a web user (the first admin, for example); the password is asked for twice unless piped."""
    import sys

    from riskengine.store import Store
    from riskengine.web.accounts import add_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password (12 characters or more)", hide_input=True, confirmation_prompt=True)
    try:
        user_id = add_user(Store.open(db), email, password, role, school)
    except ValueError as error:
        typer.echo(f"Not created: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Created {role} {email.strip().lower()} (user {user_id}).")


# --- access by enrolment and personal data (issue 12) ----------------------------------------------------

schools_app = typer.Typer(help="The schools list: names and types of schools by URN.", no_args_is_help=True)
app.add_typer(schools_app, name="schools")


@schools_app.command("load")
def schools_load_command(
    path: str = typer.Argument(..., help="CSV with columns urn, name and (optional) type."),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Load (replace) the schools list: pages show names instead of URNs, and a school's type (for
    example "pupil referral unit") decides whether a pupil on two rolls is a dual registration."""
    from riskengine.enrolment import load_school_list
    from riskengine.store import Store

    try:
        count = load_school_list(Store.open(db), path)
    except ValueError as error:
        typer.echo(f"Not loaded: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Loaded {count} school(s).")


@app.command("retention")
def retention_command(
    as_of: str | None = typer.Option(None, "--as-of", help="Purge as if today were YYYY-MM-DD."),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Purge names, dates of birth, tutor groups and adviser notes of pupils whose destination window
    ended more than the retention period ago (upload/access.yaml). Run it regularly (e.g. monthly)."""
    from datetime import date

    from riskengine.privacy import retention
    from riskengine.store import Store

    try:
        today = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise typer.BadParameter("--as-of should be a date like 2027-04-01") from None
    purged = retention(Store.open(db), today)
    typer.echo(
        f"{purged.pupils} pupil(s) past retention: {purged.identity_rows} identity row(s) removed, "
        f"{purged.notes} note(s) blanked."
    )


@app.command("forget")
def forget_command(
    upn: str = typer.Argument(..., help="The pupil's UPN."),
    by: str = typer.Option(..., "--by", help="Email of the admin making the erasure (for the audit log)."),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Erase one pupil on request (right to erasure): every stored row about them. The audit log records
    that a pupil was erased, by whom and when, but not who the pupil was."""
    from riskengine.privacy import forget
    from riskengine.store import Store

    try:
        rows = forget(Store.open(db), upn, by)
    except (LookupError, PermissionError) as error:
        typer.echo(f"Not erased: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Erased the pupil ({rows} row(s)).")


def _account_change(action, *args) -> None:
    """Run one accounts function, turning its ValueError into a plain message and exit code 1."""
    try:
        action(*args)
    except ValueError as error:
        typer.echo(f"Not changed: {error}", err=True)
        raise typer.Exit(1) from None


@users_app.command("list")
def users_list_command(db: str | None = typer.Option(None, "--db", help=_DB_HELP)) -> None:
    """Every account: email, role, schools, active or not, authentication app, live sessions."""
    from riskengine.store import Store
    from riskengine.web.accounts import list_users

    frame = list_users(Store.open(db))
    if frame.empty:
        typer.echo("No users yet (riskengine users add ...).")
        return
    for row in frame.itertuples():  # one line per account: a handful of rows, not pupil data
        status = "active" if row.active else "deactivated"
        app_ = "app" if row.totp else "no app"
        typer.echo(
            f"{row.email}\t{row.role}\t{row.schools or '-'}\t{status}\t{app_}\t{row.sessions} session(s)"
        )


@users_app.command("deactivate")
def users_deactivate_command(
    email: str = typer.Argument(..., help="The account to deactivate (a leaver)."),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Stop an account signing in and end all its sessions now (its history stays in the audit log)."""
    from riskengine.store import Store
    from riskengine.web.accounts import deactivate_user

    _account_change(deactivate_user, Store.open(db), email)
    typer.echo(f"Deactivated {email.strip().lower()}; all its sessions have ended.")


@users_app.command("reactivate")
def users_reactivate_command(
    email: str = typer.Argument(..., help="A deactivated account to let sign in again."),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Let a deactivated account sign in again."""
    from riskengine.store import Store
    from riskengine.web.accounts import reactivate_user

    _account_change(reactivate_user, Store.open(db), email)
    typer.echo(f"Reactivated {email.strip().lower()}.")


@users_app.command("reset-password")
def users_reset_password_command(
    email: str = typer.Argument(..., help="The account whose password to replace."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Set a new password (asked for twice unless piped); all the account's sessions end."""
    import sys

    from riskengine.store import Store
    from riskengine.web.accounts import reset_password

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt(
            "New password (12 characters or more)", hide_input=True, confirmation_prompt=True
        )
    _account_change(reset_password, Store.open(db), email, password)
    typer.echo(f"New password set for {email.strip().lower()}; all its sessions have ended.")


@users_app.command("set-schools")
def users_set_schools_command(
    email: str = typer.Argument(..., help="A school data manager or adviser."),
    school: list[str] = typer.Option(
        ..., "--school", help="A school URN (one for school, repeat for adviser)."
    ),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Replace the schools an account covers (takes effect on its next request)."""
    from riskengine.store import Store
    from riskengine.web.accounts import set_schools

    _account_change(set_schools, Store.open(db), email, school)
    typer.echo(f"{email.strip().lower()} now covers {', '.join(sorted(set(school)))}.")


@users_app.command("reset-totp")
def users_reset_totp_command(
    email: str = typer.Argument(..., help="The account whose authentication app is lost."),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Forget an account's authentication app (a lost phone); its sessions end, and an admin sets up a
    new app at the next sign-in."""
    from riskengine.store import Store
    from riskengine.web.accounts import reset_totp

    _account_change(reset_totp, Store.open(db), email)
    typer.echo(f"Forgot the authentication app of {email.strip().lower()}; all its sessions have ended.")


@app.command("serve")
def serve_command(
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on (keep loopback behind a proxy)."
    ),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
    reports_dir: str | None = typer.Option(
        None, "--reports-dir", help="Where evaluation reports are written."
    ),
    workers: int = typer.Option(1, "--workers", help="Worker processes (use PostgreSQL for more than one)."),
    proxy_headers: bool = typer.Option(False, "--proxy-headers", help="Trust X-Forwarded-* from 127.0.0.1."),
) -> None:
    """Run the web service with uvicorn (see docs/deploy.md for PostgreSQL behind a reverse proxy)."""
    import os

    import uvicorn

    from riskengine.store import Store, default_url

    url = db or default_url()
    Store.open(url).close()  # migrate once, before any worker starts
    os.environ["RISKENGINE_DB_URL"] = url
    if reports_dir:
        os.environ["RISKENGINE_REPORTS_DIR"] = reports_dir
    typer.echo(f"riskengine web service on http://{host}:{port} (database: {url.split('@')[-1]})")
    uvicorn.run(
        "riskengine.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=proxy_headers,
        forwarded_allow_ips="127.0.0.1",
        log_level="info",
    )


if __name__ == "__main__":
    app()
