"""Evaluation and audit settings, read from `evaluation/audit.yaml` so an analyst can change them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from riskengine.paths import content_version, data_path
from riskengine.spec.upload import TERMS

#: The audit attributes of the shipped settings (any other column may be declared as an attribute).
KNOWN_ATTRIBUTES = ("sex", "ethnicity_major_group", "sen_provision", "fsm_eligible", "looked_after", "eal")
DISPARITY_METRICS = (
    "selection_rate",
    "true_positive_rate",
    "false_positive_rate",
    "false_negative_rate",
    "precision",
)
#: Also allowed: the ratio of a group's observed-to-predicted rate to the reference group's.
ALLOWED_DISPARITY_METRICS = (*DISPARITY_METRICS, "observed_over_predicted")
SCORERS = ("rules", "model", "combined")


@dataclass(frozen=True)
class AuditSettings:
    """What `evaluate` measures and how; defaults equal the shipped `evaluation/audit.yaml`."""

    version: int = 1
    score_at: str | dict[str, Any] = "latest"
    capacities: tuple[float, ...] = (0.05, 0.10, 0.20)
    calibration_bins: int = 10
    bootstrap_reps: int = 200
    bootstrap_seed: int = 0
    confidence: float = 0.95
    min_group_size: int = 30
    min_events: int = 20
    band: tuple[float, float] = (0.8, 1.25)
    disparity_metrics: tuple[str, ...] = DISPARITY_METRICS
    audit_scorers: tuple[str, ...] = ("combined",)
    references: dict[str, str | None] = field(
        default_factory=lambda: {
            "sex": "M",
            "ethnicity_major_group": "White",
            "sen_provision": "N",
            "fsm_eligible": "False",
            "looked_after": "False",
            "eal": "False",
        }
    )
    intersections: tuple[tuple[str, ...], ...] = (
        ("sex", "ethnicity_major_group"),
        ("sex", "fsm_eligible"),
        ("fsm_eligible", "sen_provision"),
    )
    #: Attributes that are themselves rule or model inputs: a different flag rate is expected there.
    risk_factors: tuple[str, ...] = ("sen_provision", "fsm_eligible", "looked_after")
    #: What each attribute is called in words (the report's headings); the name itself when absent.
    titles: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = []
        if isinstance(self.score_at, str) and self.score_at not in ("latest", "earliest"):
            problems.append("score_at must be 'latest', 'earliest' or {ncyear, term}")
        if isinstance(self.score_at, dict) and (
            set(self.score_at) != {"ncyear", "term"} or self.score_at["term"] not in TERMS
        ):
            problems.append("score_at as a mapping needs exactly ncyear and term (autumn, spring, summer)")
        if not all(0 < k < 1 for k in self.capacities):
            problems.append("capacities must be shares between 0 and 1")
        if not 0 < self.confidence < 1:
            problems.append("bootstrap confidence must be between 0 and 1")
        if self.bootstrap_reps < 20:
            problems.append("bootstrap reps must be at least 20")
        if not (0 < self.band[0] < 1 < self.band[1]):
            problems.append("band must be [low < 1, high > 1]")
        if unknown := set(self.disparity_metrics) - set(ALLOWED_DISPARITY_METRICS):
            problems.append(f"unknown disparity metrics {sorted(unknown)}")
        if unknown := set(self.audit_scorers) - set(SCORERS):
            problems.append(f"unknown audit scorers {sorted(unknown)}")
        if unknown := set(self.risk_factors) - set(self.references):
            problems.append(f"risk_factor set on attributes not audited: {sorted(unknown)}")
        if unknown := {a for combo in self.intersections for a in combo} - set(self.references):
            problems.append(f"intersections name attributes not audited: {sorted(unknown)}")
        if problems:
            raise ValueError("audit settings: " + "; ".join(problems))

    @property
    def fingerprint(self) -> str:
        """A short hash recorded in every report, so two reports can be told apart by their settings."""
        return content_version(repr(sorted(asdict(self).items())).encode())

    def run_info(self) -> dict[str, Any]:
        """The settings every report's run information records, whichever scorer it audits."""
        return {
            "risk_factors": list(self.risk_factors),
            "attribute_titles": dict(self.titles),
            "audit_settings_version": self.version,
            "audit_settings_fingerprint": self.fingerprint,
            "band": list(self.band),
            "min_group_size": self.min_group_size,
            "min_events": self.min_events,
            "bootstrap_reps": self.bootstrap_reps,
            "confidence": self.confidence,
            "capacities": list(self.capacities),
        }


def load_audit_settings(path: str | Path | None = None) -> AuditSettings:
    """Read an audit settings file; the shipped `evaluation/audit.yaml` when `path` is None."""
    raw = yaml.safe_load(Path(path or data_path("evaluation", "audit.yaml")).read_text()) or {}
    boot = raw.pop("bootstrap", {}) or {}
    attributes = raw.pop("attributes", None)
    raw.pop("disclosure", None)  # read by riskengine.evaluation.disclosure.DisclosureSettings
    kwargs: dict[str, Any] = dict(raw)
    kwargs.update(
        {f"bootstrap_{k}" if k in ("reps", "seed") else k: v for k, v in boot.items()},
    )
    if attributes is not None:
        specs = {name: spec or {} for name, spec in attributes.items()}
        kwargs["references"] = {
            name: None if spec.get("reference") is None else str(spec["reference"])
            for name, spec in specs.items()
        }
        kwargs["risk_factors"] = tuple(name for name, spec in specs.items() if spec.get("risk_factor"))
        kwargs["titles"] = {name: str(spec["title"]) for name, spec in specs.items() if spec.get("title")}
    for key in ("capacities", "band", "disparity_metrics", "audit_scorers"):
        if key in kwargs:
            kwargs[key] = tuple(kwargs[key])
    if "intersections" in kwargs:
        kwargs["intersections"] = tuple(tuple(combo) for combo in kwargs["intersections"] or ())
    try:
        return AuditSettings(**kwargs)
    except TypeError as exc:
        raise ValueError(f"audit settings: {exc}") from exc
