"""seed_everything: same seed, same run."""

import os

import keras
import numpy as np
import pytest
from keras import layers

import ftlab
from ftlab.reproducibility import is_deterministic, seed_everything


@pytest.fixture(autouse=True)
def _restore_determinism(monkeypatch):
    """Determinism is process-wide: switch it off again for the other tests."""
    monkeypatch.setenv("PYTHONHASHSEED", os.environ.get("PYTHONHASHSEED", "random"))
    yield
    seed_everything(0, deterministic=False)


def train_once(seed):
    """Weight init, data shuffling and dropout all draw random numbers."""
    seed_everything(seed)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            layers.Conv2D(4, 3, name="conv"),
            layers.Dropout(0.5),
            layers.GlobalAveragePooling2D(),
            layers.Dense(3, name="head"),
        ],
        name="repro",
    )
    x = np.random.normal(size=(48, 8, 8, 3)).astype("float32")
    y = np.random.randint(0, 3, 48)
    history = ftlab.fine_tune(model, (x, y), head_epochs=0, epochs=1, batch_size=16, verbose=0)
    return model.get_weights(), history.history["loss"]


def test_same_seed_same_weights_and_metrics_different_seed_different():
    weights_a, loss_a = train_once(7)
    weights_b, loss_b = train_once(7)
    assert loss_a == loss_b
    for a, b in zip(weights_a, weights_b):
        np.testing.assert_array_equal(a, b)
    weights_c, loss_c = train_once(8)
    assert loss_c != loss_a
    assert not np.array_equal(weights_a[0], weights_c[0])
    assert os.environ["PYTHONHASHSEED"] == "8"
    assert is_deterministic()
    seed_everything(8, deterministic=False)
    assert not is_deterministic()


def test_seed_must_be_a_whole_number():
    with pytest.raises(ValueError, match="seed must be"):
        seed_everything(-1)
    with pytest.raises(ValueError, match="seed must be"):
        seed_everything(1.5)
