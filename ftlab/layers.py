"""Finding your way around a model: leaf layers, nested models, names.

A pre-trained model is often a model inside a model: a keras.applications base
inside your Functional classifier, or a keras-hub backbone inside a task. Keras's
`model.layers` shows a nested model as ONE layer, which is not what you mean when
you say "unfreeze the last 10 layers". This module flattens the tree:

    outer model
    ├── input
    ├── mobilenetv3small        <- a nested model: walked into
    │   ├── conv
    │   ├── conv_bn             <- leaf layers
    │   └── ...
    ├── global_average_pooling2d
    └── dense

A *leaf* is any layer that is not itself a model. A custom layer that holds
sublayers (a keras-hub TransformerEncoder, say) counts as one leaf: it is the
unit you freeze or unfreeze.

Every function here checks its input first and raises an error that says what
is wrong and how to fix it, before any work is done.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass

import keras


@dataclass(frozen=True)
class LeafLayer:
    """A leaf layer and where it sits: `path` is "outer/inner/name"."""

    layer: keras.layers.Layer
    path: str

    @property
    def has_weights(self) -> bool:
        return len(self.layer.weights) > 0


def is_model(layer) -> bool:
    """True for a Keras model (Sequential, Functional, subclassed, keras-hub)."""
    return isinstance(layer, keras.Model)


def is_batchnorm(layer) -> bool:
    """True for BatchNormalization (and subclasses such as SyncBatchNormalization)."""
    return isinstance(layer, keras.layers.BatchNormalization)


def check_built(model) -> None:
    """Raise a clear error if `model` has no weights yet.

    A model built without an input shape has no weights, so there is nothing to
    freeze, count or cut.
    """
    if not isinstance(model, keras.layers.Layer):
        raise TypeError(
            f"Expected a Keras model, got {type(model).__name__}. "
            "Pass a keras.Model (Sequential, Functional or a keras-hub model)."
        )
    if not model.built:
        raise ValueError(
            f"Model '{model.name}' is not built yet, so it has no weights. "
            "Fix: give it an input shape, e.g. keras.Input(shape=(32, 32, 3)) as its "
            "first layer, or call model.build((None, 32, 32, 3)) or model(batch) first."
        )


def iter_leaves(model, prefix: str = "") -> Iterator[LeafLayer]:
    """Yield the leaf layers of `model` depth first, walking into nested models.

    Example:
        >>> import keras
        >>> base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="inner")],
        ...                         name="base")
        >>> model = keras.Sequential([keras.Input((4,)), base, keras.layers.Dense(2, name="out")])
        >>> [leaf.path for leaf in iter_leaves(model)]
        ['base/inner', 'out']
    """
    for layer in sublayers(model):
        path = f"{prefix}{layer.name}"
        if isinstance(layer, keras.layers.InputLayer):
            continue  # a placeholder for the data: no weights, nothing to freeze
        if is_model(layer):
            yield from iter_leaves(layer, prefix=path + "/")
        else:
            yield LeafLayer(layer, path)


def sublayers(model) -> list:
    """The direct sublayers of a model, in the order Keras keeps them.

    For keras-hub tasks this includes the backbone; the preprocessor is skipped
    because it owns no trainable weights and is not part of the network graph.
    """
    layers = list(model.layers)
    preprocessor = getattr(model, "preprocessor", None)
    return [layer for layer in layers if layer is not preprocessor]


def leaf_layers(model) -> list[LeafLayer]:
    """All leaf layers of a built model, with their paths (see `iter_leaves`).

    Example:
        >>> import keras, ftlab
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="out")])
        >>> [(leaf.path, leaf.has_weights) for leaf in ftlab.leaf_layers(model)]
        [('out', True)]
    """
    check_built(model)
    return list(iter_leaves(model))


def all_names(model) -> list[str]:
    """Names of every layer and nested model, for "did you mean" messages."""
    names = []
    for layer in sublayers(model):
        names.append(layer.name)
        if is_model(layer):
            names.extend(all_names(layer))
    return names


def unknown_name_error(name: str, model) -> ValueError:
    """A ValueError for a layer name that does not exist, naming close matches."""
    names = all_names(model)
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    return ValueError(
        f"Model '{model.name}' has no layer named '{name}'.{hint} "
        f"Its layers are: {shown}. Use ftlab.trainable_report(model) to see them all."
    )


def find_leaf_index(model, name: str) -> int:
    """Index in `leaf_layers(model)` of the layer called `name`.

    `name` may be a leaf's name, its path ("base/conv1"), or the name of a
    nested model, which stands for its first leaf.
    """
    leaves = leaf_layers(model)
    for index, leaf in enumerate(leaves):
        parts = leaf.path.split("/")
        if name in (leaf.path, leaf.layer.name) or name in parts[:-1]:
            return index
    raise unknown_name_error(name, model)
