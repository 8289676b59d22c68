"""Liveness, readiness and metrics (no authentication: for load balancers and Prometheus)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import text

from loanflow.api.deps import engine_of
from loanflow.api.metrics import StoreCollector

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz(request: Request) -> Any:
    """200 when the database answers, 503 otherwise."""
    try:
        with engine_of(request).db.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        return JSONResponse({"status": "unavailable", "database": type(exc).__name__}, 503)
    return {"status": "ok", "database": "ok"}


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus text format."""
    registry: CollectorRegistry | None = getattr(request.app.state, "metrics_registry", None)
    if registry is None:
        registry = CollectorRegistry()
        registry.register(StoreCollector(engine_of(request)))
        request.app.state.metrics_registry = registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
