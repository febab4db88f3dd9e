"""Removing a model's head and putting a new one on.

A classifier is a *body* that turns an image (or a sentence) into features and
a *head* that turns features into class scores. The car model's head knows the
old classes; to recognize trucks we cut it off and put a new head on:

    image -> [ body: conv blocks ... ] -> features -> [ head: Dense(9) ]   old
    image -> [ body: conv blocks ... ] -> features -> [ head: Dense(2) ]   new

`remove_head` gives you the body as a feature extractor. `swap_head` builds a
whole new classifier: body, pooling where the body ends in a feature map,
optional hidden layers and dropout, and a fresh `Dense(num_classes)`.

Cutting works on models that Keras knows as a graph of layers: Sequential,
Functional, keras.applications and keras-hub models. A subclassed model's
`call()` is plain Python, so its graph cannot be cut; you get an error that
says what to do instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from ftlab.layers import all_names, check_built, is_model, unknown_name_error


def remove_head(model, *, layers: int = 1, up_to: str | None = None) -> keras.Model:
    """Cut the last layers off a model and return the body as a feature extractor.

    The new model shares the original's layers and weights (nothing is copied):
    training it trains the original too.

    Args:
        model: a built Sequential or Functional model (keras.applications and
            keras-hub models are Functional).
        layers: how many layers to remove, walking back from the output.
        up_to: instead of `layers`, the name of the layer whose output becomes
            the new output. It may sit inside a nested model (a pre-trained base).

    Example:
        >>> import keras, ftlab
        >>> model = keras.Sequential([keras.Input((4,)),
        ...     keras.layers.Dense(8, name="features"), keras.layers.Dense(3, name="old_head")])
        >>> body = ftlab.remove_head(model)
        >>> body.output_shape
        (None, 8)
        >>> body.get_layer("features") is model.get_layer("features")
        True
    """
    check_graph_model(model)
    if up_to is not None:
        output = _output_of_named_layer(model, up_to)
    else:
        output = _walk_back(model, layers)
    return keras.Model(_graph_input(model), output, name=f"{model.name}_body")


def swap_head(
    model,
    num_classes: int,
    *,
    remove: int = 1,
    up_to: str | None = None,
    hidden: Sequence[int] = (),
    dropout: float = 0.0,
    activation: str | None = None,
    share_weights: bool = False,
    name: str | None = None,
) -> keras.Model:
    """Replace a model's head with a new `Dense(num_classes)` head.

    Args:
        model: a built Sequential or Functional model.
        num_classes: outputs of the new head. Use 1 for a binary head
            (with `activation="sigmoid"` or a from-logits loss).
        remove: how many layers to cut off the end (see `remove_head`).
        up_to: instead of `remove`, the layer whose output feeds the new head.
        hidden: sizes of hidden Dense layers (ReLU) to put before the output.
        dropout: dropout rate before each Dense layer of the new head.
        activation: activation of the output layer; None gives logits.
        share_weights: by default the body is a copy, so the original model is
            untouched even after you train the new one (and you can measure
            what fine-tuning made it forget). True reuses the original's
            layers, which saves memory.
        name: the new model's name.

    Returns:
        A new Functional model. The body keeps its `trainable` settings; the
        new head is trainable.

    Example:
        >>> import keras, ftlab
        >>> model = keras.Sequential([keras.Input((8, 8, 3)),
        ...     keras.layers.Conv2D(4, 3), keras.layers.Flatten(), keras.layers.Dense(9)])
        >>> new = ftlab.swap_head(model, 2, remove=2)   # Flatten and Dense go
        >>> new.output_shape                            # pooling was added
        (None, 2)
    """
    _check_head_settings(num_classes, hidden, dropout)
    check_graph_model(model)
    source = model if share_weights else copy_model(model)
    body = remove_head(source, layers=remove, up_to=up_to)
    outputs = add_head(
        body.output, num_classes, hidden=hidden, dropout=dropout, activation=activation
    )
    return keras.Model(_graph_input(source), outputs, name=name or f"{model.name}_new_head")


def add_head(
    features,
    num_classes: int,
    *,
    hidden: Sequence[int] = (),
    dropout: float = 0.0,
    activation: str | None = None,
    name: str = "new_head",
):
    """Stack a classification head on a symbolic feature tensor; return its output.

    Feature maps (4D) and sequences (3D) are average-pooled first, then come the
    optional hidden ReLU layers, each after dropout, then dropout and
    `Dense(num_classes)` called `name`. `swap_head` and `ftlab.features.make_head`
    both build their heads here.

    Example:
        >>> import keras, ftlab
        >>> features = keras.Input((4, 4, 16))
        >>> outputs = ftlab.add_head(features, 3, hidden=(8,), dropout=0.2)
        >>> keras.Model(features, outputs).output_shape
        (None, 3)
    """
    _check_head_settings(num_classes, hidden, dropout)
    x = _pool_to_vector(features)
    for units in hidden:
        if dropout:
            x = keras.layers.Dropout(dropout)(x)
        x = keras.layers.Dense(int(units), activation="relu")(x)
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    return keras.layers.Dense(int(num_classes), activation=activation, name=name)(x)


def copy_model(model) -> keras.Model:
    """An independent copy of a model: same architecture, same weights, same
    `trainable` settings, no shared variables.

    Example:
        >>> import keras, ftlab
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> twin = ftlab.copy_model(model)
        >>> twin.layers[0] is model.layers[0]
        False
    """
    check_built(model)
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    return twin


def check_graph_model(model) -> None:
    """Raise a clear error unless `model` is a built graph (Sequential/Functional)."""
    check_built(model)
    try:
        model.outputs  # noqa: B018 - only graph models have symbolic outputs
    except AttributeError:
        raise TypeError(
            f"'{model.name}' is a subclassed model ({type(model).__name__}): its call() is "
            "Python code, so ftlab cannot cut its graph. Instead, build the new model from "
            "its parts, e.g. keras.Sequential([keras.Input(shape), <its body layer>, "
            "keras.layers.Dense(num_classes)]), or rewrite it as a Functional model."
        ) from None
    if len(model.outputs) != 1:
        raise ValueError(
            f"'{model.name}' has {len(model.outputs)} outputs; swap_head and remove_head "
            "need one. Pick one with up_to='<layer name>'."
        )


def _graph_input(model):
    """The model's symbolic input in its own structure (a tensor, a list or a dict)."""
    if isinstance(model, keras.Sequential):
        return model.inputs[0]  # Sequential keeps its input as a one-item list
    return model.input


def _check_head_settings(num_classes, hidden, dropout) -> None:
    whole = isinstance(num_classes, (int, np.integer)) and not isinstance(num_classes, bool)
    if not whole or num_classes < 1:
        raise ValueError(
            f"num_classes must be a whole number >= 1, got {num_classes!r}. "
            "Use num_classes=1 for a binary (yes/no) head."
        )
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}.")
    if any(int(units) < 1 for units in hidden):
        raise ValueError(f"hidden layer sizes must be >= 1, got {tuple(hidden)}.")


def _walk_back(model, layers: int):
    """The tensor `layers` steps back from the model's output."""
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 1:
        raise ValueError(f"layers must be a whole number >= 1, got {layers!r}.")
    tensor = model.outputs[0]
    for step in range(layers):
        # Every symbolic tensor remembers the layer call that made it.
        history = tensor._keras_history
        layer = history.operation
        if isinstance(layer, keras.layers.InputLayer):
            raise ValueError(
                f"Cannot remove {layers} layers from '{model.name}': only {step} lie "
                "between its input and output. Use a smaller number."
            )
        inputs = layer._inbound_nodes[history.node_index].input_tensors
        if len(inputs) != 1:
            raise ValueError(
                f"Cannot walk back through layer '{layer.name}': it takes {len(inputs)} "
                "inputs, so there is no single body output before it. Name the layer "
                "to cut at with up_to='<layer name>'."
            )
        tensor = inputs[0]
    return tensor


def _output_of_named_layer(model, name: str):
    """The symbolic output of layer `name`, searching nested models too."""
    for layer in model.layers:
        if layer.name == name:
            return _single_output(layer)
    for layer in model.layers:
        if is_model(layer) and name in all_names(layer):
            # Cut the nested model, then call that cut on the tensor that fed it.
            inner = remove_head(layer, up_to=name)
            history_inputs = layer._inbound_nodes[-1].input_tensors
            return inner(history_inputs[0] if len(history_inputs) == 1 else history_inputs)
    raise unknown_name_error(name, model)


def _single_output(layer):
    output = layer.output
    if isinstance(output, (list, tuple, dict)):
        raise ValueError(
            f"Layer '{layer.name}' has several outputs; pick a layer with one output for up_to."
        )
    return output


def _pool_to_vector(tensor):
    """Global average pooling for feature maps (images) or sequences (text)."""
    if len(tensor.shape) == 4:
        return keras.layers.GlobalAveragePooling2D(name="pool")(tensor)
    if len(tensor.shape) == 3:
        return keras.layers.GlobalAveragePooling1D(name="pool")(tensor)
    if len(tensor.shape) != 2:
        raise ValueError(
            f"The body's output has shape {tensor.shape}; swap_head knows how to pool "
            "images (4D) and sequences (3D). Cut at another layer with up_to=..."
        )
    return tensor
