"""Feature caching: cache_features, train_head_on_features, attach_head."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

import ftlab
from ftlab.features import attach_head, cache_features, make_head, train_head_on_features


def frozen_body(dropout=0.0):
    body = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            layers.Conv2D(6, 3, activation="relu", name="conv"),
            layers.BatchNormalization(name="bn"),
            layers.Dropout(dropout, name="drop"),
            layers.GlobalAveragePooling2D(name="pool"),
        ],
        name="body",
    )
    # Give BN statistics that differ from a batch's, so inference mode shows.
    bn = body.get_layer("bn")
    bn.moving_mean.assign(np.full(6, 0.3, "float32"))
    bn.moving_variance.assign(np.full(6, 2.0, "float32"))
    ftlab.freeze(body)
    return body


def images(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 8, 8, 3)).astype("float32"), rng.integers(0, 3, n)


def test_cached_features_are_the_body_in_inference_mode():
    body = frozen_body(dropout=0.5)
    x, y = images()
    features, labels = cache_features(body, (x, y), batch_size=16)
    np.testing.assert_allclose(features, body(x, training=False).numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(features, body(x, training=True).numpy())  # dropout, batch stats
    np.testing.assert_array_equal(labels, y)


def test_features_stay_paired_with_labels_from_a_shuffling_dataset():
    body = frozen_body()
    x, _ = images(30)
    index = np.arange(30)
    data = tf.data.Dataset.from_tensor_slices((x, index)).shuffle(30).batch(8)
    features, labels = cache_features(body, data)
    assert sorted(labels.tolist()) == list(range(30))
    assert labels.tolist() != list(range(30))  # it did shuffle
    np.testing.assert_allclose(
        features, body(x[labels], training=False).numpy(), rtol=1e-5, atol=1e-6
    )


def test_head_on_cached_features_learns_exactly_what_it_learns_with_the_body_in_the_loop():
    """Same numbers in, same head out: caching changes the speed, not the result."""
    body = frozen_body()
    x, y = images(48)
    features, labels = cache_features(body, (x, y))
    head = make_head(features.shape[1:], 3)
    twin_head = keras.models.clone_model(head)
    twin_head.set_weights(head.get_weights())
    kwargs = {"epochs": 3, "batch_size": 16, "shuffle": False, "verbose": 0}

    head.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(True))
    head.fit(features, labels, **kwargs)
    full = attach_head(body, twin_head)
    full.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(True))
    full.fit(x, y, **kwargs)
    for a, b in zip(head.get_weights(), twin_head.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_train_head_on_features_makes_and_trains_a_head():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(3, 5)) * 4
    labels = rng.integers(0, 3, 120)
    features = centres[labels] + rng.normal(size=(120, 5))
    head, history = train_head_on_features(
        3, features, labels, epochs=8, lr=0.1, val=(features[:30], labels[:30])
    )
    assert head.output_shape == (None, 3)
    assert len(history.history["loss"]) == 8 and "val_accuracy" in history.history
    predictions = head.predict(features, verbose=0).argmax(axis=1)
    assert np.mean(predictions == labels) > 0.9


def test_train_head_on_features_checks_labels_first():
    with pytest.raises(ValueError, match=r"label 5 is outside \[0, 3\)"):
        train_head_on_features(3, np.zeros((4, 2)), np.array([0, 1, 2, 5]))


def test_make_head_pools_feature_maps():
    head = make_head((4, 4, 16), 5, hidden=(8,), dropout=0.2)
    assert head.output_shape == (None, 5)
    assert any(isinstance(layer, layers.GlobalAveragePooling2D) for layer in head.layers)
    with pytest.raises(ValueError, match="num_classes"):
        make_head((4,), 0)


def test_attach_head_shares_layers_and_computes_head_of_body():
    body = frozen_body()
    head = make_head((6,), 2)
    model = attach_head(body, head)
    x, _ = images(5)
    expected = head(body(x, training=False)).numpy()
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    head.get_layer("logits").bias.assign([5.0, -5.0])  # shared, not copied
    assert model.predict(x, verbose=0)[:, 0].min() > model.predict(x, verbose=0)[:, 1].max()
    with pytest.raises(ValueError, match=r"features of shape \(6,\) but the head takes \(7,\)"):
        attach_head(body, make_head((7,), 2))


def test_attached_model_goes_on_to_stage_two_of_fine_tune():
    body = frozen_body()
    x, y = images(32)
    features, labels = cache_features(body, (x, y))
    head, _ = train_head_on_features(3, features, labels, epochs=2)
    model = attach_head(body, head)
    history = ftlab.fine_tune(model, (x, y), head_epochs=0, epochs=1, batch_size=16, verbose=0)
    assert history.epoch == [0] and history.stage_boundary == 0
    assert model.get_layer("body").get_layer("conv").trainable
