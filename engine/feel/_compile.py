"""Compiles the tree into nested closures ``fn(context, input) -> value``.

Compilation does the work once so evaluation does little: subtrees without variables are
evaluated now (``date("2024-01-01")`` becomes a constant, and its errors become syntax errors
with a position), and common shapes get closures with an inline fast path for ``int``/``float``
operands. No Python source is generated and no attribute of a user object is read: values are
reached only through ``Mapping.get`` and the date/duration parts listed in ``_values``.
"""

from __future__ import annotations

import copy
import operator
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from loanflow.engine.feel import _ast as A
from loanflow.engine.feel._builtins import BUILTINS
from loanflow.engine.feel._errors import FeelEvalError, FeelSyntaxError
from loanflow.engine.feel._values import (
    Range,
    add,
    div,
    feel_eq,
    get_key,
    is_list,
    is_number,
    mul,
    neg,
    ordered,
    power,
    sub,
)

__all__ = ["EMPTY", "Compiled", "Compiler", "Fn", "match_value", "membership"]

Fn = Callable[[Mapping[str, Any], Any], Any]
EMPTY: Final[Mapping[str, Any]] = {}
ORDER_OPS: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_ARITH: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "+": add,
    "-": sub,
    "*": mul,
    "/": div,
    "**": power,
}
_FAST: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
}


@dataclass(frozen=True, slots=True)
class Compiled:
    """``name`` is set for a plain variable so callers can inline the ``ctx.get``."""

    fn: Fn
    const: bool = False
    value: Any = None
    name: str | None = None


def constant(value: Any) -> Compiled:
    if isinstance(value, (list, dict)):
        # A caller may mutate what it gets back; the compiled constant must not change.
        return Compiled(lambda ctx, q: copy.deepcopy(value), True, value)
    return Compiled(lambda ctx, q: value, True, value)


class _ItemScope(Mapping[str, Any]):
    """Names inside a filter: ``item``, then the element's keys, then the outer context."""

    __slots__ = ("item", "parent")

    def __init__(self, item: Any, parent: Mapping[str, Any]) -> None:
        self.item = item
        self.parent = parent

    def get(self, key: str, default: Any = None) -> Any:
        if key == "item":
            return self.item
        if isinstance(self.item, Mapping) and key in self.item:
            return self.item[key]
        return self.parent.get(key, default)

    def __getitem__(self, key: str) -> Any:
        missing = object()
        value = self.get(key, missing)
        if value is missing:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        keys = {"item", *self.parent}
        if isinstance(self.item, Mapping):
            keys.update(str(k) for k in self.item)
        return iter(keys)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _LocalScope(_ItemScope):
    """Entries of a context literal being built, visible to the entries after them."""

    def get(self, key: str, default: Any = None) -> Any:
        if key in self.item:
            return self.item[key]
        return self.parent.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter({*self.item, *self.parent})


def match_value(q: Any, v: Any) -> bool | None:
    """A unary test's expression result ``v`` against the input ``q`` (DMN 1.3 rules)."""
    if isinstance(v, Range):
        return v.contains(q)
    if is_list(v):
        if is_list(q) and feel_eq(q, v) is True:
            return True
        return membership(q, v)
    return feel_eq(q, v)


def membership(q: Any, items: Any) -> bool | None:
    seen_null = False
    for item in items:
        found = item.contains(q) if isinstance(item, Range) else feel_eq(q, item)
        if found:
            return True
        if found is None:
            seen_null = True
    return None if seen_null else False


def _index(items: Any, position: Any) -> Any:
    if not is_number(position) or position != int(position):
        return None
    i = int(position)
    if i > 0 and i <= len(items):
        return items[i - 1]
    if i < 0 and -i <= len(items):
        return items[i]
    return None


def any3(results: Iterator[bool | None]) -> bool | None:
    seen_null = False
    for r in results:
        if r is True:
            return True
        if r is not False:
            seen_null = True
    return None if seen_null else False


class Compiler:
    def __init__(self, text: str) -> None:
        self.text = text
        self.names: set[str] = set()
        self.filter_depth = 0
        self.locals: list[set[str]] = []

    def error(self, message: str, pos: int) -> FeelSyntaxError:
        return FeelSyntaxError(message, self.text, pos)

    def fold(self, pos: int, fn: Fn, parts: list[Compiled], pure: bool = True) -> Compiled:
        """Evaluate now when nothing varies, so evaluation returns a stored constant."""
        if not pure or not all(p.const for p in parts):
            return Compiled(fn)
        try:
            return constant(fn(EMPTY, None))
        except FeelEvalError as exc:
            raise self.error(exc.message, pos if exc.position is None else exc.position) from None

    def expr(self, node: A.Node) -> Compiled:
        method: Callable[[Any], Compiled] = getattr(self, "_" + type(node).__name__.lower())
        return method(node)

    def _const(self, node: A.Const) -> Compiled:
        return constant(node.value)

    def _name(self, node: A.Name) -> Compiled:
        name = node.name
        if self.filter_depth == 0 and not any(name in scope for scope in self.locals):
            self.names.add(name)
        return Compiled(lambda ctx, q: ctx.get(name), name=name if not self.filter_depth else None)

    def _input(self, node: A.Input) -> Compiled:
        return Compiled(lambda ctx, q: q)

    def _path(self, node: A.Path) -> Compiled:
        base = self.expr(node.base).fn
        keys = node.keys

        def path(ctx: Mapping[str, Any], q: Any) -> Any:
            value = base(ctx, q)
            for key in keys:
                value = value.get(key) if type(value) is dict else get_key(value, key)
            return value

        return Compiled(path)

    def _filter(self, node: A.Filter) -> Compiled:
        base = self.expr(node.base)
        self.filter_depth += 1
        cond = self.expr(node.cond)
        self.filter_depth -= 1
        items_fn, cond_fn = base.fn, cond.fn

        def items_of(ctx: Mapping[str, Any], q: Any) -> Any:
            items = items_fn(ctx, q)
            return items if items is None or is_list(items) else [items]

        if cond.const and is_number(cond.value):
            position = cond.value
            return self.fold(
                node.pos, lambda ctx, q: _index(items_of(ctx, q) or [], position), [base]
            )

        def filtered(ctx: Mapping[str, Any], q: Any) -> Any:
            items = items_of(ctx, q)
            if items is None:
                return None
            kept = []
            for item in items:
                verdict = cond_fn(_ItemScope(item, ctx), q)
                if verdict is True:
                    kept.append(item)
                elif is_number(verdict):
                    return _index(items, verdict)
            return kept

        return self.fold(node.pos, filtered, [base, cond])

    def _listexpr(self, node: A.ListExpr) -> Compiled:
        parts = [self.expr(item) for item in node.items]
        fns = [p.fn for p in parts]
        return self.fold(node.pos, lambda ctx, q: [f(ctx, q) for f in fns], parts)

    def _contextexpr(self, node: A.ContextExpr) -> Compiled:
        bound: set[str] = set()
        self.locals.append(bound)
        entries: list[tuple[str, Fn]] = []
        parts = []
        for key, value in node.entries:
            part = self.expr(value)
            parts.append(part)
            entries.append((key, part.fn))
            bound.add(key)
        self.locals.pop()

        def build(ctx: Mapping[str, Any], q: Any) -> dict[str, Any]:
            out: dict[str, Any] = {}
            scope = _LocalScope(out, ctx)
            for key, fn in entries:
                out[key] = fn(scope, q)
            return out

        return self.fold(node.pos, build, parts)

    def _rangeexpr(self, node: A.RangeExpr) -> Compiled:
        lo, hi = self.expr(node.lo), self.expr(node.hi)
        lo_fn, hi_fn, lo_closed, hi_closed = lo.fn, hi.fn, node.lo_closed, node.hi_closed
        return self.fold(
            node.pos,
            lambda ctx, q: Range(lo_fn(ctx, q), hi_fn(ctx, q), lo_closed, hi_closed),
            [lo, hi],
        )

    def _neg(self, node: A.Neg) -> Compiled:
        part = self.expr(node.operand)
        fn = part.fn
        return self.fold(node.pos, lambda ctx, q: neg(fn(ctx, q)), [part])

    def _arith(self, node: A.Arith) -> Compiled:
        first = self.expr(node.first)
        rest = [(op, self.expr(operand)) for op, operand in node.rest]
        parts = [first] + [p for _, p in rest]
        if len(rest) == 1:
            op, right = rest[0]
            return self.fold(node.pos, _binary(op, first, right), parts)
        first_fn = first.fn
        steps = [(_ARITH[op], p.fn) for op, p in rest]

        def chain(ctx: Mapping[str, Any], q: Any) -> Any:
            value = first_fn(ctx, q)
            for apply, fn in steps:
                value = apply(value, fn(ctx, q))
            return value

        return self.fold(node.pos, chain, parts)

    def _compare(self, node: A.Compare) -> Compiled:
        left, right = self.expr(node.left), self.expr(node.right)
        return self.fold(node.pos, compare_fn(node.op, left.fn, right), [left, right])

    def _logic(self, node: A.Logic) -> Compiled:
        parts = [self.expr(item) for item in node.items]
        fns = [p.fn for p in parts]
        decisive = node.op == "or"

        def logic(ctx: Mapping[str, Any], q: Any) -> bool | None:
            result: bool | None = not decisive
            for fn in fns:
                value = fn(ctx, q)
                if value is decisive:
                    return bool(value)
                if value is not (not decisive):
                    result = None
            return result

        return self.fold(node.pos, logic, parts)

    def _between(self, node: A.Between) -> Compiled:
        parts = [self.expr(node.value), self.expr(node.lo), self.expr(node.hi)]
        value_fn, lo_fn, hi_fn = (p.fn for p in parts)

        def between(ctx: Mapping[str, Any], q: Any) -> bool | None:
            value = value_fn(ctx, q)
            return Range(lo_fn(ctx, q), hi_fn(ctx, q), True, True).contains(value)

        return self.fold(node.pos, between, parts)

    def _if(self, node: A.If) -> Compiled:
        cond, then, other = self.expr(node.cond), self.expr(node.then), self.expr(node.else_)
        if cond.const:
            return then if cond.value is True else other
        c, t, e = cond.fn, then.fn, other.fn
        return Compiled(lambda ctx, q: t(ctx, q) if c(ctx, q) is True else e(ctx, q))

    def _in(self, node: A.In) -> Compiled:
        value = self.expr(node.value)
        tests = [self.test(t) for t in node.tests]
        value_fn = value.fn
        if len(tests) == 1:
            test = tests[0].fn
            return self.fold(node.pos, lambda ctx, q: test(ctx, value_fn(ctx, q)), [value, *tests])
        fns = [t.fn for t in tests]

        def within(ctx: Mapping[str, Any], q: Any) -> bool | None:
            v = value_fn(ctx, q)
            return any3(fn(ctx, v) for fn in fns)

        return self.fold(node.pos, within, [value, *tests])

    def _call(self, node: A.Call) -> Compiled:
        builtin = BUILTINS.get(node.name)
        if builtin is None:
            raise self.error(f"unknown function '{node.name}'", node.pos)
        problem = builtin.arity_problem(len(node.args))
        if problem:
            raise self.error(problem, node.pos)
        parts = [self.expr(arg) for arg in node.args]
        fns = [p.fn for p in parts]
        fn, text, pos = builtin.fn, self.text, node.pos

        def call(ctx: Mapping[str, Any], q: Any) -> Any:
            try:
                return fn(*[f(ctx, q) for f in fns])
            except FeelEvalError as exc:
                raise FeelEvalError(exc.message, text, pos) from None

        def call_one(ctx: Mapping[str, Any], q: Any) -> Any:
            try:
                return fn(arg(ctx, q))
            except FeelEvalError as exc:
                raise FeelEvalError(exc.message, text, pos) from None

        if len(fns) == 1:
            arg = fns[0]
            call = call_one
        return self.fold(node.pos, call, parts, pure=builtin.pure)

    # -- positive unary tests: fn(ctx, input) -> True / False / None -------------------------
    def test(self, node: A.Test) -> Compiled:
        if isinstance(node, A.TestCompare):
            return Compiled(compare_fn(node.op, _input, self.expr(node.operand)))
        part = self.expr(node.expr)
        fn = part.fn
        if node.uses_input:
            return Compiled(lambda ctx, q: _bool_or_null(fn(ctx, q)))
        if part.const:
            return Compiled(match_const(part.value))
        return Compiled(lambda ctx, q: match_value(q, fn(ctx, q)))


def _input(ctx: Mapping[str, Any], q: Any) -> Any:
    return q


def _bool_or_null(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def match_const(value: Any) -> Fn:
    """The test for a constant: plain equality gets a fast path for str and numbers."""
    if value is None:
        return lambda ctx, q: q is None
    if type(value) is str:
        return lambda ctx, q: q == value if type(q) is str else feel_eq(q, value)
    if type(value) is int or type(value) is float:

        def equals(ctx: Mapping[str, Any], q: Any) -> bool | None:
            tq = type(q)
            return q == value if tq is int or tq is float else feel_eq(q, value)

        return equals
    return lambda ctx, q: match_value(q, value)


def compare_fn(op: str, left: Fn, right: Compiled) -> Fn:
    """``left op right``; against a constant int/float the common case is one comparison."""
    if op in ("=", "!="):
        want = op == "="
        if right.const:
            c = right.value
            return lambda ctx, q: _eq_result(feel_eq(left(ctx, q), c), want)
        r = right.fn
        return lambda ctx, q: _eq_result(feel_eq(left(ctx, q), r(ctx, q)), want)
    order = ORDER_OPS[op]
    if right.const and type(right.value) in (int, float):
        c = right.value

        def against_number(ctx: Mapping[str, Any], q: Any) -> bool | None:
            value = left(ctx, q)
            tv = type(value)
            if tv is int or tv is float:
                return bool(order(value, c))
            return ordered(order, value, c)

        return against_number
    r = right.fn
    return lambda ctx, q: ordered(order, left(ctx, q), r(ctx, q))


def _eq_result(same: bool | None, want: bool) -> bool | None:
    return same if same is None or want else not same


def _binary(op: str, left: Compiled, right: Compiled) -> Fn:
    apply = _ARITH[op]
    a, b = left.fn, right.fn
    fast = _FAST.get(op)
    if fast is None:
        return lambda ctx, q: apply(a(ctx, q), b(ctx, q))
    if right.const and type(right.value) in (int, float):
        c, name = right.value, left.name

        def with_number(ctx: Mapping[str, Any], q: Any) -> Any:
            value = ctx.get(name) if name is not None else a(ctx, q)
            tv = type(value)
            if tv is int or tv is float:
                try:
                    return fast(value, c)
                except OverflowError:
                    return None
            return apply(value, c)

        return with_number
    b_name = right.name

    def numbers_inline(ctx: Mapping[str, Any], q: Any) -> Any:
        x = a(ctx, q)
        y = ctx.get(b_name) if b_name is not None else b(ctx, q)
        tx, ty = type(x), type(y)
        if (tx is int or tx is float) and (ty is int or ty is float):
            try:
                return fast(x, y)
            except OverflowError:
                return None
        return apply(x, y)

    return numbers_inline
