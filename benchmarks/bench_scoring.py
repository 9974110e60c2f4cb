"""Benchmark: scoring plus explanations (features, rules, model, SHAP, flags; no database) for about one
million pupil-terms.

A generated local authority large enough that its Year 9+ pupil-terms total about a million is scored term
by term with `score_frame`, as termly runs would be, timing each stage; then the model side alone (model,
SHAP, reasons, flags, contribution dicts) is timed on one million stacked pupils. Generation and training
are not timed.

    python benchmarks/bench_scoring.py                       # ~1M pupil-terms, durable-rules
    python benchmarks/bench_scoring.py --rules vectorised    # the same with the vectorised rule evaluator
    python benchmarks/bench_scoring.py --pupils 2000         # quick check
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

from riskengine.features import compute_features, load_catalogue
from riskengine.flags import combine_flags, model_flags, score_frame
from riskengine.model import contribution_records, load_model_spec, top_reasons, train_model
from riskengine.model.tracking import LoadedModel
from riskengine.rules import evaluate_rules, evaluate_rules_vectorised, load_rule_set
from riskengine.spec import upload as spec
from riskengine.synth import generate


def scored_terms(pupil_terms: pd.DataFrame) -> list[tuple[str, str]]:
    """Every (academic year, term) with a Year 9+ pupil on roll, oldest first."""
    rows = pupil_terms[(pupil_terms["ncyear"] >= spec.SCORED_FROM_NCYEAR).fillna(False)]
    terms = rows[["academic_year", "term"]].drop_duplicates()
    order = [spec.term_index(y, t) for y, t in terms.itertuples(index=False)]
    return [tuple(x) for x in terms.iloc[np.argsort(order)].itertuples(index=False)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pupils", type=int, default=19_000, help="pupils per intake (10 intakes)")
    parser.add_argument("--stacked", type=int, default=1_000_000, help="pupils for the model-side timing")
    parser.add_argument(
        "--rules",
        choices=["durable", "vectorised"],
        default="durable",
        help="rule evaluator: durable-rules (the engine of record) or the vectorised cross-check",
    )
    args = parser.parse_args()
    print(f"cores available: {len(os.sched_getaffinity(0))}")

    started = time.perf_counter()
    la = generate(pupils=args.pupils, cohorts=10, schools=8, seed=7)
    catalogue, rule_set = load_catalogue(), load_rule_set()
    model = LoadedModel(train_model(la.pupil_terms, la.destinations, catalogue=catalogue).model, "benchmark")
    print(
        f"set-up (generate {len(la.pupil_terms):,} pupil-term rows, train): "
        f"{time.perf_counter() - started:.1f} s"
    )

    # 1. End to end, term by term, timing each stage through the progress callback.
    evaluator = evaluate_rules_vectorised if args.rules == "vectorised" else evaluate_rules
    stages: dict[str, float] = {}
    clock = [0.0]

    def progress(stage: str) -> None:
        now = time.perf_counter()
        stages[stage] = stages.get(stage, 0.0) + now - clock[0]
        clock[0] = now

    started, total = time.perf_counter(), 0
    for academic_year, term in scored_terms(la.pupil_terms):
        clock[0] = time.perf_counter()
        scores = score_frame(
            la.pupil_terms,
            academic_year,
            term,
            model=model,
            rule_set=rule_set,
            catalogue=catalogue,
            progress=progress,
            rule_evaluator=evaluator,
        )
        total += len(scores)
    seconds = time.perf_counter() - started
    print(
        f"end to end ({args.rules} rules): {total:,} pupil-terms scored (features, rules, model, SHAP, "
        f"reasons, flags) in {seconds:.1f} s ({total / seconds:,.0f} per second)"
    )
    print("  by stage: " + ", ".join(f"{stage} {s:.1f} s" for stage, s in stages.items()))

    # 2. The model side on one million pupils (features and rules computed once, stacked).
    year, term = scored_terms(la.pupil_terms)[-1]
    features = compute_features(la.pupil_terms, year, term, catalogue)
    features = features[(features["ncyear"] >= spec.SCORED_FROM_NCYEAR).fillna(False).to_numpy(bool)]
    rules = evaluator(rule_set, features)
    rows = np.resize(np.arange(len(features)), args.stacked)
    stacked, rules = features.iloc[rows], rules.iloc[rows]
    threshold = load_model_spec().flag_threshold
    started = time.perf_counter()
    explanation = model.model.explain(stacked)
    t_shap = time.perf_counter() - started
    up, _ = top_reasons(explanation.contributions, stacked, catalogue, 3, explanation.groups)
    t_reasons = time.perf_counter() - started - t_shap
    flags, _ = model_flags(explanation.probability, threshold)
    combine_flags(rules, explanation.probability, flags, up)
    contribution_records(explanation.contributions)
    seconds = time.perf_counter() - started
    print(
        f"model side: {len(stacked):,} pupils (probability, SHAP, top-3 reasons each way, flags, "
        f"contribution dicts) in {seconds:.1f} s (SHAP {t_shap:.1f} s, reasons {t_reasons:.1f} s)"
    )


if __name__ == "__main__":
    main()
