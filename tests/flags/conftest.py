"""The generated local authority and trained model of the model tests, reused for scoring."""

from tests.model.conftest import catalogue, small_la, trained, training_frame

__all__ = ["catalogue", "small_la", "trained", "training_frame"]
