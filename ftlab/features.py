"""Feature caching: run the frozen body once, train the head many times fast.

While the body is frozen, it computes the same features for an image in
every epoch. Training the head with the body in the loop repeats that work
every epoch, and the body is where nearly all the computation is:

    every epoch:   image -> [ frozen body: millions of multiply-adds ] -> features -> [ head ]

So compute the features once, keep them, and train the head on them:

    once:          image -> [ frozen body ] -> features  (cached)
    every epoch:                               features -> [ head ]

The head learns exactly what it would have learned with the body in the loop
(the same numbers go in), often 10-100x faster. The price: no random data
augmentation (each image is seen through the body once, so one version of
it is cached), and no fine-tuning of the body in this phase. Afterwards,
`attach_head` puts the trained head back on the body, ready for stage two
of fine-tuning (`ftlab.fine_tune(..., head_epochs=0, epochs=n)`).

Example:
    >>> import numpy as np, keras
    >>> body = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3),
    ...                          keras.layers.GlobalAveragePooling2D()])
    >>> images, labels = np.random.rand(20, 8, 8, 3), np.random.randint(0, 2, 20)
    >>> features, labels = cache_features(body, (images, labels))
    >>> features.shape
    (20, 4)
    >>> head, history = train_head_on_features(2, features, labels, epochs=2)
    >>> attach_head(body, head).output_shape
    (None, 2)
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from ftlab.data_checks import check_dataset, check_epochs, check_positive, iter_batches
from ftlab.heads import add_head
from ftlab.training import default_loss, make_optimizer, resolve_metrics


def cache_features(body, data, *, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Run `body` once over `data` in inference mode; return (features, labels).

    Inference mode (`training=False`) matters: Dropout is off and
    BatchNormalization uses its stored statistics, exactly as in a frozen
    body during fine-tuning.

    Args:
        body: a built Keras model, e.g. `ftlab.remove_head(model)`.
        data: a batched `tf.data.Dataset` of (images, labels), or an
            (images, labels) tuple of arrays. A Dataset is read once, so the
            features and labels stay paired even if it shuffles.
        batch_size: for array data.

    Returns:
        `(features, labels)` as NumPy arrays, one row per example.

    Example:
        >>> import numpy as np, keras
        >>> body = keras.Sequential([keras.Input((3,)), keras.layers.Dense(5)])
        >>> features, labels = cache_features(body, (np.ones((7, 3)), np.arange(7)))
        >>> features.shape, labels.tolist()
        ((7, 5), [0, 1, 2, 3, 4, 5, 6])
    """
    check_dataset(data, body, name="data", check_labels=False)
    features, labels = [], []
    for x, y in iter_batches(data, batch_size):
        features.append(np.asarray(body.predict_on_batch(x)))  # inference mode
        labels.append(np.asarray(y))
    return np.concatenate(features), np.concatenate(labels)


def make_head(
    feature_shape: Sequence[int],
    num_classes: int,
    *,
    hidden: Sequence[int] = (),
    dropout: float = 0.0,
    name: str = "head",
) -> keras.Model:
    """A small classifier head for features of `feature_shape`.

    Feature maps (height, width, channels) or sequences are average-pooled
    first, then optional hidden Dense layers, then `Dense(num_classes)`
    giving logits.

    Example:
        >>> make_head((4, 4, 16), 3).output_shape
        (None, 3)
    """
    inputs = keras.Input(tuple(feature_shape), name="features")
    outputs = add_head(inputs, num_classes, hidden=hidden, dropout=dropout, name="logits")
    return keras.Model(inputs, outputs, name=name)


def train_head_on_features(
    head,
    features: np.ndarray,
    labels: np.ndarray,
    *,
    val: tuple[np.ndarray, np.ndarray] | None = None,
    epochs: int = 10,
    lr: float = 1e-3,
    batch_size: int = 32,
    shuffle: bool = True,
    seed: int = 0,
    optimizer="adam",
    loss=None,
    metrics: Sequence = ("accuracy",),
    callbacks: Sequence = (),
    steps_per_execution: int = 32,
    verbose=0,
):
    """Train a head on cached features. Returns `(head, history)`.

    A head is tiny, so each training step takes a fraction of a millisecond of
    real work and the time goes into overheads. Two settings remove most of them:

    * the features go in as a `tf.data.Dataset` held in memory (made once),
      not as arrays that `fit` turns into a new pipeline every epoch;
    * `steps_per_execution=32`: Keras runs 32 steps per call into TensorFlow
      instead of one (it changes nothing in what is learned).

    Args:
        head: a Keras model that takes the features, or a number of classes
            (a head is made with `make_head`).
        features, labels: from `cache_features`.
        val: optional (features, labels) for validation, also cached.
        epochs, lr, batch_size, optimizer, loss, metrics, callbacks, verbose:
            as for `fit`; the loss defaults to cross-entropy from logits.
        shuffle: reshuffle the examples every epoch (with `seed`).
        steps_per_execution: training steps per call into TensorFlow; 1 is
            Keras's default.

    Example:
        >>> import numpy as np
        >>> features, labels = np.random.rand(40, 6), np.random.randint(0, 3, 40)
        >>> head, history = train_head_on_features(3, features, labels, epochs=3)
        >>> len(history.history["loss"])
        3
    """
    check_epochs(epochs, "epochs")
    check_positive(lr, "lr")
    check_positive(batch_size, "batch_size")
    features, labels = np.asarray(features), np.asarray(labels)
    if not isinstance(head, keras.Model):
        head = make_head(features.shape[1:], head)
    summary = check_dataset((features, labels), head, name="features")
    if val is not None:
        check_dataset(tuple(val), head, name="validation features")
    head.compile(
        optimizer=make_optimizer(optimizer, lr),
        loss=loss if loss is not None else default_loss(head, summary.label_kind),
        metrics=resolve_metrics(metrics, head),
        steps_per_execution=steps_per_execution,
    )
    train = features_dataset(features, labels, batch_size, shuffle=shuffle, seed=seed)
    history = head.fit(
        train,
        validation_data=None if val is None else features_dataset(*val, batch_size),
        epochs=epochs,
        shuffle=False,  # the Dataset shuffles itself
        callbacks=list(callbacks),
        verbose=verbose,
    )
    return head, history


def features_dataset(
    features, labels, batch_size: int = 32, *, shuffle: bool = False, seed: int = 0
) -> tf.data.Dataset:
    """Cached features as a batched `tf.data.Dataset` held in memory.

    Example:
        >>> ds = features_dataset(np.zeros((10, 4)), np.zeros(10), batch_size=4)
        >>> [int(x.shape[0]) for x, _ in ds]
        [4, 4, 2]
    """
    dataset = tf.data.Dataset.from_tensor_slices((features, labels))
    if shuffle:
        dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def attach_head(body, head, *, name: str | None = None) -> keras.Model:
    """Put a head trained on cached features back on its body: one model.

    The new model shares the layers (and weights) of `body` and `head`; no
    copies are made.

    Example:
        >>> import keras
        >>> body = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)])
        >>> head = make_head((4,), 2)
        >>> model = attach_head(body, head)
        >>> model.output_shape, model.layers[-1] is head
        ((None, 2), True)
    """
    body_shape = tuple(body.output_shape[1:])
    head_shape = tuple(head.input_shape[1:])
    if body_shape != head_shape:
        raise ValueError(
            f"The body gives features of shape {body_shape} but the head takes "
            f"{head_shape}. Fix: train the head on features from this body "
            "(cache_features(body, data))."
        )
    inputs = keras.Input(tuple(body.input_shape[1:]), name="image")
    outputs = head(body(inputs, training=False))
    return keras.Model(inputs, outputs, name=name or f"{body.name}_with_{head.name}")
