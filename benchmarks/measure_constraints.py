"""What the catalogue's directions cost, and which attendance-history feature reads right (issue 11).

Trains the shipped model spec on a generated local authority with and without sign constraints, and with
attendance change since last year replaced by last year's attendance level; prints validation AUC, ECE and
the attendance-history coefficient (constrained and unconstrained) for each. Generated pupils only.

    PYTHONPATH=$PWD python benchmarks/measure_constraints.py --pupils 10000
"""

from __future__ import annotations

import argparse

from riskengine.features import load_catalogue
from riskengine.model import build_training_frame, fit_model, load_model_spec
from riskengine.synth import generate

HISTORY = ("attendance_change_last_year", "attendance_rate_last_year")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pupils", type=int, default=10_000)
    parser.add_argument("--cohorts", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    la = generate(pupils=args.pupils, cohorts=args.cohorts, schools=10, seed=args.seed)
    catalogue = load_catalogue()
    shipped = load_model_spec()
    for history in HISTORY:
        others = [f for f in shipped.features if f not in HISTORY]
        features = [others[0], history, *others[1:]]
        spec = load_model_spec(features=features)
        frame = build_training_frame(la.pupil_terms, la.destinations, spec, catalogue)
        result = fit_model(frame, spec, catalogue)
        valid, free = result.metrics["validation"], result.metrics["validation_unconstrained"]
        table = result.coefficients.set_index("column")
        print(
            f"{history}: C={result.model.C_:g} validation AUC constrained {valid['auc']:.4f}, "
            f"unconstrained {free['auc']:.4f} (cost {free['auc'] - valid['auc']:+.4f}); "
            f"ECE {valid['ece']:.4f}; {history} coefficient {table.loc[history, 'coefficient']:+.3f} "
            f"(unconstrained {table.loc[history, 'unconstrained']:+.3f})"
        )
        moved = table[(table["coefficient"] - table["unconstrained"]).abs() > 0.02]
        print("  columns the directions or priors moved by > 0.02:")
        for column, row in moved.iterrows():
            print(f"    {column}: {row['coefficient']:+.3f} (unconstrained {row['unconstrained']:+.3f})")


if __name__ == "__main__":
    main()
