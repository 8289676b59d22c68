"""Approval chains as data: tenant administrators change who approves what, without code."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from loanflow.api.auth import Principal, require_roles
from loanflow.api.errors import TENANT_ROUTE_ERRORS, error_responses
from loanflow.api.schemas import ApprovalChainIn, ApprovalChainOut, PreviewIn
from loanflow.engine import NotFound

router = APIRouter(
    prefix="/api/v1/tenants/{tenant}/approval-chain",
    tags=["approval chains"],
    responses=TENANT_ROUTE_ERRORS,
)

Admin = Annotated[Principal, Depends(require_roles("tenant_admin"))]
Reader = Annotated[
    Principal, Depends(require_roles("tenant_admin", "designer", "operator", "loan_officer"))
]
Product = Annotated[str, Query(pattern=r"^(\*|[A-Za-z0-9_-]{1,64})$")]


def _chains(request: Request) -> Any:
    return request.app.state.approval_chains


def _out(info: Any) -> ApprovalChainOut:
    return ApprovalChainOut(
        tenant=info.tenant,
        product=info.product,
        version=info.version,
        levels=list(info.chain.get("levels", [])),
        updated_at=info.updated_at,
        updated_by=info.updated_by,
    )


@router.get("", response_model=ApprovalChainOut)
def get_chain(tenant: str, request: Request, _principal: Reader, product: Product = "*") -> Any:
    """The chain for a product (falling back to ``*``)."""
    info = _chains(request).get(tenant, product)
    if info is None:
        raise NotFound(f"tenant {tenant!r} has no approval chain for product {product!r}")
    return _out(info)


@router.put("", response_model=ApprovalChainOut, responses=error_responses(400, 409, 413))
def put_chain(
    tenant: str, body: ApprovalChainIn, request: Request, principal: Admin, product: Product = "*"
) -> Any:
    """Replace the chain. New applications follow it; running ones keep the chain they started
    with. Levels are validated against ``forms/approval_chain.schema.json`` and every ``when``
    condition must compile in the sandbox."""
    info = _chains(request).put(tenant, product, body.model_dump(mode="json"), principal.id)
    return _out(info)


@router.post("/preview", responses=error_responses(400, 413))
def preview(tenant: str, body: PreviewIn, request: Request, _principal: Reader) -> dict[str, Any]:
    """The levels an application would pass through under the current chain."""
    levels = _chains(request).preview(tenant, body.product, body.application)
    return {"levels": levels}
