"""Point-in-time features for scoring and training, and the catalogue that names and explains them."""

from riskengine.features.catalogue import (
    Catalogue,
    CatalogueError,
    FeatureSpec,
    load_catalogue,
)
from riskengine.features.compute import compute_features, compute_features_at_year_group

__all__ = [
    "Catalogue",
    "CatalogueError",
    "FeatureSpec",
    "compute_features",
    "compute_features_at_year_group",
    "load_catalogue",
]
