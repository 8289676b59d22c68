"""One place maps loanflow's errors to HTTP answers; the body shape is always the same.

``{"error": "<kind>", "message": "...", "details": {...}}`` — ``details`` carries field paths
for invalid input and file/line problems for refused deployments.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from loanflow.engine.errors import (
    Conflict,
    DeploymentError,
    Forbidden,
    InvalidInput,
    LoanflowError,
    NotFound,
    ProcessError,
)

__all__ = ["error_body", "install_error_handlers"]

log = logging.getLogger(__name__)


def error_body(kind: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": kind, "message": message, "details": details or {}}


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

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kinds = {
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
