"""Syntax errors with positions, limits, and fuzzing: only FEEL errors ever escape."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from loanflow.engine.feel import (
    FeelError,
    FeelEvalError,
    FeelSyntaxError,
    compile_expression,
    compile_unary_tests,
)


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        (")", "unexpected ')'", 1),
        ("(1 + 2))", "unexpected ')'", 8),
        ("[1..10", "expected ']' or ')' to close the range, got end of expression", 7),
        ("x in [1..10}", "expected ']' or ')' to close the range, got '}'", 12),
        ("foo(1)", "unknown function 'foo'", 1),
        ("1 + foo(1)", "unknown function 'foo'", 5),
        ("count(1, 2, 3)", "'count' takes 1 argument, got 3", 1),
        ("x == 1 and y", "'==' is not FEEL, use '='", 3),
        ("x = 1 && y", "'&&' is not FEEL, use 'and'", 7),
        ("x || y", "'||' is not FEEL, use 'or'", 3),
        ("'x'", "strings use double quotes", 1),
        ("“x”", "strings use straight double quotes", 1),
        ('"abc', "unterminated string", 1),
        (r'"\u12"', "invalid \\u escape, expected 4 hex digits", 2),
        ("/* x", "unterminated comment", 1),
        ("1 +", "unexpected end of expression", 4),
        ("", "unexpected end of expression", 1),
        ("a b", "unexpected 'b'", 3),
        ("18 <= age <= 60", "comparisons cannot be chained, use 'x between a and b' or 'and'", 11),
        (
            "< 5",
            "'<' needs a left operand (a unary test like '< 5' only works in input "
            "entries or after 'in')",
            1,
        ),
        ("? > 1", "'?' is only allowed in unary tests and after 'in'", 1),
        ("x.(", "expected a name after '.', got '('", 3),
        ("{a: 1, a: 2}", "duplicate context key 'a'", 8),
        ("{a 1}", "expected ':' after the context key 'a', got '1'", 4),
        ("{1: 2}", "expected a context key, got '1'", 2),
        ('substring(string: "x", start position: 1)', "named arguments are not supported", 11),
        ("x[1](2)", "only built-in functions can be called", 5),
        ("if a then b", "expected 'else' after 'if ... then ...', got end of expression", 12),
        ("if a else b", "expected 'then' after the condition of 'if', got 'else'", 6),
        ("x between 1 or 2", "expected 'and' in 'between ... and ...', got 'or'", 13),
        ("for x in l return x", "'for' expressions are not supported", 1),
        ("some x in l satisfies x > 1", "'some' expressions are not supported", 1),
        ("1e999", "number out of range", 1),
        ("12abc", "invalid number '12a'", 1),
        ("1 # 2", "unexpected character '#'", 3),
        ("]1..2", "expected ']' or ')' to close the range, got end of expression", 6),
        ("]1, 2[", "expected '..' in the range, got ','", 3),
        ("[1, 2", "expected ']' to close the list, got end of expression", 6),
        ("(1", "expected ')' to close '(', got end of expression", 3),
        (
            'date("2024-01-01"',
            "expected ')' to close the arguments of 'date', got end of expression",
            18,
        ),
    ],
)
def test_syntax_error_message_and_position(text: str, message: str, column: int) -> None:
    with pytest.raises(FeelSyntaxError) as caught:
        compile_expression(text)
    error = caught.value
    assert (error.message, error.position) == (message, column - 1)
    assert str(error) == f"{message} at column {column}"
    assert error.text == text
    assert isinstance(error, FeelError)
    assert isinstance(error, ValueError)


def test_nesting_is_limited_before_python_recursion() -> None:
    assert compile_expression("(" * 99 + "1" + ")" * 99)({}) == 1
    for text in (
        "(" * 101 + "1" + ")" * 101,
        "-" * 200 + "1",
        "[" * 150 + "]" * 150,
        "not(" * 150 + "true" + ")" * 150,
        "x" + "[1]" * 150,
        "if " * 150 + "a",
    ):
        with pytest.raises(FeelSyntaxError, match="nested more than 100 levels deep"):
            compile_expression(text)
    with pytest.raises(FeelSyntaxError, match="nested more than 100 levels deep"):
        compile_unary_tests("(" * 120 + "1" + ")" * 120)


def test_long_flat_chains_are_fine() -> None:
    assert compile_expression("1" + " + 1" * 2000)({}) == 2001
    assert compile_expression(" or ".join(["false"] * 500) + " or true")({}) is True
    assert compile_expression("a" + ".b" * 500)({"a": None}) is None
    assert compile_unary_tests(", ".join(str(i) for i in range(1000)))(999, {}) is True


def test_text_length_is_limited() -> None:
    with pytest.raises(FeelSyntaxError) as caught:
        compile_expression("1" + " " * 10_000)
    assert caught.value.message == "expression longer than 10000 characters"
    assert compile_expression("1" + " " * 9_999)({}) == 1


def test_non_text_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        compile_expression(None)  # type: ignore[arg-type]


def test_unexpected_failures_in_user_mappings_become_eval_errors() -> None:
    class Broken(dict[str, Any]):
        def get(self, key: str, default: Any = None) -> Any:
            raise RuntimeError("boom")

    with pytest.raises(FeelEvalError) as caught:
        compile_expression("a + 1")(Broken())
    assert caught.value.message == "evaluation failed: RuntimeError: boom"
    with pytest.raises(FeelEvalError):
        compile_unary_tests("< a")(1, Broken())


_ATOMS = [
    "1",
    "2.5",
    ".5",
    "-",
    "+",
    "*",
    "/",
    "**",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ".",
    "..",
    ":",
    "?",
    "<",
    "<=",
    ">",
    ">=",
    "=",
    "!=",
    '"a"',
    '"b c"',
    "true",
    "false",
    "null",
    "and",
    "or",
    "not",
    "if",
    "then",
    "else",
    "in",
    "between",
    "x",
    "y",
    "l",
    "m",
    "item",
    "月收入",
    "date",
    "time",
    "date and time",
    "string length",
    "count",
    "sum",
    "min",
    "substring",
    "matches",
    "duration",
    '"P1D"',
    '"2024-01-01"',
    "get or else",
    "list contains",
    "decimal",
    " ",
    "1e3",
    "'",
    "==",
    "#",
    "\\",
    '"',
    "sort",
    "number",
    "append",
    "distinct values",
]
_CONTEXTS: list[dict[str, Any]] = [
    {},
    {"x": 1, "y": "a", "l": [1, 2, 3], "m": {"x": 2}},
    {"x": None, "y": Decimal("1.5"), "l": [{"x": 1}, None, "s"], "m": date(2024, 1, 1)},
    {"x": True, "y": [1, [2]], "l": "text", "m": [date(2024, 1, 1)], "月收入": 10**30},
]


def _check(text: str) -> None:
    for compile_ in (compile_expression, compile_unary_tests):
        try:
            compiled = compile_(text)
        except FeelSyntaxError as exc:
            assert exc.position is None or 0 <= exc.position <= len(text), text
            continue
        for ctx in _CONTEXTS:
            try:
                if compile_ is compile_unary_tests:
                    result = compiled(ctx.get("x"), ctx)  # type: ignore[call-arg]
                    assert type(result) is bool, text
                else:
                    compiled(ctx)  # type: ignore[call-arg]
            except FeelEvalError:
                pass


def test_fuzz_token_soup_raises_only_feel_errors() -> None:
    rng = random.Random(20240531)
    for _ in range(3000):
        text = " ".join(rng.choice(_ATOMS) for _ in range(rng.randint(1, 12)))
        _check(text)


def test_fuzz_random_characters_raise_only_feel_errors() -> None:
    rng = random.Random(7)
    alphabet = "abxy019.,:;()[]{}<>=!?+-*/\"\\ \n月é$#_'’"
    for _ in range(3000):
        _check("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20))))


def test_fuzz_mutations_of_valid_cells_raise_only_feel_errors() -> None:
    rng = random.Random(99)
    seeds = [
        "< 600",
        "[18..60]",
        "]0..50000]",
        '"A","B"',
        'not("A","B")',
        "? * 2 > limit",
        'date("2024-01-01")',
        "amount * 0.3 + income",
        "l[item > 1].x",
        "{a: 1, b: a + 1}",
        "if x > 1 then sum(l) else count(l)",
        "x in (1, 2) or y between 1 and 5",
        'substring("abc", 2) + string(x)',
        "min(l) + max([1, 2])",
        "decimal(x / 3, 2)",
    ]
    for _ in range(3000):
        chars = list(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            pos = rng.randrange(len(chars) + 1)
            if chars and rng.random() < 0.5:
                del chars[min(pos, len(chars) - 1)]
            else:
                chars.insert(pos, rng.choice('()[]."<,=-?x1'))
        _check("".join(chars))


def test_words_that_only_follow_unsupported_constructs_are_names() -> None:
    from loanflow.engine.feel import compile_expression

    context = {"external": {"credit": 3}, "return": 1, "satisfies": 2}
    assert compile_expression("external.credit + return + satisfies")(context) == 6
