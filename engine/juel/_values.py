"""JUEL's coercion rules (EL 2.2 section 1.18), simplified to Python's value types.

Numbers are ``int``, ``float`` and ``Decimal``; ``bool`` is never a number. Strings that look
like numbers (``"42"``, ``"1.5e3"``) are coerced where a number is needed, and so are null and
``""`` (to 0), as JUEL does; anything else fails with a ``JuelEvalError`` naming the value.
Errors raised here carry a position but no text: ``Expression`` fills in the text.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final

from loanflow.engine.juel._errors import JuelEvalError

__all__ = [
    "arith",
    "compare",
    "describe",
    "equals",
    "get_index",
    "get_key",
    "is_empty",
    "is_number",
    "negate",
    "to_bool",
    "to_number",
    "to_text",
]

Number = int | float | Decimal
_INT: Final = re.compile(r"[+-]?[0-9]+")
_FLOAT: Final = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_VERBS: Final = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide", "%": "divide"}
_ORDER: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}


def describe(value: Any) -> str:
    """A short, safe rendering for messages; never calls a user object's ``repr``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return "'" + shown + "'"
    if is_number(value):
        return str(value) if len(str(value)) <= 40 else "a long number"
    if isinstance(value, Mapping):
        return "a map"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"a {type(value).__name__}"


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def to_number(value: Any, verb: str, pos: int | None) -> Number:
    if is_number(value):
        return value  # type: ignore[no-any-return]
    if value is None or (isinstance(value, str) and not value):
        return 0
    if isinstance(value, str) and len(value) < 400:
        try:
            if _INT.fullmatch(value):
                return int(value)
            if _FLOAT.fullmatch(value):
                number = float(value)
                if math.isfinite(number):
                    return number
        except ValueError:
            pass
    raise JuelEvalError(f"cannot {verb} {describe(value)}", "", pos)


def _align(x: Number, y: Number) -> tuple[Number, Number]:
    """Decimal and float do not mix in Python; JUEL would use BigDecimal, so do we."""
    if isinstance(x, Decimal) and isinstance(y, float):
        return x, Decimal(repr(y))
    if isinstance(y, Decimal) and isinstance(x, float):
        return Decimal(repr(x)), y
    return x, y


def arith(op: str, a: Any, b: Any, pos: int | None) -> Number:
    verb = _VERBS[op]
    x, y = _align(to_number(a, verb, pos), to_number(b, verb, pos))
    if op == "+":
        return x + y  # type: ignore[operator]
    if op == "-":
        return x - y  # type: ignore[operator]
    if op == "*":
        return x * y  # type: ignore[operator]
    if y == 0:
        raise JuelEvalError("division by zero", "", pos)
    if op == "/":
        if isinstance(x, Decimal) or isinstance(y, Decimal):
            return Decimal(x) / Decimal(y)
        return x / y
    if isinstance(x, int) and isinstance(y, int):
        rest = abs(x) % abs(y)
        return -rest if x < 0 else rest
    if isinstance(x, Decimal) or isinstance(y, Decimal):
        return Decimal(x) % Decimal(y)
    return math.fmod(x, y)


def negate(value: Any, pos: int | None) -> Number:
    return -to_number(value, "negate", pos)


def to_bool(value: Any, pos: int | None) -> bool:
    """null and ``""`` are false, strings are true only when they spell ``true``."""
    if value is True or value is False:
        return value
    if value is None:
        return False
    if isinstance(value, str):
        return value.lower() == "true"
    raise JuelEvalError(f"cannot use {describe(value)} as a boolean", "", pos)


def _numbers(a: Any, b: Any, pos: int | None) -> tuple[Number, Number]:
    try:
        return _align(to_number(a, "compare", pos), to_number(b, "compare", pos))
    except JuelEvalError:
        raise JuelEvalError(f"cannot compare {describe(a)} with {describe(b)}", "", pos) from None


def equals(a: Any, b: Any, pos: int | None) -> bool:
    if a is b:
        return True
    if a is None or b is None:
        return False
    if isinstance(a, bool) or isinstance(b, bool):
        other = b if isinstance(a, bool) else a
        if isinstance(other, (bool, str)):
            return to_bool(a, pos) == to_bool(b, pos)
        raise JuelEvalError(f"cannot compare {describe(a)} with {describe(b)}", "", pos)
    if is_number(a) or is_number(b):
        x, y = _numbers(a, b, pos)
        return bool(x == y)
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    return bool(a == b)


def compare(op: str, a: Any, b: Any, pos: int | None) -> bool:
    if a is None or b is None:
        return a is b and op in ("<=", ">=")
    if isinstance(a, bool) or isinstance(b, bool):
        raise JuelEvalError(f"cannot compare {describe(a)} with {describe(b)}", "", pos)
    order = _ORDER[op]
    if is_number(a) or is_number(b):
        x, y = _numbers(a, b, pos)
        return bool(order(x, y))
    if isinstance(a, str) and isinstance(b, str):
        return bool(order(a, b))
    try:
        return bool(order(a, b))
    except TypeError:
        raise JuelEvalError(f"cannot compare {describe(a)} with {describe(b)}", "", pos) from None


def is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, (str, list, tuple, Mapping, set, frozenset)):
        return len(value) == 0
    return False


def get_key(value: Any, key: Any, pos: int | None) -> Any:
    """``value.key`` / ``value[key]``: Mappings and lists only, null in null out."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        try:
            return value.get(key)
        except TypeError:
            raise JuelEvalError(f"cannot use {describe(key)} as a key", "", pos) from None
    if isinstance(value, (list, tuple)):
        return get_index(value, key, pos)
    raise JuelEvalError(f"cannot read {describe(key)} of {describe(value)}", "", pos)


def get_index(items: list[Any] | tuple[Any, ...], index: Any, pos: int | None) -> Any:
    """Out of range, negative included, is null, as in JUEL."""
    if isinstance(index, str) and _INT.fullmatch(index) and len(index) < 20:
        index = int(index)
    if not isinstance(index, int) or isinstance(index, bool):
        raise JuelEvalError(f"list index must be an integer, not {describe(index)}", "", pos)
    return items[index] if 0 <= index < len(items) else None


def to_text(value: Any) -> str:
    """How a composite text shows one value: null is empty, booleans are lower case."""
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)
