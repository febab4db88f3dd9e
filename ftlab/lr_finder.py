"""The learning-rate range test: find a good learning rate in one short run.

Pick the learning rate too small and training crawls; too large and the loss
explodes. The range test (Leslie Smith, 2015; fastai's `lr_find`) tries them
all in one run: start tiny, multiply the learning rate by the same factor
after every batch, and record the loss.

    loss
     |‾‾‾‾‾‾‾‾‾‾\\                 /   <- too large: the loss diverges
     |           \\               /
     |            \\_____    ____/
     |                  ‾‾‾‾
     +----------------------------- learning rate (log scale)
      1e-7        ^ steepest  ^ minimum

A good learning rate is where the loss falls fastest ("steepest"), or about
ten times below the one with the lowest loss ("minimum / 10").

The loss of a single batch is noisy, so it is smoothed with an exponential
moving average before looking for those points. The test stops early once
the smoothed loss is four times its best value: it has diverged.

The model is left exactly as it was: its weights, its BatchNormalization
statistics, and its optimizer (the test uses its own).

Example:
    >>> import numpy as np, keras
    >>> keras.utils.set_random_seed(0)
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> x, y = np.random.rand(256, 3).astype("float32"), np.random.randint(0, 2, 256)
    >>> result = lr_find(model, (x, y), steps=30)
    >>> 1e-7 <= result.suggestion <= 1.0
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from ftlab.data_checks import check_dataset, check_positive
from ftlab.training import default_loss, make_optimizer


@dataclass
class LRFinderResult:
    """What `lr_find` measured.

    Attributes:
        lrs: the learning rate of each step.
        losses: the smoothed loss after each step.
        raw_losses: the loss of each batch, unsmoothed.
        steepest: learning rate where the smoothed loss falls fastest.
        minimum: learning rate with the lowest smoothed loss.
        suggestion: `steepest`, or `minimum / 10` when there is no clear descent.
        diverged: True if the test stopped early because the loss exploded.
    """

    lrs: np.ndarray
    losses: np.ndarray
    raw_losses: np.ndarray
    steepest: float
    minimum: float
    suggestion: float
    diverged: bool = False
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"LR range test over {len(self.lrs)} steps ({self.lrs[0]:.1e} to "
            f"{self.lrs[-1]:.1e}{', stopped: loss diverged' if self.diverged else ''}).\n"
            f"  steepest descent at {self.steepest:.1e}\n"
            f"  lowest loss at {self.minimum:.1e} (/10 = {self.minimum / 10:.1e})\n"
            f"  suggestion: {self.suggestion:.1e}"
        )

    def plot(self, path=None, *, ax=None):
        """Draw loss against learning rate (log scale), suggestion marked.

        Saves to `path` if given. Returns the matplotlib Figure.
        """
        from matplotlib.figure import Figure

        if ax is None:
            fig = Figure(figsize=(6, 4))
            ax = fig.subplots()
        else:
            fig = ax.figure
        ax.plot(self.lrs, self.raw_losses, color="lightgray", label="batch loss")
        ax.plot(self.lrs, self.losses, color="C0", label="smoothed loss")
        ax.axvline(
            self.suggestion, color="C3", linestyle="--", label=f"suggestion {self.suggestion:.1e}"
        )
        ax.axvline(self.minimum, color="C2", linestyle=":", label=f"lowest loss {self.minimum:.1e}")
        ax.set_xscale("log")
        finite = self.losses[np.isfinite(self.losses)]
        if finite.size:
            low, high = finite.min(), min(finite.max(), 4 * finite.min() + 1e-12)
            ax.set_ylim(low - 0.05 * (high - low + 1e-12), high + 0.05 * (high - low + 1e-12))
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss")
        ax.set_title("Learning-rate range test")
        ax.legend()
        if path is not None:
            fig.savefig(path, bbox_inches="tight")
        return fig


def lr_find(
    model,
    data,
    *,
    min_lr: float = 1e-7,
    max_lr: float = 1.0,
    steps: int = 100,
    loss=None,
    optimizer="adam",
    batch_size: int = 32,
    smoothing: float = 0.98,
    diverge_factor: float = 4.0,
) -> LRFinderResult:
    """Run the learning-rate range test on `model` and leave the model untouched.

    Args:
        model: a built Keras model; its trainable weights take part (freeze the
            body first to find the head's learning rate).
        data: a batched `tf.data.Dataset` of (x, y), or an (x, y) tuple. It is
            repeated if it has fewer than `steps` batches.
        min_lr, max_lr: the range to sweep; the rate grows by the same factor
            every step.
        steps: how many batches (steps) the sweep lasts at most.
        loss: default: the model's compiled loss, else the usual
            cross-entropy for its output (`ftlab.training.default_loss`).
        optimizer: the kind of optimizer to test with (a name or a callable
            taking the learning rate). Default "adam".
        batch_size: for array data.
        smoothing: weight of the past in the moving average of the loss.
        diverge_factor: stop when the smoothed loss exceeds this many times its
            best value.

    Returns:
        An `LRFinderResult`; `.plot()` draws the curve.

    The sweep is a small custom training loop (`tf.GradientTape`) with its own
    optimizer, which is how the model's compiled state stays untouched. It
    runs on one device: call it outside a `tf.distribute` strategy.

    Example:
        >>> import numpy as np, keras
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> x = np.random.rand(128, 2).astype("float32"); y = x @ [[1.0], [-2.0]]
        >>> result = lr_find(model, (x, y), loss="mse", optimizer="sgd", steps=40)
        >>> float(result.lrs[0]), len(result.lrs) <= 40
        (1e-07, True)
    """
    check_positive(min_lr, "min_lr")
    check_positive(max_lr, "max_lr")
    if min_lr >= max_lr:
        raise ValueError(f"min_lr ({min_lr}) must be below max_lr ({max_lr}).")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be a whole number >= 2, got {steps!r}.")
    loss_fn = _loss_function(model, loss, data)
    batches = _endless_batches(data, batch_size)

    saved = [v.numpy() for v in model.variables]  # weights, BN statistics, RNG state
    try:
        lrs, raw = _sweep(
            model, batches, loss_fn, optimizer, min_lr, max_lr, steps, smoothing, diverge_factor
        )
    finally:
        for variable, value in zip(model.variables, saved):
            variable.assign(value)
    return _analyse(np.array(lrs), np.array(raw), smoothing, diverged=len(lrs) < steps)


def _loss_function(model, loss, data):
    if loss is None:
        loss = getattr(model, "loss", None)
    if loss is None:
        loss = default_loss(model, check_dataset(data, model).label_kind)
    return keras.losses.get(loss)


def _endless_batches(data, batch_size):
    if isinstance(data, tf.data.Dataset):
        return iter(data.repeat())
    x, y = data[0], data[1]
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=0)
    return iter(dataset.batch(batch_size).repeat())


def _sweep(model, batches, loss_fn, optimizer, min_lr, max_lr, steps, smoothing, diverge_factor):
    """Train one batch per learning rate, each rate `ratio` times the last."""
    ratio = (max_lr / min_lr) ** (1 / (steps - 1))
    tester = make_optimizer(optimizer, min_lr)  # our own: the model's stays untouched
    weights = model.trainable_variables
    tester.build(weights)

    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            predictions = model(x, training=True)
            value = tf.reduce_mean(
                loss_fn(y, predictions)
            )  # a loss *function* gives one per example
            if model.losses:
                value = value + tf.add_n(model.losses)
        tester.apply(tape.gradient(value, weights), weights)
        return value

    lrs, raw = [], []
    average, best = 0.0, math.inf
    for step in range(steps):
        lr = min_lr * ratio**step
        tester.learning_rate = lr
        x, y = next(batches)
        value = float(train_step(x, y))
        lrs.append(lr)
        raw.append(value)
        average = smoothing * average + (1 - smoothing) * value
        smoothed = average / (1 - smoothing ** (step + 1))  # bias correction
        if not math.isfinite(smoothed) or smoothed > diverge_factor * best:
            break
        best = min(best, smoothed)
    return lrs, raw


def _smooth(raw: np.ndarray, smoothing: float) -> np.ndarray:
    out, average = np.empty(len(raw)), 0.0
    for i, value in enumerate(raw):
        average = smoothing * average + (1 - smoothing) * value
        out[i] = average / (1 - smoothing ** (i + 1))
    return out


def _analyse(lrs, raw, smoothing, *, diverged) -> LRFinderResult:
    """Find the steepest descent and the minimum of the smoothed curve."""
    losses = _smooth(raw, smoothing)
    finite = np.isfinite(losses)
    usable = np.flatnonzero(finite)
    # Ignore the last steps of a diverged run: they are the explosion.
    if diverged and len(usable) > 3:
        usable = usable[:-1]
    minimum = float(lrs[usable[np.argmin(losses[usable])]]) if usable.size else float(lrs[0])
    notes = []
    # Look for the steepest descent between the first steps (the smoothed loss is
    # still settling there, so its slope is noise, as fastai also knows) and the
    # minimum (past it, the loss only climbs).
    lowest = int(np.argmin(losses[usable]))
    candidates = usable[max(1, len(usable) // 10) : lowest + 1]
    if candidates.size >= 3:
        slopes = np.gradient(losses[candidates], np.log(lrs[candidates]))
        steepest = float(lrs[candidates[np.argmin(slopes)]])
        suggestion = steepest
        if slopes.min() >= 0:
            notes.append("the loss never fell; try a smaller min_lr or more steps")
            suggestion = minimum / 10
    elif usable.size >= 3:
        steepest = minimum
        suggestion = minimum / 10
        notes.append("the loss fell only in the first steps, if at all; try a smaller min_lr")
    else:
        steepest = minimum
        suggestion = minimum / 10
        notes.append("too few steps before divergence; try a smaller max_lr")
    return LRFinderResult(
        lrs=lrs,
        losses=losses,
        raw_losses=raw,
        steepest=steepest,
        minimum=minimum,
        suggestion=suggestion,
        diverged=diverged,
        notes=notes,
    )
