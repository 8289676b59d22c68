"""Turns a whole input-entry cell into one ``test(context, input) -> bool`` closure.

Positive tests are three-valued inside (``not(< 0)`` on a null input must stay unmatched, since
``null < 0`` is null and ``not(null)`` is null), but an un-negated cell only asks "true or
not", so the shapes decision tables use most (``< 600``, ``[18..60]``, ``"A","B"``,
``not("X")``) get closures that return a bool straight away.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any, Final

from loanflow.engine.feel import _ast as A
from loanflow.engine.feel._compile import ORDER_OPS, Compiler, Fn, any3
from loanflow.engine.feel._values import Range, feel_eq, ordered

__all__ = ["compile_tests"]

TestFn = Callable[[Mapping[str, Any], Any], bool]


def _always(ctx: Mapping[str, Any], q: Any) -> bool:
    return True


def compile_tests(node: A.UnaryTestsNode, compiler: Compiler) -> TestFn:
    if node.is_any:
        return _always
    tests = node.tests
    if node.negated:
        if len(tests) == 1:
            value = _constant_of(tests[0], compiler)
            if type(value) is str:
                return _not_string(value)
        fns = [compiler.test(t).fn for t in tests]
        return lambda ctx, q: any3(fn(ctx, q) for fn in fns) is False
    if len(tests) == 1:
        return _single(tests[0], compiler)
    parts = [compiler.test(t) for t in tests]
    fns = [p.fn for p in parts]
    constants = [_constant_of(t, compiler) for t in tests]
    if all(type(c) is str for c in constants):
        return _one_of(frozenset(constants), str, fns)
    if all(type(c) in (int, float) for c in constants):
        return _one_of(frozenset(constants), float, fns)
    return lambda ctx, q: any(fn(ctx, q) is True for fn in fns)


_NOT_CONST: Final = object()


def _constant_of(test: A.Test, compiler: Compiler) -> Any:
    """The value a plain ``"A"``-style test compares with, or a marker when it is not one."""
    if not isinstance(test, A.TestExpr) or test.uses_input:
        return _NOT_CONST
    part = compiler.expr(test.expr)
    return part.value if part.const else _NOT_CONST


def _one_of(values: frozenset[Any], kind: type, fns: list[Fn]) -> TestFn:
    def slow(ctx: Mapping[str, Any], q: Any) -> bool:
        return any(fn(ctx, q) is True for fn in fns)

    if kind is str:
        return lambda ctx, q: q in values if type(q) is str else slow(ctx, q)

    def numbers(ctx: Mapping[str, Any], q: Any) -> bool:
        tq = type(q)
        return q in values if tq is int or tq is float else slow(ctx, q)

    return numbers


def _not_string(value: str) -> TestFn:
    return lambda ctx, q: q != value if type(q) is str else feel_eq(q, value) is False


def _single(test: A.Test, compiler: Compiler) -> TestFn:
    if isinstance(test, A.TestCompare) and test.op in ORDER_OPS:
        operand = compiler.expr(test.operand)
        if operand.const and type(operand.value) in (int, float):
            return _against_number(test.op, operand.value)
        if operand.name is not None:
            return _against_variable(test.op, operand.name)
    value = _constant_of(test, compiler)
    if type(value) is str:
        return lambda ctx, q: q == value if type(q) is str else feel_eq(q, value) is True
    if (
        isinstance(value, Range)
        and type(value.lo) in (int, float)
        and type(value.hi)
        in (
            int,
            float,
        )
    ):
        return _in_number_range(value)
    fn = compiler.test(test).fn
    return lambda ctx, q: fn(ctx, q) is True


def _against_number(op: str, c: int | float) -> TestFn:
    order = ORDER_OPS[op]

    def slow(q: Any) -> bool:
        return ordered(order, q, c) is True

    def lt(ctx: Mapping[str, Any], q: Any) -> bool:
        tq = type(q)
        return q < c if tq is int or tq is float else slow(q)

    def le(ctx: Mapping[str, Any], q: Any) -> bool:
        tq = type(q)
        return q <= c if tq is int or tq is float else slow(q)

    def gt(ctx: Mapping[str, Any], q: Any) -> bool:
        tq = type(q)
        return q > c if tq is int or tq is float else slow(q)

    def ge(ctx: Mapping[str, Any], q: Any) -> bool:
        tq = type(q)
        return q >= c if tq is int or tq is float else slow(q)

    return {"<": lt, "<=": le, ">": gt, ">=": ge}[op]


def _against_variable(op: str, name: str) -> TestFn:
    """``>= min_score``: tenant thresholds read from the context on each call."""
    order = ORDER_OPS[op]

    def test(ctx: Mapping[str, Any], q: Any) -> bool:
        c = ctx.get(name)
        tq, tc = type(q), type(c)
        if (tq is int or tq is float) and (tc is int or tc is float):
            return bool(order(q, c))
        return ordered(order, q, c) is True

    return test


def _in_number_range(r: Range) -> TestFn:
    lo, hi = r.lo, r.hi

    def slow(q: Any) -> bool:
        return r.contains(q) is True

    if r.lo_closed and r.hi_closed:

        def closed(ctx: Mapping[str, Any], q: Any) -> bool:
            tq = type(q)
            return lo <= q <= hi if tq is int or tq is float else slow(q)

        return closed
    lo_op = operator.ge if r.lo_closed else operator.gt
    hi_op = operator.le if r.hi_closed else operator.lt

    def half_open(ctx: Mapping[str, Any], q: Any) -> bool:
        tq = type(q)
        if tq is int or tq is float:
            return bool(lo_op(q, lo) and hi_op(q, hi))
        return slow(q)

    return half_open
