"""Reproducible runs: the same seed gives the same numbers.

Training is full of randomness: initial weights, the order of the batches,
dropout masks, data augmentation. Each draws from a random number generator,
and there are several: Python's `random`, NumPy's, TensorFlow's, Keras's own.
`seed_everything` seeds them all, so that running a notebook twice gives the
same model, and a graded exercise the same answer.

Seeding is not quite enough. Some operations add numbers in an order that
varies from run to run (several threads finishing in any order), and floating
point addition is not associative: (a + b) + c can differ from a + (b + c) in
the last bits, and training amplifies such differences.
`tf.config.experimental.enable_op_determinism()` makes TensorFlow use
deterministic algorithms, a little slower. With both, runs on the same machine
(here: CPU) give identical results. Other machines or library versions may
still differ slightly.

Example:
    >>> import keras
    >>> seed_everything(42)
    >>> a = keras.random.uniform((2,)).numpy()
    >>> seed_everything(42)
    >>> b = keras.random.uniform((2,)).numpy()
    >>> bool((a == b).all())
    True
"""

from __future__ import annotations

import os

import keras
import tensorflow as tf


def seed_everything(seed: int, *, deterministic: bool = True) -> None:
    """Seed Python, NumPy, TensorFlow and Keras; optionally make TF ops deterministic.

    Args:
        seed: any whole number >= 0.
        deterministic: also call `tf.config.experimental.enable_op_determinism()`
            (False turns determinism off again: faster, but runs may differ in
            the last digits).

    `PYTHONHASHSEED` is set too: it fixes the order of sets and dicts of
    strings, but only for Python processes started from now on (e.g. data
    loading workers), not for this one.

    Example:
        >>> import numpy as np
        >>> seed_everything(0); first = np.random.rand()
        >>> seed_everything(0); second = np.random.rand()
        >>> first == second
        True
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}.")
    os.environ["PYTHONHASHSEED"] = str(seed)
    keras.utils.set_random_seed(seed)  # Python random, NumPy, TensorFlow, Keras
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    else:
        # TensorFlow has no public switch to turn determinism off again.
        from tensorflow.python.framework import config as tf_config

        tf_config.disable_op_determinism()


def is_deterministic() -> bool:
    """True if TensorFlow's op determinism is on (see `seed_everything`)."""
    from tensorflow.python.framework import config as tf_config

    return bool(tf_config.is_op_determinism_enabled())
