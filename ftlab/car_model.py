"""The course's pre-trained model: a small CNN that knows cars, buses, vans... but not trucks.

Fine-tuning starts from a model somebody else trained on a big *source* task. Ours was
trained by this module on the synthetic street world (`ftlab.vehicles`): nine classes,
every class of that world except ``"truck"``. The course then teaches it trucks.

    raw image 0..255 -> [ Rescaling 1/255 -> 4 conv blocks with BatchNorm ] -> feature map
                         \\______________ the backbone (the body) ______/
                     -> [ global average pooling -> Dense(9) "predictions" ]  the head

The model is shipped in the **keras-hub preset format**, the format of the real
pre-trained models on Kaggle and Hugging Face (``"resnet_18_imagenet"`` and friends), so
the same line loads either::

    model = keras_hub.models.ImageClassifier.from_preset("resnet_18_imagenet")  # online
    model = keras_hub.models.ImageClassifier.from_preset(ftlab.CAR_MODEL_PRESET)  # ours

A preset is a folder: ``config.json`` (the backbone's architecture) and
``model.weights.h5`` (its weights), ``task.json`` and ``task.weights.h5`` (the head), and
``metadata.json``. Ours also holds ``MODEL_CARD.md`` and ``card.json``: what the model
was trained on, how, and how well it does (read them with `car_model_card`).

One difference from keras-hub's own presets, on purpose: keras-hub keeps the pixel
scaling in a separate *preprocessor* that runs outside the network, so cutting the
network (``ftlab.swap_head``) would lose it. Our backbone starts with a ``Rescaling``
layer instead, so every model built from it takes raw 0..255 pictures, exactly what
`ftlab.vehicles` makes.

`train_car_model` re-creates the shipped model from scratch, deterministically::

    python scripts/train_car_model.py          # or: python -m ftlab.car_model --train

Example:
    >>> import ftlab
    >>> model = ftlab.load_car_model()
    >>> model.input_shape, model.output_shape
    ((None, 32, 32, 3), (None, 9))
    >>> ftlab.CAR_MODEL_CLASSES[:3]
    ('car', 'bus', 'van')
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

from ftlab import vehicles
from ftlab.reproducibility import seed_everything

__all__ = [
    "CAR_MODEL_CLASSES",
    "CAR_MODEL_PRESET",
    "IMAGE_SIZE",
    "build_backbone",
    "build_car_model",
    "car_model_card",
    "load_car_model",
    "preset_size_bytes",
    "shuffled_batches",
    "source_accuracy",
    "source_data",
    "train_car_model",
]

CAR_MODEL_CLASSES: tuple[str, ...] = tuple(c for c in vehicles.CLASS_NAMES if c != "truck")
"""The nine classes the car model knows, in label order: every vehicles class but "truck"."""

CAR_MODEL_PRESET: str = str(Path(__file__).resolve().parent / "assets" / "car_model")
"""Folder of the bundled car model (a keras-hub preset): pass it to ``from_preset``."""

IMAGE_SIZE = 32
"""Side of the pictures the car model takes (32x32 RGB, 0..255)."""

# The recipe of the shipped model. Changing any of these changes the model: retrain it
# (python -m ftlab.car_model --train) and commit the new preset and card together.
RECIPE = {
    "seed": 0,
    "train_per_class": 1500,
    "val_per_class": 100,
    "test_per_class": 300,
    "epochs": 12,
    "batch_size": 64,
    "optimizer": "AdamW",
    "peak_learning_rate": 2e-3,
    "weight_decay": 1e-4,
    "warmup_epochs": 1,
    "schedule": "linear warmup for 1 epoch, then cosine decay to 0",
    "augmentation": "none: the renderer already varies position, size, facing, colour, "
    "background, clutter, occlusion, light, blur and noise",
    "widths": [16, 32, 64, 128],
}

# The source task's data come from seeds the course's other experiments do not use, so a
# car picture in a fine-tuning exercise was never a pre-training picture.
SOURCE_SEED = 1000
CARD_FILE = "card.json"
MODEL_CARD_FILE = "MODEL_CARD.md"


def source_data(split: str, n_per_class: int, *, seed: int = SOURCE_SEED):
    """Pictures of the source task (the nine car-model classes) from one split.

    Returns ``(images, labels)``: uint8 ``[9 * n_per_class, 32, 32, 3]`` and int64 labels
    indexing `CAR_MODEL_CLASSES`. ``"train"``, ``"val"`` and ``"test"`` never share a
    picture (each split is its own random stream, see `ftlab.vehicles.splits`).

    Example:
        >>> from ftlab.car_model import source_data, CAR_MODEL_CLASSES
        >>> x, y = source_data("test", 2)
        >>> x.shape, sorted(set(y.tolist())) == list(range(len(CAR_MODEL_CLASSES)))
        ((18, 32, 32, 3), True)
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}.")
    counts = {"train": 1, "val": 0, "test": 0}
    counts[split] = n_per_class
    return vehicles.splits(CAR_MODEL_CLASSES, **counts, seed=seed, size=IMAGE_SIZE)[split]


def build_backbone(
    widths: Sequence[int] = (16, 32, 64, 128),
    *,
    bn_momentum: float = 0.9,
    name: str = "car_backbone",
):
    """The body of the car model: Rescaling, then one block of two 3x3 convolutions per
    width, each followed by BatchNormalization and ReLU; max pooling halves the picture
    between blocks (32 -> 16 -> 8 -> 4 for four blocks).

    BatchNormalization's moving averages use ``momentum=0.9`` (keras-hub's ResNets do
    too; Keras's default 0.99 needs hundreds of steps to settle, longer than training
    from scratch on a few dozen pictures lasts).

    Layers are named ``block{b}_conv{c}``, ``block{b}_bn{c}``, ``block{b}_relu{c}`` and
    ``block{b}_pool``, so ``ftlab.unfreeze(model, from_layer="block4_conv1")`` unfreezes
    the top block.

    Example:
        >>> from ftlab.car_model import build_backbone
        >>> build_backbone((8, 16)).output_shape
        (None, 16, 16, 16)
    """
    layers = keras.layers
    images = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), name="images")
    x = layers.Rescaling(1.0 / 255, name="rescaling")(images)
    for b, width in enumerate(widths, start=1):
        if b > 1:
            x = layers.MaxPooling2D(name=f"block{b - 1}_pool")(x)
        for c in (1, 2):
            x = layers.Conv2D(
                int(width), 3, padding="same", use_bias=False, name=f"block{b}_conv{c}"
            )(x)
            x = layers.BatchNormalization(momentum=bn_momentum, name=f"block{b}_bn{c}")(x)
            x = layers.ReLU(name=f"block{b}_relu{c}")(x)
    return keras.Model(images, x, name=name)


def build_car_model(
    num_classes: int = len(CAR_MODEL_CLASSES),
    *,
    widths: Sequence[int] = (16, 32, 64, 128),
    name: str = "car_model",
):
    """A fresh, untrained car-model network: `build_backbone` inside a keras-hub
    ``ImageClassifier`` (global average pooling and ``Dense(num_classes)``, logits out).

    With ``num_classes=2`` this is the "same architecture, trained from scratch" that the
    course compares fine-tuning against.

    Example:
        >>> from ftlab.car_model import build_car_model
        >>> build_car_model(2).output_shape
        (None, 2)
    """
    import keras_hub

    backbone = build_backbone(widths)
    return keras_hub.models.ImageClassifier(
        backbone=backbone, num_classes=num_classes, preprocessor=None, name=name
    )


def load_car_model(preset: str | os.PathLike | None = None, **kwargs):
    """Load the pre-trained car model (or any keras-hub image classifier preset).

    Args:
        preset: None for the bundled car model; otherwise a keras-hub preset name
            (``"resnet_18_imagenet"``, needs a network the first time) or a folder.
        **kwargs: passed to ``keras_hub.models.ImageClassifier.from_preset``, e.g.
            ``num_classes=2`` to get a fresh 2-class head instead of the stored one.

    Returns:
        A ``keras_hub.models.ImageClassifier`` (a Keras Functional model). The bundled
        one takes raw 0..255 float pictures of shape ``(32, 32, 3)`` and returns
        logits for `CAR_MODEL_CLASSES`.

    Example:
        >>> import ftlab
        >>> from ftlab import vehicles
        >>> model = ftlab.load_car_model()
        >>> x, _ = vehicles.make_images(["car"], n_per_class=4, seed=0)
        >>> model.predict(x, verbose=0).shape
        (4, 9)
    """
    import keras_hub

    source = CAR_MODEL_PRESET if preset is None else preset
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    if not isinstance(source, str):
        raise TypeError(f"preset must be a preset name or a folder, got {preset!r}.")
    if preset is None and not Path(source, "config.json").exists():
        raise FileNotFoundError(
            f"the bundled car model is missing from {source}: reinstall ftlab, or re-create "
            "it with `python -m ftlab.car_model --train`."
        )
    try:
        return keras_hub.models.ImageClassifier.from_preset(source, **kwargs)
    except Exception as err:
        if _looks_offline(err):
            raise ConnectionError(
                f"could not download the preset {source!r}: no network here. Use the bundled "
                "car model instead: ftlab.load_car_model() with no argument."
            ) from err
        raise


def _looks_offline(err: BaseException) -> bool:
    """True if an exception (or its cause) looks like a failed download."""
    words = ("connection", "network", "resolve", "max retries", "timed out", "unreachable")
    while err is not None:
        if isinstance(err, (ConnectionError, TimeoutError)):
            return True
        if any(w in f"{type(err).__name__} {err}".lower() for w in words):
            return True
        err = err.__cause__ or err.__context__
    return False


def car_model_card(preset: str | os.PathLike | None = None, *, numbers: bool = False):
    """The bundled model's card: the markdown text, or (``numbers=True``) its numbers.

    The numbers (``card.json``) include the source-task test accuracy, measured on a
    freshly generated test split, the parameter count, size on disk and training time.

    Example:
        >>> import ftlab
        >>> card = ftlab.car_model_card(numbers=True)
        >>> card["classes"] == list(ftlab.CAR_MODEL_CLASSES)
        True
        >>> print(ftlab.car_model_card().splitlines()[0])
        # Model card: the ftlab car model
    """
    folder = Path(CAR_MODEL_PRESET if preset is None else preset)
    if numbers:
        return json.loads((folder / CARD_FILE).read_text())
    return (folder / MODEL_CARD_FILE).read_text()


def preset_size_bytes(folder: str | os.PathLike = CAR_MODEL_PRESET) -> int:
    """Bytes on disk of a preset's model files (weights and configs, not the card)."""
    skip = {CARD_FILE, MODEL_CARD_FILE}
    return sum(
        p.stat().st_size for p in Path(folder).iterdir() if p.is_file() and p.name not in skip
    )


def source_accuracy(model, n_per_class: int = 300, *, seed: int = SOURCE_SEED) -> float:
    """Accuracy of a 9-class car model on a freshly rendered source test split.

    Example:
        >>> import ftlab
        >>> from ftlab.car_model import source_accuracy
        >>> 0.8 < source_accuracy(ftlab.load_car_model(), 10) <= 1.0
        True
    """
    x, y = source_data("test", n_per_class, seed=seed)
    logits = model.predict(x.astype("float32"), batch_size=256, verbose=0)
    return float(np.mean(np.argmax(logits, axis=1) == y))


def shuffled_batches(images, labels, batch_size: int, *, seed: int = 0, shuffle: bool = True):
    """A ``tf.data.Dataset`` of float32 image batches, reshuffled every epoch.

    Why not ``model.fit(x, y, shuffle=True)``? A keras-hub task (``ImageClassifier``)
    turns arrays into a dataset itself, and that dataset is NOT shuffled: keras-hub
    ignores ``shuffle=True`` (with a warning). Every epoch would then see the same
    batches in the same order. Shuffling here, with a seed, avoids that and stays
    reproducible.

    Example:
        >>> import numpy as np
        >>> from ftlab.car_model import shuffled_batches
        >>> ds = shuffled_batches(np.zeros((10, 32, 32, 3), "uint8"), np.arange(10), 4)
        >>> [int(x.shape[0]) for x, y in ds]
        [4, 4, 2]
    """
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((np.asarray(images, "float32"), np.asarray(labels)))
    if shuffle:
        ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def train_car_model(
    out: str | os.PathLike = CAR_MODEL_PRESET,
    *,
    epochs: int | None = None,
    train_per_class: int | None = None,
    val_per_class: int | None = None,
    test_per_class: int | None = None,
    verbose: int = 1,
) -> dict:
    """Pre-train the car model on the source task and save it as a keras-hub preset.

    Reproduces the shipped model (same seed, same recipe: see ``RECIPE``). Writes the
    preset, ``card.json`` and ``MODEL_CARD.md`` into `out` and returns the card's numbers.
    `epochs` and the ``*_per_class`` counts override the recipe (for a quick try only:
    the card then describes that model, not the shipped one).

    Example (takes minutes; run ``python -m ftlab.car_model --train`` instead)::

        numbers = train_car_model("my_car_model")
    """
    recipe = dict(RECIPE)
    if epochs is not None:
        recipe["epochs"] = int(epochs)
    for key, value in (
        ("train_per_class", train_per_class),
        ("val_per_class", val_per_class),
        ("test_per_class", test_per_class),
    ):
        if value is not None:
            recipe[key] = int(value)
    seed_everything(recipe["seed"])
    x_train, y_train = source_data("train", recipe["train_per_class"])
    x_val, y_val = source_data("val", recipe["val_per_class"])
    model = build_car_model(widths=recipe["widths"])

    steps_per_epoch = int(np.ceil(len(y_train) / recipe["batch_size"]))
    warmup_steps = steps_per_epoch * min(recipe["warmup_epochs"], recipe["epochs"] - 1)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=recipe["peak_learning_rate"] / 10,
        decay_steps=steps_per_epoch * recipe["epochs"] - warmup_steps,
        alpha=0.0,
        warmup_target=recipe["peak_learning_rate"],
        warmup_steps=warmup_steps,
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=recipe["weight_decay"]),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    history = model.fit(
        shuffled_batches(x_train, y_train, recipe["batch_size"], seed=recipe["seed"]),
        validation_data=shuffled_batches(x_val, y_val, 256, shuffle=False),
        epochs=recipe["epochs"],
        shuffle=False,  # the dataset shuffles itself
        verbose=verbose,
    )
    train_seconds = time.perf_counter() - start

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # Compile afresh with keras-hub's defaults before saving: the preset then holds no
    # AdamW state (which would triple its size and is of no use to whoever loads it).
    model.compile()
    model.save_to_preset(str(out))
    reloaded = load_car_model(out)
    n_test = recipe["test_per_class"]
    numbers = {
        "name": "ftlab car model",
        "classes": list(CAR_MODEL_CLASSES),
        "image_shape": [IMAGE_SIZE, IMAGE_SIZE, 3],
        "input": "raw RGB pixels, float 0..255 (the model rescales them itself)",
        "output": "logits, one per class",
        "architecture": _describe(model),
        "parameters": int(model.count_params()),
        "size_on_disk_bytes": preset_size_bytes(out),
        "recipe": recipe,
        "data": {
            "source": "ftlab.vehicles synthetic street world, style 'day', 32x32",
            "seed": SOURCE_SEED,
            "train_images": int(len(y_train)),
            "val_images": int(len(y_val)),
            "test_images": n_test * len(CAR_MODEL_CLASSES),
        },
        "train_seconds": round(train_seconds, 1),
        "train_images_per_second": round(
            recipe["epochs"] * len(y_train) / max(train_seconds, 1e-9), 1
        ),
        "final_train_accuracy": round(float(history.history["accuracy"][-1]), 4),
        "final_val_accuracy": round(float(history.history["val_accuracy"][-1]), 4),
        "source_test_accuracy": round(source_accuracy(reloaded, n_test), 4),
        "source_test_accuracy_100": round(source_accuracy(reloaded, min(100, n_test)), 4),
        "per_class_test_accuracy": _per_class(reloaded, n_test),
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "versions": _versions(),
    }
    (out / CARD_FILE).write_text(json.dumps(numbers, indent=2) + "\n")
    (out / MODEL_CARD_FILE).write_text(render_card(numbers))
    return numbers


def _per_class(model, n_per_class: int) -> dict[str, float]:
    x, y = source_data("test", n_per_class)
    pred = np.argmax(model.predict(x.astype("float32"), batch_size=256, verbose=0), axis=1)
    return {c: round(float(np.mean(pred[y == k] == k)), 4) for k, c in enumerate(CAR_MODEL_CLASSES)}


def _describe(model) -> str:
    widths = [int(layer.filters) for layer in model.backbone.layers if "conv1" in layer.name]
    return (
        "keras-hub ImageClassifier (preprocessor=None) around a Functional backbone: "
        f"Rescaling(1/255), then {len(widths)} blocks of 2x [Conv2D 3x3 (no bias), "
        f"BatchNormalization, ReLU] with widths {widths} and 2x2 max pooling between blocks "
        "(32x32 -> 4x4); head: global average pooling, Dropout(0), Dense(9) logits"
    )


def _versions() -> dict[str, str]:
    import keras_hub
    import tensorflow as tf

    return {
        "keras": keras.__version__,
        "keras_hub": keras_hub.__version__,
        "tensorflow": tf.__version__,
        "numpy": np.__version__,
    }


def render_card(n: dict) -> str:
    """The markdown model card for the numbers `train_car_model` measured."""
    r, d = n["recipe"], n["data"]
    per_class = "\n".join(f"| {c} | {a:.3f} |" for c, a in n["per_class_test_accuracy"].items())
    return f"""# Model card: the ftlab car model

A small convolutional network pre-trained to recognize nine classes of the synthetic street
world (`ftlab.vehicles`): **{", ".join(n["classes"])}**. It has never seen a truck:
teaching it trucks is the course's running fine-tuning exercise.

Load it with `ftlab.load_car_model()` or
`keras_hub.models.ImageClassifier.from_preset(ftlab.CAR_MODEL_PRESET)`.

## Intended use

Teaching transfer learning offline on a laptop CPU. It has only seen drawings, not photos
of real vehicles: on photos (CIFAR-10, `ftlab car-to-truck --real`) expect it to do
worse, a lesson in domain shift.

## Input and output

- Input: `{n["image_shape"]}` pictures, {n["input"]}.
- Output: {n["output"]}, in the order above (label `k` is `CAR_MODEL_CLASSES[k]`).

## Architecture

{n["architecture"]}.

- Parameters: {n["parameters"]:,}
- Size on disk: {n["size_on_disk_bytes"] / 1e6:.2f} MB (the preset's files, float32 weights)

### Why this format

It is a keras-hub preset, so `from_preset` loads it exactly like a real pre-trained model
(`"resnet_18_imagenet"`). The backbone is a plain Functional model (keras-hub stores it as
such and reloads it without any ftlab code), not keras-hub's `ResNetBackbone`: that one's
stem (a stride-2 convolution, then max pooling) shrinks a 32x32 picture to 8x8 before its
first block, and its first stage must have 64 filters; the smallest such ResNet
(64-128-256 filters, one basic block each) has 1.23 M parameters (about 4.9 MB), four
times this model, for pictures this small. Our backbone starts with `Rescaling`, so the
pixel scaling lives inside the network, and `ftlab.swap_head` keeps it; keras-hub's own
presets do the scaling in a separate preprocessor instead (this preset has none).

## Training data

- {d["source"]}; data seed {d["seed"]}.
- Training: {d["train_images"]:,} pictures ({r["train_per_class"]} per class); validation:
  {d["val_images"]:,} ({r["val_per_class"]} per class); test: {d["test_images"]:,}
  ({r["test_per_class"]} per class), rendered fresh from the test stream, which never
  shares a picture with training.

## Recipe

- {r["epochs"]} epochs, batch size {r["batch_size"]}, batches reshuffled every epoch.
- {r["optimizer"]} (weight decay {r["weight_decay"]}), peak learning rate
  {r["peak_learning_rate"]}, {r["schedule"]}.
- Loss: sparse categorical cross-entropy on logits.
- Augmentation: {r["augmentation"]}.
- Seed {r["seed"]}: `keras.utils.set_random_seed` and
  `tf.config.experimental.enable_op_determinism()` (`ftlab.reproducibility.seed_everything`):
  rerunning gives the same weights on the same machine.
- Reproduce: `python scripts/train_car_model.py` (or `python -m ftlab.car_model --train`).

## Results (measured)

- Training time: {n["train_seconds"]:.0f} s on {n["machine"]["cpu_count"]} CPU cores
  ({n["train_images_per_second"]:.0f} training images/s; {n["machine"]["platform"]}),
  wall-clock: other jobs sharing the cores make it longer.
- Final training accuracy {n["final_train_accuracy"]:.4f}, validation accuracy
  {n["final_val_accuracy"]:.4f}.
- **Source-task test accuracy: {n["source_test_accuracy"]:.4f}** on {d["test_images"]:,}
  fresh test pictures (the first 100 per class: {n["source_test_accuracy_100"]:.4f}).
  `tests/test_car_model.py` re-checks it.

| class | test accuracy |
| --- | --- |
{per_class}

## Versions

{", ".join(f"{k} {v}" for k, v in n["versions"].items())}.
"""


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ftlab.car_model --train [--out DIR]``: re-create the car model."""
    parser = argparse.ArgumentParser(
        prog="python -m ftlab.car_model", description="Re-create the bundled car model."
    )
    parser.add_argument("--train", action="store_true", help="train and save the model")
    parser.add_argument("--out", default=CAR_MODEL_PRESET, help="preset folder to write")
    parser.add_argument("--epochs", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--train-per-class", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.train:
        print(car_model_card())
        return 0
    numbers = train_car_model(args.out, epochs=args.epochs, train_per_class=args.train_per_class)
    print(
        f"saved to {args.out}: source test accuracy {numbers['source_test_accuracy']:.4f}, "
        f"{numbers['size_on_disk_bytes'] / 1e6:.2f} MB, trained in {numbers['train_seconds']:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
