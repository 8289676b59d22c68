"""Conformance tables for input entries (unary tests), one row per form and input value."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from loanflow.engine.feel import FeelSyntaxError, compile_unary_tests

CTX: dict[str, Any] = {"min_score": 600, "lower": 10, "upper": 20, "limit": 10, "codes": ["X", "Y"]}

ROWS: list[tuple[str, Any, bool]] = [
    ("< 600", 599, True),
    ("< 600", 600, False),
    ("< 600", 599.9, True),
    ("< 600", Decimal("599"), True),
    ("< 600", None, False),
    ("< 600", "5", False),
    ("< 600", True, False),
    ("<= 600", 600, True),
    ("> 600", 600, False),
    (">= 0.35", 0.35, True),
    (">= 0.35", 0.34, False),
    (">= 0.35", 1, True),
    ("!= 5", 6, True),
    ("!= 5", 5, False),
    ("!= 5", 5.0, False),
    ("!= 5", "5", False),
    ("[18..60]", 18, True),
    ("[18..60]", 60, True),
    ("[18..60]", 17, False),
    ("[18..60]", 61, False),
    ("[18..60]", 35.5, True),
    ("[18..60]", None, False),
    ("[18..60]", "20", False),
    ("]0..50000]", 0, False),
    ("]0..50000]", 1, True),
    ("]0..50000]", 50000, True),
    ("]0..50000]", 50001, False),
    ("(0..100)", 0, False),
    ("(0..100)", 50, True),
    ("(0..100)", 100, False),
    ("[1..5[", 5, False),
    ("[1..5)", 4.999, True),
    ('"A","B"', "A", True),
    ('"A","B"', "B", True),
    ('"A","B"', "C", False),
    ('"A","B"', None, False),
    ('"A","B"', 1, False),
    ('"A"', "A", True),
    ('"A"', "a", False),
    ('not("A","B")', "A", False),
    ('not("A","B")', "C", True),
    ('not("A","B")', None, True),
    ('not("A","B")', 1, False),
    ('not("X")', "X", False),
    ('not("X")', "Y", True),
    ("not(< 0)", -1, False),
    ("not(< 0)", 0, True),
    ("not(< 0)", None, False),
    ("not(< 0)", "x", False),
    ("not([1..5])", 6, True),
    ("not([1..5])", 3, False),
    ("not(1, 2)", 3, True),
    ("-", None, True),
    ("-", "anything", True),
    ("", 1, True),
    ("null", None, True),
    ("null", 0, False),
    ("null", "", False),
    ("true", True, True),
    ("true", False, False),
    ("true", 1, False),
    ("false", False, True),
    (">= min_score", 600, True),
    (">= min_score", 599, False),
    ("[lower..upper]", 10, True),
    ("[lower..upper]", 21, False),
    ("(lower..upper)", 10, False),
    ('date("2024-01-01")', date(2024, 1, 1), True),
    ('date("2024-01-01")', date(2024, 1, 2), False),
    ('date("2024-01-01")', "2024-01-01", False),
    ('< date("2030-01-01")', date(2029, 12, 31), True),
    ('< date("2030-01-01")', date(2030, 1, 1), False),
    ('< date("2030-01-01")', "2029-01-01", False),
    ("? * 2 > limit", 6, True),
    ("? * 2 > limit", 5, False),
    ("? * 2 > limit", None, False),
    ("? > 5 and ? < 10", 6, True),
    ("? > 5 and ? < 10", 10, False),
    ("? + 1", 3, False),
    ('starts with(?, "6")', "622848", True),
    ('starts with(?, "6")', 622848, False),
    ("1, 2, 3", 2, True),
    ("1, 2, 3", 2.0, True),
    ("1, 2, 3", True, False),
    ("1, 2, 3", 4, False),
    ("[1, 2, 3]", 2, True),
    ("[1, 2, 3]", 4, False),
    ("codes", "Y", True),
    ("codes", "Z", False),
    ("[1..3], 7", 2, True),
    ("[1..3], 7", 7, True),
    ("[1..3], 7", 5, False),
    ("<= 10, > 100", 5, True),
    ("<= 10, > 100", 50, False),
    ("<= 10, > 100", 200, True),
    ('"A", < 5', 3, True),
    ('"A", < 5', "A", True),
    ('"A", < 5', "B", False),
    ("missing", None, True),
    ("missing", 1, False),
    ("lower + 1", 11, True),
    ("[1, 2]", [1, 2], True),
]


@pytest.mark.parametrize(("text", "value", "expected"), ROWS)
def test_unary_tests(text: str, value: Any, expected: bool) -> None:
    result = compile_unary_tests(text)(value, CTX)
    assert result is expected


@pytest.mark.parametrize(
    ("text", "is_any", "names"),
    [
        ("-", True, set()),
        ("  -  ", True, set()),
        ("", True, set()),
        ("< 600", False, set()),
        (">= min_score", False, {"min_score"}),
        ("[lower..upper]", False, {"lower", "upper"}),
        ("? * 2 > limit", False, {"limit"}),
        ('not("A", code)', False, {"code"}),
    ],
)
def test_is_any_and_names(text: str, is_any: bool, names: set[str]) -> None:
    tests = compile_unary_tests(text)
    assert tests.is_any is is_any
    assert tests.names == frozenset(names)
    assert tests.text == text


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("[18..60", "expected ']' or ')' to close the range, got end of expression", 8),
        ("[18..", "expected the end of the range, got end of expression", 6),
        ("<", "expected a value after '<', got end of expression", 2),
        ("<= > 5", "expected a value after '<=', got '>'", 4),
        ("== 5", "'==' is not FEEL, use '='", 1),
        ('"A",', "unexpected end of expression", 5),
        (",", "unexpected ','", 1),
        ('not("A"', "expected ')' to close 'not(', got end of expression", 8),
        ('not("A") "B"', "expected end of unary tests after 'not(...)', got string \"B\"", 10),
        ("not()", "unexpected ')'", 5),
        ('"A" "B"', "expected ',' or end of unary tests, got string \"B\"", 5),
        ("- -", "unexpected end of expression", 4),
        ("'A'", "strings use double quotes", 1),
        ("foo(?)", "unknown function 'foo'", 1),
    ],
)
def test_syntax_errors_point_at_the_token(text: str, message: str, column: int) -> None:
    with pytest.raises(FeelSyntaxError) as caught:
        compile_unary_tests(text)
    assert caught.value.message == message
    assert caught.value.position == column - 1
    assert str(caught.value) == f"{message} at column {column}"
    assert caught.value.text == text
