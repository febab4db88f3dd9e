"""Fine-tuning in two stages, discriminative learning rates, gradual unfreezing.

The recipe that works for fine-tuning a pre-trained classifier:

1. **Train the head alone.** A new head starts random, so its first gradients
   are large and noisy. Sent back through an unfrozen body they would wreck
   the pre-trained features. So freeze the body and train only the head,
   with a short *warmup* (the learning rate grows from small to its peak)
   and a *cosine decay* (it glides down to zero).
2. **Fine-tune the body gently.** Unfreeze the body (BatchNormalization layers
   stay frozen: see `ftlab.freezing`), RECOMPILE (changes to `trainable` only
   take effect then), and train on with a learning rate about 10x lower.
   *Discriminative* learning rates go further: the early layers (edges and
   textures, useful for any image) learn slower than the late ones (parts
   and objects, specific to the old task).

`fine_tune` does both stages in one call and returns ONE history whose epochs
run on from stage one into stage two:

    epoch:   0   1   2 | 3   4   5   6
    stage:   head only | body + head, lower learning rates
                       ^ history.stage_boundary == 3

Other pieces, usable on their own:

* `warmup_cosine`: the learning-rate schedule of each stage.
* `discriminative_optimizer`: one optimizer per layer group, lower rates for
  earlier groups, built on `keras.optimizers.MultiOptimizer` and
  `keras.optimizers.OptimizerMap`.
* `GradualUnfreezing`: a callback that unfreezes one more block of layers
  every few epochs, from the top down (as in ULMFiT).

Example:
    >>> import numpy as np, keras, ftlab
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, name="body"),
    ...                           keras.layers.Dense(2, name="head")])
    >>> x, y = np.random.rand(64, 4).astype("float32"), np.random.randint(0, 2, 64)
    >>> history = ftlab.fine_tune(model, (x, y), head_epochs=2, epochs=1, verbose=0)
    >>> history.epoch, history.stage_boundary
    ([0, 1, 2], 2)
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import keras
import numpy as np

from ftlab.data_checks import (
    check_dataset,
    check_epochs,
    check_positive,
    model_num_classes,
    output_is_probabilities,
    steps_per_epoch,
)
from ftlab.freezing import count_params
from ftlab.freezing import unfreeze as unfreeze_layers
from ftlab.layers import LeafLayer, find_leaf_index, is_batchnorm, leaf_layers

# ---------------------------------------------------------------------------
# Learning-rate schedules
# ---------------------------------------------------------------------------


def warmup_cosine(
    peak_lr: float,
    total_steps: int,
    *,
    warmup_steps: int = 0,
    start_fraction: float = 0.1,
    end_fraction: float = 0.0,
) -> keras.optimizers.schedules.CosineDecay:
    """A learning rate that warms up linearly, then follows a cosine down.

        lr
        peak |      .--.
             |    /      `.
             |  /           `.
       start |/                `._
             +--------------------- step
             | warmup | cosine decay |

    Built with Keras's own `CosineDecay(..., warmup_target=, warmup_steps=)`.

    Args:
        peak_lr: the highest learning rate, reached at the end of the warmup.
        total_steps: optimizer steps in all (warmup + decay): epochs x batches.
        warmup_steps: steps of linear warmup; 0 starts the decay at once.
        start_fraction: the warmup starts at `peak_lr * start_fraction`.
        end_fraction: the decay ends at `peak_lr * end_fraction`.

    Example:
        >>> schedule = warmup_cosine(1e-3, total_steps=100, warmup_steps=10)
        >>> [round(float(schedule(step)), 6) for step in (0, 10, 55, 100)]
        [0.0001, 0.001, 0.0005, 0.0]
    """
    check_positive(peak_lr, "peak_lr")
    total_steps = max(int(total_steps), 1)
    warmup_steps = min(max(int(warmup_steps), 0), total_steps - 1)
    if warmup_steps == 0:
        return keras.optimizers.schedules.CosineDecay(
            peak_lr, decay_steps=total_steps, alpha=end_fraction
        )
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak_lr * start_fraction,
        decay_steps=total_steps - warmup_steps,
        alpha=end_fraction,
        warmup_target=peak_lr,
        warmup_steps=warmup_steps,
    )


def make_optimizer(optimizer, learning_rate, *, name: str | None = None):
    """A fresh Keras optimizer of the kind named, with the given learning rate.

    Args:
        optimizer: a name ("adam", "sgd", "rmsprop", "adamw", ...) or a callable
            taking the learning rate, e.g.
            `lambda lr: keras.optimizers.SGD(lr, momentum=0.9)`.
        learning_rate: a float or a schedule.

    Example:
        >>> type(make_optimizer("sgd", 0.1)).__name__
        'SGD'
    """
    if callable(optimizer) and not isinstance(optimizer, keras.optimizers.Optimizer):
        return optimizer(learning_rate)
    if isinstance(optimizer, keras.optimizers.Optimizer):
        raise TypeError(
            "Pass the optimizer as a name ('adam') or a function of the learning rate "
            "(lambda lr: keras.optimizers.SGD(lr, momentum=0.9)): fine-tuning needs a "
            "fresh optimizer, with its own learning rate, for each stage and group."
        )
    kind = type(keras.optimizers.get(optimizer))
    kwargs = {"name": name} if name else {}
    return kind(learning_rate=learning_rate, **kwargs)


# ---------------------------------------------------------------------------
# Discriminative learning rates
# ---------------------------------------------------------------------------


def layer_groups(model, groups: int = 3) -> list[list[LeafLayer]]:
    """Split the trainable leaf layers of `model` into `groups` runs, in order.

    Group 0 holds the earliest layers (nearest the input), the last group the
    latest ones (the head). Layers are shared out as evenly as possible; when
    they do not divide evenly, later groups get one more.

    Example:
        >>> import keras
        >>> model = keras.Sequential([keras.Input((2,))] +
        ...     [keras.layers.Dense(2, name=f"d{i}") for i in range(5)])
        >>> [[leaf.path for leaf in group] for group in layer_groups(model, 2)]
        [['d0', 'd1'], ['d2', 'd3', 'd4']]
    """
    trainable = trainable_leaves(model)
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"groups must be a whole number >= 1, got {groups!r}.")
    if not trainable:
        raise ValueError(
            f"Model '{model.name}' has no trainable layers to put into groups. Unfreeze "
            "some first, e.g. ftlab.unfreeze(model)."
        )
    if groups > len(trainable):
        raise ValueError(
            f"groups={groups} is more than the {len(trainable)} trainable layers. Pass "
            f"groups <= {len(trainable)}."
        )
    # Group g gets layers [g * n // groups, (g + 1) * n // groups): later groups
    # get the extra layer when they do not divide evenly.
    bounds = [g * len(trainable) // groups for g in range(groups + 1)]
    return [trainable[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def trainable_leaves(model) -> list[LeafLayer]:
    """The leaf layers that have at least one trainable weight, in order."""
    trainable_ids = {id(v) for v in model.trainable_weights}
    return [
        leaf
        for leaf in leaf_layers(model)
        if any(id(v) in trainable_ids for v in leaf.layer.weights)
    ]


def group_rates(
    learning_rate: float,
    num_groups: int,
    *,
    factor: float = 2.6,
    lr_range: tuple[float, float] | None = None,
) -> list[float]:
    """Learning rate of each group, earliest group first.

    Either each group learns `factor` times slower than the next one (the last
    group gets `learning_rate`; 2.6 is ULMFiT's choice), or the rates are
    spread evenly on a log scale over `lr_range=(lowest, highest)`.

    Example:
        >>> [round(r, 6) for r in group_rates(1e-3, 3, factor=10)]
        [1e-05, 0.0001, 0.001]
        >>> [round(r, 6) for r in group_rates(1e-3, 3, lr_range=(1e-5, 1e-3))]
        [1e-05, 0.0001, 0.001]
    """
    if lr_range is not None:
        low, high = lr_range
        check_positive(low, "lr_range[0]")
        check_positive(high, "lr_range[1]")
        if low > high:
            raise ValueError(f"lr_range must be (lowest, highest), got {lr_range}.")
        if num_groups == 1:
            return [float(high)]
        return [float(r) for r in np.geomspace(low, high, num_groups)]
    check_positive(learning_rate, "learning_rate")
    check_positive(factor, "factor")
    return [learning_rate / factor ** (num_groups - 1 - i) for i in range(num_groups)]


def discriminative_optimizer(
    model,
    learning_rate: float,
    *,
    groups: int | Sequence[Sequence[str]] = 3,
    factor: float = 2.6,
    lr_range: tuple[float, float] | None = None,
    optimizer="adam",
    schedule: Callable[[float], object] | None = None,
    name: str = "discriminative",
) -> keras.optimizers.MultiOptimizer:
    """One optimizer per layer group: earlier groups learn slower.

    The trainable layers are split into groups in order (or you name them).
    Each group gets its own optimizer with its own learning rate, and Keras's
    `MultiOptimizer` sends each weight's gradient to its group's optimizer,
    looked up in an `OptimizerMap` from the weight's path ("conv1/kernel").

    Args:
        model: a built model; its *trainable* layers are grouped, so set
            `trainable` (e.g. `ftlab.unfreeze(model)`) first.
        learning_rate: the rate of the last group (the head).
        groups: how many groups to split the trainable layers into, or the
            groups themselves, earliest first, as lists of layer names or paths
            (a nested model's name stands for all its layers). Trainable layers
            in no group learn at `learning_rate`.
        factor: each group learns `factor` times slower than the next.
        lr_range: instead of `factor`, (lowest, highest) rates, spread on a log
            scale.
        optimizer: the kind of optimizer of each group: a name or a callable
            taking the learning rate (see `make_optimizer`).
        schedule: a callable turning a group's peak rate into a schedule, e.g.
            `lambda peak: warmup_cosine(peak, total_steps=500, warmup_steps=50)`.
        name: the optimizer's name.

    Returns:
        A `keras.optimizers.MultiOptimizer`; `.optimizers[i]` is group i's.
        `group_learning_rates(opt)` lists their current learning rates.

    Example:
        >>> import keras
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, name="early"),
        ...     keras.layers.Dense(4, name="late"), keras.layers.Dense(2, name="head")])
        >>> opt = discriminative_optimizer(model, 1e-3, groups=3, factor=10)
        >>> [f"{lr:.0e}" for lr in group_learning_rates(opt)]
        ['1e-05', '1e-04', '1e-03']
    """
    if isinstance(groups, (int, np.integer)) and not isinstance(groups, bool):
        layer_sets = layer_groups(model, int(groups))
    else:
        layer_sets = [_resolve_group(model, group) for group in groups]
    rates = group_rates(learning_rate, len(layer_sets), factor=factor, lr_range=lr_range)
    optimizers = [
        make_optimizer(optimizer, schedule(rate) if schedule else rate, name=f"group_{i}")
        for i, rate in enumerate(rates)
    ]
    # Weights in no group (and any created later) go to the last group's optimizer.
    optimizer_map = keras.optimizers.OptimizerMap(default_optimizer=optimizers[-1])
    trainable_ids = {id(v) for v in model.trainable_weights}
    assigned: dict[str, object] = {}
    for index, (leaves, group_optimizer) in enumerate(zip(layer_sets, optimizers)):
        variables = [v for leaf in leaves for v in leaf.layer.weights if id(v) in trainable_ids]
        if not variables:
            raise ValueError(
                f"Group {index} ({[leaf.path for leaf in leaves]}) has no trainable weights. "
                "Unfreeze its layers first, or leave it out."
            )
        for variable in variables:
            # Keys are regular expressions matched against `variable.path`;
            # escaped, the path matches only itself.
            key = re.escape(variable.path)
            if assigned.setdefault(key, group_optimizer) is not group_optimizer:
                raise ValueError(
                    f"Two weights share the path '{variable.path}' but sit in different "
                    "groups, so an OptimizerMap cannot tell them apart. Give their layers "
                    "unique names."
                )
    for key, group_optimizer in assigned.items():
        optimizer_map[key] = group_optimizer
    return keras.optimizers.MultiOptimizer(optimizer_map, name=name)


def _resolve_group(model, group) -> list[LeafLayer]:
    """Leaf layers named in `group` (names, paths, or a nested model's name)."""
    if isinstance(group, str):
        group = [group]
    leaves = leaf_layers(model)
    chosen = []
    for name in group:
        inside = [leaf for leaf in leaves if leaf.path.startswith(f"{name}/")]
        if not inside:
            inside = [leaves[find_leaf_index(model, name)]]
        chosen.extend(leaf for leaf in inside if leaf not in chosen)
    return chosen


def group_learning_rates(optimizer) -> list[float]:
    """The current learning rate of each group's optimizer (one for a plain one).

    Example:
        >>> group_learning_rates(keras.optimizers.SGD(0.5))
        [0.5]
    """
    inner = (
        optimizer.optimizers
        if isinstance(optimizer, keras.optimizers.MultiOptimizer)
        else [optimizer]
    )
    return [float(keras.ops.convert_to_numpy(opt.learning_rate)) for opt in inner]


# ---------------------------------------------------------------------------
# Loss and metrics that fit the model's output
# ---------------------------------------------------------------------------


def default_loss(model, label_kind: str = "sparse") -> keras.losses.Loss:
    """The usual classification loss for `model`'s output.

    One output unit: binary cross-entropy. Several: sparse categorical
    cross-entropy for class-number labels, categorical for one-hot labels.
    `from_logits=True` unless the model ends in softmax or sigmoid.

    Example:
        >>> import keras
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)])
        >>> loss = default_loss(model)
        >>> type(loss).__name__, loss.get_config()["from_logits"]
        ('SparseCategoricalCrossentropy', True)
    """
    from_logits = not output_is_probabilities(model)
    if model_num_classes(model) == 1:
        return keras.losses.BinaryCrossentropy(from_logits=from_logits)
    if label_kind == "one_hot":
        return keras.losses.CategoricalCrossentropy(from_logits=from_logits)
    return keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)


def resolve_metrics(metrics, model) -> list:
    """Metrics for `compile`, with "accuracy" made right for a one-unit logit output.

    Keras turns "accuracy" into `BinaryAccuracy(threshold=0.5)` for binary
    cross-entropy, which is wrong for logits (their threshold is 0).
    """
    binary_logits = model_num_classes(model) == 1 and not output_is_probabilities(model)
    resolved = []
    for metric in metrics or ():
        if binary_logits and metric in ("accuracy", "acc"):
            metric = keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")
        resolved.append(metric)
    return resolved


# ---------------------------------------------------------------------------
# The history of a two-stage run
# ---------------------------------------------------------------------------


class FineTuneHistory(keras.callbacks.History):
    """The `History` of both stages of `fine_tune`, as if it were one `fit`.

    Attributes:
        history: metric name -> one value per epoch, both stages.
        epoch: the epoch numbers, 0 .. total - 1.
        stage_boundary: the first epoch of stage two (= epochs of stage one).
        stages: the stage (1 or 2) of each epoch.
        params: Keras's fit parameters, plus "stage_boundary" and "head_epochs".

    `ftlab.plot_learning_curves` draws a line at the stage boundary.
    """

    def __init__(self, epochs: dict[int, dict], *, stage_boundary: int, params=None, model=None):
        super().__init__()
        self.epoch = sorted(epochs)
        names = []
        for epoch in self.epoch:
            names.extend(n for n in epochs[epoch] if n != "stage" and n not in names)
        self.history = {name: [epochs[e].get(name, math.nan) for e in self.epoch] for name in names}
        self.stages = [epochs[e].get("stage") for e in self.epoch]
        self.stage_boundary = stage_boundary
        self.params = {**(params or {}), "stage_boundary": stage_boundary}
        if model is not None:
            self.set_model(model)

    def __repr__(self) -> str:
        return (
            f"FineTuneHistory(epochs={len(self.epoch)}, stage_boundary={self.stage_boundary}, "
            f"metrics={list(self.history)})"
        )


class _EpochRecorder(keras.callbacks.Callback):
    """Keeps every epoch's logs (and the stage), optionally in a JSON state file."""

    def __init__(self, epochs: dict[int, dict], stage: int, state: _CheckpointState | None):
        super().__init__()
        self.epochs = epochs
        self.stage = stage
        self.state = state

    def on_epoch_end(self, epoch, logs=None):
        values = {k: float(keras.ops.convert_to_numpy(v)) for k, v in (logs or {}).items()}
        self.epochs[epoch] = {"stage": self.stage, **values}
        if self.state is not None:
            self.state.save()  # before BackupAndRestore saves the weights: see _CheckpointState


# ---------------------------------------------------------------------------
# Checkpoints: nothing lost when a run is interrupted
# ---------------------------------------------------------------------------


class _CheckpointState:
    """What `fine_tune` keeps in `checkpoint_dir` so a killed run can resume.

    checkpoint_dir/
        fine_tune_state.json     settings, stage reached, every finished epoch's logs
        stage1/ stage2/          keras.callbacks.BackupAndRestore of each stage
        after_stage1.npz         the weights when stage one ended
        final.npz                the weights when stage two ended

    Each epoch's logs are written BEFORE BackupAndRestore saves that epoch's
    weights: if the run dies between the two, the epoch is simply redone.
    """

    FILE = "fine_tune_state.json"

    def __init__(self, directory: str, settings: dict):
        self.directory = directory
        self.path = os.path.join(directory, self.FILE)
        self.settings = settings
        self.epochs: dict[int, dict] = {}
        self.stage1_done = False
        self.finished = False
        self.boundary: int | None = None

    @classmethod
    def open(cls, directory: str, settings: dict) -> _CheckpointState:
        state = cls(os.fspath(directory), settings)
        os.makedirs(state.directory, exist_ok=True)
        if not os.path.exists(state.path):
            state.remove_files()  # leftovers without a state file are stale
            return state
        with open(state.path) as f:
            saved = json.load(f)
        if saved["settings"] != settings:
            changed = sorted(k for k in settings if saved["settings"].get(k) != settings.get(k))
            raise ValueError(
                f"checkpoint_dir '{directory}' holds an interrupted run with other "
                f"settings ({', '.join(changed)} differ). Fix: rerun with the same "
                "settings to resume it, or pass another checkpoint_dir (or delete this one) "
                "to start afresh."
            )
        state.epochs = {int(e): logs for e, logs in saved["epochs"].items()}
        state.stage1_done = saved["stage1_done"]
        state.finished = saved.get("finished", False)
        state.boundary = saved["boundary"]
        return state

    def save(self) -> None:
        saved = {
            "settings": self.settings,
            "stage1_done": self.stage1_done,
            "finished": self.finished,
            "boundary": self.boundary,
            "epochs": {str(e): logs for e, logs in sorted(self.epochs.items())},
        }
        _write_atomically(self.path, json.dumps(saved, indent=1).encode())

    def backup_dir(self, stage: int) -> str:
        return os.path.join(self.directory, f"stage{stage}")

    def save_weights(self, model, name: str) -> None:
        path = os.path.join(self.directory, f"{name}.npz")
        with open(path + ".tmp", "wb") as f:
            np.savez(f, *model.get_weights())
        os.replace(path + ".tmp", path)

    def load_weights(self, model, name: str) -> None:
        with np.load(os.path.join(self.directory, f"{name}.npz")) as saved:
            model.set_weights([saved[f"arr_{i}"] for i in range(len(saved.files))])

    def remove_files(self) -> None:
        for stage in (1, 2):
            shutil.rmtree(self.backup_dir(stage), ignore_errors=True)
        for name in ("after_stage1.npz", "final.npz", self.FILE):
            path = os.path.join(self.directory, name)
            if os.path.exists(path):
                os.remove(path)


def _write_atomically(path: str, data: bytes) -> None:
    """Write a file so that a crash leaves the old one or the new one, never half."""
    with open(path + ".tmp", "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(path + ".tmp", path)


# ---------------------------------------------------------------------------
# fine_tune
# ---------------------------------------------------------------------------


def fine_tune(
    model,
    train,
    val=None,
    *,
    head_epochs: int,
    epochs: int,
    lr: float = 1e-3,
    fine_tune_lr: float | None = None,
    head: int | str = 1,
    unfreeze: int | str | None = None,
    groups: int = 3,
    lr_decay: float = 2.6,
    optimizer="adam",
    loss=None,
    metrics: Sequence = ("accuracy",),
    callbacks: Sequence[keras.callbacks.Callback] = (),
    checkpoint_dir: str | os.PathLike | None = None,
    warmup: float = 0.1,
    batch_size: int = 32,
    train_batchnorm: bool = False,
    verbose="auto",
) -> FineTuneHistory:
    """Fine-tune a pre-trained classifier in two stages; return one history.

    Stage one freezes the body and trains the head for `head_epochs` epochs
    at `lr` (warmup + cosine). Stage two unfreezes the body (BatchNormalization
    layers stay frozen), recompiles, and trains `epochs` more epochs at the
    lower `fine_tune_lr`, with discriminative learning rates over `groups`
    layer groups. Epoch numbers run on: stage two starts at epoch
    `head_epochs`.

    Everything is checked before training starts (data, labels, shapes,
    learning rates, epochs); a problem raises a ValueError that says how to
    fix it.

    Args:
        model: a built Keras classifier, its head at the end (e.g. made with
            `ftlab.swap_head`). It is compiled by `fine_tune`.
        train: a batched `tf.data.Dataset` of (images, labels), or an
            (images, labels) tuple of arrays.
        val: validation data, in the same forms; optional.
        head_epochs: epochs of stage one; 0 skips it (e.g. when the head was
            trained on cached features, see `ftlab.features`).
        epochs: epochs of stage two; 0 stops after stage one.
        lr: peak learning rate of stage one.
        fine_tune_lr: peak learning rate of the head in stage two
            (default `lr / 10`).
        head: which layers are the head: the last `head` leaf layers with
            weights (default 1: the final Dense), or the name of the layer
            where the head begins.
        unfreeze: what stage two unfreezes: None, the whole body; an int N, the
            last N leaf layers with weights in the body (counting BN layers,
            which stay frozen); a layer name, that layer and all after it.
        groups: stage two's discriminative groups; 1 means one learning rate.
        lr_decay: each group learns `lr_decay` times slower than the next one;
            1.0 gives every group the same rate.
        optimizer: a name ("adam") or a callable taking the learning rate.
        loss: default: cross-entropy that fits the output (see `default_loss`).
        metrics: metrics to compile with.
        callbacks: Keras callbacks, passed to both stages (a `GradualUnfreezing`
            callback only to stage two).
        checkpoint_dir: if given, the run can be resumed after an interruption:
            call `fine_tune` again with the same arguments and it continues
            from the last finished epoch, in the right stage. The files are
            deleted when the run completes.
        warmup: fraction of each stage's steps spent warming up (rounded up, so
            at least one step unless it is 0).
        batch_size: batch size for array data (a Dataset is already batched).
        train_batchnorm: also train BatchNormalization layers (not advised).
        verbose: passed to `fit`; 0 also silences the stage banners.

    Returns:
        A `FineTuneHistory` (a `keras.callbacks.History`) covering both stages;
        `history.stage_boundary` is the first epoch of stage two.

    Example:
        >>> import numpy as np, keras, ftlab
        >>> model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, name="d1"),
        ...     keras.layers.Dense(8, name="d2"), keras.layers.Dense(3, name="head")])
        >>> x, y = np.random.rand(90, 6).astype("float32"), np.random.randint(0, 3, 90)
        >>> h = ftlab.fine_tune(model, (x, y), head_epochs=1, epochs=2, groups=2, verbose=0)
        >>> len(h.history["loss"]), h.params["stage_boundary"]
        (3, 1)
        >>> type(model.optimizer).__name__   # stage two's discriminative optimizer
        'MultiOptimizer'
    """
    # 1. Check everything before any training.
    fine_tune_lr = lr / 10 if fine_tune_lr is None else fine_tune_lr
    _check_settings(head_epochs, epochs, lr, fine_tune_lr, lr_decay, warmup)
    head_start = _head_start(model, head)
    body_start = _body_start(model, unfreeze, head_start)
    label_kind = check_dataset(train, model, name="train").label_kind
    if val is not None:
        check_dataset(val, model, name="validation")
    steps = _steps_per_epoch(train, batch_size)
    gradual = [cb for cb in callbacks if isinstance(cb, GradualUnfreezing)]
    run = _Run(
        model=model,
        train=train,
        val=val,
        batch_size=batch_size,
        steps=steps,
        loss=loss if loss is not None else default_loss(model, label_kind),
        metrics=metrics,
        optimizer=optimizer,
        warmup=warmup,
        train_batchnorm=train_batchnorm,
        verbose=verbose,
    )

    # 2. Resume from checkpoint_dir if an earlier run with these settings was cut short.
    if checkpoint_dir:
        settings = _settings(
            model, head_epochs, epochs, lr, fine_tune_lr, head, unfreeze, groups, lr_decay, steps
        )
        run.state = _CheckpointState.open(checkpoint_dir, settings)
        run.epochs_log = run.state.epochs
        if run.state.finished:  # it died while cleaning up: nothing left to train
            run.state.load_weights(model, "final")
            return run.history(run.state.boundary, {})
        if run.epochs_log:
            _say(verbose, f"Resuming from '{checkpoint_dir}' after epoch {max(run.epochs_log)}.")

    # 3. Stage one: the body frozen, the head trains.
    params = {}
    if head_epochs and not (run.state and run.state.stage1_done):
        stage_one = [cb for cb in callbacks if cb not in gradual]
        params = _train_head(run, head_start, head_epochs, lr, stage_one)
    boundary = run.end_stage_one()

    # 4. Stage two: unfreeze, recompile with lower, discriminative rates.
    if epochs:
        params = _train_body(
            run,
            head_start,
            body_start,
            boundary,
            epochs,
            fine_tune_lr,
            groups,
            lr_decay,
            callbacks,
            gradual,
        )
    if run.state:
        run.state.save_weights(model, "final")
        run.state.finished = True
        run.state.save()
    return run.history(boundary, {**params, "head_epochs": head_epochs})


def _check_settings(head_epochs, epochs, lr, fine_tune_lr, lr_decay, warmup) -> None:
    check_epochs(head_epochs, "head_epochs")
    check_epochs(epochs, "epochs")
    check_positive(lr, "lr")
    check_positive(fine_tune_lr, "fine_tune_lr")
    check_positive(lr_decay, "lr_decay")
    if not 0.0 <= warmup < 1.0:
        raise ValueError(f"warmup is a fraction of the steps, in [0, 1); got {warmup}.")


def _steps_per_epoch(train, batch_size) -> int:
    steps = steps_per_epoch(train, batch_size)
    if steps is None:
        raise ValueError(
            "train data repeats forever (.repeat() without a count), so an epoch has no "
            "end. Fix: remove .repeat(), or use .take(n) to make epochs of n batches."
        )
    return steps


@dataclass
class _Run:
    """What both stages of one `fine_tune` call share."""

    model: keras.Model
    train: object
    val: object
    batch_size: int
    steps: int
    loss: object
    metrics: Sequence
    optimizer: object
    warmup: float
    train_batchnorm: bool
    verbose: object
    state: _CheckpointState | None = None
    epochs_log: dict[int, dict] = field(default_factory=dict)

    def schedule(self, epochs: int) -> Callable[[float], object]:
        """Peak learning rate -> warmup + cosine schedule over `epochs` epochs."""
        total = self.steps * epochs
        warmup_steps = math.ceil(self.warmup * total)
        return lambda peak: warmup_cosine(peak, total, warmup_steps=warmup_steps)

    def unfreeze_from(self, index: int) -> list[str]:
        return unfreeze_layers(self.model, from_layer=index, train_batchnorm=self.train_batchnorm)

    def compile(self, new_optimizer: Callable[[], object]):
        """Compile with a fresh optimizer made by `new_optimizer()`; return it.

        Under tf.distribute, optimizer and metric variables must be created in
        the model's strategy scope, also when fine_tune is called outside it.
        """
        with self.model.distribute_strategy.scope():
            optimizer = new_optimizer()
            self.model.compile(
                optimizer=optimizer,
                loss=self.loss,
                metrics=resolve_metrics(self.metrics, self.model),
            )
        return optimizer

    def fit(self, stage: int, initial_epoch: int, final_epoch: int, callbacks) -> dict:
        """Train epochs initial_epoch .. final_epoch - 1; return fit's params."""
        internal = [_EpochRecorder(self.epochs_log, stage, self.state)]
        if self.state:
            internal.append(
                keras.callbacks.BackupAndRestore(
                    self.state.backup_dir(stage), double_checkpoint=True, delete_checkpoint=False
                )
            )
        # BackupAndRestore leaves the epoch it restored in model._initial_epoch and
        # Keras never resets it, so a later fit() would start there: reset it.
        self.model._initial_epoch = None
        history = self.model.fit(
            **_fit_data(self.train, self.batch_size),
            validation_data=tuple(self.val) if isinstance(self.val, list) else self.val,
            validation_batch_size=self.batch_size if isinstance(self.val, (tuple, list)) else None,
            initial_epoch=initial_epoch,
            epochs=final_epoch,  # fit's `epochs` is the epoch to stop before, not a count
            callbacks=internal + list(callbacks),
            verbose=self.verbose,
        )
        return history.params

    def end_stage_one(self) -> int:
        """Record that stage one is over; return the first epoch of stage two."""
        if not self.state:
            return _stage_end(self.epochs_log, 1)
        if self.state.stage1_done:  # resumed in stage two: start from stage one's end
            self.state.load_weights(self.model, "after_stage1")
        else:
            self.state.save_weights(self.model, "after_stage1")
            self.state.stage1_done = True
            self.state.boundary = _stage_end(self.epochs_log, 1)
            self.state.save()
            shutil.rmtree(self.state.backup_dir(1), ignore_errors=True)
        return self.state.boundary

    def history(self, boundary: int, params: dict) -> FineTuneHistory:
        history = FineTuneHistory(
            dict(self.epochs_log), stage_boundary=boundary, params=params, model=self.model
        )
        self.model.history = history
        if self.state:
            self.state.remove_files()
        return history


def _train_head(run: _Run, head_start: int, head_epochs: int, lr: float, callbacks) -> dict:
    """Stage one: freeze everything before the head, train the head."""
    trainable = run.unfreeze_from(head_start)
    run.compile(lambda: make_optimizer(run.optimizer, run.schedule(head_epochs)(lr)))
    _say(
        run.verbose,
        f"Stage 1/2: training the head ({_describe(run.model, trainable)}) for "
        f"{head_epochs} epochs at lr {lr:g}.",
    )
    return run.fit(1, 0, head_epochs, callbacks)


def _train_body(
    run: _Run,
    head_start,
    body_start,
    boundary,
    epochs,
    fine_tune_lr,
    groups,
    lr_decay,
    callbacks,
    gradual,
) -> dict:
    """Stage two: unfreeze the body, recompile with lower (discriminative) rates, train."""
    model = run.model
    trainable = run.unfreeze_from(body_start)
    optimizer = run.compile(
        lambda: _stage2_optimizer(
            model, fine_tune_lr, groups, lr_decay, run.optimizer, run.schedule(epochs)
        )
    )
    rates = group_learning_rates(optimizer)
    if gradual:
        # Build the optimizer for every weight that will train, then freeze the
        # body again: the GradualUnfreezing callback unfreezes it block by block.
        with model.distribute_strategy.scope():
            optimizer.build(model.trainable_variables)
        run.unfreeze_from(head_start)
        for callback in gradual:
            callback.configure(down_to=body_start, start_epoch=boundary)
    _say(
        run.verbose,
        f"Stage 2/2: fine-tuning {_describe(model, trainable)} for {epochs} epochs at lr "
        f"{fine_tune_lr:g}"
        + (f", {len(rates)} groups from {min(rates):.2g}" if len(rates) > 1 else "")
        + (", unfreezing gradually" if gradual else "")
        + ".",
    )
    return run.fit(2, boundary, boundary + epochs, callbacks)


def _stage_end(epochs_log: dict[int, dict], stage: int) -> int:
    """The epoch after the last one of `stage` (0 if the stage did not run)."""
    done = [e for e, logs in epochs_log.items() if logs["stage"] == stage]
    return max(done) + 1 if done else 0


def _fit_data(train, batch_size) -> dict:
    """fit()'s data arguments for a Dataset or an (x, y[, sample_weight]) tuple."""
    if not isinstance(train, (tuple, list)):
        return {"x": train, "shuffle": False}  # a Dataset shuffles itself (or not)
    data = {"x": train[0], "y": train[1], "batch_size": batch_size}
    if len(train) == 3:
        data["sample_weight"] = train[2]
    return data


def _stage2_optimizer(model, learning_rate, groups, lr_decay, optimizer, schedule):
    num_groups = min(int(groups), len(trainable_leaves(model)))
    if num_groups <= 1 or lr_decay == 1:
        return make_optimizer(optimizer, schedule(learning_rate))
    return discriminative_optimizer(
        model,
        learning_rate,
        groups=num_groups,
        factor=lr_decay,
        optimizer=optimizer,
        schedule=schedule,
    )


def _head_start(model, head) -> int:
    """Index in leaf_layers(model) of the first layer of the head."""
    leaves = leaf_layers(model)
    weighted = [i for i, leaf in enumerate(leaves) if leaf.has_weights]
    if isinstance(head, str):
        start = find_leaf_index(model, head)
    elif isinstance(head, (int, np.integer)) and not isinstance(head, bool) and head >= 1:
        if head >= len(weighted):
            raise ValueError(
                f"head={head}: the model has {len(weighted)} layers with weights, so a "
                f"head of {head} leaves no body to fine-tune. Pass head < {len(weighted)}."
            )
        start = weighted[-head]
    else:
        raise ValueError(f"head must be a number of layers >= 1 or a layer name, got {head!r}.")
    if not any(i < start for i in weighted):
        raise ValueError(
            f"head='{head}' starts at the first layer with weights: there is no body. "
            "Name a later layer."
        )
    return start


def _body_start(model, unfreeze, head_start: int) -> int:
    """Index of the first leaf layer that stage two unfreezes."""
    if unfreeze is None:
        return 0
    leaves = leaf_layers(model)
    body_weighted = [i for i in range(head_start) if leaves[i].has_weights]
    if isinstance(unfreeze, str):
        start = find_leaf_index(model, unfreeze)
        if start >= head_start:
            raise ValueError(
                f"unfreeze='{unfreeze}' is in the head; name a body layer (before "
                f"'{leaves[head_start].path}') or pass unfreeze=None for the whole body."
            )
        return start
    if isinstance(unfreeze, (int, np.integer)) and not isinstance(unfreeze, bool):
        if not 1 <= unfreeze <= len(body_weighted):
            raise ValueError(
                f"unfreeze={unfreeze}: the body has {len(body_weighted)} layers with "
                f"weights; pass 1 <= unfreeze <= {len(body_weighted)}, or None for all."
            )
        return body_weighted[-unfreeze]
    raise ValueError(
        f"unfreeze must be None, a number of layers or a layer name, got {unfreeze!r}."
    )


def _settings(
    model, head_epochs, epochs, lr, fine_tune_lr, head, unfreeze, groups, lr_decay, steps
) -> dict:
    """What must match for a checkpoint to belong to this run (JSON-ready).

    The model is recognised by the shapes of its weights, not by its name: Keras
    numbers automatic names ("sequential_3"), which change when a cell is rerun.
    """
    settings = {
        "weights": [[int(d) for d in w.shape] for w in model.weights],
        "head_epochs": head_epochs,
        "epochs": epochs,
        "lr": lr,
        "fine_tune_lr": fine_tune_lr,
        "head": head,
        "unfreeze": unfreeze,
        "groups": groups,
        "lr_decay": lr_decay,
        "steps_per_epoch": steps,
    }
    # NumPy numbers (np.int64(3)) are not JSON; plain Python ones are.
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in settings.items()}


def _describe(model, trainable_paths) -> str:
    return f"{len(trainable_paths)} layers, {count_params(model).trainable:,} trainable parameters"


def _say(verbose, message: str) -> None:
    if verbose:
        print(message)


# ---------------------------------------------------------------------------
# Gradual unfreezing
# ---------------------------------------------------------------------------


class GradualUnfreezing(keras.callbacks.Callback):
    """Unfreeze one more block of layers every `every` epochs, from the top down.

    ULMFiT's recipe: first train only what is trainable now (the head), then
    unfreeze the block just below it, then the next one down, ... so each
    layer starts training only once the layers above it have settled.

        epoch 0: head            epoch 1: block 1 + head
        epoch 2: block 2 + block 1 + head   ...

    Two Keras details are handled for you:

    * A compiled training step keeps the list of weights it trains, so after
      changing `trainable` the callback rebuilds it
      (`model.make_train_function(force=True)`).
    * An optimizer makes its slots (e.g. Adam's moments) for the weights it
      was built with and refuses unknown ones. So when training begins, the
      callback makes sure the optimizer knows every weight that will be
      unfrozen (rebuilding it from its config if needed); still-frozen
      weights just get no updates.

    Args:
        blocks: how many blocks to split the frozen layers into (evenly, by
            layers with weights), or the names of the layers where each block
            begins.
        every: epochs between two unfreezings.
        down_to: the lowest layer to unfreeze (a name or leaf index); default:
            the first layer.
        start_epoch: the epoch counted as the start (default: the first epoch
            of the fit).
        train_batchnorm: also unfreeze BatchNormalization layers (not advised).

    Attributes:
        unfrozen_at: epoch -> path of the layer where the block unfrozen at that
            epoch begins.

    Example:
        >>> import numpy as np, keras, ftlab
        >>> model = keras.Sequential([keras.Input((4,))] +
        ...     [keras.layers.Dense(4, name=f"d{i}") for i in range(3)] +
        ...     [keras.layers.Dense(2, name="head")])
        >>> _ = ftlab.unfreeze(model, last=1)            # only the head trains
        >>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        >>> callback = GradualUnfreezing(blocks=3, every=1)
        >>> x, y = np.random.rand(32, 4), np.random.randint(0, 2, 32)
        >>> _ = model.fit(x, y, epochs=4, callbacks=[callback], verbose=0)
        >>> callback.unfrozen_at
        {1: 'd2', 2: 'd1', 3: 'd0'}
    """

    def __init__(
        self,
        blocks: int | Sequence[str] = 2,
        *,
        every: int = 1,
        down_to: str | int | None = None,
        start_epoch: int | None = None,
        train_batchnorm: bool = False,
    ):
        super().__init__()
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a whole number of epochs >= 1, got {every!r}.")
        if isinstance(blocks, (int, np.integer)) and not isinstance(blocks, bool):
            if blocks < 1:
                raise ValueError(f"blocks must be >= 1, got {blocks}.")
        elif isinstance(blocks, str) or not all(isinstance(b, (str, int)) for b in blocks):
            raise TypeError(
                "blocks must be a number of blocks or a list of the layer names where "
                f"blocks begin, got {blocks!r}."
            )
        self.blocks = blocks
        self.every = every
        self.down_to = down_to
        self.start_epoch = start_epoch
        self.train_batchnorm = train_batchnorm
        self.unfrozen_at: dict[int, str] = {}

    def configure(self, *, down_to=None, start_epoch=None) -> None:
        """Fill in `down_to` and `start_epoch` where not given (used by `fine_tune`)."""
        if self.down_to is None:
            self.down_to = down_to
        if self.start_epoch is None:
            self.start_epoch = start_epoch

    def on_train_begin(self, logs=None):
        leaves = leaf_layers(self.model)
        trainable = {id(leaf.layer) for leaf in trainable_leaves(self.model)}
        self._top = next((i for i, leaf in enumerate(leaves) if id(leaf.layer) in trainable), None)
        if self._top is None:
            raise ValueError(
                "GradualUnfreezing starts from the layers that are trainable when training "
                "begins, but none are. Unfreeze the head first: ftlab.unfreeze(model, last=1)."
            )
        self._starts = self._block_starts(leaves)
        self._unfrozen = 0
        self._first_epoch = self.start_epoch
        self._make_optimizer_ready()

    def _block_starts(self, leaves) -> list[int]:
        """Leaf index where each block begins, top block first."""
        if isinstance(self.blocks, (int, np.integer)):
            low = self._index(self.down_to) if self.down_to is not None else 0
            candidates = [
                i
                for i in range(low, self._top)
                if leaves[i].has_weights
                and (self.train_batchnorm or not is_batchnorm(leaves[i].layer))
            ]
            if len(candidates) < self.blocks:
                raise ValueError(
                    f"blocks={self.blocks} but only {len(candidates)} frozen layers with "
                    f"weights lie below the trainable ones. Pass blocks <= {len(candidates)}."
                )
            chunks = np.array_split(np.array(candidates), self.blocks)
            return [int(chunk[0]) for chunk in reversed(chunks)]
        starts = sorted({self._index(b) for b in self.blocks}, reverse=True)
        if starts[0] >= self._top:
            raise ValueError(
                f"Block start '{leaves[starts[0]].path}' is already trainable; name layers "
                f"below '{leaves[self._top].path}'."
            )
        return starts

    def _index(self, layer) -> int:
        if isinstance(layer, str):
            return find_leaf_index(self.model, layer)
        return int(layer) % len(leaf_layers(self.model))

    def _make_optimizer_ready(self) -> None:
        """Make sure the optimizer knows every weight that will be unfrozen."""
        model = self.model
        before = {id(leaf.layer): leaf.layer.trainable for leaf in leaf_layers(model)}
        unfreeze_layers(model, from_layer=self._starts[-1], train_batchnorm=self.train_batchnorm)
        future = list(model.trainable_variables)
        _restore_trainable(model, before)
        optimizer = model.optimizer
        if not (optimizer.built and _optimizer_knows(optimizer, future)):
            if int(keras.ops.convert_to_numpy(optimizer.iterations)):
                warnings.warn(
                    "GradualUnfreezing rebuilt the optimizer to add the weights it will "
                    "unfreeze; its moment estimates start afresh (the step count is kept).",
                    stacklevel=2,
                )
            with model.distribute_strategy.scope():
                fresh = type(optimizer).from_config(optimizer.get_config())
                fresh.build(future)
                _copy_iterations(optimizer, fresh)
            model.optimizer = fresh
        _match_multi_optimizer(model)
        model.make_train_function(force=True)

    def on_epoch_begin(self, epoch, logs=None):
        if self._first_epoch is None:
            self._first_epoch = epoch
        due = min(len(self._starts), max(epoch - self._first_epoch, 0) // self.every)
        if due <= self._unfrozen:
            return
        start = self._starts[due - 1]
        unfreeze_layers(self.model, from_layer=start, train_batchnorm=self.train_batchnorm)
        _match_multi_optimizer(self.model)
        self.model.make_train_function(force=True)  # trace again with the new weights
        self._unfrozen = due
        self.unfrozen_at[epoch] = leaf_layers(self.model)[start].path


def _restore_trainable(model, before: dict[int, bool]) -> None:
    model.trainable = True
    for leaf in leaf_layers(model):
        leaf.layer.trainable = before[id(leaf.layer)]


def _optimizer_knows(optimizer, variables) -> bool:
    if isinstance(optimizer, keras.optimizers.MultiOptimizer):
        known = getattr(optimizer, "_var_to_optimizer_idx", {})
    else:
        known = getattr(optimizer, "_trainable_variables_indices", {})
    return all(optimizer._var_key(v) in known for v in variables)


def _match_multi_optimizer(model) -> None:
    """Point a MultiOptimizer at the weights that train now.

    A plain Keras optimizer built for weights [a, b, c] accepts gradients for
    any of them, e.g. only [c] while a and b are frozen. Keras 3.15's
    MultiOptimizer insists on exactly the weights it was built for, although
    its inner optimizers (one per group) accept any subset of theirs. So after
    `trainable` changes we update the list it checks against. (Private
    attributes of keras.optimizers.MultiOptimizer: checked on Keras 3.15.)
    """
    optimizer = model.optimizer
    if not isinstance(optimizer, keras.optimizers.MultiOptimizer) or not optimizer.built:
        return
    current = list(model.trainable_variables)
    optimizer._trainable_variables = current
    optimizer._trainable_variables_indices = {
        optimizer._var_key(v): i for i, v in enumerate(current)
    }


def _copy_iterations(old, new) -> None:
    new.iterations.assign(old.iterations)
    if isinstance(old, keras.optimizers.MultiOptimizer):
        for old_inner, new_inner in zip(old.optimizers, new.optimizers):
            new_inner.iterations.assign(old_inner.iterations)
