"""List builtins; ``min(1, 2)`` and ``min([1, 2])`` mean the same, as in FEEL."""

from __future__ import annotations

import operator
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from loanflow.engine.feel._function import Builtin, list_args, registrar, slice_1based
from loanflow.engine.feel._values import add, div, feel_eq, is_list, is_number, kind, mul, ordered

__all__ = ["FUNCTIONS"]

FUNCTIONS: dict[str, Builtin] = {}
builtin = registrar(FUNCTIONS)


def _extreme(args: tuple[Any, ...], better: Callable[[Any, Any], Any]) -> Any:
    items = list_args(args)
    if not items:
        return None
    best = items[0]
    for item in items[1:]:
        wins = ordered(better, item, best)
        if wins is None:
            return None
        if wins:
            best = item
    return best if ordered(operator.le, best, best) else None


FUNCTIONS["min"] = Builtin("min", lambda *a: _extreme(a, operator.lt), 1, None)
FUNCTIONS["max"] = Builtin("max", lambda *a: _extreme(a, operator.gt), 1, None)


@builtin("sum", 1, None)
def _sum(*args: Any) -> Any:
    items = list_args(args)
    if not items or not all(is_number(i) for i in items):
        return None
    total = items[0]
    for item in items[1:]:
        total = add(total, item)
    return total


@builtin("product", 1, None)
def _product(*args: Any) -> Any:
    items = list_args(args)
    if not items or not all(is_number(i) for i in items):
        return None
    total = items[0]
    for item in items[1:]:
        total = mul(total, item)
    return total


@builtin("mean", 1, None)
def _mean(*args: Any) -> Any:
    total = _sum(*args)
    return None if total is None else div(total, len(list_args(args)))


@builtin("count", 1)
def _count(items: Any) -> int | None:
    return len(items) if is_list(items) else None


def _truth(args: tuple[Any, ...], decisive: bool) -> bool | None:
    items = list_args(args)
    if any(item is decisive for item in items):
        return decisive
    return (not decisive) if all(isinstance(i, bool) for i in items) else None


FUNCTIONS["all"] = Builtin("all", lambda *a: _truth(a, False), 0, None)
FUNCTIONS["any"] = Builtin("any", lambda *a: _truth(a, True), 0, None)


@builtin("list contains", 2)
def _list_contains(items: Any, element: Any) -> bool | None:
    if not is_list(items):
        return None
    return any(feel_eq(item, element) is True for item in items)


@builtin("append", 1, None)
def _append(items: Any, *more: Any) -> list[Any] | None:
    return [*items, *more] if is_list(items) else None


@builtin("concatenate", 0, None)
def _concatenate(*lists: Any) -> list[Any] | None:
    if not all(is_list(x) for x in lists):
        return None
    return [item for part in lists for item in part]


def _distinct(items: list[Any]) -> list[Any]:
    seen: set[tuple[str, Any]] = set()
    others: list[Any] = []
    result: list[Any] = []
    for item in items:
        k = kind(item)
        if k in ("number", "string", "boolean") or item is None:
            key = (str(k), float(item) if isinstance(item, Decimal) else item)
            if key in seen:
                continue
            seen.add(key)
        elif any(feel_eq(item, other) is True for other in others):
            continue
        else:
            others.append(item)
        result.append(item)
    return result


@builtin("distinct values", 1)
def _distinct_values(items: Any) -> list[Any] | None:
    return _distinct(list(items)) if is_list(items) else None


@builtin("union", 0, None)
def _union(*lists: Any) -> list[Any] | None:
    joined = _concatenate(*lists)
    return None if joined is None else _distinct(joined)


@builtin("sort", 1)
def _sort(items: Any) -> list[Any] | None:
    if not is_list(items):
        return None
    kinds = {kind(item) for item in items}
    if len(kinds) > 1 or kinds - {"number", "string", "date", "datetime", "time", "duration"}:
        return None
    try:
        return sorted(items)
    except (TypeError, ArithmeticError):
        return None


@builtin("reverse", 1)
def _reverse(items: Any) -> list[Any] | None:
    return list(reversed(items)) if is_list(items) else None


@builtin("index of", 2)
def _index_of(items: Any, match: Any) -> list[int] | None:
    if not is_list(items):
        return None
    return [i for i, item in enumerate(items, 1) if feel_eq(item, match) is True]


@builtin("sublist", 2, 3)
def _sublist(items: Any, start: Any, length: Any = None) -> list[Any] | None:
    part = slice_1based(list(items), start, length) if is_list(items) else None
    return None if part is None else list(part)


@builtin("flatten", 1)
def _flatten(items: Any) -> list[Any] | None:
    if not is_list(items):
        return None
    out: list[Any] = []
    stack = [iter(items)]
    while stack:
        for item in stack[-1]:
            if is_list(item):
                stack.append(iter(item))
                break
            out.append(item)
        else:
            stack.pop()
    return out
