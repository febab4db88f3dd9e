"""remove_head and swap_head."""

import keras
import numpy as np
import pytest
from model_zoo import functional_mlp, nested_base_model, sequential_cnn, subclassed_model

import ftlab


def test_remove_head_shares_weights():
    model = sequential_cnn()
    body = ftlab.remove_head(model)
    assert body.output_shape == (None, 8)
    assert body.get_layer("conv1") is model.get_layer("conv1")
    x = np.random.default_rng(0).random((2, 16, 16, 3)).astype("float32")
    # Training the body trains the original: one shared set of weights.
    kernel = model.get_layer("conv1").kernel
    kernel.assign(kernel * 2.0)
    gap = keras.Model(model.inputs, model.get_layer("gap").output)
    np.testing.assert_allclose(body.predict(x, verbose=0), gap.predict(x, verbose=0), rtol=1e-6)


def test_remove_several_layers_and_up_to():
    model = sequential_cnn()
    assert ftlab.remove_head(model, layers=2).output_shape == (None, 12, 12, 8)
    assert ftlab.remove_head(model, up_to="relu1").output_shape == (None, 14, 14, 8)


def test_remove_head_up_to_a_layer_inside_a_nested_base():
    model = nested_base_model()
    body = ftlab.remove_head(model, up_to="bn1")
    assert body.output_shape == (None, 14, 14, 8)
    assert body.inputs[0].shape == (None, 16, 16, 3)


def test_remove_too_many_layers():
    with pytest.raises(ValueError, match="only 3 lie between its input and output"):
        ftlab.remove_head(functional_mlp(), layers=4)


def test_swap_head_adds_pooling_hidden_and_dropout():
    model = sequential_cnn(num_classes=9)
    new = ftlab.swap_head(model, 4, remove=2, hidden=(16,), dropout=0.3)
    assert new.output_shape == (None, 4)
    kinds = [type(layer).__name__ for layer in new.layers[-5:]]
    assert kinds == ["GlobalAveragePooling2D", "Dropout", "Dense", "Dropout", "Dense"]
    assert new.layers[-3].units == 16 and new.layers[-1].units == 4


def test_swap_head_binary_with_activation():
    new = ftlab.swap_head(functional_mlp(), 1, activation="sigmoid")
    out = new.predict(np.zeros((3, 6), "float32"), verbose=0)
    assert out.shape == (3, 1) and np.all((out > 0) & (out < 1))


def test_swap_head_leaves_the_original_untouched_even_after_training():
    model = nested_base_model()
    before = [np.array(w) for w in model.get_weights()]
    n_layers = len(model.layers)
    new = ftlab.swap_head(model, 2)
    new.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(True))
    x = np.random.default_rng(1).random((8, 16, 16, 3)).astype("float32")
    new.fit(x, np.arange(8) % 2, epochs=1, verbose=0)
    after = model.get_weights()
    assert len(model.layers) == n_layers and model.output_shape == (None, 5)
    for old, now in zip(before, after):
        np.testing.assert_array_equal(old, now)


def test_swap_head_share_weights_reuses_the_body():
    model = nested_base_model()
    new = ftlab.swap_head(model, 2, share_weights=True)
    assert new.get_layer("base") is model.get_layer("base")


def test_swap_head_keeps_the_body_frozen_and_the_head_trainable():
    model = sequential_cnn()
    ftlab.freeze(model)
    new = ftlab.swap_head(model, 3)
    trainable = [row.name for row in ftlab.trainable_report(new).rows if row.trainable]
    assert trainable == ["new_head"]


@pytest.mark.parametrize("bad", [0, -1, 2.5, "3", True])
def test_swap_head_rejects_bad_num_classes(bad):
    with pytest.raises(ValueError, match="num_classes must be a whole number >= 1"):
        ftlab.swap_head(functional_mlp(), bad)


def test_subclassed_model_cannot_be_cut():
    model = subclassed_model()
    for cut in (ftlab.remove_head, lambda m: ftlab.swap_head(m, 2)):
        with pytest.raises(TypeError, match="subclassed model.*build the new model from its parts"):
            cut(model)


def test_unbuilt_model_cannot_be_cut():
    with pytest.raises(ValueError, match="not built yet"):
        ftlab.swap_head(keras.Sequential([keras.layers.Dense(3)]), 2)


def test_unknown_up_to_name():
    with pytest.raises(ValueError, match="Did you mean 'conv2'"):
        ftlab.remove_head(sequential_cnn(), up_to="conv_2")


def test_bad_dropout_and_hidden():
    with pytest.raises(ValueError, match="dropout must be in"):
        ftlab.swap_head(functional_mlp(), 2, dropout=1.5)
    with pytest.raises(ValueError, match="hidden layer sizes"):
        ftlab.swap_head(functional_mlp(), 2, hidden=(0,))
