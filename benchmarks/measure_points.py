"""One model per scoring point against the alternatives (issue 11), on a generated local authority.

For Years 9, 10 and 11 (each at the same term) it compares, on each point's validation cohort (the newest
with outcomes): (a) the spec's Year 9 model used for every year group (the old behaviour), (b) one model per
point, and (c) one model for all points with the year group as a feature (trained on the points' stacked
training rows). Prints mean predicted risk against the observed rate, ECE and AUC. Generated pupils only.

    PYTHONPATH=$PWD python benchmarks/measure_points.py --pupils 10000 --term autumn
"""

from __future__ import annotations

import argparse

import pandas as pd

from riskengine.features import load_catalogue
from riskengine.model import build_training_frame, fit_model, load_model_spec, probability_metrics
from riskengine.synth import generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pupils", type=int, default=10_000)
    parser.add_argument("--cohorts", type=int, default=8)
    parser.add_argument("--term", default="autumn")
    parser.add_argument("--C", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    la = generate(pupils=args.pupils, cohorts=args.cohorts, schools=10, seed=args.seed)
    catalogue = load_catalogue()
    base = load_model_spec(C=args.C, points=[])
    frames, fits = {}, {}
    for year in (9, 10, 11):
        spec = base.model_copy(update={"year_group": year, "term": args.term})
        frames[year] = build_training_frame(la.pupil_terms, la.destinations, spec, catalogue)
        fits[year] = fit_model(frames[year], spec, catalogue)
    pooled_spec = base.model_copy(update={"features": (*base.features, "ncyear")})
    train_parts, valid_parts = [], {}
    for year, frame in frames.items():
        train, valid = frame.split()
        features = frame.features.assign(ncyear=pd.array([year] * len(frame.features), dtype="Int64"))
        train_parts.append((features[train], frame.outcome[train], frame.cohort[train]))
        valid_parts[year] = (features[valid], frame.outcome[valid].to_numpy())
    from riskengine.model.training import make_model

    pooled = make_model(pooled_spec, catalogue).fit(
        pd.concat([p[0] for p in train_parts]),
        pd.concat([p[1] for p in train_parts]).to_numpy(),
        groups=pd.concat([p[2] for p in train_parts]).to_numpy(),
    )
    print(
        f"{'year':>4} {'approach':<28} {'observed':>8} {'mean risk':>9} {'rel.gap':>8} {'ECE':>6} {'AUC':>6}"
    )
    for year in (9, 10, 11):
        features, y = valid_parts[year]
        for name, model in (
            ("Year 9 model for all", fits[9].model),
            ("one model per point", fits[year].model),
            ("one model, year as feature", pooled),
        ):
            m = probability_metrics(y, model.predict_proba(features)[:, 1])
            gap = (m["mean_probability"] - m["base_rate"]) / m["base_rate"]
            print(
                f"{year:>4} {name:<28} {m['base_rate']:>8.4f} {m['mean_probability']:>9.4f} {gap:>+8.1%} "
                f"{m['ece']:>6.4f} {m['auc']:>6.4f}"
            )


if __name__ == "__main__":
    main()
