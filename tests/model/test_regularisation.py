"""`C: auto`: a small local authority's training cohorts choose stronger shrinkage than a fixed C=1."""

import numpy as np
import pytest
from sklearn.metrics import log_loss

from riskengine.model import RiskModel, build_training_frame, fit_model, load_model_spec
from riskengine.model.pipeline import C_GRID
from riskengine.synth import generate
from tests.model.conftest import KINDS, feature_frame

#: Factors the generator (riskengine.synth.risk.COEFFICIENTS) makes raise risk, read as a model column each.
RISK_FACTORS = [
    "looked_after",
    "fsm_eligible",
    "persistent_absence",
    "suspensions_ever",
    "permanent_exclusion_ever",
]


def test_auto_chooses_C_from_the_grid_by_cohort_folds_and_records_it():
    frame, outcome = feature_frame(1200, seed=3)
    cohorts = np.repeat([2019, 2020, 2021, 2022], 300)
    model = RiskModel(KINDS, {"sen_provision": ["N", "K", "E"]}, C="auto").fit(frame, outcome, groups=cohorts)
    assert model.C_ in C_GRID and model.logistic_.C == model.C_
    assert model.C_search_["folds"] == "4 by cohort"
    assert len(model.C_search_["cv_log_loss"]) == len(C_GRID)
    assert min(model.C_search_["cv_log_loss"]) == model.C_search_["cv_log_loss"][C_GRID.index(model.C_)]
    without_groups = RiskModel(KINDS, C="auto").fit(frame, outcome)
    assert without_groups.C_search_["folds"] == "5 stratified"
    fixed = RiskModel(KINDS, C=0.5).fit(frame, outcome)
    assert fixed.C_ == 0.5 and fixed.C_search_ is None
    with pytest.raises(ValueError, match="'auto' or a positive number"):
        RiskModel(KINDS, C="large").fit(frame, outcome)


@pytest.mark.slow
def test_on_a_small_la_auto_shrinks_wrong_way_risk_factors_and_predicts_the_held_out_cohort_better(catalogue):
    # The demo's size: 8 intakes of 600, so ~1,100 training pupils with ~50 outcomes and ~45 model columns.
    # With a fixed C=1, noise gives true risk factors negative coefficients ("lowering risk"); auto shrinks
    # those towards 0, and predicts the newest cohort no worse.
    auto, fixed = load_model_spec(), load_model_spec(C=1.0)
    assert auto.C == "auto"
    held_out_loss = {"auto": [], "fixed": []}
    for seed in (11, 12, 13):
        la = generate(pupils=600, cohorts=8, schools=4, seed=seed)
        frame = build_training_frame(la.pupil_terms, la.destinations, auto, catalogue)
        _, validation = frame.split()
        wrong_way, chosen = {}, {}
        for name, spec in (("auto", auto), ("fixed", fixed)):
            result = fit_model(frame, spec, catalogue)
            coefficients = result.model.coefficients().set_index("column")["coefficient"]
            wrong_way[name] = np.clip(-coefficients.reindex(RISK_FACTORS).fillna(0), 0, None).sum()
            held_out_loss[name].append(log_loss(frame.outcome[validation], result.validation_probability))
            chosen[name] = result.model.metadata_["C"]
        assert chosen["auto"] < chosen["fixed"] == 1.0  # few outcomes: the data ask for more shrinkage
        assert wrong_way["auto"] <= wrong_way["fixed"] / 2  # seed by seed, not one lucky draw
    assert np.mean(held_out_loss["auto"]) < np.mean(held_out_loss["fixed"])
