"""Measuring what a fine-tuned model learned, and what it forgot.

Accuracy alone hides a lot. Three questions the course keeps asking:

1. **Which classes does it get wrong, and as what?** The confusion matrix
   has one row per true class and one column per predicted class:

                    predicted
                    car  truck
        true  car   [ 48    2 ]     recall(car)      = 48 / (48 + 2)
              truck [  5   45 ]     precision(truck) = 45 / (2 + 45)

   *Recall* of a class: of its examples, the fraction found. *Precision*:
   of the examples predicted as it, the fraction right. *F1* is their
   harmonic mean. *Support* is how many examples the class has.
2. **What did fine-tuning make it forget?** `forgetting` evaluates the model
   before and after on the OLD task and reports the drop, overall and per
   class ("catastrophic forgetting").
3. **How much data does it need?** `accuracy_vs_data_size` trains on growing
   subsets, several seeds each, and `plot_data_size_curves` compares, e.g.,
   fine-tuning against training from scratch.

`plot_learning_curves` draws training histories side by side and marks where
stage two of `ftlab.fine_tune` began.

Everything is plain NumPy; no scikit-learn needed.

Example:
    >>> report = classification_report([0, 0, 1, 1], [0, 1, 1, 1], ["car", "truck"])
    >>> report.accuracy, report.confusion.tolist()
    (0.75, [[1, 1], [0, 2]])
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ftlab.data_checks import (
    check_dataset,
    iter_batches,
    model_num_classes,
    output_is_probabilities,
)

# ---------------------------------------------------------------------------
# Confusion matrix and per-class scores
# ---------------------------------------------------------------------------


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Counts of (true class, predicted class) pairs: rows true, columns predicted.

    Example:
        >>> confusion_matrix([0, 1, 1, 2], [0, 2, 1, 2], 3).tolist()
        [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    """
    y_true = np.asarray(y_true, dtype="int64").reshape(-1)
    y_pred = np.asarray(y_pred, dtype="int64").reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{len(y_true)} true labels but {len(y_pred)} predictions.")
    for name, values in (("true label", y_true), ("prediction", y_pred)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(
                f"A {name} is outside [0, {num_classes}): pass class_names for every class."
            )
    # Each pair (t, p) becomes the single number t * num_classes + p; count them.
    counts = np.bincount(y_true * num_classes + y_pred, minlength=num_classes**2)
    return counts.reshape(num_classes, num_classes)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (a class never seen)."""
    out = np.zeros(len(numerator), dtype="float64")
    nonzero = denominator > 0
    out[nonzero] = numerator[nonzero] / denominator[nonzero]
    return out


@dataclass(frozen=True)
class Evaluation:
    """Accuracy, per-class precision/recall/F1/support and the confusion matrix.

    Build one with `evaluate(model, data, class_names)` or
    `classification_report(y_true, y_pred, class_names)`. `print()` it for a
    table; in Jupyter it shows as HTML; `to_dict()` gives JSON-ready numbers.
    """

    class_names: tuple[str, ...]
    confusion: np.ndarray

    @property
    def support(self) -> np.ndarray:
        """Examples of each true class (row sums)."""
        return self.confusion.sum(axis=1)

    @property
    def total(self) -> int:
        return int(self.confusion.sum())

    @property
    def accuracy(self) -> float:
        """Fraction of all examples predicted right (the diagonal over the total)."""
        return float(np.trace(self.confusion) / self.total) if self.total else 0.0

    @property
    def precision(self) -> np.ndarray:
        """Per class: right predictions of it / all predictions of it (column)."""
        return _ratio(np.diag(self.confusion), self.confusion.sum(axis=0))

    @property
    def recall(self) -> np.ndarray:
        """Per class: right predictions of it / all its examples (row)."""
        return _ratio(np.diag(self.confusion), self.support)

    @property
    def f1(self) -> np.ndarray:
        """Per class: harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return _ratio(2 * p * r, p + r)

    @property
    def macro_f1(self) -> float:
        """F1 averaged over the classes, each class counting the same."""
        return float(self.f1.mean())

    def per_class(self) -> list[dict]:
        """One dict per class: name, precision, recall, f1, support."""
        return [
            {
                "class": name,
                "precision": float(p),
                "recall": float(r),
                "f1": float(f),
                "support": int(s),
            }
            for name, p, r, f, s in zip(
                self.class_names, self.precision, self.recall, self.f1, self.support
            )
        ]

    def to_dict(self) -> dict:
        """Plain numbers and lists, ready for `json.dump`."""
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "total": self.total,
            "class_names": list(self.class_names),
            "per_class": self.per_class(),
            "confusion": self.confusion.tolist(),
        }

    def __str__(self) -> str:
        width = max(8, *(len(n) for n in self.class_names))
        lines = [
            f"accuracy {self.accuracy:.4f} on {self.total} examples (macro F1 {self.macro_f1:.4f})",
            f"{'class':<{width}}  precision  recall      f1  support",
        ]
        for row in self.per_class():
            lines.append(
                f"{row['class']:<{width}}  {row['precision']:9.4f}  {row['recall']:6.4f}  "
                f"{row['f1']:6.4f}  {row['support']:7d}"
            )
        lines.append("confusion matrix (rows: true class, columns: predicted):")
        lines.extend("  " + " ".join(f"{v:6d}" for v in row) for row in self.confusion)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Evaluation(accuracy={self.accuracy:.4f}, classes={list(self.class_names)})"

    def _repr_html_(self) -> str:
        esc = html.escape
        rows = "".join(
            f"<tr><td>{esc(r['class'])}</td><td>{r['precision']:.3f}</td>"
            f"<td>{r['recall']:.3f}</td><td>{r['f1']:.3f}</td><td>{r['support']}</td></tr>"
            for r in self.per_class()
        )
        head = "".join(f"<th>{esc(n)}</th>" for n in self.class_names)
        matrix = "".join(
            f"<tr><th>{esc(name)}</th>" + "".join(f"<td>{v}</td>" for v in row) + "</tr>"
            for name, row in zip(self.class_names, self.confusion)
        )
        return (
            f"<p><b>accuracy {self.accuracy:.4f}</b> on {self.total} examples "
            f"(macro F1 {self.macro_f1:.4f})</p>"
            "<table><thead><tr><th>class</th><th>precision</th><th>recall</th><th>f1</th>"
            f"<th>support</th></tr></thead><tbody>{rows}</tbody></table>"
            "<table><caption>confusion matrix (rows: true, columns: predicted)</caption>"
            f"<thead><tr><th></th>{head}</tr></thead><tbody>{matrix}</tbody></table>"
        )

    def plot_confusion(self, path=None, *, normalize: bool = False, ax=None):
        """Draw the confusion matrix as a picture; returns the matplotlib Figure.

        `normalize=True` shows each row as fractions (per-class recall on the
        diagonal), which is easier to read when classes differ in size.
        """
        from matplotlib.figure import Figure

        if ax is None:
            fig = Figure(figsize=(1.2 + 0.7 * len(self.class_names),) * 2)
            ax = fig.subplots()
        else:
            fig = ax.figure
        values = self.confusion.astype("float64")
        if normalize:
            values = values / np.maximum(values.sum(axis=1, keepdims=True), 1)
        image = ax.imshow(values, cmap="Blues", vmin=0)
        fig.colorbar(image, ax=ax, fraction=0.046)
        ticks = range(len(self.class_names))
        ax.set_xticks(ticks, self.class_names, rotation=45, ha="right")
        ax.set_yticks(ticks, self.class_names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"accuracy {self.accuracy:.3f}")
        threshold = values.max() / 2 if values.size else 0
        for (i, j), v in np.ndenumerate(values):
            text = f"{v:.2f}" if normalize else f"{int(v)}"
            ax.text(
                j, i, text, ha="center", va="center", color="white" if v > threshold else "black"
            )
        if path is not None:
            fig.savefig(path, bbox_inches="tight")
        return fig


def classification_report(y_true, y_pred, class_names: Sequence[str]) -> Evaluation:
    """An `Evaluation` from true labels and predicted labels (class numbers).

    Example:
        >>> report = classification_report([0, 1, 1], [0, 1, 0], ["cat", "dog"])
        >>> report.recall.tolist(), report.precision.tolist()
        ([1.0, 0.5], [0.5, 1.0])
    """
    names = tuple(str(n) for n in class_names)
    return Evaluation(names, confusion_matrix(y_true, y_pred, len(names)))


# ---------------------------------------------------------------------------
# Evaluating a model
# ---------------------------------------------------------------------------


def predict_classes(model, data, *, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Run `model` over `data`; return (true class numbers, predicted class numbers).

    Several outputs: the predicted class is the highest score. One output
    (binary): class 1 when the logit is > 0 (or the probability > 0.5 for a
    sigmoid output).
    """
    one_unit = model_num_classes(model) == 1
    threshold = 0.5 if output_is_probabilities(model) else 0.0
    truths, predictions = [], []
    for x, y in iter_batches(data, batch_size):
        scores = np.asarray(model.predict_on_batch(x))
        if one_unit:
            predictions.append((scores.reshape(-1) > threshold).astype("int64"))
        else:
            predictions.append(scores.argmax(axis=-1).reshape(-1))
        y = np.asarray(y)
        one_hot = y.ndim >= 2 and y.shape[-1] > 1
        truths.append(y.argmax(axis=-1).reshape(-1) if one_hot else y.reshape(-1))
    return np.concatenate(truths).astype("int64"), np.concatenate(predictions).astype("int64")


def evaluate(
    model, data, class_names: Sequence[str] | None = None, *, batch_size: int = 64
) -> Evaluation:
    """Evaluate a classifier: accuracy, per-class scores, confusion matrix.

    Args:
        model: a Keras classifier (logits or probabilities; one output unit
            means binary).
        data: a batched `tf.data.Dataset` of (images, labels), or an
            (images, labels) tuple of arrays.
        class_names: a name per class, in class-number order; default "0", "1", ...

    Example:
        >>> import numpy as np, keras
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
        >>> result = evaluate(model, (np.random.rand(10, 2), np.zeros(10, int)), ["a", "b"])
        >>> result.total, int(result.support[0])
        (10, 10)
    """
    check_dataset(data, model, name="evaluation")
    num_classes = model_num_classes(model)
    num_classes = 2 if num_classes == 1 else num_classes
    if class_names is not None and num_classes is not None and len(class_names) != num_classes:
        raise ValueError(
            f"{len(class_names)} class names for a model with {num_classes} classes. "
            "Fix: pass one name per class, in class-number order."
        )
    y_true, y_pred = predict_classes(model, data, batch_size=batch_size)
    if class_names is None:
        if num_classes is None:
            num_classes = int(max(y_true.max(), y_pred.max())) + 1
        class_names = [str(i) for i in range(num_classes)]
    return classification_report(y_true, y_pred, class_names)


# ---------------------------------------------------------------------------
# Forgetting
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Forgetting:
    """How a model's performance on the OLD task changed after fine-tuning."""

    before: Evaluation
    after: Evaluation

    @property
    def accuracy_before(self) -> float:
        return self.before.accuracy

    @property
    def accuracy_after(self) -> float:
        return self.after.accuracy

    @property
    def drop(self) -> float:
        """Accuracy lost on the old task (negative: it improved)."""
        return self.before.accuracy - self.after.accuracy

    @property
    def per_class_drop(self) -> np.ndarray:
        """Recall lost by each old class."""
        return self.before.recall - self.after.recall

    def per_class(self) -> list[dict]:
        return [
            {"class": n, "recall_before": float(b), "recall_after": float(a), "drop": float(b - a)}
            for n, b, a in zip(self.before.class_names, self.before.recall, self.after.recall)
        ]

    def to_dict(self) -> dict:
        return {
            "accuracy_before": self.accuracy_before,
            "accuracy_after": self.accuracy_after,
            "drop": self.drop,
            "per_class": self.per_class(),
        }

    def __str__(self) -> str:
        width = max(8, *(len(n) for n in self.before.class_names))
        lines = [
            f"old-task accuracy {self.accuracy_before:.4f} -> {self.accuracy_after:.4f} "
            f"(drop {self.drop:+.4f})",
            f"{'class':<{width}}  recall before  after    drop",
        ]
        for row in self.per_class():
            lines.append(
                f"{row['class']:<{width}}  {row['recall_before']:13.4f}  "
                f"{row['recall_after']:.4f}  {row['drop']:+.4f}"
            )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(r['class'])}</td><td>{r['recall_before']:.3f}</td>"
            f"<td>{r['recall_after']:.3f}</td><td>{r['drop']:+.3f}</td></tr>"
            for r in self.per_class()
        )
        return (
            f"<p><b>old-task accuracy {self.accuracy_before:.4f} &rarr; "
            f"{self.accuracy_after:.4f}</b> (drop {self.drop:+.4f})</p>"
            "<table><thead><tr><th>class</th><th>recall before</th><th>after</th>"
            f"<th>drop</th></tr></thead><tbody>{rows}</tbody></table>"
        )


def forgetting(
    before, after, old_task_data, class_names: Sequence[str] | None = None, *, batch_size: int = 64
) -> Forgetting:
    """Measure what the original task lost: evaluate before and after on its data.

    Both models must answer the OLD task (same classes). A model fine-tuned
    with a new head cannot; to see what its body forgot, put the old head
    back on the fine-tuned body (`ftlab.features.attach_head`) and pass that.
    Keep the original with `ftlab.copy_model(model)` before fine-tuning.

    Args:
        before: the model before fine-tuning, or its `Evaluation` on the old data.
        after: the model after, or its `Evaluation`.
        old_task_data: data of the original task.
        class_names: names of the old classes.

    Example:
        >>> import numpy as np, keras, ftlab
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
        >>> old = ftlab.copy_model(model)
        >>> data = (np.random.rand(30, 2), np.random.randint(0, 3, 30))
        >>> forgetting(old, model, data).drop   # nothing trained: nothing forgotten
        0.0
    """
    expected = len(class_names) if class_names is not None else _classes_of(before)
    results = []
    for which, model in (("before", before), ("after", after)):
        classes = _classes_of(model)
        if None not in (classes, expected) and classes != expected:
            raise ValueError(
                f"The '{which}' model answers {classes} classes but the old task has "
                f"{expected}. A model with a new head cannot answer the old task: put the "
                "old head back on the fine-tuned body (ftlab.attach_head(body, old_head)) "
                "and pass that."
            )
        if isinstance(model, Evaluation):
            results.append(model)
        else:
            results.append(evaluate(model, old_task_data, class_names, batch_size=batch_size))
    if results[0].class_names != results[1].class_names:
        raise ValueError(
            f"'before' has classes {results[0].class_names} but 'after' has "
            f"{results[1].class_names}; both must answer the same (old) task."
        )
    return Forgetting(*results)


def _classes_of(model_or_evaluation) -> int | None:
    """How many classes a model (a one-unit output answers two) or Evaluation has."""
    if isinstance(model_or_evaluation, Evaluation):
        return len(model_or_evaluation.class_names)
    classes = model_num_classes(model_or_evaluation)
    return 2 if classes == 1 else classes


# ---------------------------------------------------------------------------
# Learning curves
# ---------------------------------------------------------------------------


def plot_learning_curves(
    histories: Mapping[str, object],
    metrics: Sequence[str] = ("loss", "accuracy"),
    path=None,
    *,
    mark: bool = True,
):
    """Draw training histories side by side: one panel per metric.

    Training values are solid lines, validation values (`val_...`) dashed in
    the same colour. With `mark=True`, a dotted vertical line shows where
    stage two of `ftlab.fine_tune` began (its `stage_boundary`).

    Args:
        histories: name -> a `keras.callbacks.History` (or `FineTuneHistory`),
            or a plain dict of metric lists (`history.history`).
        metrics: the metrics to draw, one panel each.
        path: save the figure here if given.
        mark: mark stage boundaries.

    Returns:
        The matplotlib Figure.

    Example:
        >>> fig = plot_learning_curves({"run": {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}},
        ...                            metrics=["loss"])
        >>> [line.get_label() for line in fig.axes[0].lines]
        ['run', 'run (val)']
    """
    from matplotlib.figure import Figure

    if not histories:
        raise ValueError("histories is empty: pass {'name': history, ...}.")
    curves = {name: _as_curves(h) for name, h in histories.items()}
    available = sorted({k for values, _, _ in curves.values() for k in values})
    missing = [m for m in metrics if not any(m in values for values, _, _ in curves.values())]
    if missing:
        raise ValueError(f"No history has {missing}. Available: {available}.")
    fig = Figure(figsize=(5 * len(metrics), 3.6))
    axes = np.atleast_1d(fig.subplots(1, len(metrics)))
    for ax, metric in zip(axes, metrics):
        for color, (name, (values, epochs, boundary)) in enumerate(curves.items()):
            style = {"color": f"C{color % 10}"}
            if metric in values:
                ax.plot(epochs[: len(values[metric])], values[metric], label=name, **style)
            if f"val_{metric}" in values:
                val = values[f"val_{metric}"]
                ax.plot(epochs[: len(val)], val, linestyle="--", label=f"{name} (val)", **style)
            if mark and boundary is not None:
                ax.axvline(boundary - 0.5, linestyle=":", alpha=0.7, **style)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(
            metric
            + (
                " (dotted: fine-tuning starts)"
                if mark and any(b is not None for _, _, b in curves.values())
                else ""
            )
        )
        ax.legend()
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, bbox_inches="tight")
    return fig


def _as_curves(history):
    """(metric -> values, epoch numbers, stage boundary or None) for one history."""
    values = getattr(history, "history", history)
    if not isinstance(values, Mapping):
        raise TypeError(
            f"Expected a keras History or a dict of metric lists, got {type(history).__name__}."
        )
    length = max((len(v) for v in values.values()), default=0)
    epochs = list(getattr(history, "epoch", None) or range(length))
    boundary = getattr(history, "stage_boundary", None)
    if boundary is None:
        boundary = (getattr(history, "params", None) or {}).get("stage_boundary")
    return dict(values), epochs, boundary


# ---------------------------------------------------------------------------
# Accuracy against training-set size
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DataSizeCurve:
    """Test accuracy for each training-set size, over several seeds.

    Attributes:
        sizes: training-set sizes.
        seeds: the seeds tried at each size.
        scores: array [len(sizes), len(seeds)] of accuracies.
    """

    sizes: tuple[int, ...]
    seeds: tuple[int, ...]
    scores: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        return self.scores.mean(axis=1)

    @property
    def std(self) -> np.ndarray:
        return self.scores.std(axis=1)

    def to_dict(self) -> dict:
        return {
            "sizes": list(self.sizes),
            "seeds": list(self.seeds),
            "scores": self.scores.tolist(),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
        }

    def __str__(self) -> str:
        lines = ["  size  mean acc    std"]
        lines.extend(
            f"{n:6d}  {m:8.4f}  {s:.4f}" for n, m, s in zip(self.sizes, self.mean, self.std)
        )
        return "\n".join(lines)

    def plot(self, path=None, *, ax=None, label: str | None = None):
        """Mean accuracy against size (log scale), shaded +- one std."""
        return plot_data_size_curves({label or "accuracy": self}, path=path, ax=ax)


def accuracy_vs_data_size(
    train_fn: Callable[[int, int], float],
    sizes: Sequence[int],
    *,
    seeds: Sequence[int] = (0, 1, 2),
    verbose: bool = False,
) -> DataSizeCurve:
    """Measure test accuracy against the number of training examples.

    Args:
        train_fn: `train_fn(n, seed)` trains a model on `n` examples (chosen
            and initialised with `seed`) and returns its test accuracy: a
            float, an `Evaluation`, or a dict with "accuracy".
        sizes: the training-set sizes to try.
        seeds: repeats at each size; the spread shows how much luck matters
            with little data.
        verbose: print each result as it comes.

    Example:
        >>> curve = accuracy_vs_data_size(lambda n, seed: min(1.0, n / 100), [10, 50],
        ...                               seeds=[0, 1])
        >>> curve.mean.tolist()
        [0.1, 0.5]
    """
    sizes = tuple(int(n) for n in sizes)
    seeds = tuple(int(s) for s in seeds)
    if not sizes or min(sizes) < 1:
        raise ValueError(f"sizes must be whole numbers >= 1, got {sizes}.")
    if not seeds:
        raise ValueError("seeds is empty: pass at least one seed.")
    scores = np.zeros((len(sizes), len(seeds)))
    for i, n in enumerate(sizes):
        for j, seed in enumerate(seeds):
            scores[i, j] = _accuracy_of(train_fn(n, seed))
            if verbose:
                print(f"n={n} seed={seed}: accuracy {scores[i, j]:.4f}")
    return DataSizeCurve(sizes, seeds, scores)


def _accuracy_of(result) -> float:
    if isinstance(result, Evaluation):
        return result.accuracy
    if isinstance(result, Mapping):
        return float(result["accuracy"])
    return float(result)


def plot_data_size_curves(curves: Mapping[str, DataSizeCurve], path=None, *, ax=None):
    """Several accuracy-vs-size curves on one plot (e.g. fine-tuned vs from scratch).

    Returns the matplotlib Figure; with `path` it is also saved as a PNG.

    Example:
        >>> import numpy as np
        >>> from ftlab.evaluation import DataSizeCurve, plot_data_size_curves
        >>> tuned = DataSizeCurve((5, 20), (0, 1), np.array([[0.8, 0.9], [0.95, 0.97]]))
        >>> scratch = DataSizeCurve((5, 20), (0, 1), np.array([[0.5, 0.6], [0.6, 0.7]]))
        >>> fig = plot_data_size_curves({"fine-tuned": tuned, "from scratch": scratch})
        >>> len(fig.axes[0].lines) >= 2
        True
    """
    from matplotlib.figure import Figure

    if ax is None:
        fig = Figure(figsize=(6, 4))
        ax = fig.subplots()
    else:
        fig = ax.figure
    for name, curve in curves.items():
        ax.plot(curve.sizes, curve.mean, marker="o", label=name)
        ax.fill_between(curve.sizes, curve.mean - curve.std, curve.mean + curve.std, alpha=0.2)
    ax.set_xscale("log")
    ax.set_xlabel("training examples")
    ax.set_ylabel("test accuracy")
    ax.set_title("Accuracy against training-set size")
    ax.legend()
    if path is not None:
        fig.savefig(path, bbox_inches="tight")
    return fig
