"""Messages from outside (the bank's systems): correlate to a waiting instance or start one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from loanflow.api.auth import Principal, require_roles
from loanflow.api.deps import engine_of
from loanflow.api.errors import TENANT_ROUTE_ERRORS, error_responses
from loanflow.api.schemas import CorrelateIn, CorrelateOut

router = APIRouter(
    prefix="/api/v1/tenants/{tenant}", tags=["messages"], responses=TENANT_ROUTE_ERRORS
)

Sender = Annotated[Principal, Depends(require_roles("integrator", "operator", "tenant_admin"))]


@router.post("/messages", response_model=CorrelateOut, responses=error_responses(400, 409, 413))
def correlate(tenant: str, body: CorrelateIn, request: Request, principal: Sender) -> Any:
    """Deliver to the one instance waiting for this message with these correlation keys
    (``business_key`` matches the instance's business key), or start the process whose
    message start event it is. 404 when nothing waits for it; 409 when it is ambiguous."""
    info = engine_of(request).correlate(
        tenant, body.name, body.correlation_keys, body.payload, actor=principal.id
    )
    return CorrelateOut(instance_id=info.id, process_key=info.process_key, state=info.state)
