"""Small models of every kind a student meets, for the foundation tests."""

import keras
from keras import layers


def sequential_cnn(num_classes=9, size=16):
    return keras.Sequential(
        [
            keras.Input((size, size, 3)),
            layers.Conv2D(8, 3, name="conv1"),
            layers.BatchNormalization(name="bn1"),
            layers.ReLU(name="relu1"),
            layers.Conv2D(8, 3, name="conv2"),
            layers.BatchNormalization(name="bn2"),
            layers.ReLU(name="relu2"),
            layers.GlobalAveragePooling2D(name="gap"),
            layers.Dense(num_classes, name="head"),
        ],
        name="seq_cnn",
    )


def functional_mlp():
    inputs = keras.Input((6,), name="features_in")
    x = layers.Dense(16, activation="relu", name="d1")(inputs)
    x = layers.Dense(8, activation="relu", name="d2")(x)
    outputs = layers.Dense(3, name="head")(x)
    return keras.Model(inputs, outputs, name="func_mlp")


def nested_base_model(num_classes=5, size=16):
    """A "pre-trained" base inside a Functional classifier, as in the keras.io guide."""
    base = sequential_cnn(size=size)
    base = keras.Model(base.inputs, base.get_layer("gap").output, name="base")
    inputs = keras.Input((size, size, 3), name="image")
    x = base(inputs, training=False)
    x = layers.Dropout(0.2, name="drop")(x)
    outputs = layers.Dense(num_classes, name="classifier")(x)
    return keras.Model(inputs, outputs, name="outer")


class SubclassedNet(keras.Model):
    """A model whose graph lives in Python code."""

    def __init__(self):
        super().__init__(name="subclassed")
        self.body = layers.Dense(8, activation="relu", name="body")
        self.head = layers.Dense(2, name="head")

    def call(self, x):
        return self.head(self.body(x))


def subclassed_model():
    model = SubclassedNet()
    model(keras.ops.zeros((1, 4)))
    return model
