"""The learning-rate range test."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers
from matplotlib.figure import Figure

from ftlab.lr_finder import LRFinderResult, _analyse, lr_find


def regression_problem(n=256, seed=0):
    """y = x @ w with x ~ N(0, 1): plain SGD on MSE diverges above lr ~ 1."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)).astype("float32")
    y = x @ np.array([[1.5], [-2.0]], dtype="float32")
    return x, y


def linear_model():
    return keras.Sequential([keras.Input((2,)), layers.Dense(1, name="out")])


def test_learning_rates_grow_exponentially_from_min_to_max():
    x, y = regression_problem()
    result = lr_find(
        linear_model(), (x, y), min_lr=1e-6, max_lr=1e-2, steps=20, loss="mse", optimizer="sgd"
    )
    assert isinstance(result, LRFinderResult)
    assert not result.diverged and len(result.lrs) == len(result.losses) == 20
    assert result.lrs[0] == pytest.approx(1e-6) and result.lrs[-1] == pytest.approx(1e-2)
    ratios = result.lrs[1:] / result.lrs[:-1]
    np.testing.assert_allclose(ratios, (1e4) ** (1 / 19), rtol=1e-9)


def test_stops_when_the_loss_diverges_and_suggests_a_rate_below_it():
    x, y = regression_problem()
    result = lr_find(
        linear_model(),
        (x, y),
        min_lr=1e-5,
        max_lr=100.0,
        steps=80,
        loss="mse",
        optimizer="sgd",
        batch_size=64,
    )
    assert result.diverged
    assert len(result.lrs) < 80
    assert result.lrs[-1] > 1.0  # SGD on this problem is stable below lr ~ 1
    # The suggestion lies where the loss falls fastest: well above the tiny
    # rates that change nothing, and below the divergence.
    assert 1e-3 < result.suggestion < 1.0
    assert result.minimum / 10 < 1.0  # the smoothed minimum lags; a tenth of it is safe
    assert result.losses[-1] > 4 * np.nanmin(result.losses[:-1])


def test_analysis_finds_the_steepest_descent_of_a_known_curve():
    lrs = np.geomspace(1e-6, 1e-1, 101)
    centre = 1e-3
    raw = 1.0 / (1.0 + np.exp(3 * (np.log10(lrs) - np.log10(centre))))  # falls fastest at 1e-3
    result = _analyse(lrs, raw, smoothing=0.0, diverged=False)
    assert result.steepest == pytest.approx(centre, rel=0.13)
    assert result.suggestion == result.steepest
    assert result.minimum == pytest.approx(lrs[-1])


def test_a_curve_that_never_falls_suggests_minimum_over_ten():
    lrs = np.geomspace(1e-6, 1e-1, 50)
    result = _analyse(lrs, np.linspace(1.0, 2.0, 50), smoothing=0.0, diverged=False)
    assert result.suggestion == pytest.approx(result.minimum / 10)
    assert result.notes


def test_model_weights_and_optimizer_are_left_exactly_as_they_were():
    model = keras.Sequential(
        [
            keras.Input((2,)),
            layers.Dense(8, name="hidden"),
            layers.BatchNormalization(name="bn"),
            layers.Dropout(0.3, name="drop"),
            layers.Dense(1, name="out"),
        ]
    )
    x, y = regression_problem()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    model.fit(x, y, epochs=1, verbose=0)  # the optimizer now has state
    optimizer = model.optimizer
    variables = [v.numpy().copy() for v in model.variables]
    optimizer_state = [v.numpy().copy() for v in optimizer.variables]
    assert any(np.abs(s).sum() > 0 for s in optimizer_state[2:])  # moments are non-zero

    result = lr_find(model, (x, y), steps=30, max_lr=10.0)

    assert len(result.lrs) >= 2
    assert model.optimizer is optimizer
    assert model.compiled and model.loss == "mse"
    for before, variable in zip(variables, model.variables):
        np.testing.assert_array_equal(before, variable.numpy())
    for before, variable in zip(optimizer_state, optimizer.variables):
        np.testing.assert_array_equal(before, variable.numpy())
    model.fit(x, y, epochs=1, verbose=0)  # still trains as compiled
    assert int(optimizer.iterations.numpy()) == 16


def test_uncompiled_model_stays_uncompiled_and_respects_frozen_layers():
    model = keras.Sequential(
        [keras.Input((2,)), layers.Dense(4, name="body"), layers.Dense(3, name="head")]
    )
    model.get_layer("body").trainable = False
    body = model.get_layer("body").get_weights()
    rng = np.random.default_rng(0)
    data = tf.data.Dataset.from_tensor_slices(
        (rng.normal(size=(64, 2)).astype("float32"), rng.integers(0, 3, 64))
    ).batch(16)  # 4 batches, repeated for 25 steps
    result = lr_find(model, data, steps=25)
    assert len(result.lrs) == 25 or result.diverged
    assert not model.compiled and getattr(model, "optimizer", None) is None
    for before, after in zip(body, model.get_layer("body").get_weights()):
        np.testing.assert_array_equal(before, after)


def test_bad_arguments():
    x, y = regression_problem()
    with pytest.raises(ValueError, match="below max_lr"):
        lr_find(linear_model(), (x, y), min_lr=1.0, max_lr=1e-3, loss="mse")
    with pytest.raises(ValueError, match="steps must be"):
        lr_find(linear_model(), (x, y), steps=1, loss="mse")
    with pytest.raises(ValueError, match="min_lr must be a number > 0"):
        lr_find(linear_model(), (x, y), min_lr=0.0, loss="mse")


def test_plot_returns_a_figure_and_saves_it(tmp_path):
    lrs = np.geomspace(1e-5, 1.0, 30)
    result = _analyse(lrs, np.linspace(2.0, 1.0, 30), smoothing=0.5, diverged=False)
    path = tmp_path / "lr.png"
    fig = result.plot(path)
    assert isinstance(fig, Figure)
    assert path.stat().st_size > 1000
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert len(ax.lines) == 4  # raw, smoothed, suggestion, minimum
    assert "suggestion" in str(result)


def test_suggestion_ignores_the_noisy_first_steps():
    """A big drop in the first steps (the smoothed loss settling) is not the steepest
    descent: the suggestion must sit in the real valley, here 1e-3 to 1e-2."""
    from ftlab.lr_finder import _analyse

    lrs = np.logspace(-7, 0, 100)
    log_lr = np.log10(lrs)
    raw = np.where(log_lr < -3, 2.3, 2.3 - 1.8 * np.clip(log_lr + 3, 0, 1))
    raw = np.where(log_lr > -1.5, 0.5 + 4 * (log_lr + 1.5), raw)
    raw[:3] = [6.0, 2.3, 2.3]  # a noisy first batch
    result = _analyse(lrs, raw, 0.9, diverged=False)
    assert 1e-3 <= result.suggestion <= 1e-2, result.suggestion
    assert result.suggestion < result.minimum
