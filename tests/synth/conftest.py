"""Generated local authorities shared by the synth tests (generation is the slow part, so build each once)."""

from __future__ import annotations

import pytest

from riskengine.synth import SyntheticLA, generate


@pytest.fixture(scope="session")
def big_la() -> SyntheticLA:
    """Large enough for rates and risk ratios: 8 intakes of 3,000 (about 9,000 pupils with outcomes)."""
    return generate(pupils=3000, cohorts=8, schools=5, seed=11)


@pytest.fixture(scope="session")
def small_la() -> SyntheticLA:
    return generate(pupils=120, cohorts=6, schools=3, seed=3)
