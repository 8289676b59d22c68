"""The built-in functions, each with the number of arguments it accepts.

The table is static so the parser can recognise multi-word names (``string length``) and the
compiler can reject a wrong argument count before anything runs. Functions take FEEL values
positionally and return None for arguments of the wrong type; they raise ``FeelEvalError`` only
for authoring mistakes a null would hide (a broken regular expression).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta, timezone
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Context,
    Decimal,
)
from typing import Any, Final

from loanflow.engine.feel._function import Builtin, as_int, registrar
from loanflow.engine.feel._lists import FUNCTIONS as LIST_FUNCTIONS
from loanflow.engine.feel._strings import FUNCTIONS as STRING_FUNCTIONS
from loanflow.engine.feel._temporal import parse_date, parse_datetime, parse_duration, parse_time
from loanflow.engine.feel._values import is_number, to_string

__all__ = ["BUILTINS", "BUILTIN_NAMES", "Builtin"]

_CORE: dict[str, Builtin] = {}
builtin = registrar(_CORE)
_WIDE: Final = Context(prec=1000)


# -- logic, conversion, temporal ----------------------------------------------------------
@builtin("not", 1)
def _not(value: Any) -> bool | None:
    return (not value) if isinstance(value, bool) else None


@builtin("date", 1, 3)
def _date(*args: Any) -> date | None:
    if len(args) == 3:
        y, m, d = (as_int(a) for a in args)
        if y is None or m is None or d is None:
            return None
        try:
            return date(y, m, d)
        except ValueError:
            return None
    if len(args) != 1:
        return None
    value = args[0]
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return parse_date(value) if isinstance(value, str) else None


@builtin("date and time", 1, 2)
def _date_and_time(value: Any, at: Any = None) -> datetime | None:
    if at is not None:
        if isinstance(value, date) and isinstance(at, time):
            day = value.date() if isinstance(value, datetime) else value
            return datetime.combine(day, at)
        return None
    if isinstance(value, datetime):
        return value
    return parse_datetime(value) if isinstance(value, str) else None


@builtin("time", 1, 4)
def _time(*args: Any) -> time | None:
    if len(args) == 1:
        value = args[0]
        if isinstance(value, datetime):
            return value.timetz()
        if isinstance(value, time):
            return value
        return parse_time(value) if isinstance(value, str) else None
    if len(args) == 2:
        return None
    h, m, s = (as_int(a) for a in args[:3])
    offset = args[3] if len(args) == 4 else None
    if h is None or m is None or s is None:
        return None
    try:
        zone = timezone(offset) if isinstance(offset, timedelta) else None
        return time(h, m, s, tzinfo=zone)
    except ValueError:
        return None


@builtin("duration", 1)
def _duration(value: Any) -> Any:
    return parse_duration(value) if isinstance(value, str) else None


@builtin("now", 0, pure=False)
def _now() -> datetime:
    return datetime.now().astimezone()


@builtin("today", 0, pure=False)
def _today() -> date:
    return date.today()


@builtin("string", 1)
def _string(value: Any) -> str | None:
    return to_string(value)


_NUMBER_RE: Final = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


@builtin("number", 1, 3)
def _number(text: Any, grouping: Any = None, decimal_sep: Any = None) -> int | float | None:
    if not isinstance(text, str) or len(text) > 1000:
        return None
    if grouping not in (None, " ", ",", ".") or decimal_sep not in (None, ".", ","):
        return None
    if grouping is not None and grouping == decimal_sep:
        return None
    if grouping is not None:
        text = text.replace(grouping, "")
    if decimal_sep == ",":
        text = text.replace(",", ".")
    if not _NUMBER_RE.fullmatch(text):
        return None
    if text.lstrip("+-").isdigit():
        return int(text)
    value = float(text)
    return value if math.isfinite(value) else None


# -- numbers --------------------------------------------------------------------------------
def _round(n: Any, scale: Any, mode: str) -> Any:
    places = as_int(scale)
    if not is_number(n) or places is None or not -1000 <= places <= 1000:
        return None
    if isinstance(n, float) and not math.isfinite(n):
        return None
    exact = Decimal(repr(n)) if isinstance(n, float) else Decimal(n)
    try:
        result = exact.quantize(Decimal(1).scaleb(-places), rounding=mode, context=_WIDE)
    except ArithmeticError:
        return None
    if isinstance(n, Decimal):
        return result
    if isinstance(n, int) or places <= 0:
        return int(result)
    return float(result)


for _name, _mode in (
    ("decimal", ROUND_HALF_EVEN),
    ("round half up", ROUND_HALF_UP),
    ("round half down", ROUND_HALF_DOWN),
    ("round up", ROUND_UP),
    ("round down", ROUND_DOWN),
):
    _CORE[_name] = Builtin(_name, lambda n, s, _m=_mode: _round(n, s, _m), 2, 2)


@builtin("floor", 1)
def _floor(n: Any) -> Any:
    return _round(n, 0, ROUND_FLOOR)


@builtin("ceiling", 1)
def _ceiling(n: Any) -> Any:
    return _round(n, 0, ROUND_CEILING)


@builtin("abs", 1)
def _abs(n: Any) -> Any:
    return abs(n) if is_number(n) or isinstance(n, timedelta) else None


@builtin("modulo", 2)
def _modulo(a: Any, b: Any) -> Any:
    """Sign of the divisor, as FEEL and Python's ``%`` agree (Decimal's ``%`` does not)."""
    if not (is_number(a) and is_number(b)) or b == 0:
        return None
    if isinstance(a, float) or isinstance(b, float):
        return float(a) % float(b)
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        x, y = Decimal(a), Decimal(b)
        return x - y * (x / y).to_integral_value(rounding=ROUND_FLOOR)
    return a % b


@builtin("sqrt", 1)
def _sqrt(n: Any) -> Any:
    if not is_number(n) or n < 0:
        return None
    if isinstance(n, int):
        root = math.isqrt(n)
        if root * root == n:
            return root
    try:
        return math.sqrt(n)
    except OverflowError:
        return None


@builtin("log", 1)
def _log(n: Any) -> float | None:
    return math.log(n) if is_number(n) and n > 0 else None


@builtin("exp", 1)
def _exp(n: Any) -> float | None:
    if not is_number(n):
        return None
    try:
        return math.exp(n)
    except OverflowError:
        return None


@builtin("odd", 1)
def _odd(n: Any) -> bool | None:
    whole = as_int(n)
    return None if whole is None else whole % 2 == 1


@builtin("even", 1)
def _even(n: Any) -> bool | None:
    whole = as_int(n)
    return None if whole is None else whole % 2 == 0


# -- contexts and null handling -------------------------------------------------------------
@builtin("get or else", 2)
def _get_or_else(value: Any, default: Any) -> Any:
    return default if value is None else value


@builtin("get value", 2)
def _get_value(context: Any, key: Any) -> Any:
    return context.get(key) if isinstance(context, Mapping) and isinstance(key, str) else None


BUILTINS: Final[dict[str, Builtin]] = {
    **_CORE,
    **STRING_FUNCTIONS,
    **LIST_FUNCTIONS,
}
BUILTIN_NAMES: Final = frozenset(BUILTINS)
