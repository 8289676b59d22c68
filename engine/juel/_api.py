"""The compiled form callers hold on to, and the cached function that makes it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

from loanflow.engine.juel._compile import Compiled, Compiler, Fn
from loanflow.engine.juel._errors import JuelEvalError, JuelSyntaxError
from loanflow.engine.juel._lexer import MAX_TEXT
from loanflow.engine.juel._parser import parse_text
from loanflow.engine.juel._values import to_text

__all__ = ["Expression", "compile_expression", "is_juel"]

_CACHE_SIZE: Final = 4096
_OPENER: Final = re.compile(r"(?<!\\)[$#]\{.*\}", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Expression:
    """A compiled JUEL text; calling it evaluates against a context of process variables.

    ``names`` are the root variables read (``customer`` for ``${customer.address.city}``,
    ``x`` for ``${execution.getVariable('x')}``). ``composite`` texts (``Loan ${id} for
    ${name}``) always give a ``str``; a single ``${...}`` gives the value itself.
    """

    text: str
    names: frozenset[str]
    composite: bool
    _fn: Fn = field(repr=False, compare=False)

    def __call__(self, context: Mapping[str, Any]) -> Any:
        try:
            return self._fn(context)
        except JuelEvalError as exc:
            if exc.text:
                raise
            raise JuelEvalError(exc.message, self.text, exc.position) from None
        except Exception as exc:
            message = f"evaluation failed: {type(exc).__name__}: {exc}"
            raise JuelEvalError(message, self.text, None) from exc


def is_juel(text: str) -> bool:
    """True when the text holds a ``${...}`` or ``#{...}`` (an escaped ``\\${`` does not count)."""
    return isinstance(text, str) and _OPENER.search(text) is not None


def compile_expression(text: str) -> Expression:
    """Compile once, evaluate many times; raises only ``JuelSyntaxError``, with a position.

    Plain text gives an ``Expression`` returning that text. Whitespace around a single
    ``${...}`` is ignored (it is XML indentation around a condition), so
    ``"\\n  ${ok}\\n"`` gives the value of ``ok`` and not a string. Results are cached by text.
    """
    if not isinstance(text, str):
        raise TypeError(f"JUEL text must be a str, not {type(text).__name__}")
    return _compile(text)


@lru_cache(maxsize=_CACHE_SIZE)
def _compile(text: str) -> Expression:
    if len(text) > MAX_TEXT:
        raise JuelSyntaxError(f"text longer than {MAX_TEXT} characters", text, MAX_TEXT)
    compiler = Compiler()
    try:
        parts = [p if isinstance(p, str) else compiler.expr(p) for p in parse_text(text)]
    except RecursionError:
        raise JuelSyntaxError("expression nested too deeply", text, None) from None
    sections = [p for p in parts if isinstance(p, Compiled)]
    if not sections:
        literal = "".join(p for p in parts if isinstance(p, str))
        return Expression(text, frozenset(), False, lambda ctx: literal)
    names = frozenset(compiler.names)
    if len(sections) == 1 and all(isinstance(p, Compiled) or not p.strip() for p in parts):
        return Expression(text, names, False, sections[0].fn)
    return Expression(text, names, True, _join(parts))


def _join(parts: list[str | Compiled]) -> Fn:
    pieces = [_literal(part) if isinstance(part, str) else _shown(part.fn) for part in parts]
    return lambda ctx: "".join([piece(ctx) for piece in pieces])


def _literal(text: str) -> Fn:
    return lambda ctx: text


def _shown(fn: Fn) -> Fn:
    return lambda ctx: to_text(fn(ctx))
