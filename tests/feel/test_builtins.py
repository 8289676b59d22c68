"""Built-in functions: results, nulls for wrong types, and arity checked at compile time."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from loanflow.engine.feel import (
    FeelEvalError,
    FeelSyntaxError,
    YearsMonthsDuration,
    compile_expression,
)

CTX: dict[str, Any] = {"s": "hello", "l": [3, 1, 2], "n": None, "dec": Decimal("2.345")}


def ev(text: str) -> Any:
    return compile_expression(text)(CTX)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('date("2024-01-31")', date(2024, 1, 31)),
        ('date("2024-02-30")', None),
        ('date("31.01.2024")', None),
        ("date(2024, 1, 31)", date(2024, 1, 31)),
        ('date(date and time("2024-01-31T10:00:00"))', date(2024, 1, 31)),
        ("date(5)", None),
        ('date and time("2024-01-31T10:20:30")', datetime(2024, 1, 31, 10, 20, 30)),
        (
            'date and time("2024-01-31T10:20:30+08:00")',
            datetime(2024, 1, 31, 10, 20, 30, tzinfo=timezone(timedelta(hours=8))),
        ),
        ('date and time("2024-01-31")', datetime(2024, 1, 31)),
        ('date and time(date("2024-01-31"), time("08:00:00"))', datetime(2024, 1, 31, 8)),
        ('date and time("nope")', None),
        ('time("10:30:00")', time(10, 30)),
        ("time(10, 30, 0)", time(10, 30)),
        ('time("25:00:00")', None),
        ('duration("P1D")', timedelta(days=1)),
        ('duration("PT15M")', timedelta(minutes=15)),
        ('duration("P1DT2H3M4.5S")', timedelta(days=1, hours=2, minutes=3, seconds=4.5)),
        ('duration("-PT1H")', timedelta(hours=-1)),
        ('duration("P1Y2M")', YearsMonthsDuration(14)),
        ('duration("P1Y2D")', None),
        ('duration("P")', None),
        ('duration("1D")', None),
        ("string(1.0)", "1"),
        ("string(1.5)", "1.5"),
        ("string(true)", "true"),
        ("string(null)", None),
        ('string(date("2024-01-31"))', "2024-01-31"),
        ('string(duration("P1DT2H"))', "P1DT2H"),
        ('string([1, "a"])', '[1, "a"]'),
        ('number("12")', 12),
        ('number("-1.5e2")', -150.0),
        ('number("1,234.5", ",", ".")', 1234.5),
        ('number("1.234,5", ".", ",")', 1234.5),
        ('number("1 234", " ", ".")', 1234),
        ('number("abc")', None),
        ("number(5)", None),
        ("string length(s)", 5),
        ('string length("月收入")', 3),
        ("string length(5)", None),
        ("upper case(s)", "HELLO"),
        ('lower case("ABC")', "abc"),
        ('substring("foobar", 3)', "obar"),
        ('substring("foobar", 3, 3)', "oba"),
        ('substring("foobar", -2, 1)', "a"),
        ('substring("foobar", 0)', None),
        ('substring("foobar", 7)', ""),
        ('substring before("foobar", "bar")', "foo"),
        ('substring after("foobar", "ob")', "ar"),
        ('substring after("foobar", "x")', ""),
        ('contains(s, "ell")', True),
        ("contains(s, 1)", None),
        ('starts with(s, "he")', True),
        ('ends with(s, "lo")', True),
        ('matches("A-123", "^[A-Z]-\\d+$")', True),
        ('matches("xA-123", "A-\\d")', True),
        ('matches("abc", "B", "i")', True),
        ('matches("abc", "B")', False),
        ('replace("abc", "b", "[$0]")', "a[b]c"),
        ('split("a, b,c", ",\\s*")', ["a", "b", "c"]),
        ('string join(["a", null, "b"], "-")', "a-b"),
        ("not(true)", False),
        ("abs(-3)", 3),
        ("abs(-1.5)", 1.5),
        ("floor(1.5)", 1),
        ("floor(-1.5)", -2),
        ("ceiling(1.2)", 2),
        ("ceiling(-1.2)", -1),
        ("decimal(2.675, 2)", 2.68),
        ("decimal(2.5, 0)", 2),
        ("decimal(3.5, 0)", 4),
        ("decimal(1/3, 2)", 0.33),
        ("decimal(dec, 2)", Decimal("2.34")),
        ("round half up(2.5, 0)", 3),
        ("round half up(-2.5, 0)", -3),
        ("round half up(2.345, 2)", 2.35),
        ("round down(2.99, 0)", 2),
        ("round up(2.01, 0)", 3),
        ('decimal("x", 2)', None),
        ("modulo(10, 3)", 1),
        ("modulo(-7, 3)", 2),
        ("modulo(7, -3)", -2),
        ("modulo(7.5, 2)", 1.5),
        ("modulo(1, 0)", None),
        ("sqrt(16)", 4),
        ("sqrt(2.25)", 1.5),
        ("sqrt(-1)", None),
        ("odd(3)", True),
        ("even(3)", False),
        ("min(l)", 1),
        ("min(3, 1, 2)", 1),
        ("max(l)", 3),
        ('max("a", "b")', "b"),
        ('max(1, "b")', None),
        ("min([])", None),
        ("sum(l)", 6),
        ("sum(1, 2.5)", 3.5),
        ("sum([])", None),
        ("sum([1, null])", None),
        ("mean(l)", 2),
        ("mean([1, 2])", 1.5),
        ("count(l)", 3),
        ("count([])", 0),
        ("count(5)", None),
        ("list contains(l, 2)", True),
        ("list contains(l, 2.0)", True),
        ("list contains(l, 9)", False),
        ("list contains([null], null)", True),
        ("append(l, 4, 5)", [3, 1, 2, 4, 5]),
        ("concatenate([1], [2, 3], [])", [1, 2, 3]),
        ('distinct values([1, 1.0, 2, "a", "a", [1], [1]])', [1, 2, "a", [1]]),
        ("sort(l)", [1, 2, 3]),
        ('sort(["b", "a"])', ["a", "b"]),
        ('sort([1, "a"])', None),
        ("reverse(l)", [2, 1, 3]),
        ("index of([1, 2, 1], 1)", [1, 3]),
        ("sublist(l, 2)", [1, 2]),
        ("sublist(l, 1, 2)", [3, 1]),
        ("flatten([1, [2, [3]]])", [1, 2, 3]),
        ("union([1, 2], [2, 3])", [1, 2, 3]),
        ("all([true, true])", True),
        ("all([true, null])", None),
        ("all(false, null)", False),
        ("any([false, true])", True),
        ("any([])", False),
        ("product(2, 3)", 6),
        ("get or else(n, 7)", 7),
        ("get or else(5, 7)", 5),
        ('get value({"a b": 1}, "a b")', 1),
    ],
)
def test_builtin(text: str, expected: Any) -> None:
    result = ev(text)
    assert type(result) is type(expected)
    assert result == expected


def test_now_and_today_are_evaluated_every_call() -> None:
    assert isinstance(ev("now()"), datetime)
    assert ev("now()").tzinfo is not None
    assert ev("today()") == date.today()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("count(1, 2, 3)", "'count' takes 1 argument, got 3"),
        ('substring("a")', "'substring' takes 2 or 3 arguments, got 1"),
        ("number()", "'number' takes 1 to 3 arguments, got 0"),
        ("min()", "'min' takes at least 1 argument, got 0"),
        ("now(1)", "'now' takes no arguments, got 1"),
        ("not(true, false)", "'not' takes 1 argument, got 2"),
        ("foo(1)", "unknown function 'foo'"),
        ("upper(s)", "unknown function 'upper'"),
        (
            'matches("a", "(")',
            "invalid regular expression '(': missing ), unterminated subpattern at position 0",
        ),
        (
            'matches("aaa", "(a+)+$")',
            "regular expression too costly: a repeated group may not repeat or alternate inside",
        ),
        (
            'matches("aaa", "(a|aa)*$")',
            "regular expression too costly: a repeated group may not repeat or alternate inside",
        ),
        ('matches("a", "a", "z")', "unknown regular expression flag 'z'"),
    ],
)
def test_call_problems_are_found_at_compile_time(text: str, message: str) -> None:
    with pytest.raises(FeelSyntaxError) as caught:
        compile_expression(text)
    assert caught.value.message == message


def test_regex_problem_with_variable_pattern_is_an_eval_error_with_position() -> None:
    expr = compile_expression("x + 1 > 2 or matches(s, p)")
    with pytest.raises(FeelEvalError) as caught:
        expr({"x": 0, "s": "a", "p": "["})
    assert caught.value.position == 13
    assert caught.value.message.startswith("invalid regular expression '['")


def test_regex_input_length_is_limited() -> None:
    expr = compile_expression('matches(s, "a")')
    with pytest.raises(FeelEvalError, match="longer than 10000"):
        expr({"s": "a" * 10_001})
