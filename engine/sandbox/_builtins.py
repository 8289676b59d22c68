"""The names a script can use besides its data.

Built per sandbox by :func:`_builtins`, never at import, because the bounded builtins are bound
methods of that sandbox's :class:`_Guards`. ``int`` is replaced by a look-alike whose calls are
bounded, and ``__import__`` lets C code import the few modules it needs on a script's behalf.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, Final

from loanflow.engine.sandbox._guards import (
    _MAX_INT_DIGITS,
    MAX_INT_BITS,
    _check_decimal,
    _Guards,
)

_INTERNAL_IMPORTS: Final = frozenset({"time", "_strptime"})
_MATH_FUNCTIONS: Final = (
    *("sqrt", "exp", "log", "log2", "log10", "fabs", "fmod", "fsum", "copysign", "hypot", "gcd"),
    *("isclose", "isfinite", "isinf", "isnan", "degrees", "radians"),
    *("sin", "cos", "tan", "asin", "acos", "atan", "atan2"),
)


class _IntType(type):
    """Metaclass of the scripts' ``int``: ``isinstance(x, int)`` works, ``int(...)`` is bounded."""

    def __call__(cls, *args: Any, **kwargs: Any) -> int:
        if args:
            _check_decimal(args[0], _MAX_INT_DIGITS)
        result = int(*args, **kwargs)
        if result.bit_length() > MAX_INT_BITS:
            raise ValueError(f"int() result is wider than {MAX_INT_BITS} bits")
        return result

    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, int)

    def __subclasscheck__(cls, subclass: type) -> bool:
        return issubclass(subclass, int)


_SafeInt = _IntType("int", (), {"__doc__": int.__doc__, "__module__": "builtins"})


def _internal_import(
    name: str,
    globals: Any = None,
    locals: Any = None,
    fromlist: Sequence[str] = (),
    level: int = 0,
) -> Any:
    """``__import__`` for C code running on a script's behalf (``datetime.strftime`` imports
    ``time``). Scripts cannot name it: names starting with ``_`` are refused."""
    if level == 0 and name in _INTERNAL_IMPORTS:
        return __import__(name, globals, locals, fromlist, level)
    raise ImportError(f"import of {name} is not allowed in scripts")


def _builtins(guards: _Guards) -> dict[str, Any]:
    """Everything a script can name besides its data; built per sandbox, never at import."""
    maths = SimpleNamespace(
        pi=math.pi,
        e=math.e,
        tau=math.tau,
        inf=math.inf,
        nan=math.nan,
        floor=guards.integral(math.floor),
        ceil=guards.integral(math.ceil),
        trunc=guards.integral(math.trunc),
        **{name: getattr(math, name) for name in _MATH_FUNCTIONS},
    )
    exceptions = (
        ArithmeticError,
        AssertionError,
        Exception,
        IndexError,
        KeyError,
        LookupError,
        NameError,
        OverflowError,
        RuntimeError,
        TypeError,
        ValueError,
        ZeroDivisionError,
    )
    return {
        **{e.__name__: e for e in exceptions},
        **{
            f.__name__: f
            for f in (
                *(abs, all, any, bool, chr, dict, divmod, enumerate, filter, float, frozenset),
                *(isinstance, len, list, map, max, min, ord, reversed, set, sorted, str, tuple),
                zip,
            )
        },
        "int": _SafeInt,
        "getattr": guards.getattr,
        "pow": guards.pow,
        "range": guards.range,
        "round": guards.round,
        "sum": guards.sum,
        "datetime": datetime,
        "date": date,
        "timedelta": timedelta,
        "Decimal": Decimal,
        "math": maths,
        "__import__": _internal_import,
    }
