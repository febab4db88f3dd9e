"""Freezing and head swapping on every kind of model a student meets.

keras.applications models are built with weights=None and keras-hub models from
a config or a local preset directory: nothing is downloaded.
"""

import keras
import keras_hub
import numpy as np
import pytest

import ftlab

APPLICATIONS = {
    "MobileNetV3Small": lambda: keras.applications.MobileNetV3Small(
        input_shape=(32, 32, 3), weights=None, classes=10, include_preprocessing=True
    ),
    "ResNet50": lambda: keras.applications.ResNet50(
        input_shape=(32, 32, 3), weights=None, classes=10
    ),
    "EfficientNetV2B0": lambda: keras.applications.EfficientNetV2B0(
        input_shape=(32, 32, 3), weights=None, classes=10
    ),
}


def _check_freeze_unfreeze_swap(model, sample, num_classes=3):
    """The foundation's contract, on any graph model."""
    total = ftlab.count_params(model).total
    ftlab.freeze(model)
    assert ftlab.count_params(model).trainable == 0

    unfrozen = ftlab.unfreeze(model, last=4)
    assert 1 <= len(unfrozen) <= 4
    assert not ftlab.trainable_report(model).rows[0].trainable  # the stem stays frozen
    for leaf in ftlab.leaf_layers(model):
        if isinstance(leaf.layer, keras.layers.BatchNormalization):
            assert not leaf.layer.trainable, leaf.path

    new = ftlab.swap_head(model, num_classes)
    assert ftlab.count_params(model).total == total  # original untouched
    out = new.predict(sample, verbose=0)
    assert out.shape == (2, num_classes)
    return new


@pytest.mark.parametrize("name", sorted(APPLICATIONS))
def test_keras_applications(name):
    model = APPLICATIONS[name]()
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    new = _check_freeze_unfreeze_swap(model, images)
    # The new head sits on pooled features, the old classifier is gone.
    assert new.layers[-1].name == "new_head"
    assert all(layer.name != "predictions" for layer in new.layers)
    body = ftlab.remove_head(model, up_to=model.layers[-3].name)
    assert body.output_shape[0] is None


def test_keras_applications_as_nested_base():
    """The keras.io pattern: a pre-trained base inside a new Functional model."""
    base = keras.applications.MobileNetV3Small(
        input_shape=(32, 32, 3), weights=None, include_top=False
    )
    inputs = keras.Input((32, 32, 3))
    x = base(inputs, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(2, name="truck_head")(x)
    model = keras.Model(inputs, outputs)
    ftlab.freeze(model)
    unfrozen = ftlab.unfreeze(model, last=5)
    assert unfrozen[-1] == "truck_head"
    assert all(path.startswith(base.name + "/") for path in unfrozen[:-1])


def tiny_resnet_backbone():
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[3],
        stackwise_num_filters=[64, 64],
        stackwise_num_blocks=[1, 1],
        stackwise_num_strides=[1, 2],
        block_type="basic_block",
        use_pre_activation=False,
        image_shape=(32, 32, 3),
    )


def test_keras_hub_image_classifier_from_config():
    classifier = keras_hub.models.ImageClassifier(backbone=tiny_resnet_backbone(), num_classes=9)
    images = np.random.default_rng(0).uniform(0, 1, (2, 32, 32, 3)).astype("float32")
    _check_freeze_unfreeze_swap(classifier, images)
    # The backbone is walked into: its conv layers are leaves with paths.
    paths = [leaf.path for leaf in ftlab.leaf_layers(classifier)]
    assert any(path.startswith("res_net_backbone/") for path in paths)


def test_keras_hub_backbone_from_local_preset(tmp_path):
    backbone = tiny_resnet_backbone()
    backbone.save_to_preset(str(tmp_path / "preset"))
    loaded = keras_hub.models.Backbone.from_preset(str(tmp_path / "preset"))
    for old, new in zip(backbone.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(old, new)
    images = np.zeros((2, 32, 32, 3), "float32")
    new = _check_freeze_unfreeze_swap(loaded, images, num_classes=1)
    assert new.output_shape == (None, 1)


def tiny_bert_classifier():
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=50,
        num_layers=2,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=8,
    )
    return keras_hub.models.BertTextClassifier(backbone=backbone, num_classes=4, preprocessor=None)


def test_keras_hub_bert_text_classifier():
    classifier = tiny_bert_classifier()
    batch = {
        "token_ids": np.ones((2, 8), "int32"),
        "segment_ids": np.zeros((2, 8), "int32"),
        "padding_mask": np.ones((2, 8), "int32"),
    }
    ftlab.freeze(classifier)
    # Transformer blocks are leaves: the last 3 weighted leaves are the top
    # encoder block, the pooler and the classification head.
    unfrozen = ftlab.unfreeze(classifier, last=3)
    assert unfrozen == [
        "bert_backbone/transformer_layer_1",
        "bert_backbone/pooled_dense",
        "logits",
    ]
    new = ftlab.swap_head(classifier, 2)
    assert new.predict(batch, verbose=0).shape == (2, 2)
