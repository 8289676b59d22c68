"""Compiling tenant source under :class:`_Policy`, once per source.

A :class:`_Program` is the compiled code, the guard names it uses and whether it ticks, or the
reason it was refused with its line. It does not depend on any sandbox's settings, so one
process-wide LRU cache serves every sandbox; sources too long to keep are compiled each time.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from functools import lru_cache
from types import CodeType
from typing import Final

from RestrictedPython import compile_restricted_eval, compile_restricted_exec

from loanflow.engine.sandbox._policy import _TICK, _Policy

_FILENAME: Final = "<script>"
_CACHE_SIZE: Final = 4096
_CACHED_SOURCE_LENGTH: Final = 65_536


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
