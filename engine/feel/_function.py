"""What every built-in function shares: its arity and the argument helpers.

Each group of builtins (``_builtins``, ``_strings``, ``_lists``) fills its own table through
``registrar``; ``_builtins.BUILTINS`` joins them explicitly, so there is no import-time discovery.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loanflow.engine.feel._values import is_list, is_number

__all__ = ["Builtin", "Register", "all_str", "as_int", "list_args", "registrar", "slice_1based"]


@dataclass(frozen=True, slots=True)
class Builtin:
    name: str
    fn: Callable[..., Any]
    min_args: int
    max_args: int | None
    pure: bool = True

    def arity_problem(self, got: int) -> str | None:
        lo, hi = self.min_args, self.max_args
        if lo <= got and (hi is None or got <= hi):
            return None
        if hi is None:
            expected = f"at least {lo} argument{'s' if lo != 1 else ''}"
        elif lo == hi:
            expected = "no arguments" if lo == 0 else f"{lo} argument{'s' if lo != 1 else ''}"
        elif hi == lo + 1:
            expected = f"{lo} or {hi} arguments"
        else:
            expected = f"{lo} to {hi} arguments"
        return f"'{self.name}' takes {expected}, got {got}"


Register = Callable[..., Callable[[Callable[..., Any]], Callable[..., Any]]]


def registrar(table: dict[str, Builtin]) -> Register:
    """A decorator ``@builtin(name, min_args, max_args=min_args)`` that fills ``table``."""

    def builtin(
        name: str, min_args: int, max_args: int | None = -1, *, pure: bool = True
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            top = min_args if max_args == -1 else max_args
            table[name] = Builtin(name, fn, min_args, top, pure)
            return fn

        return register

    return builtin


def as_int(value: Any) -> int | None:
    if not is_number(value):
        return None
    try:
        whole = int(value)
    except (ValueError, OverflowError):
        return None
    return whole if whole == value else None


def all_str(*values: Any) -> bool:
    return all(isinstance(v, str) for v in values)


def slice_1based(seq: Any, start: Any, length: Any) -> Any:
    """Shared by substring and sublist: 1-based start, negative from the end."""
    begin = as_int(start)
    if begin is None or begin == 0 or (length is not None and as_int(length) is None):
        return None
    index = begin - 1 if begin > 0 else len(seq) + begin
    if index < 0 or index > len(seq):
        return None
    count = as_int(length)
    if count is None:
        return seq[index:]
    return None if count < 0 else seq[index : index + count]


def list_args(args: tuple[Any, ...]) -> list[Any]:
    """FEEL's ``min([1, 2])`` and ``min(1, 2)`` are the same call."""
    if len(args) == 1 and is_list(args[0]):
        return list(args[0])
    return list(args)
