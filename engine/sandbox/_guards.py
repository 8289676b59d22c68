"""The guards: what the rewritten code calls instead of operations that could grow unbounded.

:class:`_Guards` checks sizes before building anything: a sequence longer than
``max_sequence_length``, an int wider than :data:`MAX_INT_BITS`, a format width or a ``%``
template that would expand too far, a ``Decimal`` too wide to turn into an int. It also guards
attribute access (nothing starting with ``_``, no introspection attributes), writes (only to
dicts and lists) and the sized string and list methods (``join``, ``replace``, ``format``…).
:class:`_PrintSink` stands in for ``print``. One instance per sandbox, since the limit is a
sandbox setting.
"""

from __future__ import annotations

import math
import operator
import re
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any, Final

from RestrictedPython.transformer import INSPECT_ATTRIBUTES

MAX_INT_BITS: Final = 10_000
"""No guarded operation builds an int wider than this (about 3,000 decimal digits)."""

_MAX_INT_DIGITS: Final = int(MAX_INT_BITS * math.log10(2))
_PRINT_LIMIT: Final = 10_000
_SEQUENCES: Final = frozenset({str, bytes, list, tuple})
_REFUSED_ATTRIBUTES: Final = INSPECT_ATTRIBUTES | {
    "mro",
    "from_bytes",
    "as_integer_ratio",
    "translate",
    "maketrans",
}
_SIZED_METHODS: Final = frozenset(
    {"format", "format_map", "join", "replace", "ljust", "rjust", "center", "zfill", "expandtabs"}
    | {"extend"}
)
_INPLACE: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": operator.imul,
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "%=": operator.imod,
    "**=": operator.ipow,
    "<<=": operator.ilshift,
    ">>=": operator.irshift,
    "&=": operator.iand,
    "|=": operator.ior,
    "^=": operator.ixor,
    "@=": operator.imatmul,
}
_PERCENT_SPEC: Final = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_FIELD_HEAD: Final = re.compile(r"[^.\[]*")
_FIELD_PART: Final = re.compile(r"\.([^.\[]*)|\[([^\]]*)\]")
_MISSING: Final = object()


class _PrintSink:
    """``print`` in a script: kept (bounded) for ``printed``, never written anywhere."""

    def __init__(self, _getattr_: Any = None, room: int = _PRINT_LIMIT) -> None:
        self._parts: list[str] = []
        self._room = room

    def _call_print(self, *objects: Any, sep: Any = " ", end: Any = "\n", **_: Any) -> None:
        if self._room <= 0:
            return
        sep = sep if isinstance(sep, str) else " "
        text = sep.join(map(str, objects)) + (end if isinstance(end, str) else "\n")
        self._parts.append(text[: self._room])
        self._room -= len(text)

    def __call__(self) -> str:
        return "".join(self._parts)


def _check_decimal(value: Any, digits: int) -> None:
    if type(value) is Decimal and value.is_finite() and abs(value.adjusted()) > digits:
        raise ValueError(f"Decimal {value} has too many digits to expand in a script")


class _SafeFormatter(string.Formatter):
    """``str.format`` without ``{0.__class__}``-style attribute access and with a size bound."""

    def __init__(self, guards: _Guards) -> None:
        self._guards = guards
        self._written = 0

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        head = _FIELD_HEAD.match(field_name)
        first = head[0] if head else ""
        if not first:  # str.format numbers "{.x}" and "{[0]}" itself; string.Formatter cannot
            raise ValueError(f"name or number the field {{{field_name}}}, as in {{0{field_name}}}")
        value = self.get_value(int(first) if first.isdigit() else first, args, kwargs)
        position = len(first)
        while position < len(field_name):
            part = _FIELD_PART.match(field_name, position)
            if part is None:
                raise ValueError(f"invalid format field {field_name!r}")
            attribute, index = part.groups()
            if attribute is not None:
                value = self._guards.getattr(value, attribute)
            else:
                value = value[int(index) if index.isdigit() else index]
            position = part.end()
        return value, first

    def format_field(self, value: Any, format_spec: str) -> Any:
        self._guards.check_format(value, format_spec)
        text = format(value, format_spec)
        self._written += len(text)
        self._guards.check_size(self._written, "formatted string")
        return text


class _Guards:
    """The functions the compiled code calls instead of the operations it would do unguarded."""

    def __init__(self, max_length: int) -> None:
        self.max_length = max_length
        self._inplace_checks: dict[str, Callable[[Any, Any], None]] = {
            "+=": self.check_add,
            "-=": self.check_add,
            "*=": self.check_mul,
            "**=": self.check_pow,
            "<<=": self.check_lshift,
            "%=": self.check_mod,
        }

    # checks, raising before anything big is built

    def check_size(self, size: int, what: str) -> None:
        if size > self.max_length:
            raise ValueError(f"{what} of {size} items is longer than allowed ({self.max_length})")

    def check_bits(self, bits: float) -> None:
        if bits > MAX_INT_BITS:
            raise ValueError(f"int result wider than allowed ({MAX_INT_BITS} bits)")

    def check_add(self, a: Any, b: Any) -> None:
        ta, tb = type(a), type(b)
        if ta in _SEQUENCES and tb in _SEQUENCES:
            self.check_size(len(a) + len(b), ta.__name__)
        elif ta is int and tb is int:
            self.check_bits(max(a.bit_length(), b.bit_length()) + 1)

    def check_mul(self, a: Any, b: Any) -> None:
        ta, tb = type(a), type(b)
        if ta in _SEQUENCES and (tb is int or tb is bool):
            self.check_size(len(a) * b, ta.__name__)
        elif tb in _SEQUENCES and (ta is int or ta is bool):
            self.check_size(len(b) * a, tb.__name__)
        elif ta is int and tb is int:
            self.check_bits(a.bit_length() + b.bit_length())

    def check_pow(self, base: Any, exponent: Any, modulus: Any = None) -> None:
        if not (isinstance(base, int) and isinstance(exponent, int)):
            return
        if modulus is not None:
            if isinstance(modulus, int):
                self.check_bits(max(exponent.bit_length(), modulus.bit_length()))
        elif exponent > 1 and abs(base) > 1:
            self.check_bits(
                exponent * math.log2(abs(base)) if exponent.bit_length() < 64 else 2**64
            )

    def check_lshift(self, a: Any, b: Any) -> None:
        if isinstance(a, int) and isinstance(b, int) and a and b > 0:
            self.check_bits(a.bit_length() + b)

    def check_mod(self, template: Any, args: Any) -> None:
        if type(template) is bytes:
            template = template.decode("latin-1")
        elif type(template) is not str:
            return
        text: str = template
        specs = _PERCENT_SPEC.findall(text)
        if not specs:
            return
        values = list(args.values()) if isinstance(args, Mapping) else None
        if values is None:
            values = list(args) if type(args) is tuple else [args]
        longest = max((len(v) for v in values if type(v) in (str, bytes)), default=0)
        stars = max((v for v in values if type(v) is int), default=0)
        total = len(template)
        for width, precision in specs:
            sizes = [self._number(p) for p in (width, precision) if p.isdigit()]
            if "*" in (width, precision):
                sizes.append(stars)
            total += max([longest, *sizes])
        self.check_size(total, "formatted string")
        for value in values:
            _check_decimal(value, _MAX_INT_DIGITS)

    def check_format(self, value: Any, spec: str) -> None:
        for digits in re.findall(r"\d+", spec):
            self.check_size(self._number(digits), "format width")
        _check_decimal(value, self.max_length)

    def _number(self, digits: str) -> int:
        return int(digits) if len(digits) < 10 else self.max_length + 1

    # operators

    def add(self, a: Any, b: Any) -> Any:
        self.check_add(a, b)
        return a + b

    def sub(self, a: Any, b: Any) -> Any:
        self.check_add(a, b)
        return a - b

    def mul(self, a: Any, b: Any) -> Any:
        self.check_mul(a, b)
        return a * b

    def pow(self, base: Any, exponent: Any, modulus: Any = None) -> Any:
        self.check_pow(base, exponent, modulus)
        return pow(base, exponent) if modulus is None else pow(base, exponent, modulus)

    def lshift(self, a: Any, b: Any) -> Any:
        self.check_lshift(a, b)
        return a << b

    def mod(self, a: Any, b: Any) -> Any:
        self.check_mod(a, b)
        return a % b

    def inplacevar(self, op: str, target: Any, value: Any) -> Any:
        check = self._inplace_checks.get(op)
        if check is not None:
            check(target, value)
        return _INPLACE[op](target, value)

    def augitem(self, container: Any, key: Any, op: str, value: Any) -> None:
        current = container[key]
        self.write(container)[key] = self.inplacevar(op, current, value)

    def format_value(self, value: Any, conversion: int, spec: str) -> str:
        if conversion == ord("s"):
            value = str(value)
        elif conversion == ord("r"):
            value = repr(value)
        elif conversion == ord("a"):
            value = ascii(value)
        self.check_format(value, spec)
        return format(value, spec)

    # access

    def getattr(self, obj: Any, name: str, default: Any = _MISSING) -> Any:
        if type(name) is not str:
            raise TypeError("attribute name must be a string")
        if name[:1] == "_" or name in _REFUSED_ATTRIBUTES:
            raise AttributeError(f'"{name}" is not available in scripts')
        if name in _SIZED_METHODS:
            if type(obj) in (str, bytes, list):
                return self._sized_method(obj, name)
            if obj is str or obj is bytes or obj is list:
                raise AttributeError(f"call {name}() on a value, not on {obj.__name__}")
        return getattr(obj, name) if default is _MISSING else getattr(obj, name, default)

    def write(self, obj: Any) -> Any:
        if type(obj) is dict or type(obj) is list:
            return obj
        raise TypeError(f"a {type(obj).__name__} cannot be changed in a script")

    @staticmethod
    def apply(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return function(*args, **kwargs)

    def _sized_method(self, obj: Any, name: str) -> Callable[..., Any]:
        method = getattr(obj, name)
        check = self.check_size
        what = f"{type(obj).__name__}.{name}()"
        if name == "format":
            return lambda *args, **kwargs: _SafeFormatter(self).vformat(obj, args, kwargs)
        if name == "format_map":
            return lambda mapping: _SafeFormatter(self).vformat(obj, (), mapping)
        if name == "join":

            def join(iterable: Iterable[Any]) -> Any:
                items = list(iterable)
                size = sum(len(i) for i in items if type(i) in (str, bytes))
                check(size + len(obj) * max(len(items) - 1, 0), what)
                return method(items)

            return join
        if name == "replace":

            def replace(old: Any, new: Any, count: int = -1) -> Any:
                hits = obj.count(old) if old else len(obj) + 1
                hits = min(hits, count) if count >= 0 else hits
                check(len(obj) + hits * max(len(new) - len(old), 0), what)
                return method(old, new, count)

            return replace
        if name == "expandtabs":

            def expandtabs(tabsize: int = 8) -> Any:
                check(len(obj) + obj.count("\t" if type(obj) is str else b"\t") * tabsize, what)
                return method(tabsize)

            return expandtabs
        if name == "extend":

            def extend(iterable: Iterable[Any]) -> None:
                if isinstance(iterable, (list, tuple, str, dict, set, frozenset, range)):
                    check(len(obj) + len(iterable), what)
                method(iterable)

            return extend

        def pad(width: int, *fill: Any) -> Any:  # ljust, rjust, center, zfill
            check(width, what)
            return method(width, *fill)

        return pad

    # builtins

    def range(self, *args: int) -> range:
        result = range(*args)
        try:
            size = len(result)
        except OverflowError:
            size = self.max_length + 1
        self.check_size(size, "range()")
        return result

    def sum(self, iterable: Iterable[Any], /, start: Any = 0) -> Any:
        if type(start) not in (int, float, bool, Decimal, timedelta):
            raise TypeError("sum() adds numbers and timedeltas; join strings, extend lists")
        return sum(iterable, start)

    def round(self, number: Any, ndigits: int | None = None) -> Any:
        if ndigits is None:
            _check_decimal(number, _MAX_INT_DIGITS)
            return round(number)
        return round(number, ndigits)

    def integral(self, function: Callable[[Any], int]) -> Callable[[Any], int]:
        def bounded(value: Any) -> int:
            _check_decimal(value, _MAX_INT_DIGITS)
            return function(value)

        bounded.__name__ = function.__name__
        return bounded
