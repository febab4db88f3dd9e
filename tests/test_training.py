"""fine_tune, discriminative learning rates, gradual unfreezing, checks, resume, distribution."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from keras import layers

import ftlab
from ftlab.training import (
    FineTuneHistory,
    GradualUnfreezing,
    default_loss,
    discriminative_optimizer,
    group_learning_rates,
    group_rates,
    layer_groups,
    resolve_metrics,
    warmup_cosine,
)

REPO = Path(__file__).resolve().parents[1]


def tiny_cnn(num_classes=3, name="tiny"):
    """conv1 -> bn1 -> conv2 -> pool -> head: a body with BatchNorm, and a head."""
    return keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            layers.Conv2D(4, 3, name="conv1"),
            layers.BatchNormalization(name="bn1"),
            layers.ReLU(name="relu1"),
            layers.Conv2D(4, 3, name="conv2"),
            layers.GlobalAveragePooling2D(name="pool"),
            layers.Dense(num_classes, name="head"),
        ],
        name=name,
    )


def tiny_data(n=48, num_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8, 8, 3)).astype("float32")
    y = rng.integers(0, num_classes, n)
    return x, y


def weights_of(model, name):
    return [w.copy() for w in model.get_layer(name).get_weights()]


def same(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a, b))


class Recorder(keras.callbacks.Callback):
    """Records what every callback hook sees."""

    def __init__(self):
        super().__init__()
        self.train_begins = 0
        self.epochs_begun = []
        self.trainable = {}
        self.rates = {}

    def on_train_begin(self, logs=None):
        self.train_begins += 1

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs_begun.append(epoch)
        self.trainable[epoch] = ftlab.count_params(self.model).trainable

    def on_train_batch_begin(self, batch, logs=None):
        epoch = self.epochs_begun[-1]
        rates = group_learning_rates(self.model.optimizer)
        self.rates.setdefault(epoch, []).append(rates)


# ---------------------------------------------------------------------------
# fine_tune: stages, history, learning rates
# ---------------------------------------------------------------------------


def test_fine_tune_two_stages_one_history():
    model = tiny_cnn()
    x, y = tiny_data()
    recorder = Recorder()
    history = ftlab.fine_tune(
        model,
        (x, y),
        (x[:16], y[:16]),
        head_epochs=2,
        epochs=3,
        lr=1e-2,
        groups=2,
        lr_decay=4.0,
        batch_size=16,
        callbacks=[recorder],
        verbose=0,
    )
    assert isinstance(history, keras.callbacks.History)
    assert isinstance(history, FineTuneHistory)
    assert history.epoch == [0, 1, 2, 3, 4]
    assert history.stage_boundary == 2 == history.params["stage_boundary"]
    assert history.stages == [1, 1, 2, 2, 2]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert len(history.history[key]) == 5
        assert np.all(np.isfinite(history.history[key]))
    # Callbacks pass through to both stages, and stage two continues the count.
    assert recorder.train_begins == 2
    assert recorder.epochs_begun == [0, 1, 2, 3, 4]
    # Stage one trains only the head; stage two the body too (BN stays frozen).
    head_params = 4 * 3 + 3
    assert recorder.trainable[0] == recorder.trainable[1] == head_params
    conv_params = (3 * 3 * 3 * 4 + 4) + (3 * 3 * 4 * 4 + 4)
    assert recorder.trainable[2] == conv_params + head_params
    assert not model.get_layer("bn1").trainable
    # Stage one: one rate, warmup + cosine, peak at most lr.
    stage1 = np.array([r for e in (0, 1) for r in recorder.rates[e]])
    assert stage1.shape[1] == 1 and stage1.max() <= 1e-2 * (1 + 1e-6)
    assert stage1[0, 0] < stage1.max()  # it warms up
    # Stage two: two groups, lower rates (lr / 10 for the head), earlier group / 4.
    stage2 = np.array([r for e in (2, 3, 4) for r in recorder.rates[e]])
    assert stage2.shape[1] == 2
    assert stage2[:, 1].max() <= 1e-3 * (1 + 1e-6)
    np.testing.assert_allclose(stage2[:, 0] * 4.0, stage2[:, 1], rtol=1e-5)
    assert isinstance(model.optimizer, keras.optimizers.MultiOptimizer)


def test_stage_one_leaves_the_body_alone_and_stage_two_moves_it():
    model = tiny_cnn()
    x, y = tiny_data()
    conv1, head = weights_of(model, "conv1"), weights_of(model, "head")
    ftlab.fine_tune(model, (x, y), head_epochs=2, epochs=0, batch_size=16, verbose=0)
    assert same(conv1, weights_of(model, "conv1"))
    assert not same(head, weights_of(model, "head"))
    bn_stats = weights_of(model, "bn1")
    history = ftlab.fine_tune(model, (x, y), head_epochs=0, epochs=1, batch_size=16, verbose=0)
    assert history.epoch == [0] and history.stage_boundary == 0 and history.stages == [2]
    assert not same(conv1, weights_of(model, "conv1"))
    # The BatchNorm trap: its statistics must not move while the body fine-tunes.
    assert same(bn_stats, weights_of(model, "bn1"))


def test_unfreeze_argument_limits_stage_two():
    model = tiny_cnn()
    x, y = tiny_data()
    conv1 = weights_of(model, "conv1")
    recorder = Recorder()
    ftlab.fine_tune(
        model,
        (x, y),
        head_epochs=1,
        epochs=1,
        unfreeze=1,
        batch_size=16,
        callbacks=[recorder],
        verbose=0,
    )
    assert same(conv1, weights_of(model, "conv1"))  # only conv2 was unfrozen
    assert recorder.trainable[1] == (3 * 3 * 4 * 4 + 4) + (4 * 3 + 3)
    model = tiny_cnn()
    recorder = Recorder()
    ftlab.fine_tune(
        model,
        (x, y),
        head_epochs=0,
        epochs=1,
        unfreeze="conv2",
        head="head",
        batch_size=16,
        callbacks=[recorder],
        verbose=0,
    )
    assert recorder.trainable[0] == (3 * 3 * 4 * 4 + 4) + (4 * 3 + 3)


def test_binary_head_gets_binary_loss_and_logit_accuracy():
    model = tiny_cnn(num_classes=1)
    x, y = tiny_data(num_classes=2)
    assert isinstance(default_loss(model), keras.losses.BinaryCrossentropy)
    assert default_loss(model).get_config()["from_logits"]
    (metric,) = resolve_metrics(["accuracy"], model)
    assert isinstance(metric, keras.metrics.BinaryAccuracy)
    ftlab.fine_tune(model, (x, y), head_epochs=1, epochs=1, batch_size=16, verbose=0)
    _, accuracy = model.evaluate(x, y, verbose=0)
    logits = model.predict(x, verbose=0).reshape(-1)
    assert accuracy == pytest.approx(np.mean((logits > 0) == y))


def test_softmax_output_gets_loss_not_from_logits():
    model = keras.Sequential([keras.Input((3,)), layers.Dense(4, activation="softmax")])
    assert not default_loss(model).get_config()["from_logits"]
    assert isinstance(default_loss(model, "one_hot"), keras.losses.CategoricalCrossentropy)


def test_fine_tune_accepts_a_dataset():
    model = tiny_cnn()
    x, y = tiny_data()
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    history = ftlab.fine_tune(model, train, train, head_epochs=1, epochs=1, verbose=0)
    assert history.epoch == [0, 1] and "val_loss" in history.history


# ---------------------------------------------------------------------------
# Bad input: a clear error before any training
# ---------------------------------------------------------------------------


BAD_INPUTS = {
    "empty dataset": (
        lambda x, y: tf.data.Dataset.from_tensor_slices((x, y)).take(0).batch(4),
        {},
        "empty",
    ),
    "empty arrays": (lambda x, y: (x[:0], y[:0]), {}, "empty"),
    "label too big": (
        lambda x, y: (x, np.where(np.arange(len(y)) == 5, 7, y)),
        {},
        r"label 7 is outside \[0, 3\)",
    ),
    "negative label": (
        lambda x, y: (x, np.where(np.arange(len(y)) == 5, -1, y)),
        {},
        r"label -1 is outside",
    ),
    "label too big in dataset": (
        lambda x, y: tf.data.Dataset.from_tensor_slices((x, y + 3)).batch(8),
        {},
        "outside",
    ),
    "wrong image size": (
        lambda x, y: (np.zeros((8, 16, 16, 3), "float32"), y[:8]),
        {},
        r"shape \(16, 16, 3\) but the model expects \(8, 8, 3\)",
    ),
    "unbatched dataset": (
        lambda x, y: tf.data.Dataset.from_tensor_slices((x, y)),
        {},
        r"unbatched.*\.batch\(",
    ),
    "lr zero": (lambda x, y: (x, y), {"lr": 0.0}, "lr must be a number > 0"),
    "fine_tune_lr negative": (
        lambda x, y: (x, y),
        {"fine_tune_lr": -1e-4},
        "fine_tune_lr must be a number > 0",
    ),
    "head_epochs negative": (lambda x, y: (x, y), {"head_epochs": -1}, "head_epochs must be >= 0"),
    "epochs negative": (lambda x, y: (x, y), {"epochs": -2}, "epochs must be >= 0"),
    "mismatched lengths": (lambda x, y: (x, y[:10]), {}, "48 images but 10 labels"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_fails_before_training(case):
    make, overrides, message = BAD_INPUTS[case]
    model = tiny_cnn()
    x, y = tiny_data()
    recorder = Recorder()
    kwargs = {"head_epochs": 1, "epochs": 1, "callbacks": [recorder], "verbose": 0, **overrides}
    with pytest.raises(ValueError, match=message):
        ftlab.fine_tune(model, make(x, y), **kwargs)
    assert recorder.train_begins == 0
    assert not model.compiled


def test_bad_head_and_unfreeze_arguments():
    model = tiny_cnn()
    data = tiny_data()
    with pytest.raises(ValueError, match="leaves no body"):
        ftlab.fine_tune(model, data, head_epochs=1, epochs=1, head=4, verbose=0)
    with pytest.raises(ValueError, match="there is no body"):
        ftlab.fine_tune(model, data, head_epochs=1, epochs=1, head="conv1", verbose=0)
    with pytest.raises(ValueError, match="in the head"):
        ftlab.fine_tune(model, data, head_epochs=1, epochs=1, unfreeze="head", verbose=0)
    with pytest.raises(ValueError, match="1 <= unfreeze <= 3"):
        ftlab.fine_tune(model, data, head_epochs=1, epochs=1, unfreeze=4, verbose=0)
    with pytest.raises(ValueError, match="no layer named 'conv'. Did you mean"):
        ftlab.fine_tune(model, data, head_epochs=1, epochs=1, unfreeze="conv", verbose=0)


# ---------------------------------------------------------------------------
# Learning-rate schedule and discriminative learning rates
# ---------------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(
    peak=st.floats(1e-5, 1.0),
    total=st.integers(2, 400),
    warmup_fraction=st.floats(0.0, 0.9),
)
def test_warmup_cosine_rises_to_peak_then_falls(peak, total, warmup_fraction):
    warmup = int(warmup_fraction * total)
    schedule = warmup_cosine(peak, total, warmup_steps=warmup)
    steps = np.unique(np.linspace(0, total, 12).astype(int).tolist() + [warmup])
    values = np.array([float(schedule(s)) for s in steps])
    assert values.max() <= peak * (1 + 1e-5)
    assert float(schedule(warmup)) == pytest.approx(peak, rel=1e-5)
    assert float(schedule(total)) == pytest.approx(0.0, abs=peak * 1e-5)
    rising, falling = values[steps <= warmup], values[steps >= warmup]
    assert np.all(np.diff(rising) >= -1e-9 * peak)
    assert np.all(np.diff(falling) <= 1e-9 * peak)


def test_group_rates_by_factor_and_by_range():
    np.testing.assert_allclose(group_rates(1.0, 3, factor=2.0), [0.25, 0.5, 1.0])
    np.testing.assert_allclose(group_rates(1.0, 3, lr_range=(1e-4, 1e-2)), [1e-4, 1e-3, 1e-2])
    with pytest.raises(ValueError, match="lowest, highest"):
        group_rates(1.0, 3, lr_range=(1e-2, 1e-4))


def test_layer_groups_split_trainable_layers_in_order():
    model = tiny_cnn()
    ftlab.unfreeze(model)  # bn1 stays frozen, so it is in no group
    groups = layer_groups(model, 2)
    assert [[leaf.path for leaf in g] for g in groups] == [["conv1"], ["conv2", "head"]]
    assert [len(g) for g in layer_groups(model, 3)] == [1, 1, 1]
    with pytest.raises(ValueError, match="more than the 3 trainable layers"):
        layer_groups(model, 4)


def test_discriminative_rates_are_the_effective_step_sizes():
    """With plain SGD, each weight moves by exactly -lr_of_its_group * gradient."""
    inputs = keras.Input((4,))
    a = layers.Dense(3, name="a")(inputs)
    b = layers.Dense(3, name="b")(a)
    out = layers.Dense(2, name="c")(b)
    model = keras.Model(inputs, out)
    optimizer = discriminative_optimizer(
        model, 0.1, groups=[["a"], ["b", "c"]], factor=10.0, optimizer="sgd"
    )
    assert isinstance(optimizer, keras.optimizers.MultiOptimizer)
    np.testing.assert_allclose(group_learning_rates(optimizer), [0.01, 0.1], rtol=1e-6)
    model.compile(optimizer=optimizer, loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 4)).astype("float32"), rng.normal(size=(8, 2)).astype("float32")
    with tf.GradientTape() as tape:
        loss = keras.losses.MeanSquaredError()(y, model(x))
    grads = dict(
        zip([v.path for v in model.trainable_weights], tape.gradient(loss, model.trainable_weights))
    )
    before = {v.path: v.numpy().copy() for v in model.trainable_weights}
    model.train_on_batch(x, y)
    expected_rate = {"a": 0.01, "b": 0.1, "c": 0.1}
    for variable in model.trainable_weights:
        layer_name = variable.path.split("/")[-2]
        step = before[variable.path] - variable.numpy()
        np.testing.assert_allclose(
            step, expected_rate[layer_name] * grads[variable.path].numpy(), rtol=1e-4, atol=1e-7
        )


def test_discriminative_optimizer_with_schedule_and_nested_groups():
    model = tiny_cnn()
    ftlab.unfreeze(model)
    opt = discriminative_optimizer(
        model,
        1e-2,
        groups=3,
        lr_range=(1e-4, 1e-2),
        schedule=lambda peak: warmup_cosine(peak, 10),
    )
    np.testing.assert_allclose(group_learning_rates(opt), [1e-4, 1e-3, 1e-2], rtol=1e-5)
    with pytest.raises(ValueError, match="no trainable weights"):
        discriminative_optimizer(model, 1e-3, groups=[["bn1"], ["head"]])


# ---------------------------------------------------------------------------
# Gradual unfreezing
# ---------------------------------------------------------------------------


def deep_mlp():
    inputs = keras.Input((6,))
    x = inputs
    for i in range(4):
        x = layers.Dense(6, activation="relu", name=f"d{i}")(x)
    outputs = layers.Dense(3, name="head")(x)
    return keras.Model(inputs, outputs, name="deep")


class WeightLog(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.after_epoch = {}

    def snapshot(self):
        return {layer.name: layer.get_weights() for layer in self.model.layers if layer.weights}

    def on_train_begin(self, logs=None):
        self.start = self.snapshot()

    def on_epoch_end(self, epoch, logs=None):
        self.after_epoch[epoch] = self.snapshot()


def test_gradual_unfreezing_unfreezes_one_block_every_k_epochs():
    model = deep_mlp()
    ftlab.unfreeze(model, last=1)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 6)), rng.integers(0, 3, 32)
    gradual = GradualUnfreezing(blocks=2, every=2)  # blocks: d2+d3, then d0+d1
    recorder, log = Recorder(), WeightLog()
    model.fit(x, y, epochs=6, batch_size=16, callbacks=[gradual, recorder, log], verbose=0)
    assert gradual.unfrozen_at == {2: "d2", 4: "d0"}
    head, dense = 6 * 3 + 3, 6 * 6 + 6
    assert [recorder.trainable[e] for e in range(6)] == [head] * 2 + [head + 2 * dense] * 2 + [
        head + 4 * dense
    ] * 2

    def moved(layer, epoch):
        before = log.start[layer] if epoch == 0 else log.after_epoch[epoch - 1][layer]
        return not same(before, log.after_epoch[epoch][layer])

    assert [moved("head", e) for e in range(6)] == [True] * 6
    assert [moved("d3", e) for e in range(6)] == [False, False, True, True, True, True]
    assert [moved("d0", e) for e in range(6)] == [False] * 4 + [True, True]


def test_fine_tune_with_gradual_unfreezing_in_stage_two():
    model = tiny_cnn()
    x, y = tiny_data()
    gradual = GradualUnfreezing(blocks=["conv2", "conv1"], every=1)
    recorder = Recorder()
    log = WeightLog()
    history = ftlab.fine_tune(
        model,
        (x, y),
        head_epochs=1,
        epochs=3,
        batch_size=16,
        callbacks=[gradual, recorder, log],
        verbose=0,
    )
    assert isinstance(model.optimizer, keras.optimizers.MultiOptimizer)
    conv1 = [log.after_epoch[e]["conv1"] for e in range(4)]
    assert same(conv1[0], conv1[1]) and same(conv1[1], conv1[2])
    assert not same(conv1[2], conv1[3])  # conv1 trains from epoch 3 on
    assert history.epoch == [0, 1, 2, 3]
    # Stage one is not touched by the callback; stage two starts with the head
    # only and adds conv2 then conv1.
    assert gradual.unfrozen_at == {2: "conv2", 3: "conv1"}
    head, conv2, conv1 = 15, 3 * 3 * 4 * 4 + 4, 3 * 3 * 3 * 4 + 4
    assert [recorder.trainable[e] for e in range(4)] == [
        head,
        head,
        head + conv2,
        head + conv2 + conv1,
    ]


def test_gradual_unfreezing_needs_something_trainable():
    model = deep_mlp()
    ftlab.freeze(model)
    model.compile("adam", "mse")
    with pytest.raises(ValueError, match="Unfreeze the head first"):
        model.fit(
            np.zeros((4, 6)),
            np.zeros((4, 3)),
            epochs=1,
            verbose=0,
            callbacks=[GradualUnfreezing(blocks=2)],
        )


# ---------------------------------------------------------------------------
# Checkpoints: resume after an interruption
# ---------------------------------------------------------------------------


class Crash(keras.callbacks.Callback):
    def __init__(self, after_epoch):
        super().__init__()
        self.after_epoch = after_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.after_epoch:
            raise RuntimeError("interrupted")


def test_resume_during_stage_one_in_process(tmp_path):
    x, y = tiny_data()
    kwargs = {
        "head_epochs": 2,
        "epochs": 2,
        "batch_size": 16,
        "verbose": 0,
        "checkpoint_dir": tmp_path / "ckpt",
    }
    with pytest.raises(RuntimeError, match="interrupted"):
        ftlab.fine_tune(tiny_cnn(), (x, y), callbacks=[Crash(0)], **kwargs)
    assert (tmp_path / "ckpt" / "fine_tune_state.json").exists()
    with pytest.raises(ValueError, match="lr differ"):
        ftlab.fine_tune(tiny_cnn(), (x, y), lr=0.5, **kwargs)
    recorder = Recorder()
    model = tiny_cnn()
    history = ftlab.fine_tune(model, (x, y), callbacks=[recorder], **kwargs)
    assert recorder.epochs_begun == [1, 2, 3]  # epoch 0 was not redone
    assert history.epoch == [0, 1, 2, 3] and history.stage_boundary == 2
    assert len(history.history["loss"]) == 4
    assert not (tmp_path / "ckpt" / "fine_tune_state.json").exists()  # cleaned up


RESUME_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import keras, numpy as np
    sys.path.insert(0, sys.argv[4])
    import ftlab
    from test_training import tiny_cnn, tiny_data

    checkpoint_dir, crash_after, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    keras.utils.set_random_seed(0)
    model = tiny_cnn()
    x, y = tiny_data()

    class Probe(keras.callbacks.Callback):
        def write(self, **record):
            with open(out + ".log", "a") as f:
                f.write(json.dumps(record) + "\\n")

        def on_epoch_begin(self, epoch, logs=None):
            self.write(event="begin", epoch=epoch,
                       trainable=ftlab.count_params(self.model).trainable,
                       optimizer=type(self.model.optimizer).__name__,
                       steps=int(self.model.optimizer.iterations.numpy()),
                       head=float(np.abs(self.model.get_layer("head").kernel.numpy()).sum()))

        def on_epoch_end(self, epoch, logs=None):
            self.write(event="end", epoch=epoch, loss=float(logs["loss"]),
                       trainable=ftlab.count_params(self.model).trainable,
                       steps=int(self.model.optimizer.iterations.numpy()),
                       head=float(np.abs(self.model.get_layer("head").kernel.numpy()).sum()))
            if epoch == crash_after:
                os._exit(3)  # killed: no clean-up, no exception handling

    history = ftlab.fine_tune(model, (x, y), head_epochs=2, epochs=3, batch_size=16,
                              checkpoint_dir=checkpoint_dir, callbacks=[Probe()], verbose=0)
    with open(out, "w") as f:
        json.dump({"epoch": history.epoch, "loss": history.history["loss"],
                   "boundary": history.stage_boundary, "stages": history.stages}, f)
    """
)


def run_script(script, *args, timeout=180):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, str(script), *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


def read_records(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_killed_run_resumes_in_stage_two_with_stage_two_settings(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(RESUME_SCRIPT)
    out, checkpoint = tmp_path / "out.json", tmp_path / "ckpt"
    tests_dir = Path(__file__).parent
    first = run_script(script, checkpoint, 2, out, tests_dir)  # dies after epoch 2
    assert first.returncode == 3, first.stderr[-3000:]
    assert not out.exists()
    first_run = read_records(str(out) + ".log")
    second = run_script(script, checkpoint, -1, out, tests_dir)
    assert second.returncode == 0, second.stderr[-3000:]
    second_run = read_records(str(out) + ".log")[len(first_run) :]
    died = [r for r in first_run if r["event"] == "end"][-1]
    assert died["epoch"] == 2
    resumed = second_run[0]
    # It resumes at epoch 3 (not 0): stage two, same trainable weights, the
    # discriminative optimizer with its step count, the weights of epoch 2.
    assert resumed["event"] == "begin" and resumed["epoch"] == 3
    assert resumed["optimizer"] == "MultiOptimizer"
    assert resumed["trainable"] == died["trainable"] > 15
    assert resumed["steps"] == died["steps"] == 3
    assert resumed["head"] == pytest.approx(died["head"], rel=1e-6)
    result = json.loads(out.read_text())
    assert result["epoch"] == [0, 1, 2, 3, 4]
    assert result["boundary"] == 2 and result["stages"] == [1, 1, 2, 2, 2]
    losses_before_crash = [r["loss"] for r in first_run if r["event"] == "end"]
    np.testing.assert_allclose(result["loss"][:3], losses_before_crash, rtol=1e-6)
    assert not (checkpoint / "fine_tune_state.json").exists()


# ---------------------------------------------------------------------------
# tf.distribute.MirroredStrategy on two logical CPUs
# ---------------------------------------------------------------------------


MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np
    sys.path.insert(0, sys.argv[2])
    import ftlab
    from test_training import tiny_cnn, tiny_data

    keras.utils.set_random_seed(0)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    x, y = tiny_data()
    results = {"replicas": strategy.num_replicas_in_sync}
    with strategy.scope():
        inside = tiny_cnn(name="inside")
        conv1 = inside.get_layer("conv1").kernel.numpy().copy()
        history = ftlab.fine_tune(inside, (x, y), head_epochs=1, epochs=2, batch_size=16,
                                  verbose=0)
    results["inside"] = {
        "epoch": history.epoch, "loss": history.history["loss"],
        "optimizer": type(inside.optimizer).__name__,
        "mirrored": type(inside.get_layer("conv1").kernel.value).__name__,
        "conv1_moved": bool(np.abs(inside.get_layer("conv1").kernel.numpy() - conv1).max() > 0),
    }
    with strategy.scope():
        outside = tiny_cnn(name="outside")  # built in the scope, fine-tuned outside it
    history = ftlab.fine_tune(outside, (x, y), head_epochs=1, epochs=1, batch_size=16,
                              verbose=0)
    results["outside"] = {"epoch": history.epoch, "loss": history.history["loss"]}
    with open(sys.argv[1], "w") as f:
        json.dump(results, f)
    """
)


def test_fine_tune_under_mirrored_strategy(tmp_path):
    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED_SCRIPT)
    out = tmp_path / "out.json"
    done = run_script(script, out, Path(__file__).parent)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["replicas"] == 2
    inside = results["inside"]
    assert inside["epoch"] == [0, 1, 2]
    assert np.all(np.isfinite(inside["loss"]))
    assert inside["optimizer"] == "MultiOptimizer"
    assert inside["mirrored"] == "MirroredVariable"
    assert inside["conv1_moved"]
    assert results["outside"]["epoch"] == [0, 1]
    assert np.all(np.isfinite(results["outside"]["loss"]))
