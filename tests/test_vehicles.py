"""Tests for ftlab.vehicles: the synthetic street world and the real-photo loaders."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from ftlab import vehicles as v


@pytest.fixture(scope="module")
def day_and_night():
    """The same 40 scenes per class for car and truck, in every style."""
    return {
        style: v.make_images(["car", "truck"], 40, seed=5, style=style, shuffle=False)
        for style in v.STYLES
    }


# ----------------------------------------------------------------------------------------
# The world
# ----------------------------------------------------------------------------------------
def test_classes_and_styles():
    assert v.CLASS_NAMES[:2] == ("car", "truck")
    assert len(v.CLASS_NAMES) >= 8
    assert len(set(v.CLASS_NAMES)) == len(v.CLASS_NAMES)
    assert {"day", "night", "fog"} <= set(v.STYLES)


@pytest.mark.parametrize("name", v.CLASS_NAMES)
def test_every_class_renders(name):
    img = v.render(name, seed=1)
    assert img.shape == (32, 32, 3)
    assert img.dtype == np.uint8
    assert img.std() > 5  # a picture, not a flat colour


@pytest.mark.parametrize("style", v.STYLES)
def test_every_style_renders_at_64(style):
    img = v.render("bus", seed=2, size=64, style=style)
    assert img.shape == (64, 64, 3)
    assert img.dtype == np.uint8


def test_make_images_shapes_and_labels():
    classes = ["truck", "car", "boat"]
    x, y = v.make_images(classes, n_per_class=7, seed=3)
    assert x.shape == (21, 32, 32, 3)
    assert x.dtype == np.uint8
    assert y.dtype == np.int64
    assert np.bincount(y).tolist() == [7, 7, 7]  # label k means classes[k]
    assert not np.array_equal(y, np.sort(y))  # shuffled


def test_labels_follow_the_given_class_order():
    x, y = v.make_images(["truck", "car"], n_per_class=2, seed=4, shuffle=False)
    assert y.tolist() == [0, 0, 1, 1]
    assert np.array_equal(x[0], v.render("truck", seed=4))
    assert np.array_equal(x[2], v.render("car", seed=4))


def test_default_classes_are_all_classes():
    _, y = v.make_images(n_per_class=1)
    assert sorted(y.tolist()) == list(range(len(v.CLASS_NAMES)))


def test_same_seed_gives_identical_images():
    a = v.make_images(["car", "truck"], 10, seed=11)
    b = v.make_images(["car", "truck"], 10, seed=11)
    assert np.array_equal(a[0], b[0])
    assert np.array_equal(a[1], b[1])


def test_different_seed_gives_different_images():
    a, _ = v.make_images(["car"], 10, seed=11)
    b, _ = v.make_images(["car"], 10, seed=12)
    assert not np.array_equal(a, b)


def test_image_i_does_not_depend_on_how_many_were_asked_for():
    few, _ = v.make_images(["car", "van"], 3, seed=8, shuffle=False)
    many, _ = v.make_images(["car", "van"], 300, seed=8, shuffle=False)
    assert np.array_equal(few[:3], many[:3])
    assert np.array_equal(few[3:], many[300:303])


def test_images_of_one_class_vary():
    x, _ = v.make_images(["truck"], 20, seed=0)
    flat = x.reshape(len(x), -1).astype(np.int16)
    differences = np.abs(flat[:, None] - flat[None]).mean(axis=2)
    off_diagonal = differences[~np.eye(len(x), dtype=bool)]
    assert off_diagonal.min() > 5


def test_car_and_truck_look_different_on_average(day_and_night):
    x, y = day_and_night["day"]
    car = x[y == 0].astype(np.float64).mean(axis=0)
    truck = x[y == 1].astype(np.float64).mean(axis=0)
    assert np.abs(car - truck).mean() > 2


def test_night_is_darker_than_day(day_and_night):
    day, night = day_and_night["day"][0], day_and_night["night"][0]
    assert night.mean() < 0.6 * day.mean()


def test_fog_has_lower_contrast_than_day(day_and_night):
    day, fog = day_and_night["day"][0], day_and_night["fog"][0]
    per_image_std = lambda x: x.reshape(len(x), -1).std(axis=1).mean()  # noqa: E731
    assert per_image_std(fog) < 0.75 * per_image_std(day)


def test_styles_all_differ(day_and_night):
    means = {s: x.astype(np.float64).mean(axis=0) for s, (x, _) in day_and_night.items()}
    for a in v.STYLES:
        for b in v.STYLES:
            if a < b:
                assert np.abs(means[a] - means[b]).mean() > 5, (a, b)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.integers(16, 48),
    name=st.sampled_from(v.CLASS_NAMES),
    style=st.sampled_from(v.STYLES),
)
def test_any_seed_and_size_gives_a_deterministic_uint8_picture(seed, size, name, style):
    img = v.render(name, seed=seed, size=size, style=style)
    assert img.shape == (size, size, 3)
    assert img.dtype == np.uint8
    assert np.array_equal(img, v.render(name, seed=seed, size=size, style=style))


# ----------------------------------------------------------------------------------------
# Splits and datasets
# ----------------------------------------------------------------------------------------
def test_splits_are_disjoint_and_sized():
    data = v.splits(["car", "truck"], train=30, val=10, test=40, seed=0)
    assert {k: len(y) for k, (_, y) in data.items()} == {"train": 60, "val": 20, "test": 80}
    seen = {name: {img.tobytes() for img in x} for name, (x, _) in data.items()}
    assert not seen["train"] & seen["test"]
    assert not seen["train"] & seen["val"]
    assert not seen["val"] & seen["test"]


def test_splits_test_set_does_not_change_with_train_size():
    small = v.splits(["car", "truck"], train=5, val=0, test=10, seed=1)
    large = v.splits(["car", "truck"], train=50, val=0, test=10, seed=1)
    assert np.array_equal(small["test"][0], large["test"][0])
    assert small["val"][0].shape == (0, 32, 32, 3)


def test_splits_test_style_shifts_only_the_test_set():
    day = v.splits(["car"], train=5, val=5, test=5, seed=2)
    shifted = v.splits(["car"], train=5, val=5, test=5, seed=2, test_style="night")
    assert np.array_equal(day["train"][0], shifted["train"][0])
    assert shifted["test"][0].mean() < day["test"][0].mean()


def test_make_dataset_batches_float_images():
    ds = v.make_dataset(["car", "truck"], n_per_class=10, batch_size=8, seed=0)
    assert ds.class_names == ["car", "truck"]
    batches = list(ds)
    assert [len(b[1]) for b in batches] == [8, 8, 4]
    images, labels = batches[0]
    assert images.dtype.name == "float32"
    assert images.shape[1:] == (32, 32, 3)
    assert images.numpy().min() >= 0.0
    assert images.numpy().max() <= 255.0
    assert set(np.concatenate([b[1].numpy() for b in batches]).tolist()) == {0, 1}


# ----------------------------------------------------------------------------------------
# Clear errors for bad input
# ----------------------------------------------------------------------------------------
def test_unknown_class_names_the_closest_and_all_valid():
    with pytest.raises(ValueError, match="truck") as info:
        v.make_images(["car", "trcuk"])
    assert "Did you mean 'truck'" in str(info.value)
    assert "Valid classes: car, truck" in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 8}, "image size must be at least 16"),
        ({"style": "nigth"}, "Did you mean 'night'"),
        ({"n_per_class": 0}, "n_per_class must be at least 1"),
        ({"n_per_class": 2.5}, "whole number"),
        ({"seed": -1}, "seed must be"),
        ({"classes": "car"}, r"not the string 'car'; write \['car'\]"),
        ({"classes": []}, "classes is empty"),
        ({"classes": ["car", "car"]}, "more than once"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        v.make_images(**kwargs)


def test_render_and_splits_check_their_arguments():
    with pytest.raises(ValueError, match="unknown class 'lorry'"):
        v.render("lorry")
    with pytest.raises(ValueError, match="at least 16"):
        v.splits(size=4)
    with pytest.raises(ValueError, match="train must be at least 1"):
        v.splits(train=0)
    with pytest.raises(ValueError, match="unknown style"):
        v.splits(test_style="rain")


# ----------------------------------------------------------------------------------------
# Looking at pictures
# ----------------------------------------------------------------------------------------
def test_show_grid_writes_a_png(tmp_path):
    x, y = v.make_images(["car", "truck"], 5, seed=0)
    path = tmp_path / "grids" / "grid.png"
    fig = v.show_grid(x, y, ["car", "truck"], predictions=1 - y, ncols=4, path=path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len([ax for ax in fig.axes if ax.images]) == 10
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert all("\n(" in t for t in titles)  # every prediction wrong: true label shown


def test_show_grid_accepts_floats_and_probabilities(tmp_path):
    x, y = v.make_images(["car", "truck"], 2, seed=0)
    probs = np.eye(2)[y]
    fig = v.show_grid(x.astype(np.float32) / 255, y, predictions=probs)
    colours = {ax.title.get_color() for ax in fig.axes if ax.images}
    assert colours == {"green"}


def test_show_grid_rejects_mismatched_labels():
    x, _ = v.make_images(["car"], 3)
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        v.show_grid(x, [0, 0])
    with pytest.raises(ValueError, match=r"\[N, H, W, 3\]"):
        v.show_grid(np.zeros((4, 4)))


# ----------------------------------------------------------------------------------------
# CIFAR-10 (offline, through tensorflow-datasets' mock data)
# ----------------------------------------------------------------------------------------
def _raw_mock_cifar10(split="train"):
    import tensorflow_datasets as tfds

    ds = tfds.load("cifar10", split=split, as_supervised=True)
    pairs = list(tfds.as_numpy(ds))
    return np.stack([x for x, _ in pairs]), np.array([y for _, y in pairs])


def test_load_cifar10_relabels_with_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=60):
        raw_x, raw_y = _raw_mock_cifar10()
        x, y = v.load_cifar10(("truck", "automobile"))
    assert raw_y.min() >= 0 and raw_y.max() <= 9
    assert x.dtype == np.uint8 and x.shape[1:] == (32, 32, 3)
    assert y.dtype == np.int64
    assert np.bincount(y, minlength=2).tolist() == [(raw_y == 9).sum(), (raw_y == 1).sum()]
    keep = (raw_y == 9) | (raw_y == 1)
    assert np.array_equal(x, raw_x[keep])
    assert np.array_equal(y, np.where(raw_y[keep] == 9, 0, 1))


def test_load_cifar10_n_per_class_and_its_limit():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=60):
        _, raw_y = _raw_mock_cifar10()
        x, y = v.load_cifar10(("automobile", "truck"), n_per_class=2)
        available = int((raw_y == 1).sum())
        with pytest.raises(ValueError, match=f"has only {available} 'automobile' pictures"):
            v.load_cifar10(("automobile", "truck"), n_per_class=available + 100)
    assert np.bincount(y).tolist() == [2, 2]


def test_load_cifar10_checks_class_names_first():
    with pytest.raises(ValueError, match="CIFAR-10 calls cars 'automobile'"):
        v.load_cifar10(("car", "truck"))
    with pytest.raises(ValueError, match="Did you mean 'truck'"):
        v.load_cifar10(("automobile", "trucks"))
    with pytest.raises(ValueError, match="n_per_class must be at least 1"):
        v.load_cifar10(n_per_class=0)


def test_load_cifar10_without_network_says_so_quickly(monkeypatch, tmp_path):
    monkeypatch.setattr(v, "_cifar10_download_needed", lambda tfds, data_dir: True)
    monkeypatch.setattr(v, "_reachable", lambda *a, **k: False)
    with pytest.raises(ConnectionError, match="no network.*drop --real"):
        v.load_cifar10(data_dir=tmp_path)


def test_load_cifar10_failed_download_becomes_connection_error(monkeypatch, tmp_path):
    import requests
    import tensorflow_datasets as tfds

    def fail(*args, **kwargs):
        try:
            raise OSError("[Errno -2] Name or service not known")
        except OSError as cause:
            raise requests.exceptions.ConnectionError("Max retries exceeded") from cause

    monkeypatch.setattr(v, "_cifar10_download_needed", lambda tfds, data_dir: False)
    monkeypatch.setattr(tfds, "load", fail)
    with pytest.raises(ConnectionError, match="no network"):
        v.load_cifar10(data_dir=tmp_path)


# ----------------------------------------------------------------------------------------
# A folder of your own photos
# ----------------------------------------------------------------------------------------
def _write_photos(root, counts):
    for name, n in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            colour = (40 * i, 200 if name == "car" else 20, 90)
            Image.new("RGB", (20 + i, 24), colour).save(root / name / f"{name}{i}.png")


def test_load_photos_reads_a_class_folder(tmp_path):
    _write_photos(tmp_path, {"car": 3, "truck": 2})
    ds = v.load_photos(tmp_path, size=32, batch_size=4, class_names=["car", "truck"])
    assert ds.class_names == ["car", "truck"]
    batches = list(ds)  # one pass: the order is reshuffled on every pass
    images = np.concatenate([x.numpy() for x, _ in batches])
    labels = np.concatenate([y.numpy() for _, y in batches])
    assert images.shape == (5, 32, 32, 3)
    assert images.dtype == np.float32
    assert sorted(labels.tolist()) == [0, 0, 0, 1, 1]
    # cars were drawn with a green of 200, trucks with 20
    assert np.all(images[labels == 0][..., 1] > 150)


def test_load_photos_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist; expected one subfolder"):
        v.load_photos(tmp_path / "nowhere")


def test_load_photos_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="no class subfolders"):
        v.load_photos(tmp_path)
    (tmp_path / "car").mkdir()
    (tmp_path / "car" / "notes.txt").write_text("not a picture")
    with pytest.raises(ValueError, match="no images found"):
        v.load_photos(tmp_path)


def test_load_photos_loose_pictures_without_subfolders(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    with pytest.raises(ValueError, match="has pictures but no class subfolders"):
        v.load_photos(tmp_path)


def test_load_photos_unreadable_image_is_named(tmp_path):
    _write_photos(tmp_path, {"car": 2, "truck": 2})
    (tmp_path / "truck" / "broken.png").write_bytes(b"this is not a png at all")
    with pytest.raises(ValueError, match=r"unreadable image.*broken\.png"):
        v.load_photos(tmp_path)


def test_load_photos_class_names_must_match_folders(tmp_path):
    _write_photos(tmp_path, {"car": 1, "truck": 1})
    with pytest.raises(ValueError, match=r"missing folders \['bus'\]"):
        v.load_photos(tmp_path, class_names=["car", "truck", "bus"])
    with pytest.raises(ValueError, match="at least 16"):
        v.load_photos(tmp_path, size=8)
