"""The web tests' store, generated pupils, users and signed-in clients, reused."""

from tests.web.conftest import app, clients, pupil_terms, schools, store, users

__all__ = ["app", "clients", "pupil_terms", "schools", "store", "users"]
