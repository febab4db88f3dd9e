"""Freezing and unfreezing layers, and seeing what will train.

Freezing a layer (`layer.trainable = False`) keeps the optimizer from changing
its weights. Fine-tuning freezes the pre-trained body, trains a new head, then
unfreezes some of the body and trains it gently.

Two Keras facts this module gets right for you:

1. **The BatchNormalization trap.** In Keras 3 a functional model passes
   `fit()`'s `training=True` down to every layer, even into a base you called
   as `base(x, training=False)`. A BatchNormalization layer uses the batch's
   statistics (and updates its moving averages) when it is *trainable* and in
   training mode. So unfreezing a base makes its BN layers forget the
   statistics they learned on the big pre-training data set, and accuracy drops.
   `unfreeze` therefore keeps BN layers frozen unless you ask otherwise
   (`train_batchnorm=True`). A frozen BN layer always runs in inference mode.
2. **Recompile after changing `trainable`.** A compiled model keeps the list of
   variables it trains; call `model.compile(...)` again after `freeze` or
   `unfreeze` so the change takes effect.

Example:
    >>> import keras, ftlab
    >>> model = keras.Sequential([keras.Input((8,)),
    ...     keras.layers.Dense(4, name="body"), keras.layers.Dense(2, name="head")])
    >>> ftlab.freeze(model)
    >>> ftlab.count_params(model).trainable
    0
    >>> ftlab.unfreeze(model, last=1)
    ['head']
    >>> ftlab.count_params(model).trainable
    10
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np

from ftlab.layers import (
    LeafLayer,
    check_built,
    find_leaf_index,
    is_batchnorm,
    leaf_layers,
)


def freeze(model) -> None:
    """Make every weight of `model` non-trainable (nested models included).

    Recompile the model afterwards for the change to take effect in `fit`.

    Example:
        >>> import keras, ftlab
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        >>> ftlab.freeze(model)
        >>> len(model.trainable_weights)
        0
    """
    check_built(model)
    model.trainable = False


def unfreeze(
    model,
    *,
    last: int | None = None,
    from_layer: str | int | None = None,
    train_batchnorm: bool = False,
) -> list[str]:
    """Make layers trainable again: all of them, the last N, or from a layer on.

    Args:
        model: a built Keras model. Nested models are walked into, so `last=N`
            counts the leaf layers inside a pre-trained base, not the base as one.
        last: unfreeze only the last `last` leaf layers that own weights.
        from_layer: unfreeze from this leaf layer to the end. A name (a leaf's
            name, a path like "base/conv1", or a nested model's name) or an
            index into the leaf layers (negative counts from the end).
        train_batchnorm: BatchNormalization layers stay frozen (inference mode)
            unless this is True. See the module docstring for why.

    Returns:
        The paths of the leaf layers that are now trainable.

    Everything not selected is frozen, so `unfreeze(model, last=3)` on a fully
    trainable model leaves exactly three layers trainable. Recompile afterwards.

    Example:
        >>> import keras, ftlab
        >>> model = keras.Sequential([keras.Input((4,)),
        ...     keras.layers.Dense(8, name="hidden"),
        ...     keras.layers.BatchNormalization(name="bn"),
        ...     keras.layers.Dense(2, name="out")])
        >>> ftlab.unfreeze(model)
        ['hidden', 'out']
        >>> ftlab.unfreeze(model, last=2)
        ['out']
        >>> ftlab.unfreeze(model, from_layer="hidden", train_batchnorm=True)
        ['hidden', 'bn', 'out']
    """
    leaves = leaf_layers(model)
    start = _start_index(model, leaves, last=last, from_layer=from_layer)

    # Containers must be trainable for their children's weights to count,
    # so switch everything on, then switch the unselected leaves off.
    model.trainable = True
    unfrozen = []
    for index, leaf in enumerate(leaves):
        keep_frozen = index < start or (is_batchnorm(leaf.layer) and not train_batchnorm)
        leaf.layer.trainable = not keep_frozen
        if not keep_frozen and leaf.has_weights:
            unfrozen.append(leaf.path)
        if not keep_frozen and not train_batchnorm:
            _freeze_inner_batchnorm(leaf.layer)
    return unfrozen


def _start_index(model, leaves: list[LeafLayer], *, last, from_layer) -> int:
    """Index of the first leaf to unfreeze, after checking the arguments."""
    if last is not None and from_layer is not None:
        raise ValueError(
            "Pass either last=N or from_layer=..., not both: they both say where unfreezing starts."
        )
    if last is not None:
        return _start_of_last(leaves, last)
    if from_layer is None:
        return 0
    if isinstance(from_layer, bool) or not isinstance(from_layer, (int, str)):
        raise TypeError(f"from_layer must be a layer name or an integer index, got {from_layer!r}.")
    if isinstance(from_layer, str):
        return find_leaf_index(model, from_layer)
    if not -len(leaves) <= from_layer < len(leaves):
        raise IndexError(
            f"from_layer={from_layer} is out of range: model '{model.name}' has "
            f"{len(leaves)} leaf layers, so valid indices are {-len(leaves)} to "
            f"{len(leaves) - 1}. Use ftlab.trainable_report(model) to see them."
        )
    return from_layer % len(leaves)


def _start_of_last(leaves: list[LeafLayer], last) -> int:
    """Index of the first of the last `last` leaves that own weights."""
    if isinstance(last, bool) or not isinstance(last, (int, np.integer)):
        raise TypeError(f"last must be a whole number of layers, got {last!r}.")
    weighted = [index for index, leaf in enumerate(leaves) if leaf.has_weights]
    if last < 1:
        raise ValueError(
            f"last={last} would unfreeze nothing. Pass last >= 1, or call "
            "ftlab.freeze(model) to freeze everything."
        )
    if last > len(weighted):
        raise ValueError(
            f"last={last} is more than the {len(weighted)} layers with weights in this "
            f"model. Pass last <= {len(weighted)}, or call ftlab.unfreeze(model) to "
            "unfreeze everything."
        )
    return weighted[-last]


def _freeze_inner_batchnorm(layer) -> None:
    """Freeze BN layers held inside a composite leaf (e.g. a custom block)."""
    for inner in _inner_layers(layer):
        if is_batchnorm(inner):
            inner.trainable = False


def _inner_layers(layer):
    # Keras tracks sublayers of custom layers in `_layers`; walk them all.
    for inner in getattr(layer, "_layers", []):
        yield inner
        yield from _inner_layers(inner)


@dataclass(frozen=True)
class ParamCount:
    """Numbers of parameters (scalars), as returned by `count_params`."""

    trainable: int
    non_trainable: int
    total: int


def count_params(model) -> ParamCount:
    """Count trainable, non-trainable and total parameters of a built model.

    Shared weights are counted once.

    Example:
        >>> import keras, ftlab
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        >>> ftlab.count_params(model)
        ParamCount(trainable=8, non_trainable=0, total=8)
    """
    check_built(model)
    trainable = _size(model.trainable_weights)
    non_trainable = _size(model.non_trainable_weights)
    return ParamCount(trainable, non_trainable, trainable + non_trainable)


def _size(variables) -> int:
    unique = {id(v): v for v in variables}.values()
    return int(sum(int(np.prod(v.shape)) for v in unique))


@dataclass(frozen=True)
class ReportRow:
    """One leaf layer in a `TrainableReport`."""

    name: str
    type: str
    trainable: bool
    trainable_params: int
    params: int


@dataclass(frozen=True)
class TrainableReport:
    """A table of leaf layers: what trains and how big it is.

    `str(report)` is a text table; in Jupyter it renders as HTML.
    """

    model_name: str
    rows: tuple[ReportRow, ...]
    totals: ParamCount

    def __str__(self) -> str:
        header = ("layer", "type", "trainable", "trainable params", "params")
        body = [
            (
                r.name,
                r.type,
                "yes" if r.trainable else "no",
                f"{r.trainable_params:,}",
                f"{r.params:,}",
            )
            for r in self.rows
        ]
        t = self.totals
        footer = ("total", "", "", f"{t.trainable:,}", f"{t.total:,}")
        widths = [max(len(row[i]) for row in [header, *body, footer]) for i in range(5)]

        def line(cells):
            return "  ".join(
                cell.ljust(w) if i < 3 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(cells, widths))
            ).rstrip()

        rule = "-" * len(line(header))
        return "\n".join(
            [f"Model: {self.model_name}", line(header), rule, *map(line, body), rule, line(footer)]
        )

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        def cells(values, tag="td"):
            return "".join(f"<{tag}>{html.escape(str(v))}</{tag}>" for v in values)

        rows = "".join(
            f"<tr style='color:{'inherit' if r.trainable else 'gray'}'>"
            + cells(
                [
                    r.name,
                    r.type,
                    "yes" if r.trainable else "no",
                    f"{r.trainable_params:,}",
                    f"{r.params:,}",
                ]
            )
            + "</tr>"
            for r in self.rows
        )
        t = self.totals
        head = cells(["layer", "type", "trainable", "trainable params", "params"], "th")
        foot = cells(["total", "", "", f"{t.trainable:,}", f"{t.total:,}"], "th")
        return (
            f"<table><caption>Model: {html.escape(self.model_name)}</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody>"
            f"<tfoot><tr>{foot}</tr></tfoot></table>"
        )


def trainable_report(model) -> TrainableReport:
    """A table with one row per leaf layer: name, type, trainable, parameters.

    Example:
        >>> import keras, ftlab
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")],
        ...                          name="tiny")
        >>> ftlab.freeze(model)
        >>> print(ftlab.trainable_report(model))  # doctest: +NORMALIZE_WHITESPACE
        Model: tiny
        layer  type   trainable  trainable params  params
        -------------------------------------------------
        dense  Dense  no                        0       8
        -------------------------------------------------
        total                                   0       8
    """
    leaves = leaf_layers(model)
    trainable_ids = {id(v) for v in model.trainable_weights}
    rows = []
    for leaf in leaves:
        weights = leaf.layer.weights
        trainable_params = _size([v for v in weights if id(v) in trainable_ids])
        rows.append(
            ReportRow(
                name=leaf.path,
                type=type(leaf.layer).__name__,
                trainable=trainable_params > 0,
                trainable_params=trainable_params,
                params=_size(weights),
            )
        )
    return TrainableReport(model.name, tuple(rows), count_params(model))
