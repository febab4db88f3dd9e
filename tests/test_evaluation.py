"""evaluate, classification_report, forgetting, learning curves, accuracy vs data size."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from keras import layers
from matplotlib.figure import Figure

from ftlab.evaluation import (
    DataSizeCurve,
    Evaluation,
    accuracy_vs_data_size,
    classification_report,
    confusion_matrix,
    evaluate,
    forgetting,
    plot_data_size_curves,
    plot_learning_curves,
)
from ftlab.training import FineTuneHistory

# ---------------------------------------------------------------------------
# Metrics against a direct NumPy computation
# ---------------------------------------------------------------------------


@st.composite
def labelled_predictions(draw):
    k = draw(st.integers(1, 6))
    n = draw(st.integers(0, 60))
    labels = hnp.arrays(np.int64, n, elements=st.integers(0, k - 1))
    return k, draw(labels), draw(labels)


@settings(max_examples=150, deadline=None)
@given(labelled_predictions())
def test_report_matches_direct_computation(case):
    k, y_true, y_pred = case
    report = classification_report(y_true, y_pred, [f"c{i}" for i in range(k)])
    cm = report.confusion
    assert cm.shape == (k, k) and cm.sum() == len(y_true)
    np.testing.assert_array_equal(cm.sum(axis=1), np.bincount(y_true, minlength=k))
    np.testing.assert_array_equal(cm.sum(axis=0), np.bincount(y_pred, minlength=k))
    expected_accuracy = float(np.mean(y_true == y_pred)) if len(y_true) else 0.0
    assert report.accuracy == pytest.approx(expected_accuracy)
    for c in range(k):
        assert cm[c, c] == np.sum((y_true == c) & (y_pred == c))
        tp = np.sum((y_true == c) & (y_pred == c))
        fp = np.sum((y_true != c) & (y_pred == c))
        fn = np.sum((y_true == c) & (y_pred != c))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        assert report.precision[c] == pytest.approx(precision)
        assert report.recall[c] == pytest.approx(recall)
        assert report.f1[c] == pytest.approx(f1)
        assert report.support[c] == tp + fn
    assert report.macro_f1 == pytest.approx(np.mean(report.f1))


def test_confusion_matrix_rows_are_true_columns_predicted():
    cm = confusion_matrix([0, 0, 0, 1], [1, 1, 0, 1], 2)
    assert cm.tolist() == [[1, 2], [0, 1]]
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix([0, 3], [0, 1], 2)


def test_text_html_dict_and_picture(tmp_path):
    report = classification_report([0, 0, 1, 1, 1], [0, 1, 1, 1, 0], ["car", "truck"])
    text = str(report)
    assert "accuracy 0.6000 on 5 examples" in text
    assert "car" in text and "truck" in text
    html = report._repr_html_()
    assert html.count("<table>") == 2 and "truck" in html
    loaded = json.loads(json.dumps(report.to_dict()))
    assert loaded["confusion"] == [[1, 1], [1, 2]]
    assert loaded["per_class"][1] == {
        "class": "truck",
        "precision": pytest.approx(2 / 3),
        "recall": pytest.approx(2 / 3),
        "f1": pytest.approx(2 / 3),
        "support": 3,
    }
    path = tmp_path / "cm.png"
    fig = report.plot_confusion(path, normalize=True)
    assert isinstance(fig, Figure) and path.stat().st_size > 1000
    shown = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(shown, [[0.5, 0.5], [1 / 3, 2 / 3]])


# ---------------------------------------------------------------------------
# Evaluating models whose answers we know
# ---------------------------------------------------------------------------


def argmax_model(k, activation=None):
    """Scores = the input itself: the predicted class is argmax(x)."""
    model = keras.Sequential([keras.Input((k,)), layers.Dense(k, activation=activation)])
    model.layers[-1].set_weights([np.eye(k, dtype="float32"), np.zeros(k, "float32")])
    return model


def test_evaluate_model_against_known_predictions():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(70, 4)).astype("float32")
    y = rng.integers(0, 4, 70)
    result = evaluate(argmax_model(4), (x, y), ["a", "b", "c", "d"], batch_size=16)
    expected = classification_report(y, x.argmax(axis=1), ["a", "b", "c", "d"])
    np.testing.assert_array_equal(result.confusion, expected.confusion)
    data = tf.data.Dataset.from_tensor_slices((x, np.eye(4)[y])).batch(9)  # one-hot labels
    np.testing.assert_array_equal(evaluate(argmax_model(4), data).confusion, expected.confusion)
    assert evaluate(argmax_model(4), data).class_names == ("0", "1", "2", "3")


@pytest.mark.parametrize(("activation", "threshold"), [(None, 0.0), ("sigmoid", 0.5)])
def test_binary_model_thresholds_logits_at_zero_and_probabilities_at_half(activation, threshold):
    model = keras.Sequential([keras.Input((1,)), layers.Dense(1, activation=activation)])
    model.layers[-1].set_weights([np.ones((1, 1), "float32"), np.zeros(1, "float32")])
    x = np.array([[-2.0], [-0.1], [0.1], [3.0]], "float32")
    result = evaluate(model, (x, np.array([0, 1, 1, 1])), ["no", "yes"])
    predicted = result.confusion.sum(axis=0)  # how often each class was predicted
    # logits: > 0 is "yes" (2 of 4 inputs are below 0); sigmoid: > 0.5 is the same line.
    assert predicted.tolist() == [2, 2]
    assert result.accuracy == 0.75


def test_evaluate_checks_class_names_and_data():
    model = argmax_model(3)
    with pytest.raises(ValueError, match="2 class names for a model with 3 classes"):
        evaluate(model, (np.zeros((2, 3)), np.zeros(2, int)), ["a", "b"])
    with pytest.raises(ValueError, match="outside"):
        evaluate(model, (np.zeros((2, 3)), np.array([0, 7])))


def test_forgetting_measures_the_drop_on_the_old_task():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(90, 3)).astype("float32")
    y = x.argmax(axis=1)  # the "before" model is perfect
    before = argmax_model(3)
    after = argmax_model(3)
    after.layers[-1].set_weights(
        [np.eye(3, dtype="float32"), np.array([0, 0, -100], "float32")]
    )  # never says class 2
    result = forgetting(before, after, (x, y), ["car", "bus", "van"])
    share_of_class_2 = np.mean(y == 2)
    assert result.accuracy_before == 1.0
    assert result.accuracy_after == pytest.approx(1 - share_of_class_2)
    assert result.drop == pytest.approx(share_of_class_2)
    np.testing.assert_allclose(result.per_class_drop, [0.0, 0.0, 1.0])
    assert "van" in str(result) and "drop" in result._repr_html_()
    assert json.loads(json.dumps(result.to_dict()))["per_class"][2]["drop"] == 1.0
    # A precomputed Evaluation works for "before".
    again = forgetting(result.before, after, (x, y), ["car", "bus", "van"])
    assert again.drop == pytest.approx(result.drop)


def test_forgetting_refuses_a_model_with_a_new_head():
    x, y = np.zeros((4, 3), "float32"), np.zeros(4, int)
    with pytest.raises(ValueError, match="'after' model answers 2 classes but the old task has 3"):
        forgetting(argmax_model(3), argmax_model(2), (x, y), ["a", "b", "c"])
    with pytest.raises(ValueError, match="put the old head back"):  # no class names given
        forgetting(argmax_model(3), argmax_model(2), (x, y))


# ---------------------------------------------------------------------------
# Learning curves and accuracy against data size
# ---------------------------------------------------------------------------


def test_learning_curves_mark_the_stage_boundary(tmp_path):
    epochs = {
        e: {
            "stage": 1 if e < 2 else 2,
            "loss": 1.0 / (e + 1),
            "accuracy": 0.5 + e / 10,
            "val_loss": 1.2 / (e + 1),
        }
        for e in range(5)
    }
    fine_tuned = FineTuneHistory(epochs, stage_boundary=2)
    plain = {"loss": [1.0, 0.9, 0.8], "accuracy": [0.4, 0.5, 0.6]}
    path = tmp_path / "curves.png"
    fig = plot_learning_curves({"fine-tuned": fine_tuned, "scratch": plain}, path=path)
    assert path.stat().st_size > 1000
    loss_ax, accuracy_ax = fig.axes[:2]
    labels = [line.get_label() for line in loss_ax.lines]
    assert labels[:2] == ["fine-tuned", "fine-tuned (val)"] and "scratch" in labels
    vertical = [line for line in loss_ax.lines if len(set(line.get_xdata())) == 1]
    assert [line.get_xdata()[0] for line in vertical] == [1.5]  # between epochs 1 and 2
    unmarked = plot_learning_curves({"fine-tuned": fine_tuned}, mark=False)
    assert all(len(set(line.get_xdata())) > 1 for line in unmarked.axes[0].lines)
    with pytest.raises(ValueError, match="No history has"):
        plot_learning_curves({"x": plain}, metrics=["auc"])


def test_accuracy_vs_data_size_runs_every_size_and_seed():
    calls = []

    def train_fn(n, seed):
        calls.append((n, seed))
        return {"accuracy": n / 100 + seed / 1000}

    curve = accuracy_vs_data_size(train_fn, [10, 40], seeds=[0, 2])
    assert calls == [(10, 0), (10, 2), (40, 0), (40, 2)]
    np.testing.assert_allclose(curve.mean, [0.101, 0.401])
    np.testing.assert_allclose(curve.std, [0.001, 0.001])
    assert json.loads(json.dumps(curve.to_dict()))["sizes"] == [10, 40]
    report = classification_report([0, 1], [0, 0], ["a", "b"])
    assert accuracy_vs_data_size(lambda n, s: report, [5], seeds=[0]).mean[0] == 0.5
    with pytest.raises(ValueError, match="sizes"):
        accuracy_vs_data_size(train_fn, [0, 10])


def test_data_size_curves_plot(tmp_path):
    a = DataSizeCurve((10, 100), (0, 1), np.array([[0.5, 0.6], [0.8, 0.9]]))
    b = DataSizeCurve((10, 100), (0, 1), np.array([[0.3, 0.3], [0.6, 0.7]]))
    fig = plot_data_size_curves({"fine-tuned": a, "from scratch": b}, tmp_path / "size.png")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [0.55, 0.85])
    assert isinstance(a.plot(), Figure)
    assert isinstance(classification_report([0], [0], ["x"]), Evaluation)
