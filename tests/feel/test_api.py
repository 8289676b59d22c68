"""The public surface: compiled objects, caching, and ``feel_literal``."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest

from loanflow.engine import feel
from loanflow.engine.feel import (
    Expression,
    Range,
    UnaryTests,
    YearsMonthsDuration,
    compile_expression,
    compile_unary_tests,
    feel_literal,
)


def test_public_names() -> None:
    assert set(feel.__all__) == {
        "BUILTIN_NAMES",
        "Expression",
        "FeelError",
        "FeelEvalError",
        "FeelSyntaxError",
        "Range",
        "UnaryTests",
        "YearsMonthsDuration",
        "compile_expression",
        "compile_unary_tests",
        "feel_literal",
    }
    assert {"date and time", "string length", "get or else", "round half up"} <= (
        feel.BUILTIN_NAMES
    )


def test_compiled_objects_are_frozen_cached_and_comparable() -> None:
    expr = compile_expression("amount > 50000")
    assert isinstance(expr, Expression)
    assert compile_expression("amount > 50000") is expr
    assert expr == Expression("amount > 50000", frozenset({"amount"}), lambda c, q: None)
    with pytest.raises(AttributeError):
        expr.text = "x"  # type: ignore[misc]
    tests = compile_unary_tests("< 600")
    assert isinstance(tests, UnaryTests)
    assert compile_unary_tests("< 600") is tests
    assert repr(tests) == "UnaryTests(text='< 600', names=frozenset(), is_any=False)"


def test_expression_and_tests_are_reusable_across_contexts() -> None:
    expr = compile_expression("amount * 0.3 + income")
    assert expr({"amount": 100, "income": 5}) == 35.0
    assert expr({"amount": 10, "income": 1}) == 4.0
    assert expr({"amount": None, "income": 1}) is None
    assert expr({}) is None


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (12, "12"),
        (-3.5, "-3.5"),
        (2.0, "2"),
        (float("nan"), "null"),
        (Decimal("1.50"), "1.50"),
        ("plain", '"plain"'),
        ('say "hi"\n\\', r'"say \"hi\"\n\\"'),
        ("\x01", r'"\u0001"'),
        ("月收入", '"月收入"'),
        ([1, "a", None], '[1, "a", null]'),
        ((1, 2), "[1, 2]"),
        ({"a": 1, "b c": [True], "and": 2, "月": 3}, '{a: 1, "b c": [true], "and": 2, 月: 3}'),
        (date(2024, 1, 31), 'date("2024-01-31")'),
        (datetime(2024, 1, 31, 10, 0), 'date and time("2024-01-31T10:00:00")'),
        (time(8, 30), 'time("08:30:00")'),
        (timedelta(days=1, minutes=5), 'duration("P1DT5M")'),
        (timedelta(0), 'duration("PT0S")'),
        (-timedelta(hours=1), 'duration("-PT1H")'),
        (YearsMonthsDuration(14), 'duration("P1Y2M")'),
        (YearsMonthsDuration(0), 'duration("P0M")'),
        (Range(1, 10, False, True), "(1..10]"),
        (object.__new__(type("Opaque", (), {"__str__": lambda self: "opaque"})), '"opaque"'),
    ],
)
def test_feel_literal(value: Any, text: str) -> None:
    assert feel_literal(value) == text


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        12,
        -3.5,
        'a"b\\c\n',
        [1, [2, "x"]],
        {"a": 1, "b c": {"d": None}},
        date(2024, 1, 31),
        datetime(2024, 1, 31, 10, 0),
        time(8, 30),
        timedelta(days=2, hours=3),
        YearsMonthsDuration(-5),
    ],
)
def test_feel_literal_round_trips(value: Any) -> None:
    assert compile_expression(feel_literal(value))({}) == value
