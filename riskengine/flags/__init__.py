"""Flags: rules and model combined into one flag with its reason, thresholds from adviser capacity, and the
scoring run that computes features -> rules -> model -> explanations -> flags and saves them.
"""

from riskengine.flags.combine import FLAGGING_BANDS, combine_flags, rule_flags
from riskengine.flags.export import Export, export_run, export_scores, export_table
from riskengine.flags.scoring import (
    explain_pupil,
    format_explanation,
    pupils_in_scope,
    score_frame,
    score_term,
    scored_pupil,
)
from riskengine.flags.thresholds import as_threshold, model_flags

__all__ = [
    "FLAGGING_BANDS",
    "Export",
    "as_threshold",
    "combine_flags",
    "explain_pupil",
    "export_run",
    "export_scores",
    "export_table",
    "format_explanation",
    "model_flags",
    "pupils_in_scope",
    "rule_flags",
    "score_frame",
    "score_term",
    "scored_pupil",
]
