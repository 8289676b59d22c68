"""Conformance tables for FEEL expressions: literals, operators, paths, filters, names."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest

from loanflow.engine.feel import Range, YearsMonthsDuration, compile_expression

CTX: dict[str, Any] = {
    "a": 5,
    "b": None,
    "s": "hi",
    "l": [1, 5, 10],
    "p": {"name": "Li", "age": 30, "addr": {"city": "Hangzhou"}},
    "月收入": 8000,
    "d": Decimal("2.5"),
    "loans": [{"amt": 100, "st": "A"}, {"amt": 900, "st": "B"}],
    "day": date(2024, 1, 31),
    "lower": 10,
    "upper": 20,
    "flag": True,
}


def ev(text: str, ctx: dict[str, Any] | None = None) -> Any:
    return compile_expression(text)(CTX if ctx is None else ctx)


def same(actual: Any, expected: Any) -> bool:
    """Equal and of the same type, so 2 is not accepted for 2.0 nor True for 1."""
    return type(actual) is type(expected) and actual == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12", 12),
        ("-3.5", -3.5),
        (".5", 0.5),
        ("1e3", 1000.0),
        ("2.5e-1", 0.25),
        ("0", 0),
        ('"abc"', "abc"),
        ('""', ""),
        (r'"say \"hi\""', 'say "hi"'),
        (r'"back\\slash"', "back\\slash"),
        (r'"a\nb\tc"', "a\nb\tc"),
        (r'"\u4e2d\u6587"', "中文"),
        ('"月收入"', "月收入"),
        ("true", True),
        ("false", False),
        ("null", None),
        ("[1, 2, 3]", [1, 2, 3]),
        ("[]", []),
        ('{a: 1, "b c": 2}', {"a": 1, "b c": 2}),
        ("{}", {}),
        ("{x: 1, y: x + 1}", {"x": 1, "y": 2}),
        ("// comment\n 7", 7),
        ("/* block */ 8", 8),
    ],
)
def test_literals(text: str, expected: Any) -> None:
    assert same(ev(text, {}), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a + 1", 6),
        ("a - 7", -2),
        ("a * 2", 10),
        ("a * 0.5", 2.5),
        ("10 / 4", 2.5),
        ("10 / 5", 2),
        ("1 / 0", None),
        ("2 ** 10", 1024),
        ("2 ** -1", 0.5),
        ("-2 ** 2", -4),
        ("(-2) ** 2", 4),
        ("(-8) ** 0.5", None),
        ("10 ** 100000", None),
        ("-a", -5),
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("10 - 2 - 3", 5),
        ("2 * 3 / 4", 1.5),
        ('s + "!"', "hi!"),
        ("s + 1", None),
        ('"a" * 3', None),
        ("a + b", None),
        ("b * 2", None),
        ("-b", None),
        ("b / 0", None),
        ("flag + 1", None),
        ("月收入 * 12", 96000),
    ],
)
def test_arithmetic_with_null_propagation(text: str, expected: Any) -> None:
    assert same(ev(text), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("d + 1", Decimal("3.5")),
        ("d * 2", Decimal("5.0")),
        ("d * 1.5", 3.75),
        ("d + 0.5", 3.0),
        ("d > 2", True),
        ("d < 2.6", True),
        ("d = 2.5", True),
        ("d between 2 and 3", True),
        ("d in [2.5..3]", True),
        ("d / 0", None),
        ("max(d, 3.5)", 3.5),
    ],
)
def test_decimal_inputs(text: str, expected: Any) -> None:
    assert same(ev(text), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 = 1.0", True),
        ("1 = 2", False),
        ("1 != 2", True),
        ('"a" = "a"', True),
        ('"a" = "A"', False),
        ("1 = true", None),
        ("true = true", True),
        ('1 = "1"', None),
        ("b = null", True),
        ("null = null", True),
        ("a = null", False),
        ("a != null", True),
        ("b != null", False),
        ("[1, 2] = [1, 2.0]", True),
        ("[1, 2] = [2, 1]", False),
        ("[1] = [1, 2]", False),
        ("{a: 1, b: [2]} = {b: [2], a: 1}", True),
        ("{a: 1} = {a: 2}", False),
        ("a < 6", True),
        ("a <= 5", True),
        ("a > 5", False),
        ("a >= 5.0", True),
        ('"abc" < "abd"', True),
        ('"a" < 1', None),
        ("b < 1", None),
        ("flag > 0", None),
        ('date("2024-01-01") < date("2024-02-01")', True),
        ('date("2024-01-01") = date("2024-01-01")', True),
        ('date("2024-01-01") < 5', None),
        ('duration("P1D") > duration("PT23H")', True),
    ],
)
def test_comparisons_are_null_safe(text: str, expected: Any) -> None:
    assert same(ev(text), expected)


@pytest.mark.parametrize(
    ("left", "right", "and_", "or_"),
    [
        ("true", "true", True, True),
        ("true", "false", False, True),
        ("false", "true", False, True),
        ("false", "false", False, False),
        ("true", "null", None, True),
        ("null", "true", None, True),
        ("false", "null", False, None),
        ("null", "false", False, None),
        ("null", "null", None, None),
        ("1", "true", None, True),
        ('"x"', "false", False, None),
    ],
)
def test_three_valued_logic(left: str, right: str, and_: Any, or_: Any) -> None:
    assert ev(f"{left} and {right}", {}) is and_
    assert ev(f"{left} or {right}", {}) is or_


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("not(true)", False),
        ("not(false)", True),
        ("not(null)", None),
        ("not(1)", None),
        ("true and true and false", False),
        ("false or false or true", True),
        ("a > 1 and a < 10", True),
        ("a > 1 and b > 1", None),
        ("a > 9 and b > 1", False),
        ("a > 9 or b > 1 or a = 5", True),
    ],
)
def test_not_and_chains(text: str, expected: Any) -> None:
    assert ev(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a between 1 and 10", True),
        ("a between 5 and 5", True),
        ("a between 6 and 10", False),
        ("b between 1 and 10", None),
        ('"b" between "a" and "c"', True),
        ("a in [1..10]", True),
        ("a in [1..5)", False),
        ("a in (5..10]", False),
        ("a in ]5..10]", False),
        ("a in [5..10[", True),
        ("a in (1, 2, 5)", True),
        ("a in (1, 2)", False),
        ("a in [1, 2, 5]", True),
        ("a in [1, 2, 3]", False),
        ('s in "hi"', True),
        ("a in < 6", True),
        ("a in >= 6", False),
        ("a in (< 2, > 4)", True),
        ("a in [lower..upper]", False),
        ("12 in [lower..upper]", True),
        ("a in (? > 4)", True),
        ("b in [1, 2]", False),
        ("b in (1, null)", True),
        ("a in < 6 and a > 4", True),
    ],
)
def test_between_and_in(text: str, expected: Any) -> None:
    assert ev(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('if a > 3 then "big" else "small"', "big"),
        ('if a > 9 then "big" else "small"', "small"),
        ("if null then 1 else 2", 2),
        ("if 1 then 1 else 2", 2),
        ("if b = null then 0 else b", 0),
        ("if true then 1 else 2 + 3", 1),
        ("if false then 1 else 2 + 3", 5),
    ],
)
def test_if_then_else(text: str, expected: Any) -> None:
    assert same(ev(text), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("p.name", "Li"),
        ("p.addr.city", "Hangzhou"),
        ("p.missing", None),
        ("p.missing.deeper", None),
        ("a.b", None),
        ("missing.b", None),
        ("loans.amt", [100, 900]),
        ("day.year", 2024),
        ("day.month", 1),
        ("day.day", 31),
        ("day.weekday", 3),
        ("day.hour", None),
        ('date and time("2024-01-02T10:20:30").hour', 10),
        ('duration("P1DT2H").hours', 2),
        ('duration("P1Y2M").months', 2),
        ("{x: {y: 3}}.x.y", 3),
        ("l[1]", 1),
        ("l[3]", 10),
        ("l[-1]", 10),
        ("l[-3]", 1),
        ("l[0]", None),
        ("l[4]", None),
        ("l[-4]", None),
        ("l[1.5]", None),
        ("l[a - 3]", 5),
        ("l[item > 4]", [5, 10]),
        ("l[item > 100]", []),
        ("l[item > lower - 6]", [5, 10]),
        ("loans[amt > 500].st", ["B"]),
        ('loans[st = "A"][1].amt', 100),
        ("loans[item.amt < 500].st", ["A"]),
        ("[1, 2, 3][item != 2]", [1, 3]),
        ("b[1]", None),
        ("b.x", None),
    ],
)
def test_path_and_filter(text: str, expected: Any) -> None:
    assert same(ev(text), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('day + duration("P1D")', date(2024, 2, 1)),
        ('day + duration("P1M")', date(2024, 2, 29)),
        ('day - duration("P1Y")', date(2023, 1, 31)),
        ('duration("P1D") + day', date(2024, 2, 1)),
        ('date("2024-03-01") - day', timedelta(days=30)),
        ('date and time("2024-01-01T10:00:00") + duration("PT90M")', datetime(2024, 1, 1, 11, 30)),
        ('time("10:00:00") + duration("PT30M")', time(10, 30)),
        ('duration("PT1H") * 2', timedelta(hours=2)),
        ('duration("P1Y") + duration("P2M")', YearsMonthsDuration(14)),
        ("day + 1", None),
        ("[1..10]", Range(1, 10, True, True)),
        ("(1..b]", Range(1, None, False, True)),
    ],
)
def test_temporal_and_range_values(text: str, expected: Any) -> None:
    assert same(ev(text), expected)


def test_chinese_names_and_context_keys() -> None:
    expr = compile_expression('月收入 * 0.5 >= 还款额 and 客户.等级 = "A"')
    assert expr.names == frozenset({"月收入", "还款额", "客户"})
    assert expr({"月收入": 10000, "还款额": 5000, "客户": {"等级": "A"}}) is True
    assert expr({"月收入": 10000, "还款额": 5001, "客户": {"等级": "A"}}) is False


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("amount > 50000", {"amount"}),
        ("a.b.c + d[1]", {"a", "d"}),
        ("l[amt > limit]", {"l"}),
        ("{x: 1, y: x + z}", {"z"}),
        ("count(items) + today().year", {"items"}),
        ("date and time(x)", {"x"}),
        ("1 + 2", set()),
        ("x in [lo..hi]", {"x", "lo", "hi"}),
    ],
)
def test_names_are_the_root_variables_read(text: str, names: set[str]) -> None:
    assert compile_expression(text).names == frozenset(names)


def test_keywords_inside_names_are_still_names() -> None:
    ctx = {"order": 1, "android": 2, "notes": 3, "iffy": 4, "inbound": 5, "nullable": 6}
    assert ev("order + android + notes + iffy + inbound + nullable", ctx) == 21


def test_multi_word_builtins_do_not_break_and() -> None:
    ctx = {"date": True, "time": False, "string": "x"}
    assert ev("date and time", ctx) is False
    assert ev('date and time("2024-01-01T00:00:00") = date and time("2024-01-01")', ctx) is True
    assert ev("string length(string)", ctx) == 1


def test_constant_results_cannot_be_mutated_by_the_caller() -> None:
    expr = compile_expression("[1, [2]]")
    first = expr({})
    first.append(3)
    first[1].append(4)
    assert expr({}) == [1, [2]]


def test_context_may_be_any_mapping() -> None:
    from types import MappingProxyType

    assert compile_expression("a + 1")(MappingProxyType({"a": 1})) == 2


def test_filter_and_context_scopes_behave_as_mappings() -> None:
    assert ev("{a: 1, b: count(l[x > 0])}", {"l": [{"x": 1}, {"x": -1}]}) == {"a": 1, "b": 1}
    assert ev("l[item.x > limit]", {"l": [{"x": 1}, {"x": 5}], "limit": 2}) == [{"x": 5}]
