"""The compiled forms callers hold on to, and the cached functions that make them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from loanflow.engine.feel._compile import Compiler
from loanflow.engine.feel._errors import FeelEvalError, FeelSyntaxError
from loanflow.engine.feel._parser import parse_expression, parse_unary_tests
from loanflow.engine.feel._unary import compile_tests

__all__ = ["Expression", "UnaryTests", "compile_expression", "compile_unary_tests"]

_CACHE_SIZE = 4096


def _unexpected(text: str, exc: Exception) -> FeelEvalError:
    return FeelEvalError(f"evaluation failed: {type(exc).__name__}: {exc}", text, None)


@dataclass(frozen=True, slots=True)
class Expression:
    """A compiled FEEL expression; calling it evaluates against a context of variables.

    ``names`` are the root variables read outside filters (inside ``list[amount > 5]`` a name
    may be a key of each element, so it is not reported as a missing input).
    """

    text: str
    names: frozenset[str]
    _fn: Callable[[Mapping[str, Any], Any], Any] = field(repr=False, compare=False)

    def __call__(self, context: Mapping[str, Any]) -> Any:
        try:
            return self._fn(context, None)
        except FeelEvalError:
            raise
        except Exception as exc:
            raise _unexpected(self.text, exc) from exc


@dataclass(frozen=True, slots=True)
class UnaryTests:
    """A compiled input entry; ``tests(value, context)`` is True when ``value`` matches."""

    text: str
    names: frozenset[str]
    is_any: bool
    _fn: Callable[[Mapping[str, Any], Any], bool] = field(repr=False, compare=False)

    def __call__(self, value: Any, context: Mapping[str, Any]) -> bool:
        try:
            return self._fn(context, value)
        except FeelEvalError:
            raise
        except Exception as exc:
            raise _unexpected(self.text, exc) from exc


def _check(text: object) -> str:
    if not isinstance(text, str):
        raise TypeError(f"FEEL text must be a str, not {type(text).__name__}")
    return text


def compile_expression(text: str) -> Expression:
    """Compile once, evaluate many times; raises ``FeelSyntaxError`` with a position.

    Results are cached by text, so compiling the same cell again is a dictionary look-up.
    """
    return _compile_expression(_check(text))


def compile_unary_tests(text: str) -> UnaryTests:
    """Compile an input entry: ``-``, ``< 600``, ``[18..60]``, ``"A","B"``, ``not(...)``...

    An empty cell counts as ``-``, as DMN modellers leave "any" cells blank. Cached by text.
    """
    return _compile_unary_tests(_check(text))


@lru_cache(maxsize=_CACHE_SIZE)
def _compile_expression(text: str) -> Expression:
    try:
        node = parse_expression(text)
        compiler = Compiler(text)
        fn = compiler.expr(node).fn
    except RecursionError:
        raise FeelSyntaxError("expression nested too deeply", text, None) from None
    return Expression(text, frozenset(compiler.names), fn)


@lru_cache(maxsize=_CACHE_SIZE)
def _compile_unary_tests(text: str) -> UnaryTests:
    try:
        node = parse_unary_tests(text)
        compiler = Compiler(text)
        fn = compile_tests(node, compiler)
    except RecursionError:
        raise FeelSyntaxError("expression nested too deeply", text, None) from None
    return UnaryTests(text, frozenset(compiler.names), node.is_any, fn)
