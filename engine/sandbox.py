"""The sandbox in which tenant-authored scripts and expressions run.

Script tasks, gateway conditions, DMN cells and timer expressions are code written by tenants.
They are compiled by RestrictedPython under :class:`_Policy`, which keeps RestrictedPython's rules
(no name or attribute starting with ``_``, guarded attribute, item and write access, no ``exec``
or ``eval``) and adds:

- imports, class definitions and introspection builtins (``globals``, ``vars``, ``open``…) are
  refused at compile time, with the line;
- ``+ - * ** << %``, f-string fields and ``x[k] op= v`` go through guards that refuse, before
  building it, any sequence longer than ``max_sequence_length`` or any int wider than
  :data:`MAX_INT_BITS` bits;
- a tick runs at the top of every loop body, function, lambda, comprehension item and ``except``
  block; past the call's deadline it raises, and keeps raising, so user code cannot swallow the
  time limit. This needs no signal and works in any thread.

What scripts can reach is :func:`_builtins` (plus the sandbox's ``extra_globals``): data types,
a few bounded builtins, ``datetime``/``date``/``timedelta``/``Decimal`` and a ``math`` namespace.
Memory is bounded per operation, not per run: see the caveat in :class:`Sandbox`.
"""

from __future__ import annotations

import ast
import math
import operator
import re
import string
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from time import monotonic
from types import CodeType, SimpleNamespace, TracebackType
from typing import Any, Final

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence
from RestrictedPython.transformer import (
    INSPECT_ATTRIBUTES,
    IOPERATOR_TO_STR,
    RestrictingNodeTransformer,
    copy_locations,
)
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from loanflow.engine.errors import ScriptError

__all__ = ["MAX_INT_BITS", "Sandbox", "SandboxEnvironment"]

MAX_INT_BITS: Final = 10_000
"""No guarded operation builds an int wider than this (about 3,000 decimal digits)."""

_MAX_INT_DIGITS: Final = int(MAX_INT_BITS * math.log10(2))
_FILENAME: Final = "<script>"
_TICK: Final = "_lf_tick_"
_PRINT_LIMIT: Final = 10_000
_CACHE_SIZE: Final = 4096
_CACHED_SOURCE_LENGTH: Final = 65_536

_CONTAINERS: Final = frozenset({list, tuple, dict, set, frozenset})
_DATA_TYPES: Final = _CONTAINERS | {
    *(type(None), bool, int, float, str, bytes, Decimal),
    *(date, datetime, time, timedelta),
}
_DATA_WEIGHT: Final = 4  # task data kept may weigh 4 x max_sequence_length (see _weigh)
_SEQUENCES: Final = frozenset({str, bytes, list, tuple})
_UNAVAILABLE_NAMES: Final = frozenset(
    {"eval", "exec", "compile", "globals", "locals", "vars", "dir", "open", "setattr", "delattr"}
    | {"breakpoint", "memoryview", "super", "classmethod", "staticmethod", "property"}
)
_REFUSED_ATTRIBUTES: Final = INSPECT_ATTRIBUTES | {
    "mro",
    "from_bytes",
    "as_integer_ratio",
    "translate",
    "maketrans",
}
_INTERNAL_IMPORTS: Final = frozenset({"time", "_strptime"})
_MATH_FUNCTIONS: Final = (
    *("sqrt", "exp", "log", "log2", "log10", "fabs", "fmod", "fsum", "copysign", "hypot", "gcd"),
    *("isclose", "isfinite", "isinf", "isnan", "degrees", "radians"),
    *("sin", "cos", "tan", "asin", "acos", "atan", "atan2"),
)
_SIZED_METHODS: Final = frozenset(
    {"format", "format_map", "join", "replace", "ljust", "rjust", "center", "zfill", "expandtabs"}
    | {"extend"}
)
_BINOP_GUARDS: Final[dict[type[ast.operator], str]] = {
    ast.Add: "_lf_add_",
    ast.Sub: "_lf_sub_",
    ast.Mult: "_lf_mul_",
    ast.Pow: "_lf_pow_",
    ast.LShift: "_lf_lshift_",
    ast.Mod: "_lf_mod_",
}
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


# -- compiling -------------------------------------------------------------------------------


def _load(name: str) -> ast.Name:
    return ast.Name(name, ast.Load())


class _Policy(RestrictingNodeTransformer):  # type: ignore[misc]
    """RestrictedPython's policy plus refusals, operator guards and deadline ticks."""

    def _tick(self, where: ast.AST) -> ast.Call:
        call = ast.Call(func=_load(_TICK), args=[], keywords=[])
        copy_locations(call, where)
        return call

    def _tick_statement(self, where: ast.AST) -> ast.Expr:
        statement = ast.Expr(ast.Call(func=_load(_TICK), args=[], keywords=[]))
        copy_locations(statement, where)
        return statement

    def visit_Import(self, node: ast.Import) -> ast.AST:
        self.error(node, "imports are not allowed")
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
        self.error(node, "imports are not allowed")
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self.error(node, "class definitions are not allowed")
        return node

    def visit_Name(self, node: ast.Name) -> Any:
        if isinstance(node.ctx, ast.Load) and node.id in _UNAVAILABLE_NAMES:
            self.error(node, f'"{node.id}" is not available in scripts')
        return super().visit_Name(node)

    def visit_Constant(self, node: ast.Constant) -> Any:
        if isinstance(node.value, int) and node.value.bit_length() > MAX_INT_BITS:
            self.error(node, f"integer literal wider than {MAX_INT_BITS} bits")
        return super().visit_Constant(node)

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        node = self.node_contents_visit(node)
        guard = _BINOP_GUARDS.get(type(node.op))
        if guard is None:
            return node
        call = ast.Call(func=_load(guard), args=[node.left, node.right], keywords=[])
        copy_locations(call, node)
        return call

    def visit_AugAssign(self, node: ast.AugAssign) -> Any:
        if not isinstance(node.target, ast.Subscript):
            return super().visit_AugAssign(node)
        # RestrictedPython refuses `d[k] += v`; it becomes `_lf_augitem_(d, k, "+=", v)`.
        target = node.target
        args = [
            self.visit(target.value),
            self.visit(target.slice),
            ast.Constant(IOPERATOR_TO_STR[type(node.op)]),
            self.visit(node.value),
        ]
        statement = ast.Expr(ast.Call(func=_load("_lf_augitem_"), args=args, keywords=[]))
        copy_locations(statement, node)
        return statement

    def visit_FormattedValue(self, node: ast.FormattedValue) -> Any:
        node = self.node_contents_visit(node)
        spec = node.format_spec if node.format_spec is not None else ast.Constant("")
        call = ast.Call(
            func=_load("_lf_format_"),
            args=[node.value, ast.Constant(node.conversion), spec],
            keywords=[],
        )
        copy_locations(call, node.value)
        node.value, node.conversion, node.format_spec = call, -1, None
        return node

    def visit_While(self, node: ast.While) -> Any:
        node = super().visit_While(node)
        node.body.insert(0, self._tick_statement(node))
        return node

    def visit_For(self, node: ast.For) -> Any:
        node = super().visit_For(node)
        node.body.insert(0, self._tick_statement(node))
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Any:
        node = super().visit_FunctionDef(node)
        node.body.insert(0, self._tick_statement(node))
        return node

    def visit_Lambda(self, node: ast.Lambda) -> Any:
        node = super().visit_Lambda(node)
        body = ast.BoolOp(op=ast.And(), values=[self._tick(node), node.body])
        copy_locations(body, node.body)
        node.body = body
        return node

    def visit_comprehension(self, node: ast.comprehension) -> Any:
        node = super().visit_comprehension(node)
        node.ifs.insert(0, self._tick(node.iter))
        return node

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> Any:
        node = super().visit_ExceptHandler(node)
        node.body.insert(0, self._tick_statement(node))
        return node


@dataclass(frozen=True, slots=True)
class _Program:
    """A compiled source, or why it was refused. Cached: it does not depend on the sandbox."""

    code: CodeType | None
    guards: frozenset[str] = frozenset()
    ticks: bool = False
    error: str = ""
    line: int | None = None


def _names(code: CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, CodeType):
            names |= _names(const)
    return names


def _located(detail: str, line: int | None) -> str:
    return f"line {line}: {detail}" if line else detail


def _compile(mode: str, source: str) -> _Program:
    """Compiled once per (mode, source), except sources too large to keep around."""
    if len(source) > _CACHED_SOURCE_LENGTH:
        return _compile_uncached(mode, source)
    return _compile_cached(mode, source)


def _compile_uncached(mode: str, source: str) -> _Program:
    if mode == "eval":
        text, compiler = source.strip(), compile_restricted_eval
    else:
        text, compiler = textwrap.dedent(source), compile_restricted_exec
    try:
        result = compiler(text, filename=_FILENAME, policy=_Policy)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:  # null bytes, nesting
        line = getattr(exc, "lineno", None)
        return _Program(None, error=_located(f"{type(exc).__name__}: {exc}", line), line=line)
    if result.errors:
        found = [re.match(r"Line (\d+|None): (.*)", e, re.DOTALL) for e in result.errors[:3]]
        first = found[0]
        line = int(first[1]) if first and first[1].isdigit() else None
        detail = "; ".join(m[2] if m else e for m, e in zip(found, result.errors, strict=False))
        return _Program(None, error=_located(detail, line), line=line)
    names = _names(result.code)
    return _Program(result.code, frozenset(n for n in names if n[:1] == "_"), _TICK in names)


_compile_cached = lru_cache(maxsize=_CACHE_SIZE)(_compile_uncached)


# -- running ---------------------------------------------------------------------------------


class _TimeLimit(Exception):
    """The run passed its deadline. Every later tick raises it again."""


class _Budget:
    """The deadline of one evaluate/execute call, checked by the ticks compiled into the code."""

    __slots__ = ("deadline", "expired")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = False

    def tick(self) -> bool:
        if self.expired or monotonic() > self.deadline:
            self.expired = True
            raise _TimeLimit("time limit exceeded")
        return True


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


@dataclass(frozen=True, slots=True)
class _Ready:
    """Compiled code with the globals it needs, for one sandbox."""

    code: CodeType
    template: dict[str, Any]
    ticks: bool


def _key_weight(mapping: dict[Any, Any]) -> int:
    try:
        return sum(map(len, mapping)) >> 4  # keys are nearly always strings
    except TypeError:
        return sum(len(k) for k in mapping if type(k) is str or type(k) is bytes) >> 4


def _leaf_weight(container: Any) -> int | None:
    """The weight of a container that holds no containers (most rows of task data), else None."""
    if type(container) is dict:
        weight = 2 * len(container) + 1 + _key_weight(container)
        children: Iterable[Any] = container.values()
    else:
        weight = len(container) + 1
        children = container
    for child in children:
        kind = type(child)
        if kind is str or kind is bytes:
            weight += len(child) >> 4
        elif kind in _CONTAINERS:
            return None
    return weight


def _weigh(name: str, value: Any, room: int, weights: dict[int, int]) -> int:
    """``room`` less the weight of ``value``: one per element, one per 16 characters.

    Shared parts weigh once per reference, as they will when the task data is serialized, so
    ``x = [x, x]`` sixty times over is refused here instead of hanging the serializer; so is
    a container that holds itself. ``weights`` memoizes finished containers by id, which keeps
    the walk linear in the number of distinct containers.
    """
    entered: set[int] = set()
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        item, finished = stack.pop()
        key = id(item)
        if not finished and key in weights:
            continue
        if type(item) is dict:
            weight = 2 * len(item) + 1 + _key_weight(item)
            children: Iterable[Any] = item.values()
        else:
            weight = len(item) + 1
            children = item
        pending = None
        for child in children:
            kind = type(child)
            if kind is str or kind is bytes:
                weight += len(child) >> 4
            elif kind in _CONTAINERS:
                known = weights.get(id(child))
                if known is None and (known := _leaf_weight(child)) is not None:
                    weights[id(child)] = known
                if known is not None:
                    weight += known
                elif pending is None:
                    pending = [child]
                else:
                    pending.append(child)
        if pending is not None:
            if finished or key in entered:  # a child still unfinished after its visit: a cycle
                raise ScriptError(f"{name} contains itself and cannot be kept as task data")
            entered.add(key)
            stack.append((item, True))
            stack.extend((child, False) for child in pending)
            continue
        if weight > room:
            raise ScriptError(f"{name} is too large to keep as task data")
        weights[key] = weight
    return room - weights[id(value)]


def _failure(exc: Exception) -> ScriptError:
    line = _script_line(exc.__traceback__)
    detail = f"{type(exc).__name__}: {exc}"
    detail = detail if len(detail) <= 500 else detail[:497] + "..."
    return ScriptError(_located(detail, line), line=line)


def _script_line(tb: TracebackType | None) -> int | None:
    """The line of the innermost script frame in a traceback."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


class Sandbox:
    """Compiles and runs tenant code with guarded access, bounded operations and a deadline.

    One sandbox serves any number of threads. Compiled code is cached per source, so
    conditions evaluated over and over cost a dict copy and an ``eval``.

    Memory is bounded per operation (sequence length, int width, format width, ``join``,
    ``replace``…), not per run: ``str()`` of a list holding many references to one large list
    still builds a large string in one step. Run workers under a process memory limit.
    """

    def __init__(
        self,
        time_limit: float = 1.0,
        max_sequence_length: int = 1_000_000,
        extra_globals: Mapping[str, Any] | None = None,
    ) -> None:
        if time_limit <= 0 or max_sequence_length < 1:
            raise ValueError("time_limit and max_sequence_length must be positive")
        self.time_limit = time_limit
        self.max_sequence_length = max_sequence_length
        self._data_room = _DATA_WEIGHT * max_sequence_length
        guards = _Guards(max_sequence_length)
        self._builtins = _builtins(guards) | dict(extra_globals or {})
        self._guards: dict[str, Any] = {
            "_getattr_": guards.getattr,
            "_getitem_": operator.getitem,
            "_getiter_": iter,
            "_write_": guards.write,
            "_apply_": guards.apply,
            "_inplacevar_": guards.inplacevar,
            "_unpack_sequence_": guarded_unpack_sequence,
            "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
            "_print_": _PrintSink,
            "_print": _PrintSink(room=0),  # expressions print without the module-level setup
            "_lf_add_": guards.add,
            "_lf_sub_": guards.sub,
            "_lf_mul_": guards.mul,
            "_lf_pow_": guards.pow,
            "_lf_lshift_": guards.lshift,
            "_lf_mod_": guards.mod,
            "_lf_augitem_": guards.augitem,
            "_lf_format_": guards.format_value,
        }
        # Ready-to-run code per source, evicted oldest first; compiling is cached in _compile.
        self._expressions: dict[str, _Ready] = {}
        self._scripts: dict[str, _Ready] = {}

    def check_expression(self, source: str) -> None:
        """Raise :class:`ScriptError` (with ``line``) if ``source`` is not an allowed expression."""
        self._prepare("eval", source)

    def check_script(self, source: str) -> None:
        """Raise :class:`ScriptError` (with ``line``) if ``source`` is not an allowed script."""
        self._prepare("exec", source)

    def evaluate(
        self, source: str, context: Mapping[str, Any], extra: Mapping[str, Any] | None = None
    ) -> Any:
        """The value of one expression over ``context`` (which wins over ``extra``).

        The value must be data, of bounded size (see :meth:`execute`); ``context`` is not
        changed.
        """
        ready = self._expressions.get(source) or self._prepare("eval", source)
        if extra:
            namespace = {**extra, **context, **ready.template}
        else:
            namespace = {**context, **ready.template}
        result = self._run(ready, namespace)
        if type(result) not in _DATA_TYPES:
            raise ScriptError(f"the expression gave a {type(result).__name__}, not data")
        if type(result) in _CONTAINERS:
            _weigh("the value", result, self._data_room, {})
        return result

    def execute(
        self, source: str, context: dict[str, Any], extra: Mapping[str, Any] | None = None
    ) -> None:
        """Run a script with ``context`` (task data) as its globals, and write its variables back.

        Afterwards ``context`` holds the script's variables: new and changed ones added, deleted
        ones removed, except names starting with ``_``, ``extra`` names and values that are not
        data (functions, generators, ranges…). Data is None, bool, int, float, str, bytes,
        Decimal, date, datetime, time, timedelta, list, tuple, dict, set and frozenset.
        Task data that would serialize huge (a list holding itself, ``x = [x, x]`` repeated) is
        refused. If the script fails, no name is written back (objects it changed in place stay
        changed).
        """
        ready = self._scripts.get(source) or self._prepare("exec", source)
        namespace = {**(extra or {}), **context, **ready.template}
        self._run(ready, namespace)
        kept = [
            (name, value)
            for name, value in namespace.items()
            if name[:1] != "_" and not (extra and name in extra and value is extra[name])
        ]
        room, weights = self._data_room, dict[int, int]()
        for name, value in kept:
            if type(value) in _CONTAINERS:
                room = _weigh(f"variable {name!r}", value, room, weights)
        for name in [n for n in context if n not in namespace and n[:1] != "_"]:
            del context[name]
        for name, value in kept:
            if name in context and context[name] is value:
                continue
            if type(value) in _DATA_TYPES:
                context[name] = value
            else:
                context.pop(name, None)

    def _prepare(self, mode: str, source: str) -> _Ready:
        if len(source) > self.max_sequence_length:
            raise ScriptError(f"source of {len(source)} characters is longer than allowed")
        program = _compile(mode, source)
        if program.code is None:
            raise ScriptError(program.error, line=program.line)
        guards = {n: self._guards[n] for n in program.guards if n in self._guards}
        ready = _Ready(program.code, {"__builtins__": self._builtins, **guards}, program.ticks)
        cache = self._expressions if mode == "eval" else self._scripts
        if len(source) <= _CACHED_SOURCE_LENGTH:
            if len(cache) >= _CACHE_SIZE:
                cache.pop(next(iter(cache), ""), None)
            cache[source] = ready
        return ready

    def _run(self, ready: _Ready, namespace: dict[str, Any]) -> Any:
        if not ready.ticks:  # straight-line code: every operation in it is bounded
            try:
                return eval(ready.code, namespace)  # restricted code, guarded globals
            except Exception as exc:
                raise _failure(exc) from exc
        budget = _Budget(monotonic() + self.time_limit)
        namespace[_TICK] = budget.tick
        try:
            result = eval(ready.code, namespace)  # restricted code, guarded globals
        except Exception as exc:
            if budget.expired:
                raise self._timeout(exc) from None
            raise _failure(exc) from exc
        finally:
            budget.deadline = -math.inf  # code leaked from this run stops at its first tick
        if budget.expired:  # the script caught the first timeout and ended normally
            raise self._timeout(None)
        return result

    def _timeout(self, exc: Exception | None) -> ScriptError:
        line = _script_line(exc.__traceback__) if exc is not None else None
        detail = f"exceeded the time limit of {self.time_limit:g} s"
        return ScriptError(_located(detail, line), line=line)


class SandboxEnvironment(BasePythonScriptEngineEnvironment):  # type: ignore[misc]
    """SpiffWorkflow's script environment, running everything in a :class:`Sandbox`.

    Use as ``PythonScriptEngine(environment=SandboxEnvironment(sandbox))``.
    """

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__({})
        self.sandbox = sandbox

    def evaluate(
        self,
        expression: str,
        context: Mapping[str, Any],
        external_context: Mapping[str, Any] | None = None,
    ) -> Any:
        return self.sandbox.evaluate(expression, context, external_context)

    def execute(
        self,
        script: str,
        context: dict[str, Any],
        external_context: Mapping[str, Any] | None = None,
    ) -> bool:
        self.sandbox.execute(script, context, external_context)
        return True
