"""Car to truck, end to end: the course's running example as one function.

The car model (`ftlab.load_car_model`) knows nine classes of the street world: car, bus,
van, motorbike, ... but it has never seen a truck. The new task is "car or truck?", and we
have only a handful of truck pictures. The recipe:

1. **Look first.** Show the car model some trucks. It must answer with a class it knows,
   so it calls them buses or vans: its features already see "long, boxy, wheels".
2. **Swap the head.** Cut off the 9-class head, put on a new 2-class one (car, truck).
3. **Stage one: train the head.** The body stays frozen; only the new head learns.
4. **Stage two: fine-tune the top.** Unfreeze the top block of the body and train on with
   a 10x lower learning rate. BatchNormalization layers stay frozen (the BN trap: see
   `ftlab.freezing`).
5. **Test** on a few hundred pictures the model never saw.
6. **Forgetting.** Put the ORIGINAL 9-class head back on the fine-tuned body and test it
   on the old task: how much of the old knowledge did fine-tuning cost?
7. **Compare** with the same network trained from scratch on the same few pictures.

`run_car_to_truck` does it all, prints Keras progress bars, and writes ``report.json``
(every number) and pictures into a folder. From a shell: ``ftlab car-to-truck``.

Example (about a minute; the doctest skips it)::

    >>> report = run_car_to_truck(trucks=20, seed=0, out="car-to-truck")  # doctest: +SKIP
    >>> report["fine_tuned"]["accuracy"], report["from_scratch"]["accuracy"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import keras
import numpy as np

from ftlab import vehicles
from ftlab.car_model import (
    CAR_MODEL_CLASSES,
    build_car_model,
    load_car_model,
    shuffled_batches,
    source_data,
)

__all__ = [
    "MAX_TRUCKS",
    "TARGET_CLASSES",
    "Recipe",
    "accuracy_on",
    "before_fine_tuning",
    "check_trucks",
    "feature_extraction",
    "fine_tune_car_model",
    "old_task_model",
    "run_car_to_truck",
    "target_data",
    "train_from_scratch",
]

TARGET_CLASSES: tuple[str, ...] = ("car", "truck")
"""The new task's classes, in label order: 0 is car, 1 is truck."""

MAX_TRUCKS = 5000
"""Most trucks (and cars) a training split may have: CIFAR-10's 5000 trucks per class."""

CIFAR_TRAIN_PER_CLASS = 5000  # pictures per class in CIFAR-10's "train" split
CIFAR_TEST_PER_CLASS = 1000  # ... and in its "test" split


@dataclass(frozen=True)
class Recipe:
    """How the car-to-truck models are trained (every field is in ``report.json``).

    Fine-tuning: `head_epochs` epochs of the new head alone at `lr`, then `epochs`
    epochs with the body unfrozen from `unfreeze` on, at `fine_tune_lr`
    (warmup + cosine in each stage, see `ftlab.fine_tune`). From scratch: the same
    architecture, every layer training, `scratch_epochs` epochs at `scratch_lr`.
    """

    head_epochs: int = 20
    epochs: int = 20
    lr: float = 1e-3
    fine_tune_lr: float = 1e-4
    unfreeze: str | None = "block4_conv1"
    batch_size: int = 16
    scratch_epochs: int = 60
    scratch_lr: float = 1e-3


def check_trucks(trucks, *, val: int = 20, real: bool = False, name: str = "trucks") -> int:
    """Check the number of training trucks (and cars) asked for; return it as an int.

    Example:
        >>> from ftlab.car_to_truck import check_trucks
        >>> check_trucks(20)
        20
        >>> check_trucks(0)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: trucks must be at least 1 (the number of truck pictures ...); got 0.
    """
    if isinstance(trucks, bool) or not isinstance(trucks, (int, np.integer)):
        raise ValueError(f"{name} must be a whole number, got {trucks!r}.")
    if trucks < 1:
        raise ValueError(
            f"{name} must be at least 1 (the number of truck pictures to train on, and as "
            f"many cars); got {trucks}."
        )
    limit = CIFAR_TRAIN_PER_CLASS - val if real else MAX_TRUCKS
    if trucks > limit:
        where = (
            f"CIFAR-10 has {CIFAR_TRAIN_PER_CLASS} trucks in its training split and {val} of "
            "them are kept for validation"
            if real
            else f"a training split holds at most {MAX_TRUCKS} pictures per class"
        )
        raise ValueError(f"{name}={trucks} is too many: {where}. Use {name} <= {limit}.")
    return int(trucks)


def target_data(
    trucks: int, *, seed: int = 0, val: int = 20, test: int = 300, real: bool = False
) -> dict:
    """Pictures for the car-or-truck task: ``{"train", "val", "test"}`` -> (images, labels).

    `trucks` trucks and as many cars to train on, `val` of each to validate on and `test`
    of each to test on; label 0 is car, 1 is truck. The synthetic world (default) draws
    new pictures for every seed, and its test pictures never depend on `trucks`. With
    ``real=True`` they are CIFAR-10 photos (``automobile`` and ``truck``): training and
    validation from CIFAR's training split (chosen at random by `seed`), test from its
    test split; this needs a download once, and raises ``ConnectionError`` offline.

    Example:
        >>> from ftlab.car_to_truck import target_data
        >>> data = target_data(5, val=2, test=10)
        >>> [data[k][0].shape[0] for k in ("train", "val", "test")]
        [10, 4, 20]
    """
    trucks = check_trucks(trucks, val=val, real=real)
    if not real:
        return vehicles.splits(TARGET_CLASSES, train=trucks, val=val, test=test, seed=seed)
    if test > CIFAR_TEST_PER_CLASS:
        raise ValueError(
            f"CIFAR-10's test split has {CIFAR_TEST_PER_CLASS} per class; test={test}."
        )
    x, y = vehicles.load_cifar10(("automobile", "truck"), split="train")
    x_test, y_test = vehicles.load_cifar10(("automobile", "truck"), split="test")
    rng = np.random.default_rng(seed)
    out = {"train": [], "val": [], "test": []}
    for k in range(len(TARGET_CLASSES)):
        chosen = rng.permutation(np.flatnonzero(y == k))
        out["train"].append(chosen[:trucks])
        out["val"].append(chosen[trucks : trucks + val])
        out["test"].append(np.flatnonzero(y_test == k)[:test])
    result = {}
    for name, parts in out.items():
        index = rng.permutation(np.concatenate(parts))
        images, labels = (x_test, y_test) if name == "test" else (x, y)
        result[name] = (images[index], labels[index])
    return result


def _seed(seed: int) -> None:
    from ftlab.reproducibility import seed_everything

    seed_everything(seed)


def _float(x):
    return np.asarray(x, dtype="float32")


def before_fine_tuning(car_model, images, labels) -> dict:
    """What the car model says about car and truck pictures before any fine-tuning.

    It can only answer with the nine classes it knows. Returns, for each target class,
    the fraction of its pictures given each old class (``"truck_predicted_as"``,
    ``"car_predicted_as"``), and the accuracy of the naive rule "car if it says car,
    else truck" (``"car_vs_not_car_accuracy"``).

    Example:
        >>> import ftlab
        >>> from ftlab.car_to_truck import before_fine_tuning, target_data
        >>> x, y = target_data(1, val=0, test=20)["test"]
        >>> before = before_fine_tuning(ftlab.load_car_model(), x, y)
        >>> round(sum(before["truck_predicted_as"].values()), 6)
        1.0
    """
    logits = car_model.predict(_float(images), batch_size=256, verbose=0)
    old = np.argmax(logits, axis=1)
    labels = np.asarray(labels)
    result = {}
    for k, name in enumerate(TARGET_CLASSES):
        mine = old[labels == k]
        counts = np.bincount(mine, minlength=len(CAR_MODEL_CLASSES))
        fractions = counts / max(len(mine), 1)
        order = np.argsort(-fractions, kind="stable")
        result[f"{name}_predicted_as"] = {
            CAR_MODEL_CLASSES[i]: round(float(fractions[i]), 4) for i in order if counts[i]
        }
    car = CAR_MODEL_CLASSES.index("car")
    naive = np.where(old == car, 0, 1)
    result["car_vs_not_car_accuracy"] = round(float(np.mean(naive == labels)), 4)
    return result


def fine_tune_car_model(
    car_model, train, val=None, *, recipe: Recipe = Recipe(), verbose=1, callbacks=()
):
    """Swap the car model's head for a car/truck head and fine-tune it in two stages.

    The car model itself is not changed (`ftlab.swap_head` copies the body). Returns
    ``(model, history)``; ``history.stage_boundary`` is the epoch where stage two began.

    Example (a tiny run):
        >>> import ftlab
        >>> from ftlab.car_to_truck import Recipe, fine_tune_car_model, target_data
        >>> data = target_data(2, val=0, test=0)
        >>> model, history = fine_tune_car_model(ftlab.load_car_model(), data["train"],
        ...     recipe=Recipe(head_epochs=1, epochs=1), verbose=0)
        >>> model.output_shape, history.stage_boundary
        ((None, 2), 1)
    """
    from ftlab.heads import swap_head
    from ftlab.training import fine_tune

    model = swap_head(car_model, len(TARGET_CLASSES), name="car_to_truck")
    history = fine_tune(
        model,
        (_float(train[0]), train[1]),
        None if val is None or len(val[1]) == 0 else (_float(val[0]), val[1]),
        head_epochs=recipe.head_epochs,
        epochs=recipe.epochs,
        lr=recipe.lr,
        fine_tune_lr=recipe.fine_tune_lr,
        unfreeze=recipe.unfreeze,
        groups=1,
        batch_size=recipe.batch_size,
        callbacks=list(callbacks),
        verbose=verbose,
    )
    return model, history


def feature_extraction(car_model, train, val=None, *, recipe: Recipe = Recipe(), verbose=1):
    """Like `fine_tune_car_model`, but the body stays frozen throughout: only the new
    head trains, for as many epochs as fine-tuning's two stages together."""
    only_head = replace(recipe, head_epochs=recipe.head_epochs + recipe.epochs, epochs=0)
    return fine_tune_car_model(car_model, train, val, recipe=only_head, verbose=verbose)


def train_from_scratch(train, val=None, *, recipe: Recipe = Recipe(), seed: int = 0, verbose=1):
    """The same architecture as the car model, randomly initialised, every layer training.

    AdamW with warmup and cosine decay (peak `recipe.scratch_lr`) for
    `recipe.scratch_epochs` epochs; `seed` orders the batches. Returns ``(model, history)``.
    """
    model = build_car_model(len(TARGET_CLASSES), name="from_scratch")
    steps = int(np.ceil(len(train[1]) / recipe.batch_size)) * recipe.scratch_epochs
    schedule = keras.optimizers.schedules.CosineDecay(
        recipe.scratch_lr / 10,
        decay_steps=max(steps - steps // 10, 1),
        warmup_target=recipe.scratch_lr,
        warmup_steps=steps // 10,
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    has_val = val is not None and len(val[1]) > 0
    # A keras-hub ImageClassifier ignores fit(..., shuffle=True) for arrays; shuffle with
    # tf.data instead (see ftlab.car_model.shuffled_batches).
    history = model.fit(
        shuffled_batches(*train, recipe.batch_size, seed=seed),
        validation_data=shuffled_batches(*val, 256, shuffle=False) if has_val else None,
        epochs=recipe.scratch_epochs,
        shuffle=False,  # the dataset shuffles itself
        verbose=verbose,
    )
    return model, history


def old_task_model(fine_tuned, car_model):
    """The fine-tuned body wearing the car model's ORIGINAL 9-class head.

    Evaluate it on the old task to see what fine-tuning made the body forget. The body
    is shared with `fine_tuned`; the head is a copy of the car model's.

    Example:
        >>> import ftlab
        >>> from ftlab.car_to_truck import old_task_model
        >>> car = ftlab.load_car_model()
        >>> new = ftlab.swap_head(car, 2)
        >>> old_task_model(new, car).output_shape
        (None, 9)
    """
    from ftlab.features import attach_head
    from ftlab.heads import remove_head

    body = remove_head(fine_tuned)
    old_head = car_model.layers[-1]
    head = keras.Sequential(
        [keras.Input(body.output_shape[1:]), keras.layers.Dense(old_head.units, name="old_head")],
        name="old_head",
    )
    head.layers[-1].set_weights(old_head.get_weights())
    return attach_head(body, head, name="fine_tuned_body_old_head")


def _evaluate(model, data, class_names=TARGET_CLASSES):
    """`ftlab.evaluation.evaluate` on ``(images, labels)`` arrays (images 0..255)."""
    from ftlab.evaluation import evaluate

    return evaluate(model, (_float(data[0]), data[1]), class_names, batch_size=256)


def accuracy_on(model, data) -> float:
    """Accuracy of a classifier on ``(images, labels)`` arrays (images 0..255).

    Example:
        >>> import ftlab
        >>> from ftlab.car_to_truck import accuracy_on, target_data
        >>> model = ftlab.swap_head(ftlab.load_car_model(), 2)   # an untrained head
        >>> 0.0 <= accuracy_on(model, target_data(1, val=0, test=10)["test"]) <= 1.0
        True
    """
    names = [str(k) for k in range(int(model.output_shape[-1]))]
    return _evaluate(model, data, names).accuracy


class _StageEndTest(keras.callbacks.Callback):
    """Test accuracy at the end of each `fit` (of fine-tuning: stage one, stage two)."""

    def __init__(self, test):
        super().__init__()
        self.test = test
        self.accuracies = []

    def on_train_end(self, logs=None):
        self.accuracies.append(_evaluate(self.model, self.test).accuracy)


def _versions() -> dict:
    import keras_hub
    import tensorflow as tf

    import ftlab

    return {
        "ftlab": ftlab.__version__,
        "keras": keras.__version__,
        "keras_hub": keras_hub.__version__,
        "tensorflow": tf.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def _round(value, digits: int = 4):
    """Round floats (also inside lists and dicts) so report.json stays readable."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: _round(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_round(v, digits) for v in value]
    return value


def _history_dict(history) -> dict:
    return {k: [float(v) for v in values] for k, values in history.history.items()}


def _plot_before(before: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, name in zip(axes, TARGET_CLASSES):
        shares = before[f"{name}_predicted_as"]
        values = [shares.get(c, 0.0) for c in CAR_MODEL_CLASSES]
        ax.bar(range(len(values)), values, color="C1" if name == "truck" else "C0")
        ax.set_xticks(range(len(values)), CAR_MODEL_CLASSES, rotation=45, ha="right")
        ax.set_title(f"{name} pictures: the car model says")
    axes[0].set_ylabel("fraction of pictures")
    fig.savefig(path, dpi=100)


def run_car_to_truck(
    *,
    trucks: int = 20,
    seed: int = 0,
    out: str | os.PathLike | None = "car-to-truck",
    real: bool = False,
    recipe: Recipe | None = None,
    val: int = 20,
    test: int = 300,
    source_test: int = 100,
    verbose: int = 1,
    **recipe_changes,
) -> dict:
    """Teach the car model trucks, end to end, and report every number.

    Args:
        trucks: truck pictures to train on (and as many cars).
        seed: the seed of everything (data, initial weights, batch order): the same seed
            gives the same numbers.
        out: folder for ``report.json`` and the pictures (created); None writes nothing.
        real: CIFAR-10 photos instead of the synthetic world (needs a download once;
            ``ConnectionError`` without a network).
        recipe: how to train (see `Recipe`); keyword arguments such as ``epochs=5``
            change single fields of the default recipe.
        val, test: validation and test pictures per class.
        source_test: old-task test pictures per class, to measure forgetting (always
            from the synthetic world: the old task's own data).
        verbose: 1 shows Keras progress bars and a summary, 0 is silent.

    Returns:
        The report (also in ``out/report.json``): ``before`` (what the car model called
        trucks), ``head_only`` and ``fine_tuned`` test results, ``forgetting``,
        ``from_scratch``, ``history``, ``timings_seconds`` and the settings.

    Example (about a minute)::

        >>> report = run_car_to_truck(trucks=20, out=None, verbose=0)  # doctest: +SKIP
        >>> report["fine_tuned"]["accuracy"] > report["from_scratch"]["accuracy"]  # doctest: +SKIP
        True
    """
    from ftlab.evaluation import forgetting, plot_learning_curves

    recipe = replace(recipe or Recipe(), **recipe_changes)
    for name, value, low in (("val", val, 0), ("test", test, 1), ("source_test", source_test, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be a whole number >= {low}, got {value!r}.")
    check_trucks(trucks, val=val, real=real)
    timings = {}
    start = clock = time.perf_counter()

    def lap(name):
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 2)
        clock = now

    def say(message):
        if verbose:
            print(message, flush=True)

    _seed(seed)
    data = target_data(trucks, seed=seed, val=val, test=test, real=real)
    source_x, source_y = source_data("test", source_test)
    lap("data")
    say(
        f"Car to truck: {trucks} trucks and {trucks} cars to train on, {val} + {val} to "
        f"validate, {len(data['test'][1])} to test ({'CIFAR-10' if real else 'synthetic'})."
    )

    car = load_car_model()
    before = before_fine_tuning(car, *data["test"])
    top = ", ".join(f"{c} {v:.0%}" for c, v in list(before["truck_predicted_as"].items())[:3])
    say(f"Before fine-tuning, the car model calls trucks: {top}.")
    lap("before")

    _seed(seed)
    stage_test = _StageEndTest(data["test"])
    model, history = fine_tune_car_model(
        car, data["train"], data["val"], recipe=recipe, verbose=verbose, callbacks=[stage_test]
    )
    lap("fine_tune")
    fine_tuned = _evaluate(model, data["test"])
    head_only = stage_test.accuracies[0] if recipe.head_epochs else None
    say(f"Fine-tuned test accuracy: {fine_tuned.accuracy:.4f} (head only: {head_only}).")
    forgot = forgetting(
        _evaluate(car, (source_x, source_y), CAR_MODEL_CLASSES),
        _evaluate(old_task_model(model, car), (source_x, source_y), CAR_MODEL_CLASSES),
        None,
    )
    say(
        f"Old task (9 classes) with the original head on the fine-tuned body: "
        f"{forgot.accuracy_before:.4f} -> {forgot.accuracy_after:.4f}."
    )
    lap("evaluate")

    _seed(seed)
    scratch_model, scratch_history = train_from_scratch(
        data["train"], data["val"], recipe=recipe, seed=seed, verbose=verbose
    )
    scratch = _evaluate(scratch_model, data["test"])
    say(f"From scratch, same data: test accuracy {scratch.accuracy:.4f}.")
    lap("from_scratch")

    x_test, y_test = data["test"]
    predictions = np.argmax(model.predict(_float(x_test), batch_size=256, verbose=0), axis=1)
    report = {
        "task": {
            "source_classes": list(CAR_MODEL_CLASSES),
            "target_classes": list(TARGET_CLASSES),
            "data": "cifar10" if real else "synthetic",
            "trucks": int(trucks),
            "cars": int(trucks),
            "val_per_class": int(val),
            "test_per_class": int(test),
            "source_test_per_class": int(source_test),
            "seed": int(seed),
        },
        "recipe": asdict(recipe),
        "before": before,
        "head_only": {"accuracy": head_only},
        "fine_tuned": fine_tuned.to_dict(),
        "forgetting": forgot.to_dict(),
        "from_scratch": scratch.to_dict(),
        "gain_over_scratch": fine_tuned.accuracy - scratch.accuracy,
        "history": {
            "fine_tuned": _history_dict(history),
            "stage_boundary": int(history.stage_boundary),
            "from_scratch": _history_dict(scratch_history),
        },
        "versions": _versions(),
    }
    files = []
    if out is not None:
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        plot_learning_curves(
            {"fine-tuned": history, "from scratch": scratch_history},
            path=folder / "learning_curves.png",
        )
        fine_tuned.plot_confusion(folder / "confusion_matrix.png")
        shown = min(32, len(y_test))
        vehicles.show_grid(
            x_test[:shown],
            y_test[:shown],
            TARGET_CLASSES,
            predictions=predictions[:shown],
            path=folder / "test_predictions.png",
        )
        _plot_before(before, folder / "before.png")
        files = [
            "learning_curves.png",
            "confusion_matrix.png",
            "test_predictions.png",
            "before.png",
        ]
    lap("report")
    timings["total"] = round(time.perf_counter() - start, 2)
    report["timings_seconds"] = timings
    report["files"] = files
    report = _round(report)
    if out is not None:
        (Path(out) / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        where = Path(out) / "report.json"
        say(f"Wrote {where} and {len(files)} pictures ({timings['total']:.0f} s).")
    return report


def summary(report: dict) -> str:
    """A few lines that say what a car-to-truck run found."""
    t = report["task"]
    lines = [
        f"car to truck, {t['trucks']} trucks + {t['cars']} cars, seed {t['seed']} ({t['data']}):",
        f"  before: trucks called {report['before']['truck_predicted_as']}",
        f"  head only        test accuracy {report['head_only']['accuracy']}",
        f"  fine-tuned       test accuracy {report['fine_tuned']['accuracy']}",
        f"  from scratch     test accuracy {report['from_scratch']['accuracy']}",
        f"  forgetting (old task) {report['forgetting']['accuracy_before']} -> "
        f"{report['forgetting']['accuracy_after']}",
        f"  time {report['timings_seconds']['total']} s",
    ]
    return "\n".join(lines)
