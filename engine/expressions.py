"""Expressions in the three languages diagrams carry, told apart by how they are written.

- **JUEL** (Camunda 7): text with ``${…}`` or ``#{…}`` — ``${amount > 50000 && !blacklisted}``,
  or composite text ``Loan ${id}``. For diagrams loanflow accepted before JUEL was compiled,
  a single ``${…}`` whose inside is not JUEL but is a sandboxed Python expression
  (``${'head' if amount > 300000 else 'branch'}``) still runs as Python.
- **FEEL** (Camunda 8 / Zeebe): text starting with ``=`` — ``= amount > 50000``.
- **Python** (SpiffArena): anything else, run in the sandbox.

Each text is compiled once (cached by text) and checked at deploy time by :func:`check`;
JUEL and FEEL compile into closures that read the task data through ``Mapping`` lookups
only, so they need no sandbox of their own.
"""

from __future__ import annotations

import functools
import re
from collections import ChainMap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from loanflow.engine.errors import ScriptError
from loanflow.engine.feel import FeelError
from loanflow.engine.feel import compile_expression as compile_feel
from loanflow.engine.juel import JuelError, is_juel
from loanflow.engine.juel import compile_expression as compile_juel

if TYPE_CHECKING:
    from loanflow.engine.sandbox import Sandbox

__all__ = ["Compiled", "check", "compile_text", "evaluate", "iso_duration", "language_of"]

Language = Literal["python", "juel", "feel"]
_SINGLE = re.compile(r"^\s*[$#]\{(?P<inner>.*)\}\s*$", re.DOTALL)


def language_of(text: str) -> Language:
    if is_juel(text):
        return "juel"
    if text.lstrip().startswith("="):
        return "feel"
    return "python"


@dataclass(frozen=True)
class Compiled:
    language: Language
    #: the Python source when ``language`` is python, else the text
    source: str
    fn: Callable[[Mapping[str, Any]], Any] | None


@functools.lru_cache(maxsize=4096)
def compile_text(text: str) -> Compiled | str:
    """The compiled expression, or why it does not compile (a message with its column)."""
    language = language_of(text)
    if language == "feel":
        try:
            return Compiled("feel", text, compile_feel(text.lstrip()[1:]))
        except FeelError as exc:
            return f"FEEL {exc}"
    if language == "juel":
        try:
            return Compiled("juel", text, compile_juel(text))
        except JuelError as exc:
            single = _SINGLE.match(text)
            if single is not None and _python_ok(single.group("inner").strip()):
                return Compiled("python", single.group("inner").strip(), None)
            return f"JUEL {exc}"
    return Compiled("python", text, None)


def _python_ok(source: str) -> bool:
    try:
        _checker().check_expression(source)
    except ScriptError:
        return False
    return True


@functools.cache
def _checker() -> Sandbox:
    from loanflow.engine.sandbox import Sandbox

    return Sandbox()


def check(text: str, check_python: Callable[[str], None]) -> None:
    """Raise :class:`ScriptError` if ``text`` is not an expression this engine can run."""
    compiled = compile_text(text)
    if isinstance(compiled, str):
        raise ScriptError(compiled)
    if compiled.language == "python":
        check_python(compiled.source)


def evaluate(
    sandbox: Sandbox,
    text: str,
    context: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> Any:
    """The value of ``text`` over ``context`` (which wins over ``extra``), in its language."""
    compiled = compile_text(text)
    if isinstance(compiled, str):
        raise ScriptError(compiled)
    if compiled.fn is None:
        return sandbox.evaluate(compiled.source, context, extra)
    scope: Mapping[str, Any] = ChainMap(dict(context), dict(extra)) if extra else context
    try:
        return compiled.fn(scope)
    except (JuelError, FeelError) as exc:
        raise ScriptError(str(exc)) from exc


def iso_duration(value: timedelta) -> str:
    """``PT1H30M``-style text for a duration a FEEL or Python timer expression computed."""
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    time = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (secs, "S")) if n)
    return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else ("" if days else "T0S"))
