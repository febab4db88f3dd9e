"""Car to truck end to end: the report, the pictures, determinism, the BN trap, errors."""

import json
import socket

import numpy as np
import pytest
from PIL import Image

import ftlab
from ftlab import car_to_truck, vehicles
from ftlab.car_to_truck import (
    Recipe,
    before_fine_tuning,
    check_trucks,
    fine_tune_car_model,
    old_task_model,
    run_car_to_truck,
    target_data,
)

# A reduced run: same code path as the default, a few seconds instead of a minute.
SMALL = dict(
    trucks=5, seed=3, val=4, test=20, source_test=5, head_epochs=2, epochs=2, scratch_epochs=3
)


def _without_timings(report):
    return {k: v for k, v in report.items() if k != "timings_seconds"}


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("car-to-truck")
    report = run_car_to_truck(out=out, verbose=0, **SMALL)
    return out, report


def test_report_has_every_number_in_range(small_run):
    out, report = small_run
    saved = json.loads((out / "report.json").read_text())
    assert saved == report
    assert report["task"]["trucks"] == report["task"]["cars"] == 5
    assert report["task"]["target_classes"] == ["car", "truck"]
    for key in ("fine_tuned", "from_scratch"):
        result = report[key]
        assert 0.0 <= result["accuracy"] <= 1.0
        assert result["total"] == 40
        assert [row["class"] for row in result["per_class"]] == ["car", "truck"]
        assert np.array(result["confusion"]).sum() == 40
    assert 0.0 <= report["head_only"]["accuracy"] <= 1.0
    forgetting = report["forgetting"]
    assert 0.0 <= forgetting["accuracy_after"] <= 1.0
    assert forgetting["drop"] == pytest.approx(
        forgetting["accuracy_before"] - forgetting["accuracy_after"], abs=1e-3
    )
    assert len(forgetting["per_class"]) == 9
    assert sum(report["before"]["truck_predicted_as"].values()) == pytest.approx(1.0, abs=1e-3)
    history = report["history"]
    assert len(history["fine_tuned"]["loss"]) == 4
    assert history["stage_boundary"] == 2
    assert len(history["from_scratch"]["loss"]) == 3
    assert report["timings_seconds"]["total"] > 0
    assert {"keras", "keras_hub", "tensorflow", "ftlab"} <= set(report["versions"])
    assert report["recipe"]["unfreeze"] == "block4_conv1"


def test_pictures_are_valid_pngs(small_run):
    out, report = small_run
    assert set(report["files"]) == {
        "learning_curves.png",
        "confusion_matrix.png",
        "test_predictions.png",
        "before.png",
    }
    for name in report["files"]:
        with Image.open(out / name) as image:
            image.verify()
            assert image.format == "PNG"


def test_same_seed_same_numbers(small_run, tmp_path):
    _, first = small_run
    again = run_car_to_truck(out=tmp_path, verbose=0, **SMALL)
    assert _without_timings(again) == _without_timings(first)


def test_fine_tuning_keeps_batchnorm_statistics_and_the_car_model():
    car = ftlab.load_car_model()
    before = [w.copy() for w in car.get_weights()]
    data = target_data(3, seed=1, val=0, test=0)
    model, history = fine_tune_car_model(
        car, data["train"], recipe=Recipe(head_epochs=1, epochs=2), verbose=0
    )
    # The BN trap: moving statistics of the fine-tuned body are still the car model's.
    for layer in car.backbone.layers:
        if "bn" in layer.name:
            tuned = model.get_layer(car.backbone.name).get_layer(layer.name)
            np.testing.assert_array_equal(tuned.moving_mean.numpy(), layer.moving_mean.numpy())
    # The top block changed (it was unfrozen), the bottom did not.
    body = model.get_layer(car.backbone.name)
    top = body.get_layer("block4_conv2").kernel.numpy()
    bottom = body.get_layer("block1_conv1").kernel.numpy()
    assert not np.allclose(top, car.backbone.get_layer("block4_conv2").kernel.numpy())
    np.testing.assert_array_equal(bottom, car.backbone.get_layer("block1_conv1").kernel.numpy())
    # swap_head copied the body: the original car model is untouched.
    for old, now in zip(before, car.get_weights()):
        np.testing.assert_array_equal(old, now)


def test_old_head_on_an_untrained_swap_answers_like_the_car_model():
    car = ftlab.load_car_model()
    x, _ = target_data(1, val=0, test=6)["test"]
    same = old_task_model(ftlab.swap_head(car, 2), car)
    np.testing.assert_allclose(
        same.predict(x.astype("float32"), verbose=0),
        car.predict(x.astype("float32"), verbose=0),
        rtol=1e-5,
        atol=1e-5,
    )


def test_before_fine_tuning_trucks_are_called_bus_or_van():
    car = ftlab.load_car_model()
    x, y = target_data(1, seed=0, val=0, test=50)["test"]
    before = before_fine_tuning(car, x, y)
    shares = before["truck_predicted_as"]
    assert "car" not in list(shares)[:1]  # trucks look like the big boxy classes
    assert shares.get("bus", 0) + shares.get("van", 0) > 0.5
    assert 0.5 < before["car_vs_not_car_accuracy"] <= 1.0


@pytest.mark.parametrize(
    "trucks, kwargs, message",
    [
        (0, {}, "at least 1"),
        (-2, {}, "at least 1"),
        (2.5, {}, "whole number"),
        (5001, {}, "at most 5000"),
        (4990, {"real": True, "val": 20}, "CIFAR-10 has 5000 trucks"),
    ],
)
def test_bad_numbers_of_trucks_are_refused(trucks, kwargs, message):
    with pytest.raises(ValueError, match=message):
        check_trucks(trucks, **kwargs)
    with pytest.raises(ValueError, match=message):
        run_car_to_truck(trucks=trucks, out=None, verbose=0, **kwargs)


def test_real_without_network_raises_connection_error(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("could not download CIFAR-10: there is no network here")

    monkeypatch.setattr(vehicles, "load_cifar10", offline)
    with pytest.raises(ConnectionError, match="no network"):
        run_car_to_truck(trucks=5, real=True, out=None, verbose=0)


def test_the_loaders_real_offline_failure_becomes_connection_error(monkeypatch, tmp_path):
    """No mock of the loader: tensorflow-datasets really tries, and the network is down.

    The machine may or may not be online; blocking Python sockets makes it offline
    either way, and an empty data_dir makes sure no cached copy is found.
    """
    import tensorflow_datasets as tfds

    def no_network(*args, **kwargs):
        raise OSError("[Errno 101] Network is unreachable")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    real_load = tfds.load

    def load_into_empty_dir(*args, **kwargs):
        kwargs["data_dir"] = str(tmp_path)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(tfds, "load", load_into_empty_dir)
    with pytest.raises(ConnectionError):
        car_to_truck.target_data(5, real=True, test=10)


def test_real_data_is_split_from_cifar_train_and_test(monkeypatch):
    """The --real path, with a stand-in for CIFAR-10 (the download is not available here)."""
    calls = []

    def fake_cifar(classes, split="train", n_per_class=None, data_dir=None):
        calls.append((tuple(classes), split))
        n = 60 if split == "train" else 30
        x = np.full((2 * n, 32, 32, 3), 7 if split == "train" else 9, np.uint8)
        return x, np.repeat(np.arange(2), n)

    monkeypatch.setattr(vehicles, "load_cifar10", fake_cifar)
    data = target_data(10, seed=0, val=5, test=20, real=True)
    assert calls == [(("automobile", "truck"), "train"), (("automobile", "truck"), "test")]
    for name, per_class, fill in (("train", 10, 7), ("val", 5, 7), ("test", 20, 9)):
        x, y = data[name]
        assert np.bincount(y).tolist() == [per_class, per_class]
        assert (x == fill).all()
    with pytest.raises(ValueError, match="1000 per class"):
        target_data(10, real=True, test=1001)
