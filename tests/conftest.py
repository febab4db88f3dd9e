"""Shared test setup: quiet TensorFlow, deterministic seeds, tiny model builders."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("MPLBACKEND", "Agg")

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed_and_clear():
    """Every test starts from the same random state and a fresh Keras session."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    yield
