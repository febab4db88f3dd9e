"""freeze, unfreeze, count_params and trainable_report."""

import numpy as np
import pytest
from model_zoo import functional_mlp, nested_base_model, sequential_cnn, subclassed_model

import ftlab


def trainable_paths(model):
    return [row.name for row in ftlab.trainable_report(model).rows if row.trainable]


def test_freeze_makes_every_weight_non_trainable():
    model = nested_base_model()
    ftlab.freeze(model)
    assert model.trainable_weights == []
    counts = ftlab.count_params(model)
    assert counts.trainable == 0
    assert counts.non_trainable == counts.total == model.count_params()


def test_unfreeze_all_keeps_batchnorm_frozen():
    model = sequential_cnn()
    ftlab.freeze(model)
    unfrozen = ftlab.unfreeze(model)
    assert unfrozen == ["conv1", "conv2", "head"]
    assert trainable_paths(model) == ["conv1", "conv2", "head"]
    assert not model.get_layer("bn1").trainable


def test_unfreeze_last_counts_leaf_layers_inside_nested_base():
    model = nested_base_model()
    ftlab.freeze(model)
    # Weighted leaves: base/conv1 base/bn1 base/conv2 base/bn2 classifier.
    unfrozen = ftlab.unfreeze(model, last=3)
    assert unfrozen == ["base/conv2", "classifier"]  # base/bn2 stays frozen
    base = model.get_layer("base")
    assert base.get_layer("conv2").trainable
    assert not base.get_layer("conv1").trainable
    expected = (8 * 3 * 3 * 8 + 8) + (8 * 5 + 5)
    assert ftlab.count_params(model).trainable == expected


def test_unfreeze_last_freezes_what_is_not_selected():
    model = functional_mlp()  # starts fully trainable
    ftlab.unfreeze(model, last=1)
    assert trainable_paths(model) == ["head"]


def test_unfreeze_from_named_layer_and_from_index():
    model = nested_base_model()
    ftlab.freeze(model)
    assert ftlab.unfreeze(model, from_layer="conv2") == ["base/conv2", "classifier"]
    ftlab.freeze(model)
    assert ftlab.unfreeze(model, from_layer="base/conv2") == ["base/conv2", "classifier"]
    ftlab.freeze(model)
    assert ftlab.unfreeze(model, from_layer=-1) == ["classifier"]
    ftlab.freeze(model)
    # A nested model's name means "from its first layer on".
    assert ftlab.unfreeze(model, from_layer="base")[0] == "base/conv1"


def test_train_batchnorm_true_unfreezes_batchnorm():
    model = sequential_cnn()
    ftlab.freeze(model)
    unfrozen = ftlab.unfreeze(model, train_batchnorm=True)
    assert "bn1" in unfrozen and "bn2" in unfrozen
    assert ftlab.count_params(model).trainable == sum(
        int(np.prod(v.shape)) for v in model.trainable_weights
    )


def _fit_one_step(model):
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(3.0, 2.0, (8, 16, 16, 3)).astype("float32")
    y = np.arange(8) % 5
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)


def _bn_stats(model):
    base = model.get_layer("base")
    return [
        np.array(v)
        for name in ("bn1", "bn2")
        for v in (base.get_layer(name).moving_mean, base.get_layer(name).moving_variance)
    ]


def test_batchnorm_statistics_unchanged_after_unfreeze_and_fit():
    model = nested_base_model()
    ftlab.freeze(model)
    ftlab.unfreeze(model)
    before = _bn_stats(model)
    conv_before = np.array(model.get_layer("base").get_layer("conv1").kernel)
    _fit_one_step(model)
    for old, new in zip(before, _bn_stats(model)):
        np.testing.assert_array_equal(old, new)
    # ...while the unfrozen conv layers did learn.
    assert not np.allclose(conv_before, model.get_layer("base").get_layer("conv1").kernel)


def test_batchnorm_statistics_change_when_train_batchnorm():
    model = nested_base_model()
    ftlab.freeze(model)
    ftlab.unfreeze(model, train_batchnorm=True)
    before = _bn_stats(model)
    _fit_one_step(model)
    changed = [not np.allclose(old, new) for old, new in zip(before, _bn_stats(model))]
    assert all(changed)


def test_batchnorm_inside_a_custom_block_stays_frozen():
    import keras

    class Block(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(4)
            self.bn = keras.layers.BatchNormalization()

        def call(self, x, training=None):
            return self.bn(self.dense(x), training=training)

    model = keras.Sequential([keras.Input((3,)), Block(name="block"), keras.layers.Dense(2)])
    ftlab.freeze(model)
    ftlab.unfreeze(model)
    block = model.get_layer("block")
    assert block.dense.trainable and not block.bn.trainable


def test_count_params_adds_up():
    model = nested_base_model()
    ftlab.unfreeze(model, last=2)
    counts = ftlab.count_params(model)
    assert counts.trainable + counts.non_trainable == counts.total == model.count_params()
    # BN moving statistics are never trainable.
    assert counts.non_trainable > 0


def test_trainable_report_rows_text_and_html():
    model = nested_base_model()
    ftlab.freeze(model)
    ftlab.unfreeze(model, last=1)
    report = ftlab.trainable_report(model)
    names = [row.name for row in report.rows]
    assert names[:2] == ["base/conv1", "base/bn1"]
    assert names[-1] == "classifier"
    assert sum(row.params for row in report.rows) == report.totals.total
    assert sum(row.trainable_params for row in report.rows) == report.totals.trainable
    text = str(report)
    assert "base/conv1" in text and "Conv2D" in text and f"{report.totals.total:,}" in text
    classifier_line = next(line for line in text.splitlines() if "classifier" in line)
    assert " yes " in classifier_line
    html = report._repr_html_()
    assert html.startswith("<table>") and "<td>base/bn1</td>" in html


# ----- bad input ---------------------------------------------------------------------


def test_unknown_layer_name_suggests_close_names():
    model = nested_base_model()
    with pytest.raises(ValueError, match=r"no layer named 'conv_2'.*Did you mean 'conv2'"):
        ftlab.unfreeze(model, from_layer="conv_2")


def test_index_out_of_range():
    model = functional_mlp()
    with pytest.raises(IndexError, match=r"from_layer=7 is out of range.*-3 to 2"):
        ftlab.unfreeze(model, from_layer=7)


def test_last_larger_than_layers_with_weights():
    model = functional_mlp()
    with pytest.raises(ValueError, match=r"last=4 is more than the 3 layers with weights"):
        ftlab.unfreeze(model, last=4)


@pytest.mark.parametrize("last", [0, -2])
def test_last_must_be_positive(last):
    with pytest.raises(ValueError, match="would unfreeze nothing"):
        ftlab.unfreeze(functional_mlp(), last=last)


def test_last_and_from_layer_together():
    with pytest.raises(ValueError, match="either last=N or from_layer"):
        ftlab.unfreeze(functional_mlp(), last=1, from_layer="d1")


def test_unbuilt_model_gets_a_clear_error():
    import keras

    model = keras.Sequential([keras.layers.Dense(2)])
    for operation in (ftlab.freeze, ftlab.unfreeze, ftlab.count_params, ftlab.trainable_report):
        with pytest.raises(ValueError, match="not built yet.*keras.Input"):
            operation(model)


def test_not_a_model():
    with pytest.raises(TypeError, match="Expected a Keras model"):
        ftlab.freeze("resnet")


def test_freezing_works_on_subclassed_models():
    model = subclassed_model()
    ftlab.freeze(model)
    assert ftlab.count_params(model).trainable == 0
    assert ftlab.unfreeze(model, last=1) == ["head"]
    assert len(model.trainable_weights) == 2  # head kernel and bias
