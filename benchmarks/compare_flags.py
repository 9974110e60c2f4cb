"""Model vs rules-only vs combined flags on a held-out generated cohort, at the same number flagged.

Train on the older cohorts, then take the newest cohort with a closed destination window as it looked in
Year 9 autumn: the model's probability, the rule set's points and the combined flag (rules' own flags plus
the model's top share). Each approach flags the same number of pupils, the size of the combined flag, so
precision and recall compare like with like; AUC ranks by the model's probability, the rule points, and
for the combined flag by "flagged first, then probability". The true probabilities give the ceiling.

    python benchmarks/compare_flags.py [--pupils 6000] [--seed 2024]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from riskengine.features import compute_features_at_year_group, load_catalogue
from riskengine.flags import combine_flags, model_flags
from riskengine.flags.combine import rule_flags
from riskengine.model import build_training_frame, fit_model, load_model_spec
from riskengine.rules import evaluate_rules, load_rule_set
from riskengine.synth import generate


def top(score: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """The n highest scores flagged; ties broken at random (rule points tie a lot)."""
    jitter = np.random.default_rng(seed).random(len(score))
    flags = np.zeros(len(score), bool)
    flags[np.lexsort((jitter, -score))[:n]] = True
    return flags


def compare(y: np.ndarray, rankings: dict[str, np.ndarray], flags: dict[str, np.ndarray]) -> pd.DataFrame:
    """AUC of each ranking and precision/recall of each flag set."""
    rows = []
    for name, ranking in rankings.items():
        flagged = flags[name]
        hits = (flagged & y).sum()
        rows.append(
            {
                "approach": name,
                "auc": roc_auc_score(y, ranking),
                "flagged": int(flagged.sum()),
                "precision": hits / max(flagged.sum(), 1),
                "recall": hits / max(y.sum(), 1),
            }
        )
    return pd.DataFrame(rows).set_index("approach")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pupils", type=int, default=6000, help="pupils per intake (10 intakes)")
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()

    la = generate(pupils=args.pupils, cohorts=10, schools=6, seed=args.seed)
    catalogue, rule_set, spec = load_catalogue(), load_rule_set(), load_model_spec()
    frame = build_training_frame(la.pupil_terms, la.destinations, spec, catalogue)
    result = fit_model(frame, spec, catalogue)
    _, validation = frame.split()
    upns = frame.features.index[validation]
    y = frame.outcome[validation].to_numpy()

    features = compute_features_at_year_group(la.pupil_terms, spec.year_group, spec.term, catalogue).loc[upns]
    rules = evaluate_rules(rule_set, features[catalogue.names]).reindex(upns)
    explanation = result.model.explain(frame.features.loc[upns])
    probability = explanation.probability
    by_model, record = model_flags(probability, spec.flag_threshold)
    combined = combine_flags(rules, probability, by_model)["flag"].to_numpy(bool)
    n = int(combined.sum())
    points = rules["points"].to_numpy(float)
    truth = la.truth.loc[upns, "true_probability"].to_numpy()

    rankings = {
        "model": probability,
        "rules only": points,
        "combined": rule_flags(rules) + probability,
        "true probability (ceiling)": truth,
    }
    flags = {
        "model": top(probability, n),
        "rules only": top(points, n),
        "combined": combined,
        "true probability (ceiling)": top(truth, n),
    }
    table = compare(y, rankings, flags)
    print(
        f"Held-out cohort {result.validation_cohort} (Year {spec.year_group} {spec.term}): {len(y)} pupils, "
        f"{int(y.sum())} positive ({y.mean():.1%}); trained on {', '.join(result.train_cohorts)}"
    )
    print(
        f"Combined flag = rules' own flags ({int(rule_flags(rules).sum())}: always-flag rules and high band) "
        f"+ model's {record['description']}; {n} flagged, so every approach flags {n}."
    )
    print(f"Model calibration on this cohort: ECE {result.metrics['validation']['ece']:.4f}")
    print(table.to_markdown(floatfmt=".3f") if _has_tabulate() else table.round(3).to_string())


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
