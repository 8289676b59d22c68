"""One place maps loanflow's errors to HTTP answers; the body shape is always the same.

``{"error": "<kind>", "message": "...", "details": {...}}`` — ``details`` carries field paths
for invalid input and file/line problems for refused deployments.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import psycopg
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from loanflow.api.schemas import ErrorOut
from loanflow.engine.errors import (
    Conflict,
    DeploymentError,
    Forbidden,
    InvalidInput,
    LoanflowError,
    NotFound,
    ProcessError,
)

__all__ = ["TENANT_ROUTE_ERRORS", "error_body", "error_responses", "install_error_handlers"]

log = logging.getLogger(__name__)


def error_body(kind: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": kind, "message": message, "details": details or {}}


_DESCRIPTIONS = {
    400: "the body cannot be parsed (not UTF-8, a broken form), or the request cannot be done",
    401: "no access token, or an invalid or expired one",
    403: "the caller lacks the role this needs, or separation of duties forbids it",
    404: "no such tenant, or no such object in it for this caller",
    409: "the object is not in a state that allows this, or a concurrent request won",
    413: "the request body is over the size limit",
    422: "the request does not match its schema, or the data does not match the form",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for the error answers of a route or router (body: ``ErrorOut``).

    Documenting 422 this way also replaces FastAPI's default ``HTTPValidationError``, which is
    not the shape :func:`install_error_handlers` answers with.
    """
    return {code: {"model": ErrorOut, "description": _DESCRIPTIONS[code]} for code in codes}


#: what every tenant-scoped route can answer: no token, a role missing, a tenant outside the
#: caller's scope (or an unknown object), parameters that do not validate
TENANT_ROUTE_ERRORS = error_responses(401, 403, 404, 422)


def _status(exc: LoanflowError) -> tuple[int, str]:
    if isinstance(exc, NotFound):
        return 404, "not_found"
    if isinstance(exc, Conflict):
        return 409, "conflict"
    if isinstance(exc, Forbidden):
        return 403, "forbidden"
    if isinstance(exc, DeploymentError):
        return 422, "deployment_refused"
    if isinstance(exc, InvalidInput):
        return 422, "invalid_input"
    if isinstance(exc, ProcessError):
        return 422, "process_error"
    return 400, "bad_request"


#: what the database (through SQLAlchemy or, in the engine's bulk writer, the driver itself)
#: raises for a value it refuses to store or compare
_UNSTORABLE: tuple[type[Exception], ...] = (
    sqlalchemy.exc.DataError,
    psycopg.DataError,
    sqlite3.DataError,
)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoanflowError)
    async def _loanflow(_request: Request, exc: LoanflowError) -> JSONResponse:
        status, kind = _status(exc)
        details: dict[str, Any] = {}
        if isinstance(exc, DeploymentError):
            details = {"problems": [p.as_dict() for p in exc.problems]}
        elif isinstance(exc, InvalidInput):
            details = {"fields": exc.errors}
        elif isinstance(exc, ProcessError):
            details = {"element": exc.element, "line": exc.line}
        return JSONResponse(error_body(kind, exc.message, details), status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = {
            "/".join(str(p) for p in error["loc"]): str(error["msg"]) for error in exc.errors()
        }
        return JSONResponse(
            error_body(
                "invalid_input", "the request does not match its schema", {"fields": fields}
            ),
            status_code=422,
        )

    async def _unstorable(_request: Request, exc: Exception) -> JSONResponse:
        # PostgreSQL refuses values SQLite takes (a NUL character in text, above all); they
        # come from the request, so they are bad input, not a server failure
        log.info("the database refused a value of the request: %s", type(exc).__name__)
        return JSONResponse(
            error_body(
                "invalid_input",
                "a value in the request cannot be stored or looked up "
                "(text may not contain NUL characters)",
            ),
            status_code=422,
        )

    for refused in _UNSTORABLE:
        app.add_exception_handler(refused, _unstorable)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kinds = {
            400: "bad_request",
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            413: "too_large",
            429: "too_many_requests",
        }
        return JSONResponse(
            error_body(kinds.get(exc.status_code, "error"), str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error: %s", type(exc).__name__)
        return JSONResponse(
            error_body("internal", "an unexpected error happened; it has been logged"),
            status_code=500,
        )
