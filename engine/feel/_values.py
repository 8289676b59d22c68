"""FEEL's value semantics on Python values: equality, ordering, arithmetic, paths, literals.

Every operation returns None (FEEL null) for operands FEEL would not combine, instead of
raising, because decision tables must keep evaluating when one input has the wrong type.
``bool`` is never a number even though Python says it is an ``int``. ``Decimal`` inputs work;
mixed with a float they become floats, since Python refuses ``Decimal + float``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final

from loanflow.engine.feel._lexer import KEYWORDS
from loanflow.engine.feel._temporal import (
    YearsMonthsDuration,
    add_months,
    duration_part,
    format_duration,
)

__all__ = [
    "NUM",
    "Range",
    "add",
    "div",
    "feel_eq",
    "feel_literal",
    "get_key",
    "is_list",
    "is_number",
    "kind",
    "mul",
    "neg",
    "ordered",
    "power",
    "sub",
    "to_string",
]

NUM: Final = "number"
_FAST_NUM: Final = (int, float)
_ORDERED_KINDS: Final = frozenset({NUM, "string", "date", "datetime", "time", "duration"})
_MAX_POW_BITS: Final = 4096

Op = Callable[[Any, Any], Any]


@dataclass(frozen=True, slots=True)
class Range:
    """A FEEL range value such as ``[1..10)``; endpoints are any ordered values."""

    lo: Any
    hi: Any
    lo_closed: bool
    hi_closed: bool

    def contains(self, value: Any) -> bool | None:
        low = ordered(operator.ge if self.lo_closed else operator.gt, value, self.lo)
        if low is False:
            return False
        high = ordered(operator.le if self.hi_closed else operator.lt, value, self.hi)
        if high is False:
            return False
        return True if low and high else None


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def is_list(value: Any) -> bool:
    return isinstance(value, (list, tuple))


def kind(value: Any) -> str | None:
    """The FEEL type of a value, or None for Python objects FEEL has no type for."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float, Decimal)):
        return NUM
    if isinstance(value, str):
        return "string"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    if isinstance(value, time):
        return "time"
    if isinstance(value, timedelta):
        return "duration"
    if isinstance(value, YearsMonthsDuration):
        return "ym"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, Mapping):
        return "context"
    if isinstance(value, Range):
        return "range"
    return None


def _pair(a: Any, b: Any) -> tuple[Any, Any]:
    if isinstance(a, Decimal) != isinstance(b, Decimal) and (
        isinstance(a, float) or isinstance(b, float)
    ):
        return float(a), float(b)
    return a, b


def feel_eq(a: Any, b: Any) -> bool | None:
    """FEEL ``=``: null equals only null; different types are not comparable (null)."""
    if a is None or b is None:
        return a is b
    ta = type(a)
    if ta is type(b) and (ta is str or ta is int or ta is float or ta is bool):
        return bool(a == b)
    ka, kb = kind(a), kind(b)
    if ka != kb or ka is None:
        return None
    if ka == NUM:
        x, y = _pair(a, b)
        return bool(x == y)
    if ka == "list":
        if len(a) != len(b):
            return False
        return _all_equal(zip(a, b, strict=True))
    if ka == "context":
        if set(a) != set(b):
            return False
        return _all_equal((a[k], b[k]) for k in a)
    try:
        return bool(a == b)
    except TypeError:
        return None


def _all_equal(pairs: Any) -> bool | None:
    result: bool | None = True
    for x, y in pairs:
        same = feel_eq(x, y)
        if same is False:
            return False
        if same is None:
            result = None
    return result


def ordered(op: Op, a: Any, b: Any) -> bool | None:
    """``op`` is one of ``operator.lt/le/gt/ge``; null when FEEL cannot order the pair."""
    ta = type(a)
    if ta is type(b) and (ta is int or ta is float or ta is str):
        return bool(op(a, b))
    ka = kind(a)
    if ka != kind(b):
        return None
    if ka == "ym":
        return bool(op(a.months, b.months))
    if ka not in _ORDERED_KINDS:
        return None
    if ka == NUM:
        a, b = _pair(a, b)
    try:
        return bool(op(a, b))
    except (TypeError, ArithmeticError):
        return None


def add(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta in _FAST_NUM and tb in _FAST_NUM:
        try:
            return a + b
        except OverflowError:
            return None
    ka, kb = kind(a), kind(b)
    try:
        if ka == NUM and kb == NUM:
            x, y = _pair(a, b)
            return x + y
        if ka == "string" and kb == "string":
            return a + b
        if kb in ("date", "datetime") and ka in ("duration", "ym"):
            a, b, ka, kb = b, a, kb, ka
        return _temporal_add(a, b, ka, kb, 1)
    except (ArithmeticError, ValueError):
        return None


def sub(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta in _FAST_NUM and tb in _FAST_NUM:
        try:
            return a - b
        except OverflowError:
            return None
    ka, kb = kind(a), kind(b)
    try:
        if ka == NUM and kb == NUM:
            x, y = _pair(a, b)
            return x - y
        if ka == kb and ka in ("date", "datetime", "duration"):
            return a - b
        if ka == kb == "time":
            anchor = date(2000, 1, 1)
            return datetime.combine(anchor, a) - datetime.combine(anchor, b)
        return _temporal_add(a, b, ka, kb, -1)
    except (ArithmeticError, ValueError, TypeError):
        return None


def _temporal_add(a: Any, b: Any, ka: str | None, kb: str | None, sign: int) -> Any:
    if kb == "duration" and ka in ("date", "datetime", "duration"):
        return a + b if sign > 0 else a - b
    if kb == "duration" and ka == "time":
        moved = datetime.combine(date(2000, 1, 1), a) + sign * b
        return moved.timetz()
    if kb == "ym" and ka in ("date", "datetime"):
        return add_months(a, sign * b.months)
    if ka == kb == "ym":
        return YearsMonthsDuration(a.months + sign * b.months)
    return None


def mul(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta in _FAST_NUM and tb in _FAST_NUM:
        try:
            return a * b
        except OverflowError:
            return None
    ka, kb = kind(a), kind(b)
    if ka != NUM:
        a, b, ka, kb = b, a, kb, ka
    if ka != NUM:
        return None
    try:
        if kb == NUM:
            x, y = _pair(a, b)
            return x * y
        if kb == "duration":
            return b * (float(a) if isinstance(a, Decimal) else a)
        if kb == "ym" and a == int(a):
            return YearsMonthsDuration(b.months * int(a))
    except (ArithmeticError, ValueError, TypeError):
        return None
    return None


def div(a: Any, b: Any) -> Any:
    ka, kb = kind(a), kind(b)
    try:
        if ka == NUM and kb == NUM:
            if b == 0:
                return None
            if type(a) is int and type(b) is int:
                return a // b if a % b == 0 else a / b
            x, y = _pair(a, b)
            return x / y
        if ka == "duration" and kb == NUM and b != 0:
            return a / (float(b) if isinstance(b, Decimal) else b)
        if ka == kb == "duration" and b:
            return a / b
        if ka == kb == "ym" and b.months:
            return a.months / b.months
    except (ArithmeticError, ValueError, TypeError):
        return None
    return None


def power(a: Any, b: Any) -> Any:
    if not (is_number(a) and is_number(b)):
        return None
    try:
        if type(a) is int and type(b) is int and b >= 0:
            if a not in (0, 1, -1) and abs(a).bit_length() * b > _MAX_POW_BITS:
                return None
            return a**b
        result = float(a) ** float(b)
    except (ArithmeticError, ValueError):
        return None
    return result if isinstance(result, float) and math.isfinite(result) else None


def neg(a: Any) -> Any:
    if is_number(a) or isinstance(a, timedelta):
        return -a
    if isinstance(a, YearsMonthsDuration):
        return YearsMonthsDuration(-a.months)
    return None


_DATE_PARTS: Final[dict[str, Callable[[Any], Any]]] = {
    "year": lambda d: d.year,
    "month": lambda d: d.month,
    "day": lambda d: d.day,
    "weekday": lambda d: d.isoweekday(),
}
_TIME_PARTS: Final[dict[str, Callable[[Any], Any]]] = {
    "hour": lambda t: t.hour,
    "minute": lambda t: t.minute,
    "second": lambda t: t.second,
}


def get_key(value: Any, key: str) -> Any:
    """``value.key``: context entries, a path over each list element, or a temporal part."""
    if isinstance(value, Mapping):
        return value.get(key)
    if isinstance(value, (list, tuple)):
        return [get_key(item, key) for item in value]
    if isinstance(value, datetime):
        part = _DATE_PARTS.get(key) or _TIME_PARTS.get(key)
    elif isinstance(value, date):
        part = _DATE_PARTS.get(key)
    elif isinstance(value, time):
        part = _TIME_PARTS.get(key)
    elif isinstance(value, timedelta):
        return duration_part(value, key) if key in ("days", "hours", "minutes", "seconds") else None
    elif isinstance(value, YearsMonthsDuration):
        sign = -1 if value.months < 0 else 1
        years, months = divmod(abs(value.months), 12)
        return {"years": sign * years, "months": sign * months}.get(key)
    else:
        return None
    return None if part is None else part(value)


def _format_number(value: Any) -> str | None:
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, Decimal):
        return None if not value.is_finite() else format(value, "f")
    try:
        return str(value)
    except ValueError:
        return None


def to_string(value: Any) -> str | None:
    """FEEL ``string(x)``: strings stay as they are, everything else as FEEL writes it."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_number(value):
        return _format_number(value)
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, (timedelta, YearsMonthsDuration)):
        return format_duration(value)
    return feel_literal(value)


def _quote(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 32:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _key(key: Any) -> str:
    text = str(key)
    simple = text[:1].isalpha() or text[:1] == "_"
    if simple and all(c.isalnum() or c == "_" for c in text) and text not in KEYWORDS:
        return text
    return _quote(text)


def feel_literal(value: Any) -> str:
    """FEEL source for a Python value, for messages; unknown objects are written as strings."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_number(value):
        return _format_number(value) or "null"
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, datetime):
        return f'date and time("{value.isoformat()}")'
    if isinstance(value, date):
        return f'date("{value.isoformat()}")'
    if isinstance(value, time):
        return f'time("{value.isoformat()}")'
    if isinstance(value, (timedelta, YearsMonthsDuration)):
        return f'duration("{format_duration(value)}")'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(feel_literal(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(k)}: {feel_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Range):
        start = "[" if value.lo_closed else "("
        end = "]" if value.hi_closed else ")"
        return f"{start}{feel_literal(value.lo)}..{feel_literal(value.hi)}{end}"
    return _quote(str(value))
