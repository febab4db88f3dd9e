"""Property tests: freezing and head swapping on random small models."""

import keras
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ftlab

SETTINGS = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

layer_specs = st.lists(
    st.tuples(st.integers(1, 12), st.booleans(), st.booleans()),  # units, batchnorm, dropout
    min_size=1,
    max_size=5,
)


def build_model(specs, functional, input_dim=5, out=3):
    """A random stack of Dense (+ BN, + Dropout) layers, Sequential or Functional.

    The Functional variant adds a skip branch so the graph is not a plain chain.
    """
    inputs = keras.Input((input_dim,))
    x = inputs
    stack = []
    for units, batchnorm, dropout in specs:
        stack.append(keras.layers.Dense(units, activation="relu"))
        if batchnorm:
            stack.append(keras.layers.BatchNormalization())
        if dropout:
            stack.append(keras.layers.Dropout(0.1))
    stack.append(keras.layers.Dense(out))
    if not functional:
        return keras.Sequential([inputs, *stack])
    skip = keras.layers.Dense(specs[0][0])(inputs)
    for i, layer in enumerate(stack[:-1]):
        x = layer(x)
        if i == 0:
            x = keras.layers.Add()([x, skip])
    return keras.Model(inputs, stack[-1](x))


def weighted_layers(model):
    return [leaf.layer for leaf in ftlab.leaf_layers(model) if leaf.layer.weights]


@SETTINGS
@given(specs=layer_specs, functional=st.booleans())
def test_counts_add_up_and_freeze_unfreeze_round_trip(specs, functional):
    model = build_model(specs, functional)
    total = model.count_params()
    start = ftlab.count_params(model)
    assert start.trainable + start.non_trainable == start.total == total

    ftlab.freeze(model)
    frozen = ftlab.count_params(model)
    assert (frozen.trainable, frozen.total) == (0, total)

    ftlab.unfreeze(model, train_batchnorm=True)
    assert ftlab.count_params(model) == start  # back where we started

    ftlab.unfreeze(model)  # BN frozen: only its gamma/beta leave the trainable set
    bn_params = sum(
        int(np.prod(v.shape))
        for layer in weighted_layers(model)
        if isinstance(layer, keras.layers.BatchNormalization)
        for v in (layer.gamma, layer.beta)
    )
    assert ftlab.count_params(model).trainable == start.trainable - bn_params


@SETTINGS
@given(specs=layer_specs, functional=st.booleans(), data=st.data())
def test_unfreeze_last_selects_exactly_the_last_weighted_layers(specs, functional, data):
    model = build_model(specs, functional)
    layers = weighted_layers(model)
    last = data.draw(st.integers(1, len(layers)))
    ftlab.freeze(model)
    ftlab.unfreeze(model, last=last)
    for index, layer in enumerate(layers):
        should_train = index >= len(layers) - last and not isinstance(
            layer, keras.layers.BatchNormalization
        )
        assert bool(layer.trainable_weights) == should_train


@SETTINGS
@given(
    specs=layer_specs,
    functional=st.booleans(),
    num_classes=st.integers(1, 10),
    hidden=st.lists(st.integers(1, 8), max_size=2),
    batch=st.integers(1, 4),
)
def test_swap_head_output_shape_and_original_untouched(
    specs, functional, num_classes, hidden, batch
):
    model = build_model(specs, functional)
    before = [w.copy() for w in model.get_weights()]
    new = ftlab.swap_head(model, num_classes, hidden=hidden, dropout=0.1)
    x = np.random.default_rng(batch).normal(size=(batch, 5)).astype("float32")
    assert new(x, training=False).shape == (batch, num_classes)
    for layer in new.layers:
        for weight in layer.weights:
            weight.assign(weight + 1.0)
    for old, now in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, now)
