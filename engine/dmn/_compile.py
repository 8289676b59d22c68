"""Compiling decision cells once, at deploy time, into plain callables.

A cell is FEEL unless its table says otherwise. Cells whose language is not declared (tables
saved by SpiffArena carry Python) are read as FEEL first and as a sandboxed Python expression
only when they are not FEEL, so the tables Camunda Modeler and dmn-js write and the Python
tables loanflow shipped before both keep their meaning. A cell that is neither is a
:class:`DmnProblem` naming the rule, the column and the line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from loanflow.engine.dmn._errors import DmnProblem
from loanflow.engine.dmn._model import Cell
from loanflow.engine.errors import ScriptError
from loanflow.engine.feel import (
    FeelError,
    compile_expression,
    compile_unary_tests,
)
from loanflow.engine.sandbox import Sandbox

__all__ = [
    "Evaluate",
    "Test",
    "compile_cell_expression",
    "compile_cell_test",
    "current_sandbox",
    "language_of",
]

Evaluate = Callable[[Mapping[str, Any]], Any]
Test = Callable[[Any, Mapping[str, Any]], bool]

_FEEL = "feel"
_PYTHON = "python"
_INPUT = "dmn_input"
_QUESTION = re.compile(r"""\?(?=(?:[^'"]|'[^']*'|"[^"]*")*$)""")
_PY_LITERALS = frozenset({"True", "False", "None"})

#: the sandbox Python cells run in, set around each evaluation by the decision runner
current_sandbox: ContextVar[Sandbox | None] = ContextVar("loanflow_dmn_sandbox", default=None)
_checker: list[Sandbox] = []


def _sandbox() -> Sandbox:
    sandbox = current_sandbox.get()
    if sandbox is None:
        if not _checker:
            _checker.append(Sandbox())
        sandbox = _checker[0]
    return sandbox


def language_of(declared: str | None) -> str | None:
    """``feel``, ``python`` or ``None`` (decide by content); anything else is refused."""
    if declared is None or not declared.strip():
        return None
    lowered = declared.strip().lower()
    if "feel" in lowered:
        return _FEEL
    if lowered in ("python", "spiff", "spiffworkflow"):
        return _PYTHON
    raise ValueError(f"expression language {declared!r} is not supported here (use FEEL or python)")


@dataclass(frozen=True)
class Compiled:
    """A compiled cell: the callable, the root names it reads, and the language it was read in."""

    fn: Any
    names: frozenset[str]
    language: str


def _compile_cell(
    cell: Cell,
    where: str,
    feel: Callable[[str], Any],
    python: Callable[[str], Compiled | str],
) -> Compiled | DmnProblem:
    """FEEL first (unless the cell says python), then Python (unless it says FEEL).

    ``python`` answers the compiled cell or why the text is not Python; when both fail the
    FEEL error is reported, since FEEL is what a modeler's user wrote.
    """
    try:
        language = language_of(cell.language)
    except ValueError as exc:
        return DmnProblem(f"{where}: {exc}", cell.line, cell.element)
    feel_error: FeelError | None = None
    if language in (None, _FEEL) and not (language is None and cell.text in _PY_LITERALS):
        try:
            compiled = feel(cell.text)
        except FeelError as exc:
            feel_error = exc
        else:
            return Compiled(compiled, compiled.names, _FEEL)
    if language in (None, _PYTHON):
        answer = python(cell.text)
        if isinstance(answer, Compiled):
            return answer
        if feel_error is None:
            return DmnProblem(f"{where}: {answer}", cell.line, cell.element)
    assert feel_error is not None
    return DmnProblem(
        f"{where}: {cell.text!r} does not parse: {feel_error}", cell.line, cell.element
    )


def _python_expression_cell(text: str) -> Compiled | str:
    try:
        _sandbox().check_expression(text)
    except ScriptError as exc:
        return str(exc)
    return Compiled(_python_expression(text), frozenset(), _PYTHON)


def _python_test_cell(text: str) -> Compiled | str:
    source = _python_test_source(text)
    if source is None:
        return f"{text!r} is not a Python test"
    return Compiled(_python_test(source), frozenset(), _PYTHON)


def compile_cell_expression(cell: Cell, where: str) -> Compiled | DmnProblem:
    """An input expression or an output entry."""
    return _compile_cell(cell, where, compile_expression, _python_expression_cell)


def compile_cell_test(cell: Cell, where: str) -> Compiled | DmnProblem | None:
    """An input entry; ``None`` for ``-`` or an empty cell (matches anything)."""
    if cell.text in ("", "-"):
        return None
    compiled = _compile_cell(cell, where, compile_unary_tests, _python_test_cell)
    if isinstance(compiled, Compiled) and getattr(compiled.fn, "is_any", False):
        return None
    return compiled


def _compiles(source: str) -> bool:
    try:
        _sandbox().check_expression(source)
    except ScriptError:
        return False
    return True


def _python_test_source(text: str) -> str | None:
    """SpiffWorkflow's reading of a Python input entry: ``?`` is the input, a bare value is
    compared for equality, and a cell starting with an operator is applied to the input."""
    if _QUESTION.search(text):
        source = _QUESTION.sub(_INPUT, text)
        return source if _compiles(source) else None
    if _compiles(text):
        return f"({_INPUT}) == ({text})"
    source = f"{_INPUT} {text}"
    return source if _compiles(source) else None


def _python_expression(source: str) -> Evaluate:
    def evaluate(context: Mapping[str, Any]) -> Any:
        return _sandbox().evaluate(source, context)

    return evaluate


def _python_test(source: str) -> Test:
    def test(value: Any, context: Mapping[str, Any]) -> bool:
        return bool(_sandbox().evaluate(source, context, {_INPUT: value}))

    return test
