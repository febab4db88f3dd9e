"""ftlab.checks: the helpers the graded notebooks' tests use to explain failures."""

import keras
import numpy as np
import pytest

from ftlab.checks import (
    call,
    expect_close,
    expect_defined,
    expect_equal,
    expect_function,
    expect_in_range,
    expect_model,
    expect_shape,
    expect_type,
)


def fails_with(*fragments):
    """pytest.raises(AssertionError) whose message must contain every fragment."""

    class _Ctx:
        def __enter__(self):
            self.ctx = pytest.raises(AssertionError)
            self.info = self.ctx.__enter__()
            return self.info

        def __exit__(self, *exc):
            handled = self.ctx.__exit__(*exc)
            message = str(self.info.value)
            for fragment in fragments:
                assert fragment in message, f"{fragment!r} not in {message!r}"
            return handled

    return _Ctx()


def test_expect_defined_returns_the_value():
    assert expect_defined("x", {"x": 3}) == 3
    assert expect_defined("x", {"x": None}) is None  # None may be a real answer


def test_expect_defined_says_to_run_the_cell():
    with fails_with("`frozen_model` is not defined", "Run the cell"):
        expect_defined("frozen_model", {})


def test_expect_defined_takes_a_custom_hint():
    with fails_with("`base` is not defined. Run the cell that loads the car model."):
        expect_defined("base", {}, hint="Run the cell that loads the car model.")


def test_expect_defined_suggests_a_close_name():
    with fails_with("Did you call it `frozen_modle`?"):
        expect_defined("frozen_model", {"frozen_modle": 1})


def test_expect_defined_rejects_an_unanswered_ellipsis():
    with fails_with("`answer` is still `...`"):
        expect_defined("answer", {"answer": ...})


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, int), (np.int32(3), int), (2.5, float), (3, float), (np.float32(0.5), float)],
)
def test_expect_type_accepts_numbers_students_produce(value, expected):
    assert expect_type(value, expected, "v") == value


@pytest.mark.parametrize(
    ("value", "expected", "message"),
    [
        ([1, 2], int, "`n` should be an int, but it is a list: [1, 2]"),
        (True, int, "`n` should be an int, but it is a bool"),
        ("3", int, "`n` should be an int, but it is a str (text): '3'"),
        (None, int, "it is None. Did you forget a `return`?"),
        (..., int, "`n` is still `...`"),
        (3, (list, tuple), "`n` should be a list or a tuple, but it is an int"),
    ],
)
def test_expect_type_names_what_was_expected_and_got(value, expected, message):
    with fails_with(message):
        expect_type(value, expected, "n")


def test_expect_type_shortens_long_values():
    with pytest.raises(AssertionError) as info:
        expect_type(list(range(1000)), int, "n")
    assert len(str(info.value)) < 150 and str(info.value).endswith("...")


def test_expect_function_finds_a_renamed_function():
    def count_frozn(model):
        return 0

    with fails_with("no function called `count_frozen`", "rename it to `count_frozn`"):
        expect_function("count_frozen", {"count_frozn": count_frozn})


def test_expect_function_without_a_close_name_says_to_run_the_cell():
    with fails_with("no function called `count_frozen`", "Run the cell that defines it"):
        expect_function("count_frozen", {"x": 1})


def test_expect_function_checks_the_number_of_arguments():
    def count_frozen(model, extra):
        return 0

    with fails_with("should take 1 argument", "count_frozen(model, extra)"):
        expect_function("count_frozen", {"count_frozen": count_frozen}, params=1)


def test_expect_function_rejects_a_value_that_reused_the_name():
    with fails_with("should be a function, but it is an int"):
        expect_function("count_frozen", {"count_frozen": 3})


def test_call_turns_an_error_inside_student_code_into_one_line():
    def count_frozen(model):
        return model.layers  # an int has no layers

    with fails_with("`count_frozen(3)` raised AttributeError:", "no attribute 'layers'"):
        call(count_frozen, 3)


def test_call_returns_the_result_and_lets_assertions_through():
    assert call(lambda a, b=0: a + b, 1, b=2) == 3

    def checks_itself():
        raise AssertionError("own message")

    with fails_with("own message"):
        call(checks_itself)


def test_expect_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert expect_model(model, "m") is model
    with fails_with("`m` should be a Keras Model, but it is a Keras Dense"):
        expect_model(keras.layers.Dense(2), "m")
    with fails_with("not built yet"):
        expect_model(keras.Sequential([keras.layers.Dense(2)]), "m")


def test_expect_equal_close_range_and_shape():
    assert expect_equal(np.arange(3), np.arange(3), "a") is not None
    with fails_with("`a` is 3, expected 4. Count again."):
        expect_equal(3, 4, "a", hint="Count again.")
    assert expect_close(0.501, 0.5, "acc", tol=0.01) == 0.501
    with fails_with("expected about 0.5 (within 0.01)"):
        expect_close(0.6, 0.5, "acc", tol=0.01)
    with fails_with("`acc` should be a float, but it is a str"):
        expect_close("0.5", 0.5, "acc")
    assert expect_in_range(0.7, 0, 1, "acc") == 0.7
    with fails_with("expected between 0 and 1"):
        expect_in_range(7, 0, 1, "acc")
    assert expect_shape(np.zeros((5, 2)), (None, 2), "p").shape == (5, 2)
    with fails_with("should have shape (None, 2), but its shape is (5, 3)"):
        expect_shape(np.zeros((5, 3)), (None, 2), "p")
    with fails_with("is a list with no shape"):
        expect_shape([1, 2], (2,), "p")
