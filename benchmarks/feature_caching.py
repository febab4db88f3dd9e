"""How much faster is training a head on cached features than with the frozen body in the loop?

For each body (the course's pre-trained car model on 32x32 pictures, a 4-block CNN on
64x64, MobileNetV3Small with random weights on 96x96), train the same car/truck head
three ways, side by side in one run:

* **body in the loop**: the frozen body and the head as one model, `fit` on pictures:
  every epoch runs the body forward over every picture again;
* **cached**: `ftlab.features.cache_features` runs the body once, then
  `ftlab.features.train_head_on_features` trains the head alone on the features;
* **cached, plain fit**: the same features, `head.fit(features, labels)` with Keras's
  defaults, to show what the input pipeline and `steps_per_execution` are worth.

All three start from the same head weights and see the batches in the same order, so
they must learn the same head: the benchmark checks that their losses agree. Seconds
per epoch are the fastest of the timed epochs (the first two epochs, which trace the
graph and warm up, are not timed). The ratio of the per-epoch times is the speed-up of
each further epoch; the last columns add the one-off cost of caching.

    python benchmarks/feature_caching.py            # writes results/feature_caching.md
    python benchmarks/feature_caching.py --quick    # fewer pictures and epochs
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import ftlab  # noqa: E402
from ftlab import vehicles  # noqa: E402
from ftlab.features import (  # noqa: E402
    attach_head,
    cache_features,
    make_head,
    train_head_on_features,
)
from ftlab.reproducibility import seed_everything  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
WARMUP_EPOCHS = 2  # not timed: the first traces the graph, the second still warms up
FUSED_STEPS = 32  # steps_per_execution, as in train_head_on_features
SCENARIO_EPOCHS = 10  # the "total" columns: a head trained for this many epochs


def small_cnn(size: int = 32) -> keras.Model:
    """A 4-block CNN body, about 320 k parameters, ending in a pooled feature vector."""
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    for filters in (32, 64, 128, 192):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, x, name="small_cnn")


def mobilenet(size: int = 64) -> keras.Model:
    """keras.applications.MobileNetV3Small, random weights (no downloads here)."""
    return keras.applications.MobileNetV3Small(
        input_shape=(size, size, 3), include_top=False, weights=None, pooling="avg"
    )


def car_model_body(size: int = 32) -> keras.Model:
    """The course's pre-trained car model without its head (its keras-hub backbone)."""
    from ftlab.car_model import load_car_model

    return load_car_model().backbone


BODIES = {  # name: (builder, picture size), cheapest body first
    "course car model (backbone)": (car_model_body, 32),
    "small CNN": (small_cnn, 64),
    "MobileNetV3Small": (mobilenet, 96),
}


class EpochTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def timed(timer: EpochTimer) -> float:
    """Seconds per epoch: the fastest timed epoch, leaving out the warm-up epochs.

    The best of several runs, as `timeit` reports: other jobs on a shared machine
    only ever add time, so the fastest epoch is the closest to the real cost.
    """
    return float(np.min(timer.seconds[WARMUP_EPOCHS:]))


def compile_like_ftlab(model, steps_per_execution):
    """The settings `train_head_on_features` uses, so all three ways train alike."""
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )


def run_body(name, n, epochs, cached_epochs, batch_size):
    build, size = BODIES[name]
    seed_everything(0)
    x, y = vehicles.make_images(["car", "truck"], n_per_class=n // 2, seed=0, size=size)
    x = x.astype("float32")
    body = build(size)
    ftlab.freeze(body)
    head = make_head(body.output_shape[1:], 2)
    start_weights = head.get_weights()
    heads = []
    for _ in range(2):
        twin = keras.models.clone_model(head)
        twin.set_weights(start_weights)
        heads.append(twin)

    # 1. The frozen body in the loop: every epoch runs it over every picture.
    model = attach_head(body, heads[0])
    compile_like_ftlab(model, FUSED_STEPS)
    pictures = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size).cache()
    loop_timer = EpochTimer()
    loop = model.fit(
        pictures, epochs=WARMUP_EPOCHS + epochs, callbacks=[loop_timer], shuffle=False, verbose=0
    )

    # 2. Cached: the body runs once, then the head trains on the features.
    start = time.perf_counter()
    features, labels = cache_features(body, (x, y), batch_size=128)
    cache_seconds = time.perf_counter() - start
    cached_timer = EpochTimer()
    _, cached = train_head_on_features(
        head,
        features,
        labels,
        epochs=WARMUP_EPOCHS + cached_epochs,
        batch_size=batch_size,
        shuffle=False,
        callbacks=[cached_timer],
    )

    # 3. Cached, but a plain fit on arrays with Keras's defaults (one step per call).
    compile_like_ftlab(heads[1], 1)
    plain_timer = EpochTimer()
    plain = heads[1].fit(
        features,
        labels,
        epochs=WARMUP_EPOCHS + cached_epochs,
        batch_size=batch_size,
        shuffle=False,
        callbacks=[plain_timer],
        verbose=0,
    )

    for label, timer in (
        ("body in loop", loop_timer),
        ("cached", cached_timer),
        ("cached, plain fit", plain_timer),
    ):
        print(f"  {name}, {label}: s/epoch {np.round(timer.seconds, 3).tolist()}")
    common = WARMUP_EPOCHS + epochs
    reference = np.array(loop.history["loss"])
    gap = max(
        float(np.max(np.abs(reference - np.array(h.history["loss"][:common]))))
        for h in (cached, plain)
    )
    in_loop, cached_s, plain_s = timed(loop_timer), timed(cached_timer), timed(plain_timer)
    return {
        "body": name,
        "input": f"{size}x{size}",
        "params": body.count_params(),
        "images": len(x),
        "in_loop": in_loop,
        "cached": cached_s,
        "plain": plain_s,
        "cache_once": cache_seconds,
        "ratio": in_loop / cached_s,
        "plain_ratio": in_loop / plain_s,
        # A whole head training: the first epoch (which traces the graph) as measured,
        # the others at the per-epoch time; for caching, plus the one pass of the body.
        "total_in_loop": loop_timer.seconds[0] + in_loop * (SCENARIO_EPOCHS - 1),
        "total_cached": cache_seconds + cached_timer.seconds[0] + cached_s * (SCENARIO_EPOCHS - 1),
        "loss_gap": gap,
    }


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (
        f"{os.cpu_count()} CPU cores ({cpu}), no GPU; Python {platform.python_version()}, "
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}; load average at the end "
        f"{load}"
    )


def markdown(rows, command, batch_size, epochs, cached_epochs) -> str:
    lines = [
        "# Feature caching: training a head on cached features vs with the body in the loop",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {machine()}.",
        "",
        "Head: `ftlab.features.make_head` (one Dense layer, 2 classes), Adam 1e-3, batch "
        f"{batch_size}, no shuffling, car/truck pictures from `ftlab.vehicles`. Seconds per "
        f"epoch: the fastest of {epochs} timed epochs with the body in the loop and of "
        f"{cached_epochs} with cached features (best of N, as `timeit` reports: other jobs "
        f"only add time), after {WARMUP_EPOCHS} untimed epochs (the first traces the "
        "graph). *Body in loop*: the frozen body and the head as one model, "
        f"fed from an in-memory `tf.data` pipeline, `steps_per_execution={FUSED_STEPS}`. "
        "*Cached*: `cache_features` once, then `train_head_on_features` (the same pipeline "
        f"and settings). *Plain fit*: `head.fit(features, labels)` on arrays with Keras's "
        f"defaults (one step per call). The last columns are a whole {SCENARIO_EPOCHS}-epoch "
        "head training: the first epoch (tracing included) as measured, the others at the "
        "per-epoch time, and for the cached way the pass of the body (its tracing included).",
        "",
        "| body | input | body params | images | s/epoch, body in loop | s/epoch, cached "
        "| **speed-up per epoch** | s/epoch, cached, plain fit | speed-up, plain fit "
        f"| caching once (s) | {SCENARIO_EPOCHS} epochs in loop (s) "
        f"| {SCENARIO_EPOCHS} epochs cached (s) | speed-up, {SCENARIO_EPOCHS} epochs "
        "| max loss difference |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['body']} | {r['input']} | {r['params']:,} | {r['images']:,} "
            f"| {r['in_loop']:.3f} | {r['cached']:.4f} | **{r['ratio']:.0f}x** "
            f"| {r['plain']:.4f} | {r['plain_ratio']:.0f}x "
            f"| {r['cache_once']:.2f} | {r['total_in_loop']:.1f} | {r['total_cached']:.1f} "
            f"| {r['total_in_loop'] / r['total_cached']:.1f}x | {r['loss_gap']:.1e} |"
        )
    lines += [
        "",
        "What the numbers say:",
        "",
        "* Each further epoch on cached features costs a small fraction of an epoch with "
        "the body in the loop; the gain grows with the body's cost (bigger network, bigger "
        "pictures). Caching itself costs one forward pass over the data (plus tracing the "
        "body once), about one epoch with the body in the loop, so it pays off from the "
        "second epoch on.",
        "* A head is so small that Keras's fixed costs (a call from Python into TensorFlow "
        "per step, a new input pipeline per epoch for arrays) are most of its time. That is "
        "why `train_head_on_features` feeds an in-memory `tf.data.Dataset` and runs "
        f"{FUSED_STEPS} steps per call; compare the plain-fit columns.",
        "* The max loss difference compares the per-epoch training losses of the three ways "
        "over the epochs they share: they learn the same head, so caching changes the "
        "speed, not the result. The catch: the features are computed once, so there is no "
        "random augmentation of the pictures, and a body with Dropout would apply dropout "
        "in the loop but not when cached.",
        "* The machine was shared with other jobs while this ran (see the load average), so "
        "single times vary from run to run; the ratios, measured side by side, are the "
        "result to read.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer pictures and epochs")
    parser.add_argument("--images", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None, help="timed epochs in the loop")
    parser.add_argument("--out", type=Path, default=RESULTS / "feature_caching.md")
    args = parser.parse_args(argv)
    n = args.images or (256 if args.quick else 1024)
    epochs = args.epochs or (3 if args.quick else 5)
    cached_epochs = 4 * epochs
    batch_size = 32
    rows = []
    for name in BODIES:
        row = run_body(name, n, epochs, cached_epochs, batch_size)
        print(
            f"{name}: {row['in_loop']:.3f} s/epoch in the loop, {row['cached']:.4f} s/epoch "
            f"cached: {row['ratio']:.0f}x (loss difference {row['loss_gap']:.1e})",
            flush=True,
        )
        rows.append(row)
    given = " ".join(sys.argv[1:] if argv is None else argv)
    command = f"python benchmarks/feature_caching.py {given}".strip()
    text = markdown(rows, command, batch_size, epochs, cached_epochs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
