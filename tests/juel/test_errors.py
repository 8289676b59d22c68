"""Syntax and evaluation errors with positions, limits, and fuzzing: only JUEL errors escape."""

from __future__ import annotations

import contextlib
import random
from decimal import Decimal
from typing import Any

import pytest

from loanflow.engine.juel import (
    JuelError,
    JuelEvalError,
    JuelSyntaxError,
    compile_expression,
)


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("${}", "expected an expression, got '}'", 3),
        ("${", "expected an expression, got end of text", 3),
        ("${a", "expected '}' to close '${', got end of text", 4),
        ("#{a + 1", "expected '}' to close '#{', got end of text", 8),
        ("Loan ${id", "expected '}' to close '${', got end of text", 10),
        ("${a b}", "expected an operator or '}', got 'b'", 5),
        ("${1 +}", "expected an expression, got '}'", 6),
        ("${(1 + 2}", "expected ')' to close '(', got '}'", 9),
        ("${(1 + 2))}", "expected an operator or '}', got ')'", 10),
        ("${items[0}", "expected ']' to close '[', got '}'", 10),
        ("${a ? b}", "expected ':' after 'a ? b' in 'a ? b : c', got '}'", 8),
        ("${a = 1}", "'=' is not supported, compare with '=='", 5),
        ("${a & b}", "'&' is not JUEL, use '&&' or 'and'", 5),
        ("${a | b}", "'|' is not JUEL, use '||' or 'or'", 5),
        ("${a.}", "expected a property name after '.', got '}'", 5),
        ("${a.1}", "expected an operator or '}', got '.1'", 4),
        ("${'abc}", "unterminated string, expected a closing '", 3),
        ('${"abc}', 'unterminated string, expected a closing "', 3),
        ("${1 < a < 10}", "comparisons cannot be chained, use 'a < b && b < c'", 9),
        ("${a == b != c}", "equality tests cannot be chained, add parentheses", 10),
        ("${a lt b gt c}", "comparisons cannot be chained, use 'a < b && b < c'", 10),
        ("${a instanceof B}", "'instanceof' is not supported", 5),
        ("${foo(1)}", "function calls are not supported", 3),
        ("${fn:upper(a)}", "function calls are not supported", 3),
        ("${a.size()}", "method calls are not supported", 5),
        ("${execution.getVariableLocal('a')}", "method calls are not supported", 13),
        ("${customer.getName()}", "method calls are not supported", 12),
        ("${items[0]()}", "method calls are not supported", 11),
        (
            "${execution.getVariable(a)}",
            "execution.getVariable() takes one quoted variable name",
            25,
        ),
        (
            "${execution.getVariable('a', 'b')}",
            "execution.getVariable() takes one quoted variable name",
            25,
        ),
        ("${x.execution.getVariable('a')}", "method calls are not supported", 15),
        ("${a} #{b}", "cannot mix '${' and '#{' in one text", 6),
        ("${${a}}", "'{' cannot start an expression; '${' and '#{' do not nest", 4),
        ("${1e999}", "number out of range", 3),
        ("${12abc}", "invalid number '12a'", 3),
        ("${" + "9" * 5000 + "}", "number too long", 3),
        ("${a @ b}", "unexpected character '@'", 5),
        ("${a;b}", "unexpected character ';'", 4),
        ("${a ? b : }", "expected an expression, got '}'", 11),
        ("${!}", "expected an expression, got '}'", 4),
        ("${empty}", "expected an expression, got '}'", 8),
        ("${a +* b}", "expected an expression, got '*'", 6),
    ],
)
def test_syntax_error_message_and_position(text: str, message: str, column: int) -> None:
    with pytest.raises(JuelSyntaxError) as caught:
        compile_expression(text)
    error = caught.value
    assert (error.message, error.position) == (message, column - 1)
    assert str(error) == f"{message} at column {column}"
    assert error.text == text
    assert isinstance(error, JuelError)
    assert isinstance(error, ValueError)


CTX: dict[str, Any] = {
    "a": 5,
    "s": "abc",
    "yes": True,
    "items": [1, 2],
    "m": {"k": 1},
    "d": Decimal("1"),
    "obj": object(),
}


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("${missing}", "unknown variable 'missing'", 3),
        ("${missing > 1}", "unknown variable 'missing'", 3),
        ("${a + missing}", "unknown variable 'missing'", 7),
        ("Hello ${missing.name}", "unknown variable 'missing'", 9),
        ("${yes && missing}", "unknown variable 'missing'", 10),
        ("${empty (missing + 1)}", "unknown variable 'missing'", 10),
        ("${s + 1}", "cannot add 'abc'", 5),
        ("${1 + s}", "cannot add 'abc'", 5),
        ("${'x' + 'y'}", "cannot add 'x'", 7),
        ("${s - 1}", "cannot subtract 'abc'", 5),
        ("${s * 1}", "cannot multiply 'abc'", 5),
        ("${s / 1}", "cannot divide 'abc'", 5),
        ("${s mod 1}", "cannot divide 'abc'", 5),
        ("${a + 1 + s}", "cannot add 'abc'", 9),
        ("${-s}", "cannot negate 'abc'", 3),
        ("${yes + 1}", "cannot add true", 7),
        ("${items + 1}", "cannot add a list", 9),
        ("${m * 2}", "cannot multiply a map", 5),
        ("${obj + 1}", "cannot add a object", 7),
        ("${a / 0}", "division by zero", 5),
        ("${a div 0.0}", "division by zero", 5),
        ("${a % 0}", "division by zero", 5),
        ("${d / 0}", "division by zero", 5),
        ("${1 / 0}", "division by zero", 5),
        ("${a == s}", "cannot compare 5 with 'abc'", 5),
        ("${s < 1}", "cannot compare 'abc' with 1", 5),
        ("${yes == 1}", "cannot compare true with 1", 7),
        ("${yes > false}", "cannot compare true with false", 7),
        ("${items < m}", "cannot compare a list with a map", 9),
        ("${a && yes}", "cannot use 5 as a boolean", 3),
        ("${false || items}", "cannot use a list as a boolean", 12),
        ("${!a}", "cannot use 5 as a boolean", 3),
        ("${a ? 1 : 2}", "cannot use 5 as a boolean", 3),
        ("${items[s]}", "list index must be an integer, not 'abc'", 8),
        ("${items[1.0]}", "list index must be an integer, not 1.0", 8),
        ("${items[yes]}", "list index must be an integer, not true", 8),
        ("${items.size}", "cannot read property 'size' of a list", 9),
        ("${s.length}", "cannot read property 'length' of 'abc'", 5),
        ("${obj.__class__}", "cannot read property '__class__' of a object", 7),
        ("${s[0]}", "cannot read 0 of 'abc'", 4),
        ("${m[items]}", "cannot use a list as a key", 4),
    ],
)
def test_eval_error_message_and_position(text: str, message: str, column: int) -> None:
    expr = compile_expression(text)
    with pytest.raises(JuelEvalError) as caught:
        expr(CTX)
    error = caught.value
    assert (error.message, error.position) == (message, column - 1)
    assert error.text == text


def test_long_strings_are_shortened_in_messages() -> None:
    with pytest.raises(JuelEvalError) as caught:
        compile_expression("${s + 1}")({"s": "x" * 100})
    assert caught.value.message == "cannot add '" + "x" * 37 + "...'"


def test_nesting_is_limited_before_python_recursion() -> None:
    assert compile_expression("${" + "(" * 98 + "1" + ")" * 98 + "}")({}) == 1
    for body in (
        "(" * 101 + "1" + ")" * 101,
        "-" * 200 + "1",
        "!" * 200 + "true",
        "not " * 200 + "true",
        "empty " * 200 + "a",
        "a[" * 150 + "0" + "]" * 150,
        "a ? 1 : " * 150 + "2",
    ):
        with pytest.raises(JuelSyntaxError, match="nested more than 100 levels deep"):
            compile_expression("${" + body + "}")


def test_long_flat_chains_are_fine() -> None:
    assert compile_expression("${1" + " + 1" * 2000 + "}")({}) == 2001
    assert compile_expression("${" + " || ".join(["false"] * 500) + " || true}")({}) is True
    assert compile_expression("${a" + ".b" * 1000 + "}")({"a": None}) is None
    assert compile_expression("${a}" * 2000)({"a": 1}) == "1" * 2000


def test_text_length_is_limited() -> None:
    with pytest.raises(JuelSyntaxError) as caught:
        compile_expression("${1}" + " " * 10_000)
    assert caught.value.message == "text longer than 10000 characters"
    assert caught.value.position == 10_000
    assert compile_expression("${1}" + " " * 9_996)({}) == 1


def test_non_text_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        compile_expression(None)  # type: ignore[arg-type]


def test_unexpected_failures_in_user_mappings_become_eval_errors() -> None:
    class Broken(dict[str, Any]):
        def get(self, key: str, default: Any = None) -> Any:
            raise RuntimeError("boom")

    with pytest.raises(JuelEvalError) as caught:
        compile_expression("${a + 1}")(Broken())
    assert caught.value.message == "evaluation failed: RuntimeError: boom"
    assert caught.value.position is None


def test_context_must_be_a_mapping() -> None:
    with pytest.raises(JuelEvalError):
        compile_expression("${a}")(None)  # type: ignore[arg-type]


_ATOMS = [
    "${",
    "#{",
    "}",
    "\\",
    "$",
    "#",
    "{",
    "1",
    "2.5",
    ".5",
    "1e3",
    "0",
    "-",
    "+",
    "*",
    "/",
    "%",
    "div",
    "mod",
    "(",
    ")",
    "[",
    "]",
    ".",
    ",",
    "?",
    ":",
    "<",
    "<=",
    ">",
    ">=",
    "==",
    "!=",
    "=",
    "!",
    "&&",
    "||",
    "&",
    "|",
    "lt",
    "gt",
    "le",
    "ge",
    "eq",
    "ne",
    "and",
    "or",
    "not",
    "empty",
    "instanceof",
    "'a'",
    '"b c"',
    "'",
    '"',
    "true",
    "false",
    "null",
    "a",
    "s",
    "n",
    "m",
    "items",
    "d",
    "missing",
    "execution",
    "getVariable",
    "execution.getVariable('a')",
    "月收入",
    " ",
    "\n",
    "text ",
]
_FUZZ_CTX: dict[str, Any] = {
    "a": 3,
    "s": "7",
    "n": None,
    "m": {"a": 1, "k": [1, 2]},
    "items": [0, "x", None, [1]],
    "d": Decimal("0"),
    "true": 1,
}


def _check(text: str) -> None:
    try:
        expr = compile_expression(text)
    except JuelSyntaxError:
        return
    with contextlib.suppress(JuelEvalError):
        expr(_FUZZ_CTX)


def test_fuzz_token_soup_raises_only_juel_errors() -> None:
    rng = random.Random(20240601)
    for _ in range(6000):
        atoms = rng.choices(_ATOMS, k=rng.randint(1, 14))
        body = " ".join(atoms) if rng.random() < 0.5 else "".join(atoms)
        text = "${" + body + "}" if rng.random() < 0.7 else body
        _check(text)


def test_fuzz_mutations_raise_only_juel_errors() -> None:
    seeds = [
        "${amount > 50000}",
        "${approved && !blacklisted}",
        "${empty comments}",
        "${customer.address.city == 'Enshi'}",
        "${items[0]}",
        "${map['key']}",
        "#{x}",
        "Loan ${id} for ${name}",
        "${a ? b : c ? 1 : 2.5e3}",
        '${execution.getVariable("x") mod 3 ne 0 or not empty y}',
    ]
    alphabet = "${}#[]().,'\"\\!&|=<>?:+-*/% abcnuletmpy0123456789eE_月\n"
    rng = random.Random(7)
    for _ in range(6000):
        chars = list(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(chars) + 1)
            op = rng.random()
            if op < 0.4 and chars:
                del chars[min(i, len(chars) - 1)]
            elif op < 0.8:
                chars.insert(i, rng.choice(alphabet))
            elif chars:
                chars[min(i, len(chars) - 1)] = rng.choice(alphabet)
        _check("".join(chars))


def test_fuzz_random_unicode_raises_only_juel_errors() -> None:
    rng = random.Random(99)
    for _ in range(2000):
        body = "".join(chr(rng.randint(0, 0x3000)) for _ in range(rng.randint(0, 12)))
        _check("${" + body + "}")
        _check(body)
