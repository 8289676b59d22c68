"""What operators need: incidents and retrying the jobs behind them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from loanflow.api.auth import Principal, require_roles
from loanflow.api.deps import engine_of
from loanflow.api.errors import TENANT_ROUTE_ERRORS, error_responses
from loanflow.api.schemas import IncidentOut, RetryIn

router = APIRouter(
    prefix="/api/v1/tenants/{tenant}", tags=["operations"], responses=TENANT_ROUTE_ERRORS
)

Operator = Annotated[Principal, Depends(require_roles("operator", "tenant_admin"))]


@router.get("/incidents", response_model=list[IncidentOut])
def list_incidents(tenant: str, request: Request, _principal: Operator) -> Any:
    return [IncidentOut.of(i) for i in engine_of(request).incidents(tenant)]


@router.post("/jobs/{job_id}/retry", status_code=204, responses=error_responses(400, 409, 413))
def retry_job(
    tenant: str, job_id: str, request: Request, principal: Operator, body: RetryIn | None = None
) -> None:
    """Send a failed job (an incident) back to its workers with ``retries`` attempts."""
    engine_of(request).retry_job(
        job_id, tenant=tenant, retries=(body or RetryIn()).retries, actor=principal.id
    )
