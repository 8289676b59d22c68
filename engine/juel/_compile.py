"""Compiles the tree into nested closures ``fn(context) -> value``.

Compilation does the work once so evaluation does little: subtrees without variables are
evaluated now (a constant that fails, like ``1 / 0``, is left to fail at evaluation, where
Camunda fails too), and comparisons and arithmetic get an inline fast path for ``int``/``float``
operands. No Python source is generated and no attribute of a user object is read: values are
reached only through ``Mapping.get`` and list indexing.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from loanflow.engine.juel import _ast as A
from loanflow.engine.juel._errors import JuelEvalError
from loanflow.engine.juel._values import (
    arith,
    compare,
    describe,
    equals,
    get_key,
    is_empty,
    negate,
    to_bool,
)

__all__ = ["Compiled", "Compiler", "Fn"]

Fn = Callable[[Mapping[str, Any]], Any]
_EMPTY: Final[Mapping[str, Any]] = {}
_MISSING: Final = object()
_ORDER: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}
_FAST: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
}
_SIMPLE: Final = (int, float, str, bool)


@dataclass(frozen=True, slots=True)
class Compiled:
    """``name`` is set for a plain root variable so callers can inline the look-up."""

    fn: Fn
    const: bool = False
    value: Any = None
    name: str | None = None
    pos: int = 0


def constant(value: Any) -> Compiled:
    return Compiled(lambda ctx: value, True, value)


def unknown(name: str, pos: int) -> JuelEvalError:
    return JuelEvalError(f"unknown variable '{name}'", "", pos)


class Compiler:
    def __init__(self) -> None:
        self.names: set[str] = set()

    def fold(self, fn: Fn, parts: list[Compiled]) -> Compiled:
        """Evaluate now when nothing varies, so evaluation returns a stored constant."""
        if not all(p.const for p in parts):
            return Compiled(fn)
        try:
            return constant(fn(_EMPTY))
        except (ArithmeticError, ValueError):
            return Compiled(fn)

    def expr(self, node: A.Node) -> Compiled:
        method: Callable[[Any], Compiled] = getattr(self, "_" + type(node).__name__.lower())
        return method(node)

    def _const(self, node: A.Const) -> Compiled:
        return constant(node.value)

    def _name(self, node: A.Name) -> Compiled:
        name, pos = node.name, node.pos
        self.names.add(name)

        def lookup(ctx: Mapping[str, Any]) -> Any:
            value = ctx.get(name, _MISSING)
            if value is _MISSING:
                raise unknown(name, pos)
            return value

        return Compiled(lookup, name=name, pos=pos)

    def lenient(self, node: A.Node) -> Compiled:
        """The operand of ``empty``: a missing root variable is null rather than an error."""
        if isinstance(node, A.Name):
            name = node.name
            self.names.add(name)
            return Compiled(lambda ctx: ctx.get(name))
        if isinstance(node, A.Path) and isinstance(node.base, A.Name):
            return self._path(node, self.lenient(node.base))
        return self.expr(node)

    def _getvariable(self, node: A.GetVariable) -> Compiled:
        name = node.name
        self.names.add(name)
        return Compiled(lambda ctx: ctx.get(name))

    def _path(self, node: A.Path, base: Compiled | None = None) -> Compiled:
        start = base or self.expr(node.base)
        parts = [start]
        steps: list[tuple[Any, Fn | None, bool, int]] = []
        for step in node.steps:
            if step.index is None:
                steps.append((step.key, None, True, step.pos))
                continue
            index = self.expr(step.index)
            parts.append(index)
            if index.const:
                steps.append((index.value, None, False, step.pos))
            else:
                steps.append((None, index.fn, False, step.pos))
        base_fn = start.fn

        def path(ctx: Mapping[str, Any]) -> Any:
            value = base_fn(ctx)
            for const_key, index_fn, dot, pos in steps:
                key = const_key if index_fn is None else index_fn(ctx)
                if type(value) is dict and type(key) is str:
                    value = value.get(key)
                elif dot and value is not None and not isinstance(value, Mapping):
                    raise JuelEvalError(
                        f"cannot read property '{key}' of {describe(value)}", "", pos
                    )
                else:
                    value = get_key(value, key, pos)
            return value

        return self.fold(path, parts)

    def _unary(self, node: A.Unary) -> Compiled:
        pos = node.pos
        if node.op == "empty":
            part = self.lenient(node.operand)
            fn = part.fn
            return self.fold(lambda ctx: is_empty(fn(ctx)), [part])
        part = self.expr(node.operand)
        fn = part.fn
        if node.op == "!":
            return self.fold(lambda ctx: not to_bool(fn(ctx), pos), [part])

        def minus(ctx: Mapping[str, Any]) -> Any:
            value = fn(ctx)
            tv = type(value)
            return -value if tv is int or tv is float else negate(value, pos)

        return self.fold(minus, [part])

    def _arith(self, node: A.Arith) -> Compiled:
        first = self.expr(node.first)
        rest = [(op, pos, self.expr(operand)) for op, pos, operand in node.rest]
        parts = [first] + [p for _, _, p in rest]
        if len(rest) == 1:
            op, pos, right = rest[0]
            return self.fold(_binary(op, pos, first.fn, right.fn), parts)
        first_fn = first.fn
        steps = [(op, pos, p.fn) for op, pos, p in rest]

        def chain(ctx: Mapping[str, Any]) -> Any:
            value = first_fn(ctx)
            for op, pos, fn in steps:
                value = arith(op, value, fn(ctx), pos)
            return value

        return self.fold(chain, parts)

    def _compare(self, node: A.Compare) -> Compiled:
        left, right = self.expr(node.left), self.expr(node.right)
        return self.fold(_compare_fn(node.op, node.pos, left, right), [left, right])

    def _logic(self, node: A.Logic) -> Compiled:
        parts = [self.expr(item) for item in node.items]
        items = [(p.fn, item.pos) for p, item in zip(parts, node.items, strict=True)]
        decisive = node.op == "||"

        def logic(ctx: Mapping[str, Any]) -> bool:
            for fn, pos in items:
                value = fn(ctx)
                if value is not True and value is not False:
                    value = to_bool(value, pos)
                if value is decisive:
                    return decisive
            return not decisive

        return self.fold(logic, parts)

    def _cond(self, node: A.Cond) -> Compiled:
        cond, then, other = self.expr(node.cond), self.expr(node.then), self.expr(node.else_)
        pos = node.cond.pos
        if cond.const:
            try:
                return then if to_bool(cond.value, pos) else other
            except JuelEvalError:
                pass
        c, t, e = cond.fn, then.fn, other.fn
        return Compiled(lambda ctx: t(ctx) if to_bool(c(ctx), pos) else e(ctx))


def _binary(op: str, pos: int, a: Fn, b: Fn) -> Fn:
    fast = _FAST.get(op)
    if fast is None:
        return lambda ctx: arith(op, a(ctx), b(ctx), pos)

    def binary(ctx: Mapping[str, Any]) -> Any:
        x, y = a(ctx), b(ctx)
        tx, ty = type(x), type(y)
        if (tx is int or tx is float) and (ty is int or ty is float):
            return fast(x, y)
        return arith(op, x, y, pos)

    return binary


def _compare_fn(op: str, pos: int, left: Compiled, right: Compiled) -> Fn:
    """``left op right``; a variable against a constant is one look-up and one comparison."""
    a, b = left.fn, right.fn
    if op in ("==", "!="):
        want = op == "=="
        if right.const and type(right.value) in _SIMPLE:
            c, tc = right.value, type(right.value)

            def eq_const(ctx: Mapping[str, Any]) -> bool:
                value = a(ctx)
                if type(value) is tc:
                    return (value == c) is want
                return equals(value, c, pos) is want

            return eq_const
        return lambda ctx: equals(a(ctx), b(ctx), pos) is want
    order = _ORDER[op]
    if right.const and type(right.value) in (int, float):
        c, name, name_pos = right.value, left.name, left.pos
        if name is not None:

            def var_vs_number(ctx: Mapping[str, Any]) -> bool:
                value = ctx.get(name, _MISSING)
                tv = type(value)
                if tv is int or tv is float:
                    return order(value, c)  # type: ignore[no-any-return]
                if value is _MISSING:
                    raise unknown(name, name_pos)
                return compare(op, value, c, pos)

            return var_vs_number

        def vs_number(ctx: Mapping[str, Any]) -> bool:
            value = a(ctx)
            tv = type(value)
            if tv is int or tv is float:
                return order(value, c)  # type: ignore[no-any-return]
            return compare(op, value, c, pos)

        return vs_number
    return lambda ctx: compare(op, a(ctx), b(ctx), pos)
