"""Camunda 7's REST shapes for :mod:`loanflow.api.routes.engine_rest`: typed variables, the
request and response bodies, the error answer and the date format.

Field names are Camunda's (camelCase), so that its clients' JSON maps one to one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import psycopg
import sqlalchemy.exc
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from loanflow.api.auth import Principal
from loanflow.engine.errors import Conflict, LoanflowError, NotFound
from loanflow.engine.views import InstanceInfo

__all__ = [
    "BasicCache",
    "BpmnErrorIn",
    "CamundaError",
    "CamundaRoute",
    "CompleteIn",
    "CorrelationResultDto",
    "ErrorDto",
    "ExecutionDto",
    "ExtendLockIn",
    "FailureIn",
    "FetchIn",
    "InstanceDto",
    "JobSignal",
    "LockedTaskOut",
    "MessageIn",
    "StartIn",
    "TopicIn",
    "TypedValue",
    "Variables",
    "answer",
    "camunda_time",
    "decode",
    "from_typed",
    "to_typed",
]

_INT32 = 2**31
_BASIC_TTL_S = 60.0
_BASIC_CACHE = 1024
_UNSTORABLE: tuple[type[Exception], ...] = (
    sqlalchemy.exc.DataError,
    psycopg.DataError,
    sqlite3.DataError,
)


class CamundaError(Exception):
    """An answer in Camunda's error shape, ``{"type", "message"}``."""

    def __init__(self, status: int, type_: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message


class ErrorDto(BaseModel):
    type: str
    message: str


# -- typed variables ----------------------------------------------------------------------


class TypedValue(BaseModel):
    value: Any = None
    type: str | None = Field(None, max_length=32)
    valueInfo: dict[str, Any] | None = None


Variables = dict[str, TypedValue]


def to_typed(value: Any) -> TypedValue:
    """A plain JSON value as the typed value a Camunda client expects."""
    if value is None:
        return TypedValue(value=None, type="Null", valueInfo={})
    if isinstance(value, bool):
        return TypedValue(value=value, type="Boolean", valueInfo={})
    if isinstance(value, int):
        kind = "Integer" if -_INT32 <= value < _INT32 else "Long"
        return TypedValue(value=value, type=kind, valueInfo={})
    if isinstance(value, float):
        return TypedValue(value=value, type="Double", valueInfo={})
    if isinstance(value, str):
        return TypedValue(value=value, type="String", valueInfo={})
    return TypedValue(value=json.dumps(value, ensure_ascii=False), type="Json", valueInfo={})


def _bad(name: str, why: str) -> CamundaError:
    return CamundaError(400, "InvalidRequestException", f"variable {name!r}: {why}")


def from_typed(name: str, typed: TypedValue) -> Any:
    """The plain JSON value of a typed one; a 400 when it cannot be one."""
    kind = (typed.type or "").lower()
    value = typed.value
    if value is None or kind == "null":
        return None
    if kind in ("json", "object"):
        data_format = (typed.valueInfo or {}).get("serializationDataFormat", "application/json")
        if kind == "object" and data_format != "application/json":
            raise _bad(name, f"serialization {data_format!r} is not supported, only JSON")
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except ValueError:
            raise _bad(name, "the value is not valid JSON") from None
    if kind in ("integer", "long", "short"):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise _bad(name, f"{typed.type} needs a whole number")
        try:
            number = float(value)
        except ValueError:
            raise _bad(name, f"{typed.type} needs a whole number") from None
        if not number.is_integer():
            raise _bad(name, f"{typed.type} needs a whole number")
        return int(value) if isinstance(value, int) else int(number)
    if kind == "double":
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise _bad(name, "Double needs a number") from None
        if isinstance(value, bool) or not math.isfinite(number):
            raise _bad(name, "Double needs a finite number")
        return number
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _bad(name, "Boolean needs true or false")
    if kind in ("string", "date"):
        return value if isinstance(value, str) else json.dumps(value)
    if kind == "":
        return value
    raise _bad(name, f"type {typed.type!r} is not supported")


def decode(variables: Variables | None) -> dict[str, Any]:
    return {name: from_typed(name, v) for name, v in (variables or {}).items()}


class TopicIn(BaseModel):
    topicName: str = Field(min_length=1, max_length=200)
    lockDuration: int = Field(gt=0, le=2**31)
    variables: list[str] | None = None
    localVariables: bool = False
    tenantIdIn: list[str] | None = None
    processDefinitionKey: str | None = None
    processDefinitionKeyIn: list[str] | None = None
    processDefinitionId: str | None = None
    processDefinitionIdIn: list[str] | None = None
    businessKey: str | None = None
    processVariables: dict[str, Any] | None = None


class FetchIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    workerId: str = Field(min_length=1, max_length=200)
    maxTasks: int = Field(1, ge=0, le=1000)
    usePriority: bool | None = None
    asyncResponseTimeout: int | None = Field(None, ge=0)
    topics: list[TopicIn] = Field(default_factory=list, max_length=100)


class LockedTaskOut(BaseModel):
    activityId: str
    activityInstanceId: str
    errorMessage: str | None
    errorDetails: str | None
    executionId: str
    id: str
    lockExpirationTime: str
    processDefinitionId: str | None
    processDefinitionKey: str | None
    processInstanceId: str
    retries: int | None
    workerId: str
    topicName: str
    tenantId: str
    variables: Variables
    priority: int
    businessKey: str | None


def camunda_time(when: datetime) -> str:
    """Camunda's default date format, ``yyyy-MM-dd'T'HH:mm:ss.SSSZ``."""
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"


class CompleteIn(BaseModel):
    workerId: str = Field(min_length=1, max_length=200)
    variables: Variables | None = None
    localVariables: Variables | None = None


class FailureIn(BaseModel):
    workerId: str = Field(min_length=1, max_length=200)
    errorMessage: str | None = Field(None, max_length=4000)
    errorDetails: str | None = Field(None, max_length=100_000)
    retries: int | None = Field(None, ge=0, le=1_000_000)
    retryTimeout: int | None = Field(None, ge=0, le=2**40)


class BpmnErrorIn(BaseModel):
    workerId: str = Field(min_length=1, max_length=200)
    errorCode: str = Field(min_length=1, max_length=200)
    errorMessage: str | None = Field(None, max_length=4000)
    variables: Variables | None = None


class ExtendLockIn(BaseModel):
    workerId: str = Field(min_length=1, max_length=200)
    newDuration: int = Field(gt=0, le=2**31)


class StartIn(BaseModel):
    variables: Variables | None = None
    businessKey: str | None = Field(None, min_length=1, max_length=200)


class InstanceDto(BaseModel):
    id: str
    definitionId: str
    businessKey: str | None
    caseInstanceId: str | None = None
    tenantId: str
    ended: bool
    suspended: bool = False
    links: list[dict[str, Any]] = Field(default_factory=list)

    @classmethod
    def of(cls, info: InstanceInfo) -> InstanceDto:
        return cls(
            id=info.id,
            definitionId=info.definition_id,
            businessKey=info.business_key,
            tenantId=info.tenant,
            ended=info.state != "running",
        )


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    messageName: str = Field(min_length=1, max_length=200)
    businessKey: str | None = Field(None, max_length=200)
    tenantId: str | None = Field(None, max_length=64)
    correlationKeys: Variables | None = None
    processVariables: Variables | None = None
    resultEnabled: bool = False


class ExecutionDto(BaseModel):
    id: str
    processInstanceId: str
    ended: bool
    tenantId: str


class CorrelationResultDto(BaseModel):
    resultType: str
    execution: ExecutionDto | None
    processInstance: InstanceDto | None


_HTTP_TYPES = {401: "AuthenticationException", 403: "AuthorizationException"}


def answer(status: int, type_: str, message: str, headers: Any = None) -> Response:
    body = json.dumps({"type": type_, "message": message})
    return Response(body, status, headers=headers, media_type="application/json")


class CamundaRoute(APIRoute):
    """Answers every error of these routes in Camunda's shape, validation included."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def camunda_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except CamundaError as exc:
                return answer(exc.status, exc.type, exc.message)
            except RequestValidationError as exc:
                fields = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
                )
                return answer(400, "InvalidRequestException", f"invalid request: {fields}")
            except HTTPException as exc:
                kind = _HTTP_TYPES.get(exc.status_code, "InvalidRequestException")
                return answer(exc.status_code, kind, str(exc.detail), exc.headers)
            except NotFound as exc:
                return answer(404, "RestException", exc.message)
            except Conflict as exc:
                return answer(400, "BadUserRequestException", exc.message)
            except LoanflowError as exc:
                return answer(400, "InvalidRequestException", exc.message)
            except _UNSTORABLE:
                return answer(400, "InvalidRequestException", "a value cannot be stored (NUL?)")

        return camunda_handler


class JobSignal:
    """The engine's "new jobs" listener, woken from any thread, waking asyncio waiters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: set[asyncio.Future[None]] = set()

    def __call__(self) -> None:
        with self._lock:
            waiters, self._waiters = self._waiters, set()
        for future in waiters:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits there
                future.get_loop().call_soon_threadsafe(_wake, future)

    def waiter(self) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._lock:
            self._waiters.add(future)
        return future

    def discard(self, future: asyncio.Future[None]) -> None:
        with self._lock:
            self._waiters.discard(future)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class BasicCache:
    """Principals of recently verified Basic credentials: argon2 is too slow for every poll."""

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[str, bytes], tuple[Principal, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, bytes]) -> Principal | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[1] < time.monotonic():
                self._entries.pop(key, None)
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: tuple[str, bytes], principal: Principal) -> None:
        with self._lock:
            self._entries[key] = (principal, time.monotonic() + _BASIC_TTL_S)
            while len(self._entries) > _BASIC_CACHE:
                self._entries.popitem(last=False)
