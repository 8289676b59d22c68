"""Running compiled tenant code: the deadline, failures with their line, and the public API.

:class:`Sandbox` puts the other modules together: it compiles through ``_compile``, runs the
code with the ``_guards`` and ``_builtins`` of its own limits under a per-call deadline that the
ticks inserted by ``_policy`` check, and keeps only bounded data (``_data``).
:class:`SandboxEnvironment` plugs it into SpiffWorkflow's script engine.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from time import monotonic
from types import CodeType, TracebackType
from typing import Any

from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from loanflow.engine.errors import ScriptError
from loanflow.engine.expressions import evaluate as evaluate_text
from loanflow.engine.sandbox._builtins import _builtins
from loanflow.engine.sandbox._compile import (
    _CACHE_SIZE,
    _CACHED_SOURCE_LENGTH,
    _FILENAME,
    _compile,
    _located,
)
from loanflow.engine.sandbox._data import _CONTAINERS, _DATA_TYPES, _DATA_WEIGHT, _weigh
from loanflow.engine.sandbox._guards import _Guards, _PrintSink
from loanflow.engine.sandbox._policy import _TICK


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


@dataclass(frozen=True, slots=True)
class _Ready:
    """Compiled code with the globals it needs, for one sandbox."""

    code: CodeType
    template: dict[str, Any]
    ticks: bool


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
        # JUEL (``${…}``) and FEEL (``= …``) as well as Python: see loanflow.engine.expressions
        return evaluate_text(self.sandbox, expression, context, external_context)

    def execute(
        self,
        script: str,
        context: dict[str, Any],
        external_context: Mapping[str, Any] | None = None,
    ) -> bool:
        self.sandbox.execute(script, context, external_context)
        return True
