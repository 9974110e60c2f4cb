"""The discontinuity reads the cut-off that scoring recorded for the service's year group."""

from __future__ import annotations

import numpy as np

from riskengine.flags.thresholds import model_flags
from riskengine.impact.frame import cutoff_for
from riskengine.model.spec import FlagThreshold


def test_the_cut_off_of_each_year_group_is_read_from_the_run_record():
    rng = np.random.default_rng(3)
    probability = rng.uniform(size=600)
    years = np.repeat([9, 10, 11], 200)
    flags, record = model_flags(probability, FlagThreshold(top_percent=10), year_groups=years)
    for year in (9, 10, 11):
        flagged = probability[(years == year) & flags]
        assert cutoff_for({"model": record}, year) == flagged.min()
    assert cutoff_for({"model": {"probability_cutoff": 0.3}}, 9) == 0.3
    assert cutoff_for(None, 9) is None
