"""What an evaluation may publish: every table and headline passed through `disclosure.protect`.

Each table declares here its count columns, the counts each rate rests on, and its named sums (group
counts against their total, flagged against not flagged), so no count of 1-9 pupils is shown and none can
be worked out by subtraction. HTML, JSON, CSV, MLflow artifacts and the evaluator pages all read these.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from riskengine.evaluation.disclosure import DisclosureSettings, format_count, protect

COUNT_NAMES = ("pupils", "positives", "flagged", "true_positives", "false_positives")
COUNT_PREFIXES = ("n_", "pupils_", "positives_")
NOT_PUBLISHED = "not published"
NOT_SHOWN = "not shown"
HEADLINE_COUNTS = ("pupils_scored", "pupils_with_outcome")


def is_count(name: str) -> bool:
    """Count fields are named as counts: `pupils`, `positives`, `flagged`, `n_...`, `..._count` and so on."""
    return name in COUNT_NAMES or name.startswith(COUNT_PREFIXES) or name.endswith("_count")


def _by(columns: list[str], by: list[str]) -> list[dict[str, Any]]:
    return [{"column": c, "by": by} for c in columns]


_AUDIT_COUNTS = [
    "pupils_scored",
    "no_outcome_count",
    "pupils",
    "positives",
    "flagged",
    "true_positives",
    "false_positives",
]
_AUDIT_RATES = {
    "base_rate": ["pupils", "positives"],
    "selection_rate": ["pupils", "flagged"],
    "true_positive_rate": ["positives", "true_positives"],
    "false_negative_rate": ["positives", "true_positives"],
    "false_positive_rate": ["pupils", "positives", "false_positives"],
    "precision": ["flagged", "true_positives"],
    "mean_predicted": ["pupils"],
    "observed_over_predicted": ["pupils", "positives"],
    "observed_over_predicted_low": ["pupils", "positives"],
    "observed_over_predicted_high": ["pupils", "positives"],
}
_OUTCOME_SPLITS = [
    {"total": "pupils", "parts": ["positives"]},
    {"total": "pupils", "parts": ["flagged"]},
    {"total": "positives", "parts": ["true_positives"]},
    {"total": "flagged", "parts": ["true_positives"]},
]

#: Per table: its counts, the counts each rate rests on, and its named sums.
SPECS: dict[str, dict[str, Any]] = {
    "audit_groups": {
        "counts": _AUDIT_COUNTS,
        "rates": _AUDIT_RATES,
        "margins": [
            *_by(_AUDIT_COUNTS, ["scorer", "attribute"]),
            {"total": "pupils_scored", "parts": ["pupils", "no_outcome_count"]},
            *_OUTCOME_SPLITS,
            {"total": "flagged", "parts": ["true_positives", "false_positives"]},
            {"total": "pupils", "parts": ["positives", "false_positives"]},
        ],
    },
    "accuracy": {
        "counts": ["pupils", "positives", "flagged", "true_positives"],
        "rates": {
            **{
                f"{m}{s}": ["pupils", "positives"]
                for m in ("roc_auc", "pr_auc")
                for s in ("", "_low", "_high")
            },
            **{f"precision{s}": ["flagged", "true_positives"] for s in ("", "_low", "_high")},
            **{f"recall{s}": ["positives", "true_positives"] for s in ("", "_low", "_high")},
            "f1": ["positives", "flagged", "true_positives"],
        },
        "margins": _OUTCOME_SPLITS,
    },
    "capacity": {
        "counts": ["pupils_seen", "positives_found"],
        "rates": ["precision", "recall"],
        "margins": [{"total": "pupils_seen", "parts": ["positives_found"]}],
    },
    "calibration": {
        "counts": ["pupils", "positives"],
        "rates": {"mean_predicted": ["pupils"], "observed_rate": ["pupils", "positives"]},
        "margins": [*_by(["pupils", "positives"], []), {"total": "pupils", "parts": ["positives"]}],
    },
    "accuracy_by_term": {
        "counts": ["pupils", "positives"],
        "rates": ["rules_roc_auc", "model_roc_auc"],
        "margins": [{"total": "pupils", "parts": ["positives"]}],
    },
    "lead_time": {
        "counts": ["pupils"],
        "rates": ["median_terms_left", "share_of_positives", "cumulative_share"],
        "margins": _by(["pupils"], ["scorer"]),
    },
    "lead_time_by_term": {
        "counts": ["pupils"],
        "rates": ["median_terms_left", "share_of_positives"],
        "margins": _by(["pupils"], ["scorer"]),
    },
    "impact": {
        "counts": [
            "pupils",
            "neet_count",
            "not_known_count",
            "no_outcome_count",
            "pupils_with_activity_dates",
        ],
        "rates": {
            "neet_rate": ["pupils", "neet_count"],
            "not_known_rate": ["pupils", "not_known_count"],
            "no_outcome_rate": ["pupils", "no_outcome_count"],
            "mean_days_neet": ["pupils_with_activity_dates"],
        },
        # Flagged + not flagged = all (one row each); schools add up to "all schools".
        "margins": [
            *_by(["pupils", "neet_count", "not_known_count", "no_outcome_count"], ["school_urn", "cohort"]),
            *_by(["pupils", "neet_count", "not_known_count", "no_outcome_count"], ["cohort", "flag_group"]),
            *(
                {"total": "pupils", "parts": [c]}
                for c in ("neet_count", "not_known_count", "no_outcome_count", "pupils_with_activity_dates")
            ),
        ],
    },
}
SPECS["precision_curve"] = SPECS["capacity"]


def _generic(table: pd.DataFrame) -> dict[str, Any]:
    """A table nobody declared: its count-named columns protected, every other number blanked with them."""
    counts = [c for c in table.columns if is_count(str(c))]
    numeric = [c for c in table.columns if c not in counts and pd.api.types.is_float_dtype(table[c])]
    return {"counts": counts, "rates": numeric, "margins": []}


def _intersections_only_where_every_cell_passes(groups: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """An intersection is published only when every one of its combinations has no count of 1-9 pupils;
    otherwise it becomes a single row saying it is not published, and why."""
    if groups.empty:
        return groups
    combined = groups["attribute"].astype(str).str.contains(" & ", regex=False)
    values = groups["pupils_scored"].astype(float)
    small = combined & (values > 0) & (values < threshold)
    blocked = groups.loc[small, ["scorer", "attribute"]].drop_duplicates()
    if blocked.empty:
        return groups
    key = groups["scorer"].astype(str) + "\x1f" + groups["attribute"].astype(str)
    hit = key.isin(blocked["scorer"].astype(str) + "\x1f" + blocked["attribute"].astype(str))
    notes = blocked.assign(
        group="(all combinations)",
        status=NOT_PUBLISHED,
        reason=f"a combination has fewer than {threshold} pupils: intersections are published only "
        "when every combination passes",
    )
    return pd.concat([groups[~hit], notes], ignore_index=True).reindex(columns=groups.columns)


def _disparities(
    raw: pd.DataFrame, groups_raw: pd.DataFrame, groups: pd.DataFrame, threshold: int
) -> pd.DataFrame:
    """Ratios whose group or reference rate was hidden (or whose intersection is not published) lose
    their figures and say why."""
    if raw.empty:
        return raw
    metrics = [m for m in raw["metric"].unique() if m in groups.columns]
    keys = ["scorer", "attribute", "group"]
    published = groups.set_index(keys)
    original = groups_raw.set_index(keys)
    hidden = []
    for metric in metrics:
        shown = published[metric].reindex(original.index)
        gone = shown.isna() & original[metric].notna()
        hidden.append(gone[gone].reset_index()[keys].assign(metric=metric))
    gone = pd.concat(hidden, ignore_index=True) if hidden else pd.DataFrame(columns=[*keys, "metric"])
    gone_key = set(map(tuple, gone[[*keys, "metric"]].astype(str).to_numpy()))
    row_key = raw[[*keys, "metric"]].astype(str).apply(tuple, axis=1)
    ref_key = raw[["scorer", "attribute", "reference", "metric"]].astype(str).apply(tuple, axis=1)
    hide = row_key.isin(gone_key) | ref_key.isin(gone_key)
    blocked = set(
        map(
            tuple,
            groups.loc[groups["status"] == NOT_PUBLISHED, ["scorer", "attribute"]].astype(str).to_numpy(),
        )
    )
    unpublished = raw[["scorer", "attribute"]].astype(str).apply(tuple, axis=1).isin(blocked)
    out = raw.copy()
    figures = ["value", "reference_value", "ratio", "ratio_low", "ratio_high"]
    out.loc[hide, figures] = np.nan
    out.loc[hide, "status"] = NOT_SHOWN
    out.loc[hide, "reason"] = f"rests on a count of fewer than {threshold} pupils"
    out = out[~unpublished]
    return out.reset_index(drop=True)


def protect_table(name: str, table: pd.DataFrame, settings: DisclosureSettings) -> pd.DataFrame:
    """One evaluation table made safe to publish, by its declared spec (or the generic one)."""
    spec = SPECS.get(name) or _generic(table)
    counts = [c for c in spec["counts"] if c in table.columns]
    rates = spec["rates"]
    if isinstance(rates, dict):
        rates = {r: [s for s in src if s in counts] for r, src in rates.items() if r in table.columns}
    else:
        rates = [r for r in rates if r in table.columns]
    margins = [
        m
        for m in spec["margins"]
        if all(c in table.columns for c in [m.get("total"), *(m.get("parts") or []), m.get("column")] if c)
        and all(b in table.columns for b in m.get("by") or [])
    ]
    out = protect(table, counts=counts, rates=rates, margins=margins, settings=settings)
    if name == "lead_time" and "cumulative_share" in out and len(out):
        # a difference of two cumulative shares is one row's share: none where anything is hidden
        hidden = out[counts].map(lambda c: isinstance(c, str)).any(axis=1)
        out.loc[hidden.groupby(out["scorer"]).transform("any"), "cumulative_share"] = np.nan
    return out


def protect_tables(tables: dict[str, pd.DataFrame], settings: DisclosureSettings) -> dict[str, pd.DataFrame]:
    """Every table of an evaluation as it may be published."""
    out: dict[str, pd.DataFrame] = {}
    groups_raw = tables.get("audit_groups")
    for name, table in tables.items():
        if name == "disparities":
            continue
        if name == "counts":
            out[name] = _protect_counts(table, settings)
        elif name == "audit_groups":
            limited = _intersections_only_where_every_cell_passes(table, settings.threshold)
            out[name] = protect_table(name, limited, settings)
        else:
            out[name] = protect_table(name, table, settings)
    if "disparities" in tables:
        out["disparities"] = (
            _disparities(tables["disparities"], groups_raw, out["audit_groups"], settings.threshold)
            if groups_raw is not None and len(groups_raw)
            else tables["disparities"]
        )
    return {name: out[name] for name in tables}


def _protect_counts(table: pd.DataFrame, settings: DisclosureSettings) -> pd.DataFrame:
    """The pupils table (one measure a row): scored = with + without outcome, with = positive + negative."""
    wide = pd.DataFrame([table.set_index("measure")["pupils"].to_dict()])
    labels = list(wide.columns)

    def find(prefix: str) -> str | None:
        return next((c for c in labels if str(c).startswith(prefix)), None)

    scored, with_outcome, no_outcome = find("pupils scored"), find("with an outcome"), find("no outcome")
    positive, negative = find("positive outcome"), find("negative outcome")
    margins = []
    if scored and with_outcome and no_outcome:
        margins.append({"total": scored, "parts": [with_outcome, no_outcome]})
    if with_outcome and positive and negative:
        margins.append({"total": with_outcome, "parts": [positive, negative]})
    for label in labels:
        if str(label).startswith("any ") and scored:
            margins.append({"total": scored, "parts": [label]})
    shown = protect(wide, counts=labels, margins=margins, settings=settings).iloc[0]
    return pd.DataFrame({"measure": labels, "pupils": [shown[label] for label in labels]})


def protect_headline(headline: dict[str, float], settings: DisclosureSettings) -> dict[str, Any]:
    """Headline figures as published: counts as whole numbers, or "fewer than 10"."""
    out: dict[str, Any] = dict(headline)
    for key in HEADLINE_COUNTS:
        if key in out and out[key] == out[key]:
            value = int(out[key])
            text = format_count(value, settings)
            out[key] = int(text.replace(",", "")) if text.replace(",", "").isdigit() else text
    positives = headline.get("positive_rate", np.nan) * headline.get("pupils_with_outcome", np.nan)
    if 0 < round(positives) < settings.threshold:
        out["positive_rate"] = None
    if isinstance(out.get("disparities_outside_band"), float):
        out["disparities_outside_band"] = int(out["disparities_outside_band"])
    return out


def as_numbers(table: pd.DataFrame) -> pd.DataFrame:
    """A published table with its count columns as numbers again, hidden counts as NaN (for plotting)."""
    counts = [c for c in table.columns if is_count(str(c))]
    return table.assign(**{c: pd.to_numeric(table[c], errors="coerce") for c in counts})


def protect_training_outputs(
    coefficients: pd.DataFrame,
    fairness: pd.DataFrame,
    fingerprint: dict[str, Any],
    train_cohorts: list[str],
    settings: DisclosureSettings | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """A training run's MLflow tables made safe: no training mean that implies 1-9 pupils with (or
    without) a trait, the validation fairness table's group counts protected, small counts in the
    fingerprint shown as "fewer than 10"."""
    settings = settings or DisclosureSettings.load()
    per_cohort = fingerprint.get("pupils_per_cohort") or {}
    n_train = sum(int(per_cohort[c]) for c in train_cohorts if c in per_cohort) or int(
        fingerprint.get("n_pupils", 0)
    )
    coefficients = coefficients.copy()
    if "training_mean" in coefficients and n_train:
        with_trait = coefficients["training_mean"].astype(float) * n_train
        implied = np.minimum(with_trait, n_train - with_trait).round()
        coefficients["training_mean"] = coefficients["training_mean"].where(
            ~((implied > 0) & (implied < settings.threshold))
        )
    if len(fairness) and "n" in fairness:
        fairness = protect(
            fairness.rename(columns={"n": "pupils"}),
            counts=["pupils"],
            rates=[
                c for c in ("outcome_rate", "mean_probability", "auc", "flag_rate", "recall") if c in fairness
            ],
            margins=[{"column": "pupils", "by": ["attribute"]}],
            settings=settings,
        )
    shown = dict(fingerprint)
    for key, value in fingerprint.items():
        if isinstance(value, int) and key.startswith("n_"):
            shown[key] = value if not 0 < value < settings.threshold else settings.fewer_than
    if per_cohort:
        shown["pupils_per_cohort"] = {k: format_count(v, settings) for k, v in per_cohort.items()}
    return coefficients, fairness, shown
