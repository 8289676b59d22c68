"""Declaring and running workers.

A worker is a plain function with one pydantic input model and one output model::

    @worker("ocr.id_card", retries=3)
    async def read_id_card(job: IdCardImage) -> IdCardFields: ...

``@worker`` checks the signature when the module is imported and attaches a frozen
:class:`WorkerDefinition`; it registers nothing. Runners collect definitions explicitly
(:mod:`loanflow.workers.registry`) and call :func:`run_worker` / :func:`run_worker_async`,
which own the seam between the engine's JSON job data and the typed function.

What a worker raises decides what happens to the job:

- ``BusinessError(code)``: thrown as the BPMN error ``code``; never retried;
- ``WorkerError(..., retryable=False)``: an incident at once (bad input, wrong result type);
- anything else: retried ``retries`` times with exponential backoff from ``backoff`` seconds,
  then an incident.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard, TypeVar

from pydantic import BaseModel, ValidationError

from loanflow.engine.errors import WorkerError

__all__ = [
    "WorkerDefinition",
    "definition_of",
    "run_worker",
    "run_worker_async",
    "worker",
]

F = TypeVar("F", bound=Callable[..., Any])

_ATTRIBUTE = "__loanflow_worker__"
_TOPIC = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+")


def _name(fn: object) -> str:
    module = getattr(fn, "__module__", None) or "?"
    qualname = getattr(fn, "__qualname__", None) or repr(fn)
    return f"{module}.{qualname}"


@dataclass(frozen=True)
class WorkerDefinition:
    """Everything a runner needs to know about one worker, fixed at decoration time."""

    topic: str
    fn: Callable[..., Any]
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    retries: int
    """Attempts after the first failure before the job becomes an incident."""
    backoff: float
    """Seconds; the base of the exponential backoff between attempts."""
    lock_seconds: float
    """How long a fetched job stays locked to one worker before another may take it."""
    is_async: bool
    description: str
    """First paragraph of the function's docstring (empty without one)."""

    def __post_init__(self) -> None:
        where = f"worker {self.topic!r} ({_name(self.fn)})"
        if not isinstance(self.topic, str) or not _TOPIC.fullmatch(self.topic):
            raise TypeError(
                f"{_name(self.fn)}: topic {self.topic!r} is not a dotted lowercase name "
                "such as 'ocr.id_card' (letters, digits, '_'; at least two parts)"
            )
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise TypeError(f"{where}: retries must be an int >= 0, got {self.retries!r}")
        if not _is_real(self.backoff) or self.backoff < 0:
            raise TypeError(f"{where}: backoff must be a finite number >= 0, got {self.backoff!r}")
        if not _is_real(self.lock_seconds) or self.lock_seconds <= 0:
            raise TypeError(
                f"{where}: lock_seconds must be a finite number > 0, got {self.lock_seconds!r}"
            )

    @property
    def name(self) -> str:
        """``module.qualname`` of the function, for messages and logs."""
        return _name(self.fn)

    def input_schema(self) -> dict[str, Any]:
        """JSON Schema of the job input the worker accepts."""
        return self.input_model.model_json_schema(mode="validation")

    def output_schema(self) -> dict[str, Any]:
        """JSON Schema of the result as it is written back to the process."""
        return self.output_model.model_json_schema(mode="serialization")


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_model(annotation: object) -> TypeGuard[type[BaseModel]]:
    return (
        isinstance(annotation, type)
        and issubclass(annotation, BaseModel)
        and annotation is not BaseModel
    )


def _first_paragraph(fn: Callable[..., Any]) -> str:
    doc = inspect.getdoc(fn)
    if not doc:
        return ""
    return " ".join(re.split(r"\n\s*\n", doc.strip(), maxsplit=1)[0].split())


def _define(
    fn: Callable[..., Any], topic: str, retries: int, backoff: float, lock_seconds: float
) -> WorkerDefinition:
    name = _name(fn)
    if not inspect.isfunction(fn):
        raise TypeError(f"@worker({topic!r}) applies to a function, not to {name}")
    if hasattr(fn, _ATTRIBUTE):
        raise TypeError(f"{name} is already declared as worker {definition_of(fn).topic!r}")
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        raise TypeError(f"{name}: a worker returns one model; it cannot be a generator")
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:
        raise TypeError(f"{name}: cannot resolve its type annotations: {exc}") from exc

    params = list(inspect.signature(fn).parameters.values())
    if len(params) != 1:
        raise TypeError(
            f"{name}: a worker takes exactly one parameter (its input model), "
            f"it takes {len(params)}"
        )
    param = params[0]
    if param.kind not in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
        raise TypeError(
            f"{name}: the parameter {param.name!r} must be a plain positional parameter, "
            "not *args, **kwargs or keyword-only"
        )
    input_model = hints.get(param.name)
    if not _is_model(input_model):
        raise TypeError(
            f"{name}: the parameter {param.name!r} must be annotated with a pydantic "
            f"BaseModel subclass, got {input_model!r}"
        )
    output_model = hints.get("return")
    if not _is_model(output_model):
        raise TypeError(
            f"{name}: the return annotation must be a pydantic BaseModel subclass "
            f"(for async def, the awaited result), got {output_model!r}"
        )
    return WorkerDefinition(
        topic=topic,
        fn=fn,
        input_model=input_model,
        output_model=output_model,
        retries=retries,
        backoff=backoff,
        lock_seconds=lock_seconds,
        is_async=inspect.iscoroutinefunction(fn),
        description=_first_paragraph(fn),
    )


def worker(
    topic: str, *, retries: int = 3, backoff: float = 10.0, lock_seconds: float = 300.0
) -> Callable[[F], F]:
    """Declare a function as the worker for ``topic``; raises TypeError on a bad declaration.

    The function is returned unchanged, so it stays directly callable in tests.
    """
    if not isinstance(topic, str) or not _TOPIC.fullmatch(topic):
        raise TypeError(
            f"@worker: topic {topic!r} is not a dotted lowercase name such as 'ocr.id_card' "
            "(letters, digits, '_'; at least two parts)"
        )

    def decorate(fn: F) -> F:
        setattr(fn, _ATTRIBUTE, _define(fn, topic, retries, backoff, lock_seconds))
        return fn

    return decorate


def definition_of(fn: object) -> WorkerDefinition:
    """The definition ``@worker`` attached to ``fn``; TypeError if it has none."""
    defn = getattr(fn, _ATTRIBUTE, None)
    if not isinstance(defn, WorkerDefinition):
        raise TypeError(f"{_name(fn)} is not declared with @worker(...)")
    return defn


def _input(defn: WorkerDefinition, payload: Mapping[str, Any]) -> BaseModel:
    if not isinstance(payload, Mapping):
        raise WorkerError(
            f"worker {defn.topic!r}: the job input must be an object, got {type(payload).__name__}",
            retryable=False,
        )
    try:
        return defn.input_model.model_validate(dict(payload))
    except ValidationError as exc:
        # Only paths and reasons: input values may be ID or phone numbers.
        reasons = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(input)'}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False)
        )
        raise WorkerError(
            f"worker {defn.topic!r}: invalid input: {reasons}", retryable=False
        ) from None


def _output(defn: WorkerDefinition, result: object) -> dict[str, Any]:
    if not isinstance(result, defn.output_model):
        raise WorkerError(
            f"worker {defn.topic!r} ({defn.name}) returned {type(result).__name__}, "
            f"expected {defn.output_model.__name__}",
            retryable=False,
        )
    return result.model_dump(mode="json")


def run_worker(defn: WorkerDefinition, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Run one job in this thread and return its result as JSON-ready data.

    An async worker runs in a fresh event loop; from inside a running loop use
    :func:`run_worker_async` instead (RuntimeError). Exceptions from the worker propagate
    unchanged: the runner decides about retries.
    """
    if defn.is_async:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError(
                f"worker {defn.topic!r} is async and an event loop is already running in "
                "this thread: await run_worker_async(...) instead of calling run_worker(...)"
            )
        model = _input(defn, payload)
        return _output(defn, asyncio.run(defn.fn(model)))
    return _output(defn, defn.fn(_input(defn, payload)))


async def run_worker_async(defn: WorkerDefinition, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Like :func:`run_worker`, from a running event loop; a sync worker runs in a thread."""
    model = _input(defn, payload)
    if defn.is_async:
        result = await defn.fn(model)
    else:
        result = await asyncio.to_thread(defn.fn, model)
    return _output(defn, result)
