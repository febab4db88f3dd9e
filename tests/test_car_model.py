"""The bundled car model: what its card promises is what it does."""

from pathlib import Path

import keras
import keras_hub
import numpy as np
import pytest

import ftlab
from ftlab import vehicles
from ftlab.car_model import (
    CAR_MODEL_PRESET,
    build_car_model,
    car_model_card,
    load_car_model,
    preset_size_bytes,
    source_accuracy,
    train_car_model,
)

MB = 1_000_000
TINY = dict(epochs=2, train_per_class=8, val_per_class=2, test_per_class=4, verbose=0)


@pytest.fixture(scope="module")
def car():
    return load_car_model()


@pytest.fixture(scope="module")
def card():
    return car_model_card(numbers=True)


def test_card_accuracy_is_rechecked_on_a_fresh_test_split(car, card):
    # 100 fresh test pictures per class, rendered now: the card's number must hold.
    accuracy = source_accuracy(car, 100)
    assert accuracy == pytest.approx(card["source_test_accuracy"], abs=0.02)
    assert accuracy == pytest.approx(card["source_test_accuracy_100"], abs=0.005)


def test_classes_are_every_vehicles_class_but_truck_in_order(car, card):
    assert "truck" not in ftlab.CAR_MODEL_CLASSES
    expected = tuple(c for c in vehicles.CLASS_NAMES if c != "truck")
    assert expected == ftlab.CAR_MODEL_CLASSES
    assert card["classes"] == list(ftlab.CAR_MODEL_CLASSES)
    assert car.input_shape == (None, 32, 32, 3)
    assert car.output_shape == (None, len(ftlab.CAR_MODEL_CLASSES))


def test_size_on_disk_is_at_most_5_mb(card):
    folder = Path(CAR_MODEL_PRESET)
    everything = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    assert everything <= 5 * MB
    assert preset_size_bytes() == card["size_on_disk_bytes"]
    assert card["parameters"] == load_car_model().count_params()


def test_it_takes_raw_pixels_and_scales_them_itself(car):
    first = car.backbone.layers[1]
    assert isinstance(first, keras.layers.Rescaling)
    assert first.scale == pytest.approx(1 / 255)
    x, y = vehicles.make_images(["car", "bus"], n_per_class=8, seed=3)
    predicted = car.predict(x.astype("float32"), verbose=0).argmax(axis=1)
    names = [ftlab.CAR_MODEL_CLASSES[k] for k in predicted]
    assert np.mean([n == ["car", "bus"][k] for n, k in zip(names, y)]) >= 0.8


def test_it_has_batchnorm_in_the_body(car):
    kinds = {type(layer).__name__ for layer in car.backbone.layers}
    assert "BatchNormalization" in kinds


def test_keras_hub_loads_it_like_any_preset_offline():
    model = keras_hub.models.ImageClassifier.from_preset(CAR_MODEL_PRESET)
    assert isinstance(model, keras_hub.models.ImageClassifier)
    assert model.preprocessor is None  # the scaling is inside the network
    fresh_head = keras_hub.models.ImageClassifier.from_preset(CAR_MODEL_PRESET, num_classes=2)
    assert fresh_head.output_shape == (None, 2)


def test_swap_head_keeps_the_scaling(car):
    new = ftlab.swap_head(car, 2)
    assert new.output_shape == (None, 2)
    names = [leaf.path for leaf in ftlab.leaf_layers(new)]
    assert any(name.endswith("rescaling") for name in names)


def test_model_card_states_the_measured_numbers(card):
    text = car_model_card()
    assert text.startswith("# Model card")
    assert f"{card['source_test_accuracy']:.4f}" in text
    assert f"{card['parameters']:,}" in text
    assert card["train_seconds"] > 0
    assert card["recipe"]["seed"] == 0


def test_an_unreachable_preset_says_to_use_the_bundled_one(monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("Max retries exceeded: failed to establish a new connection")

    monkeypatch.setattr(keras_hub.models.ImageClassifier, "from_preset", offline)
    with pytest.raises(ConnectionError, match="bundled car model"):
        load_car_model("resnet_18_imagenet")


def test_training_script_writes_a_loadable_preset_and_card_deterministically(tmp_path):
    # A tiny version of the real recipe: same code path, seconds instead of minutes.
    first, second = tmp_path / "first", tmp_path / "second"
    numbers = train_car_model(first, **TINY)
    for name in ("config.json", "model.weights.h5", "task.json", "card.json", "MODEL_CARD.md"):
        assert (first / name).is_file()
    assert numbers["recipe"]["epochs"] == 2
    assert 0.0 <= numbers["source_test_accuracy"] <= 1.0
    assert car_model_card(first, numbers=True) == numbers
    # Same seed, same weights.
    train_car_model(second, **TINY)
    for a, b in zip(load_car_model(first).get_weights(), load_car_model(second).get_weights()):
        np.testing.assert_array_equal(a, b)


def test_build_car_model_is_the_same_architecture():
    fresh = build_car_model(2)
    shipped = load_car_model()
    assert [type(layer).__name__ for layer in fresh.backbone.layers] == [
        type(layer).__name__ for layer in shipped.backbone.layers
    ]
