"""Checks for graded exercises: failures that tell a student what to fix.

The course's notebooks are graded by otter-grader. Each test is a small function
that looks at the notebook's variables. When a student skipped a cell, renamed a
function or returned the wrong kind of value, a bare ``assert`` (or worse, an
error from deep inside Keras) says little. These helpers check one thing each
and raise an ``AssertionError`` whose message names the problem and the fix;
otter shows that message under the test.

Each helper returns the value it checked, so a test reads top to bottom:

    >>> from ftlab.checks import expect_defined, expect_type
    >>> env = {"n_frozen": 3}
    >>> n = expect_type(expect_defined("n_frozen", env), int, "n_frozen")
    >>> n
    3
    >>> expect_defined("n_trainable", env)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    AssertionError: `n_trainable` is not defined. Run the cell that creates it (and the ...
    >>> expect_type([1, 2], int, "n_frozen")
    Traceback (most recent call last):
    ...
    AssertionError: `n_frozen` should be an int, but it is a list: [1, 2]

In an otter test cell (tests get the notebook's variables as ``env``):

    def test_q1(env):
        from ftlab.checks import expect_defined, expect_type
        n = expect_type(expect_defined("n_frozen", env), int, "n_frozen")
        assert n == 12, f"`n_frozen` is {n}; count the frozen layers again"
"""

from __future__ import annotations

import difflib
import inspect
import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

__all__ = [
    "call",
    "expect_close",
    "expect_defined",
    "expect_equal",
    "expect_function",
    "expect_in_range",
    "expect_model",
    "expect_shape",
    "expect_type",
]

_RUN_HINT = "Run the cell that creates it (and the cells above it), then check again."


def _describe_type(t) -> str:
    """`int` -> "an int", a tuple of types -> "an int or a float"."""
    if isinstance(t, tuple):
        return " or ".join(_describe_type(x) for x in t)
    name = {
        int: "int",
        float: "float",
        bool: "bool (True or False)",
        str: "str (text)",
        list: "list",
        tuple: "tuple",
        dict: "dict",
        np.ndarray: "NumPy array",
    }.get(t, getattr(t, "__name__", str(t)))
    if t is not None and getattr(t, "__module__", "").startswith("keras"):
        name = f"Keras {name}"
    return f"{'an' if name[0].lower() in 'aeiou' else 'a'} {name}"


def _short_repr(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_instance(value, t) -> bool:
    """isinstance with the numeric rules students expect.

    `int` accepts NumPy integers; `float` accepts any real number (ints and NumPy
    floats included); a bool is neither (`True` is not a count).
    """
    if isinstance(t, tuple):
        return any(_is_instance(value, x) for x in t)
    if t is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
    if t is float:
        return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    if t is bool:
        return isinstance(value, (bool, np.bool_))
    return isinstance(value, t)


def _not_answered(name: str) -> AssertionError:
    return AssertionError(
        f"`{name}` is still `...`: replace the `...` with your answer and run the cell."
    )


def expect_defined(name: str, env: Mapping[str, Any], *, hint: str | None = None):
    """The value of variable `name` in `env`; fails if it is missing or still ``...``.

    `hint` replaces the default advice ("Run the cell that creates it ...").

    >>> expect_defined("x", {"x": ...})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    AssertionError: `x` is still `...`: replace the `...` with your answer and run ...
    """
    if name not in env:
        close = difflib.get_close_matches(name, [k for k in env if not k.startswith("_")], n=1)
        maybe = f" (Did you call it `{close[0]}`? Use the name `{name}`.)" if close else ""
        raise AssertionError(f"`{name}` is not defined. {hint or _RUN_HINT}{maybe}")
    value = env[name]
    if value is Ellipsis:
        raise _not_answered(name)
    return value


def expect_type(value, expected, name: str):
    """`value` if it is an instance of `expected` (a type or a tuple of types).

    `int` accepts NumPy integers and `float` any real number, but neither takes a bool.

    >>> int(expect_type(np.int64(4), int, "count"))
    4
    >>> expect_type(None, float, "accuracy")
    Traceback (most recent call last):
    ...
    AssertionError: `accuracy` should be a float, but it is None. Did you forget a `return`?
    """
    if value is Ellipsis:
        raise _not_answered(name)
    if _is_instance(value, expected):
        return value
    want = _describe_type(expected)
    if value is None:
        raise AssertionError(
            f"`{name}` should be {want}, but it is None. Did you forget a `return`?"
        )
    got = _describe_type(type(value))
    raise AssertionError(f"`{name}` should be {want}, but it is {got}: {_short_repr(value)}")


def expect_function(
    name: str, env: Mapping[str, Any], *, params: int | None = None, hint: str | None = None
) -> Callable:
    """The function called `name` in `env`, checked to take `params` arguments.

    If it is missing, the message lists functions defined in the notebook with
    a similar name (a renamed function is the usual cause).

    >>> def count_frozen(model): return 0
    >>> expect_function("count_frozen", {"count_frozen": count_frozen}, params=1).__name__
    'count_frozen'
    >>> expect_function("count_frozen", {"count_frozn": count_frozen})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    AssertionError: There is no function called `count_frozen`. Did you rename it to ...
    """
    if name not in env:
        functions = [k for k, v in env.items() if inspect.isfunction(v) and not k.startswith("_")]
        close = difflib.get_close_matches(name, functions, n=1, cutoff=0.5)
        if close:
            raise AssertionError(
                f"There is no function called `{name}`. Did you rename it to `{close[0]}`? "
                f"Keep the name `{name}` (the checks look for it), and run its cell."
            )
        raise AssertionError(
            f"There is no function called `{name}`. "
            f"{hint or 'Run the cell that defines it, then check again.'}"
        )
    func = env[name]
    if func is Ellipsis:
        raise _not_answered(name)
    if not callable(func):
        raise AssertionError(
            f"`{name}` should be a function, but it is {_describe_type(type(func))}: "
            f"{_short_repr(func)}. Did a later cell reuse the name `{name}` for a value?"
        )
    if params is not None:
        try:
            inspect.signature(func).bind(*([None] * params))
        except TypeError:
            arguments = "argument" if params == 1 else "arguments"
            raise AssertionError(
                f"`{name}` should take {params} {arguments}; its signature is "
                f"{name}{inspect.signature(func)}."
            ) from None
        except ValueError:  # no signature (a builtin): let the call decide
            pass
    return func


def call(func: Callable, *args, name: str | None = None, **kwargs):
    """Call a student's function; an error inside it becomes a short message.

    >>> def half(n): return n / 0
    >>> call(half, 4)
    Traceback (most recent call last):
    ...
    AssertionError: `half(4)` raised ZeroDivisionError: division by zero
    """
    label = name or getattr(func, "__name__", "the function")
    shown = ", ".join([_short_repr(a, 20) for a in args] + [f"{k}=..." for k in kwargs])
    try:
        return func(*args, **kwargs)
    except AssertionError:
        raise
    except Exception as err:  # any error in student code becomes a message
        message = str(err).strip().splitlines()
        first = message[0] if message else ""
        raise AssertionError(f"`{label}({shown})` raised {type(err).__name__}: {first}") from None


def expect_model(value, name: str):
    """`value` if it is a built Keras model.

    >>> expect_model(3, "truck_model")
    Traceback (most recent call last):
    ...
    AssertionError: `truck_model` should be a Keras Model, but it is an int: 3
    """
    import keras

    expect_type(value, keras.Model, name)
    if not value.built:
        raise AssertionError(
            f"`{name}` is a model that is not built yet: give it a `keras.Input(...)` or call it "
            "on a batch of data first."
        )
    return value


def expect_equal(value, expected, name: str, *, hint: str = ""):
    """`value` if it equals `expected`.

    >>> expect_equal(3, 4, "n_layers", hint="Count only the layers with weights.")
    Traceback (most recent call last):
    ...
    AssertionError: `n_layers` is 3, expected 4. Count only the layers with weights.
    """
    if value is Ellipsis:
        raise _not_answered(name)
    if isinstance(expected, np.ndarray) or isinstance(value, np.ndarray):
        equal = np.array_equal(np.asarray(value), np.asarray(expected))
    else:
        equal = value == expected
    if not equal:
        raise AssertionError(
            f"`{name}` is {_short_repr(value)}, expected {_short_repr(expected)}. {hint}".rstrip()
        )
    return value


def expect_close(value, expected: float, name: str, *, tol: float = 1e-6, hint: str = ""):
    """`value` if it is a number within `tol` (absolute) of `expected`.

    >>> expect_close(0.5, 0.75, "accuracy", tol=0.01)
    Traceback (most recent call last):
    ...
    AssertionError: `accuracy` is 0.5, expected about 0.75 (within 0.01).
    """
    expect_type(value, float, name)
    if not math.isclose(float(value), expected, abs_tol=tol, rel_tol=0.0):
        raise AssertionError(
            f"`{name}` is {_short_repr(value)}, expected about {expected:g} (within {tol:g}). "
            f"{hint}".rstrip()
        )
    return value


def expect_in_range(value, low: float, high: float, name: str, *, hint: str = ""):
    """`value` if it is a number with ``low <= value <= high``.

    >>> expect_in_range(1.7, 0.0, 1.0, "accuracy", hint="Accuracy is a fraction.")
    Traceback (most recent call last):
    ...
    AssertionError: `accuracy` is 1.7, expected between 0 and 1. Accuracy is a fraction.
    """
    expect_type(value, float, name)
    if not (low <= float(value) <= high):
        raise AssertionError(
            f"`{name}` is {_short_repr(value)}, expected between {low:g} and {high:g}. "
            f"{hint}".rstrip()
        )
    return value


def expect_shape(value, shape: tuple, name: str):
    """`value` if it has this shape (``None`` in `shape` matches any size).

    >>> expect_shape(np.zeros((4, 2)), (None, 3), "predictions")
    Traceback (most recent call last):
    ...
    AssertionError: `predictions` should have shape (None, 3), but its shape is (4, 2).
    """
    if value is Ellipsis:
        raise _not_answered(name)
    actual = getattr(value, "shape", None)
    if actual is None:
        raise AssertionError(
            f"`{name}` should be an array of shape {shape}, but it is "
            f"{_describe_type(type(value))} with no shape."
        )
    actual = tuple(actual)
    if len(actual) != len(shape) or any(
        want is not None and want != got for want, got in zip(shape, actual)
    ):
        raise AssertionError(f"`{name}` should have shape {shape}, but its shape is {actual}.")
    return value
