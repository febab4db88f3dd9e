"""Checking data and settings before training starts.

A training run that fails after ten minutes, or worse, one that runs and learns
nothing, is often caused by something we could have seen in the first batch:

* the data set is empty (a filter that kept nothing, a wrong folder);
* a label is outside [0, num_classes) (the truck class is 9 but the new head
  has 2 outputs);
* the images have another shape than the model expects (64x64 into a 32x32
  model, or a data set that was never `.batch()`-ed);
* a learning rate of 0 or less, or a negative number of epochs.

The functions here look at a few batches and raise a `ValueError` that names
the problem and the fix, before any training happens.

Data may be a `tf.data.Dataset` of `(x, y)` or `(x, y, sample_weight)`
batches, or an `(x, y)` tuple of NumPy arrays.

Example:
    >>> import numpy as np, keras
    >>> from ftlab.data_checks import check_dataset
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> x, y = np.zeros((10, 4), "float32"), np.array([0, 1, 2, 5, 0, 1, 2, 0, 1, 2])
    >>> check_dataset((x, y), model)
    Traceback (most recent call last):
    ...
    ValueError: train data: label 5 is outside [0, 3): the model has 3 outputs, ...
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

#: How many batches of a tf.data.Dataset are looked at by default.
PEEK_BATCHES = 3


@dataclass(frozen=True)
class DataSummary:
    """What `check_dataset` saw.

    Attributes:
        x_shape: shape of one example (no batch dimension).
        label_kind: "sparse" (class numbers), "one_hot" or "binary" (0/1 for a
            one-unit output).
        num_examples: examples counted (all of them for arrays, only the peeked
            batches for a data set).
        labels_seen: the distinct labels seen (class numbers).
    """

    x_shape: tuple
    label_kind: str
    num_examples: int
    labels_seen: tuple


def check_positive(value, name: str) -> None:
    """Raise unless `value` is a number > 0 (a learning rate, a batch size).

    Example:
        >>> check_positive(0.0, "lr")
        Traceback (most recent call last):
        ...
        ValueError: lr must be a number > 0, got 0.0. A typical learning rate is 1e-3 ...
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name} must be a number > 0, got {value!r}.")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(
            f"{name} must be a number > 0, got {value!r}. A typical learning rate is 1e-3 "
            "for a new head and 1e-4 or 1e-5 for fine-tuning."
        )


def check_epochs(value, name: str = "epochs") -> None:
    """Raise unless `value` is a whole number >= 0 (0 means: skip this stage)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a whole number >= 0, got {value!r}.")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}. Use {name}=0 to skip this stage.")


def model_num_classes(model) -> int | None:
    """The number of outputs of a single-output classifier (None if unknown)."""
    try:
        shape = model.output_shape
    except (AttributeError, ValueError, RuntimeError):
        return None
    if not isinstance(shape, tuple) or not shape or isinstance(shape[0], (tuple, list)):
        return None  # several outputs
    return shape[-1]


def output_is_probabilities(model) -> bool:
    """True when the model ends in softmax or sigmoid, False when it gives logits.

    Keras losses need to know which (`from_logits=True` for logits). We look at
    the activation of the last layer, the way the model was built.
    """
    last = _last_layer(model)
    activation = getattr(last, "activation", None)
    return activation in (keras.activations.softmax, keras.activations.sigmoid)


def _last_layer(model):
    layer = model
    while isinstance(layer, keras.Model) and layer.layers:
        layer = layer.layers[-1]
    return layer


def model_input_shape(model) -> tuple | None:
    """Shape of one input example (no batch dimension), or None if unknown."""
    try:
        shape = model.input_shape
    except (AttributeError, ValueError, RuntimeError):
        return None
    if not isinstance(shape, tuple) or not shape or isinstance(shape[0], (tuple, list)):
        return None  # several inputs, or a dict
    return tuple(shape[1:])


def check_dataset(
    data,
    model=None,
    *,
    name: str = "train",
    num_classes: int | None = None,
    peek_batches: int = PEEK_BATCHES,
    check_labels: bool = True,
) -> DataSummary:
    """Check data before training on it; raise a ValueError naming problem and fix.

    Args:
        data: a batched `tf.data.Dataset` of `(x, y)` (or `(x, y, weight)`), or an
            `(x, y)` tuple of arrays.
        model: the model that will train on it: its input shape and number of
            outputs are what the data is checked against.
        name: what to call the data in messages ("train", "validation").
        num_classes: the number of classes, when there is no model to ask.
        peek_batches: how many batches of a Dataset to look at. Arrays are
            checked completely.
        check_labels: False skips checking labels against the model's outputs
            (for a body that gives features, not class scores).

    Returns:
        A `DataSummary` of what was seen.

    Example:
        >>> import numpy as np, keras
        >>> model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
        ...                           keras.layers.Dense(2)])
        >>> images = np.zeros((4, 8, 8, 3), "float32")
        >>> check_dataset((images, np.array([0, 1, 1, 0])), model).label_kind
        'sparse'
    """
    expected = model_input_shape(model) if model is not None else None
    _check_batched(data, expected, name)
    x, y = _peek(data, name, peek_batches)
    if model is not None:
        _check_shape(x, expected, name)
        if num_classes is None and check_labels:
            num_classes = model_num_classes(model)
    label_kind = _check_labels(y, num_classes, name)
    labels = _as_class_numbers(y, label_kind)
    return DataSummary(
        x_shape=tuple(x.shape[1:]),
        label_kind=label_kind,
        num_examples=int(x.shape[0]),
        labels_seen=tuple(int(v) for v in np.unique(labels)),
    )


def _peek(data, name: str, peek_batches: int) -> tuple[np.ndarray, np.ndarray]:
    """The examples to check, as (x, y) arrays with a batch dimension first."""
    if isinstance(data, tf.data.Dataset):
        return _peek_dataset(data, name, peek_batches)
    if isinstance(data, (tuple, list)) and len(data) in (2, 3):
        x, y = np.asarray(data[0]), np.asarray(data[1])
        if len(x) == 0:
            raise ValueError(
                f"{name} data is empty (0 examples). Fix: check how it was made, e.g. "
                "that a filter kept some examples or that the folder holds images."
            )
        if len(x) != len(y):
            raise ValueError(
                f"{name} data has {len(x)} images but {len(y)} labels. Fix: pass one "
                "label per image."
            )
        return x, y
    raise TypeError(
        f"{name} data must be a tf.data.Dataset of (images, labels) batches or an "
        f"(images, labels) tuple of arrays, got {type(data).__name__}."
    )


def _peek_dataset(data, name: str, peek_batches: int):
    if data.cardinality() == 0:
        raise ValueError(
            f"{name} data set is empty (0 batches). Fix: check how it was made, e.g. "
            "that .filter() kept some examples, .take(n) has n > 0, or the folder "
            "holds images."
        )
    spec = data.element_spec
    if not isinstance(spec, tuple) or len(spec) not in (2, 3):
        raise ValueError(
            f"{name} data set must yield (images, labels) pairs, but yields {spec}. "
            "Fix: map it, e.g. ds.map(lambda example: (example['image'], "
            "example['label']))."
        )
    xs, ys = [], []
    for batch in data.take(peek_batches):
        xs.append(np.asarray(batch[0]))
        ys.append(np.asarray(batch[1]))
    if not xs:
        raise ValueError(
            f"{name} data set is empty (it yielded no batches). Fix: check how it was "
            "made, e.g. that .filter() kept some examples."
        )
    if any(x.shape[1:] != xs[0].shape[1:] for x in xs):
        return xs[0], ys[0]  # ragged sizes: check the first batch only
    return np.concatenate(xs), np.concatenate(ys)


def _check_batched(data, expected: tuple | None, name: str) -> None:
    """A data set whose elements have the shape of ONE example was never batched."""
    if expected is None or not isinstance(data, tf.data.Dataset):
        return
    spec = data.element_spec
    if not isinstance(spec, tuple) or not hasattr(spec[0], "shape"):
        return
    rank = spec[0].shape.rank
    if rank is not None and rank == len(expected):
        raise ValueError(
            f"{name} data set looks unbatched: each element has shape "
            f"{tuple(spec[0].shape)}, one example, while the model takes batches of shape "
            f"(batch, {_fmt(expected)}). Fix: call .batch(32) on the data set."
        )


def _check_shape(x: np.ndarray, expected: tuple | None, name: str) -> None:
    if expected is None:
        return
    got = tuple(x.shape[1:])
    if len(got) == len(expected) and all(e is None or e == g for e, g in zip(expected, got)):
        return
    if len(expected) == 3 and len(got) == 3:
        fix = (
            "resize them, e.g. ds.map(lambda x, y: "
            f"(keras.ops.image.resize(x, {tuple(expected[:2])}), y)), or build the model "
            "for this image size"
        )
    else:
        fix = f"give each example the shape ({_fmt(expected)}), or build the model for yours"
    raise ValueError(
        f"{name} examples have shape ({_fmt(got)}) but the model expects "
        f"({_fmt(expected)}). Fix: {fix}."
    )


def _fmt(shape) -> str:
    return ", ".join("None" if s is None else str(s) for s in shape)


def _check_labels(y: np.ndarray, num_classes: int | None, name: str) -> str:
    """Which kind the labels are ("sparse", "one_hot", "binary"), after checking them."""
    if num_classes is not None and num_classes > 1 and y.ndim >= 2 and y.shape[-1] > 1:
        if y.shape[-1] != num_classes:
            raise ValueError(
                f"{name} labels are one-hot with {y.shape[-1]} columns but the model has "
                f"{num_classes} outputs. Fix: one column per class, or a head with "
                f"{y.shape[-1]} outputs (ftlab.swap_head(model, {y.shape[-1]}))."
            )
        return "one_hot"
    values = y.reshape(-1)
    if values.size and not np.all(np.isfinite(values.astype("float64"))):
        raise ValueError(f"{name} labels contain NaN or infinity. Fix: clean the labels.")
    if values.size and np.any(values != np.round(values)):
        raise ValueError(
            f"{name} labels must be class numbers 0, 1, 2, ... but include "
            f"{values[values != np.round(values)][0]!r}. Fix: use integer labels."
        )
    if num_classes is None:
        if values.size and values.min() < 0:
            raise ValueError(f"{name} data has a negative label {int(values.min())}.")
        return "sparse"
    kind = "binary" if num_classes == 1 else "sparse"
    upper = 2 if num_classes == 1 else num_classes
    bad = values[(values < 0) | (values >= upper)]
    if bad.size:
        fix = (
            "a one-unit (binary) head needs labels 0 and 1"
            if num_classes == 1
            else f"renumber the labels to 0..{num_classes - 1}, or give the model a head "
            f"with more outputs (ftlab.swap_head(model, {int(values.max()) + 1}))"
        )
        raise ValueError(
            f"{name} data: label {int(bad[0])} is outside [0, {upper}): the model has "
            f"{num_classes} output{'s' if num_classes != 1 else ''}, so {fix}."
        )
    return kind


def _as_class_numbers(y: np.ndarray, kind: str) -> np.ndarray:
    if kind == "one_hot":
        return np.argmax(y, axis=-1).reshape(-1)
    return y.reshape(-1).astype("int64")


def steps_per_epoch(data, batch_size: int = 32) -> int | None:
    """How many batches one pass over `data` takes (None if it cannot be known).

    Example:
        >>> import numpy as np
        >>> steps_per_epoch((np.zeros((100, 2)), np.zeros(100)), batch_size=32)
        4
    """
    if isinstance(data, tf.data.Dataset):
        n = int(data.cardinality())
        if n == tf.data.INFINITE_CARDINALITY:
            return None
        if n == tf.data.UNKNOWN_CARDINALITY:
            return sum(1 for _ in data)  # count by iterating once
        return n
    return math.ceil(len(data[0]) / batch_size)


def iter_batches(data, batch_size: int = 32):
    """Yield (x, y) batches of `data` once, in order: a Dataset's own batches,
    or slices of `batch_size` examples from an (x, y) tuple of arrays.

    Example:
        >>> import numpy as np
        >>> [len(y) for _, y in iter_batches((np.zeros((5, 2)), np.arange(5)), batch_size=2)]
        [2, 2, 1]
    """
    if isinstance(data, tf.data.Dataset):
        for batch in data:
            yield batch[0], batch[1]
        return
    images, labels = np.asarray(data[0]), np.asarray(data[1])
    for start in range(0, len(images), batch_size):
        yield images[start : start + batch_size], labels[start : start + batch_size]
