"""Evaluating other tools' flags: a RONI spreadsheet, another vendor's list, a notebook's model.

A file needs only `upn` and a score and/or a flag column (named by options or a small YAML), and
optionally an outcome column for destinations not in the store. Everything pupil-term specific (school,
term, year group, rule points) is optional and shown only when present. Several scorers are compared on
the same pupils, with a paired-bootstrap interval on each difference in ROC AUC.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn.metrics import roc_auc_score

import riskengine
from riskengine.evaluation.accuracy import accuracy_table, calibration_summary, capacity_table, roc_points
from riskengine.evaluation.audit_frame import as_boolean, build_groupings, group_labels
from riskengine.evaluation.bootstrap import bootstrap, interval, weighted_ranking
from riskengine.evaluation.evaluate import PRECISION_CURVE_SHARES, EvaluationResult
from riskengine.evaluation.fairness import OUTSIDE, audit_groups
from riskengine.evaluation.inputs import Scorer
from riskengine.evaluation.settings import AuditSettings, load_audit_settings

SCORE_NAMES = ("score", "probability", "risk_score", "points")
FLAG_NAMES = ("flag", "flagged", "at_risk")


@dataclass(frozen=True)
class ScoreColumns:
    """Which columns of a file hold the pupil's UPN, a score, a flag and (optionally) an outcome."""

    name: str
    upn: str = "upn"
    score: str | None = None
    flag: str | None = None
    outcome: str | None = None
    attributes: tuple[str, ...] = field(default_factory=tuple)


def load_mapping(path: str | Path | None, file: Path, **options: str | None) -> ScoreColumns:
    """Column names for one scores file: options win, then the YAML (top level, or under `files:` by file
    name), then the usual names (score/probability, flag/flagged)."""
    spec: dict[str, Any] = {}
    if path is not None:
        raw = yaml.safe_load(Path(path).read_text()) or {}
        spec = {k: v for k, v in raw.items() if k != "files"}
        spec.update((raw.get("files") or {}).get(file.name) or {})
        if unknown := set(spec) - {"name", "upn", "score", "flag", "outcome"}:
            raise ValueError(
                f"{Path(path).name}: unknown keys {sorted(unknown)} (name, upn, score, flag, outcome)"
            )
    spec.update({k: v for k, v in options.items() if v})
    spec.setdefault("name", file.stem)
    return ScoreColumns(**{k: str(v) for k, v in spec.items()})


def read_external(path: str | Path, columns: ScoreColumns) -> pd.DataFrame:
    """One scorer's file as upn, score, flag (and outcome): only the columns named, checked row by row."""
    path = Path(path)
    frame = (
        pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else pd.read_csv(path, dtype=str)
    )
    score = columns.score or next((c for c in SCORE_NAMES if c in frame.columns), None)
    flag = columns.flag or next((c for c in FLAG_NAMES if c in frame.columns), None)
    wanted = {"upn": columns.upn, "score": score, "flag": flag, "outcome": columns.outcome}
    if missing := [f"{role} ({name})" for role, name in wanted.items() if name and name not in frame.columns]:
        raise ValueError(f"{path.name}: no column {', '.join(missing)}")
    if score is None and flag is None:
        raise ValueError(
            f"{path.name}: needs a score and/or a flag column (name them with --score-column/--flag-column)"
        )
    out = pd.DataFrame({"upn": frame[columns.upn].astype("string").str.strip().str.upper()})
    if out["upn"].isna().any():
        raise ValueError(f"{path.name}: rows {_rows(out['upn'].isna())} have no UPN")
    if out["upn"].duplicated().any():
        raise ValueError(
            f"{path.name}: rows {_rows(out['upn'].duplicated())} repeat a UPN (one row per pupil)"
        )
    if score is not None:
        values = pd.to_numeric(frame[score], errors="coerce")
        if bad := _rows(values.isna()):
            raise ValueError(f"{path.name}: score column {score!r} is missing or not a number in rows {bad}")
        out["score"] = values.to_numpy(np.float64)
    if flag is not None:
        out["flag"] = (
            as_boolean(frame[flag], f"{path.name}: flag column {flag!r}").fillna(False).to_numpy(bool)
        )
    if columns.outcome:
        out["outcome"] = as_boolean(
            frame[columns.outcome], f"{path.name}: outcome column {columns.outcome!r}"
        )
    return out


def _rows(mask: pd.Series) -> str:
    rows = (np.flatnonzero(mask.to_numpy()) + 2).tolist()  # 1-based, after the header row
    return ", ".join(map(str, rows[:10])) + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")


def auc_differences(y: np.ndarray, found: dict[str, Scorer], settings: AuditSettings) -> pd.DataFrame:
    """Every pair of scorers: ROC AUC of each, the difference, and a paired-bootstrap interval (the same
    resampled pupils for both, so the interval reflects the pairing)."""
    names = list(found)
    samples = bootstrap(
        len(y),
        {name: weighted_ranking(y, found[name].score) for name in names},
        settings.bootstrap_reps,
        settings.bootstrap_seed,
    )
    rows = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            auc_a, auc_b = roc_auc_score(y, found[a].score), roc_auc_score(y, found[b].score)
            low, high = interval(samples[a][:, 0] - samples[b][:, 0], settings.confidence)
            rows.append(
                {
                    "scorer": a,
                    "compared_with": b,
                    "roc_auc": auc_a,
                    "roc_auc_compared": auc_b,
                    "difference": auc_a - auc_b,
                    "difference_low": float(low),
                    "difference_high": float(high),
                }
            )
    columns = ["scorer", "compared_with", "roc_auc", "roc_auc_compared", "difference"]
    return pd.DataFrame(rows, columns=[*columns, "difference_low", "difference_high"])


def evaluate_external(
    scorers: dict[str, pd.DataFrame],
    outcomes: pd.Series | None = None,
    attributes: pd.DataFrame | None = None,
    settings: AuditSettings | None = None,
    run_info: dict[str, Any] | None = None,
) -> EvaluationResult:
    """Accuracy, comparison and fairness audit of other tools' flags on the pupils every file scored.

    `scorers`: name -> frame of upn, score and/or flag (and perhaps outcome), as `read_external` gives.
    `outcomes`: boolean per upn (NA = none); an outcome column in a file is used where this has none.
    `attributes`: audit attributes per upn (e.g. from the store at each pupil's latest term).
    """
    settings = settings or load_audit_settings()
    upns = None
    file_sizes = {}
    for name, frame in scorers.items():
        file_sizes[name] = len(frame)
        upns = frame["upn"] if upns is None else upns[upns.isin(frame["upn"])]
    if upns is None or not len(upns):
        raise ValueError("no pupil is in every scores file given")
    pupils = pd.DataFrame({"upn": pd.Index(upns).unique()})
    outcome = pd.Series(pd.NA, index=pupils["upn"], dtype="boolean")
    if outcomes is not None:
        outcome = outcomes.astype("boolean").reindex(pupils["upn"])
    for frame in scorers.values():
        if "outcome" in frame:
            outcome = outcome.fillna(frame.set_index("upn")["outcome"].reindex(pupils["upn"]))
    pupils["outcome"] = outcome.to_numpy()
    labelled = pupils["outcome"].notna().to_numpy()
    y_all = pupils["outcome"]
    if labelled.sum() == 0 or y_all[labelled].nunique() < 2:
        raise ValueError(
            "the pupils scored need outcomes, both positive and negative "
            "(an outcome column, or destinations in the store)"
        )

    found_all: dict[str, Scorer] = {}
    has_score, has_flag = {}, {}
    for name, frame in scorers.items():
        aligned = frame.set_index("upn").reindex(pupils["upn"])
        has_score[name], has_flag[name] = "score" in aligned, "flag" in aligned
        flag = aligned["flag"].to_numpy(bool) if "flag" in aligned else np.zeros(len(aligned), bool)
        score = aligned["score"].to_numpy(np.float64) if "score" in aligned else flag.astype(np.float64)
        found_all[name] = Scorer(name, score, flag)
    y = y_all[labelled].astype(bool).to_numpy()
    found = {n: Scorer(n, s.score[labelled], s.flag[labelled]) for n, s in found_all.items()}

    counts = pd.DataFrame(
        {
            "measure": [
                "pupils scored",
                "with an outcome",
                "positive outcome",
                "negative outcome",
                "no outcome (excluded from accuracy and audit)",
            ],
            "pupils": [
                len(pupils),
                int(labelled.sum()),
                int(y.sum()),
                int((~y).sum()),
                int((~labelled).sum()),
            ],
        }
    )
    accuracy = accuracy_table(y, found, settings)
    flag_columns = ["flagged", "true_positives", "precision", "precision_low", "precision_high"]
    flag_columns += ["recall", "recall_low", "recall_high", "f1"]
    for name in found:
        if not has_flag[name]:
            accuracy.loc[accuracy["scorer"] == name, flag_columns] = np.nan
    accuracy.insert(1, "ranked_by", [("score" if has_score[n] else "flag only") for n in accuracy["scorer"]])
    tables: dict[str, pd.DataFrame] = {"counts": counts, "accuracy": accuracy}
    if len(found) > 1:
        tables["comparison"] = auc_differences(y, found, settings)
    scored = {n: s for n, s in found.items() if has_score[n]}
    if scored:
        tables["capacity"] = capacity_table(y, scored, settings.capacities)
        tables["precision_curve"] = capacity_table(y, scored, PRECISION_CURVE_SHARES)
    tables["roc_curve"] = roc_points(y, found)
    headline: dict[str, float] = {
        "pupils_scored": float(len(pupils)),
        "pupils_with_outcome": float(labelled.sum()),
        "positive_rate": float(y.mean()),
    }
    for row in accuracy.itertuples():
        headline[f"{row.scorer}_roc_auc"] = float(row.roc_auc)
    probabilities = [n for n, s in scored.items() if s.score.min() >= 0 and s.score.max() <= 1]
    if probabilities:
        tables["calibration"], calibration = calibration_summary(
            y, scored[probabilities[0]].score, settings.calibration_bins
        )
        headline.update({k: calibration[k] for k in ("brier_score", "ece")})

    flagged = {n: s.flag for n, s in found_all.items() if has_flag[n]}
    not_audited: dict[str, str] = {}
    if attributes is not None and flagged:
        attrs = attributes.drop_duplicates("upn", keep="last").set_index("upn").reindex(pupils["upn"])
        present = [a for a in settings.references if a in attrs.columns]
        not_audited = {a: "no such column in the data" for a in settings.references if a not in attrs.columns}
        labels = pd.DataFrame({a: group_labels(attrs[a]).to_numpy() for a in present})
        combos = [c for c in settings.intersections if all(a in present for a in c)]
        groupings = build_groupings(
            labels, labelled, {a: settings.references[a] for a in present}, combos, strict=False
        )
        probability = found_all[probabilities[0]].score if probabilities else None
        groups, disparities = audit_groups(labels, groupings, y_all, flagged, probability, settings)
        tables["audit_groups"], tables["disparities"] = groups, disparities
        headline["disparities_outside_band"] = float((disparities["status"] == OUTSIDE).sum())
    elif not flagged:
        not_audited["all attributes"] = "no scorer has a flag column"
    else:
        not_audited["all attributes"] = "no audit attributes for these pupils (none in the store)"

    info: dict[str, Any] = {
        "scorers": {
            n: ("score and flag" if has_score[n] and has_flag[n] else "score" if has_score[n] else "flag")
            for n in found
        },
        "pupils_per_file": file_sizes,
        "pupils_in_every_file": len(pupils),
        "scoring_terms": [],
        "cohorts_year11": [],
        "cohorts_with_outcomes": [],
        "cohorts_without_outcomes": [],
        "evaluation_point": "as given in the files",
        "destinations_window": (run_info or {}).get("destinations_window", "not stated"),
        "outcome_definition": (run_info or {}).get("outcome_definition", "the outcome column given"),
        "outcome_definition_fingerprint": (run_info or {}).get("outcome_definition_fingerprint", "-"),
        "outcome_definition_version": (run_info or {}).get("outcome_definition_version", "-"),
        "rule_set_version": "not applicable",
        "feature_version": "not applicable",
        "model_version": "not applicable",
        "model_used": bool(probabilities),
        **settings.run_info(),
        "attributes_not_audited": not_audited,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "riskengine_version": riskengine.__version__,
    }
    info.update({k: v for k, v in (run_info or {}).items() if k not in info})
    return EvaluationResult(run_info=info, headline=headline, tables=tables)
