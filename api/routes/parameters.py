"""Risk parameters: thresholds and scorecards that shared decision tables read.

A province publishes its document; a county bank overrides only the numbers it wants
different. New applications take the effective values when they start.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, Response

from loanflow.api.auth import Principal, require_roles
from loanflow.api.errors import TENANT_ROUTE_ERRORS, error_responses
from loanflow.api.schemas import ParametersOut
from loanflow.engine.parameters import Parameters

router = APIRouter(
    prefix="/api/v1/tenants/{tenant}/risk-parameters",
    tags=["parameters"],
    responses=TENANT_ROUTE_ERRORS,
)

Admin = Annotated[Principal, Depends(require_roles("tenant_admin"))]
Reader = Annotated[
    Principal,
    Depends(
        require_roles(
            "tenant_admin", "designer", "operator", "loan_officer", "reviewer", "province_auditor"
        )
    ),
]
#: the parameter set these routes serve (the store knows others by name)
NAME = "risk"


def _parameters(request: Request) -> Parameters:
    parameters: Parameters = request.app.state.engine.parameters
    return parameters


def _out(parameters: Parameters, tenant: str, name: str) -> ParametersOut:
    own = parameters.own(tenant, name)
    return ParametersOut(
        tenant=tenant,
        name=name,
        effective=parameters.effective(tenant, name),
        own=own.document if own is not None else None,
        version=own.version if own is not None else 0,
        updated_at=own.updated_at if own is not None else None,
        updated_by=own.updated_by if own is not None else None,
    )


@router.get("", response_model=ParametersOut)
def get_parameters(tenant: str, request: Request, _principal: Reader) -> Any:
    """The effective parameters (schema defaults ← province ← this bank) and the bank's own."""
    return _out(_parameters(request), tenant, NAME)


@router.put("", response_model=ParametersOut, responses=error_responses(400, 409, 413))
def put_parameters(
    tenant: str,
    request: Request,
    principal: Admin,
    document: Annotated[dict[str, Any], Body(description="the bank's own overrides")],
) -> Any:
    """Replace the bank's own overrides. Any subset of the schema may be set; merged over what
    the bank inherits, the result must satisfy the schema (the answer's ``details`` maps each
    failing JSON pointer to its problem). Running applications keep the values they started
    with; a province's change that would make a county bank's values invalid is refused."""
    parameters = _parameters(request)
    parameters.put(tenant, NAME, document, principal.id)
    return _out(parameters, tenant, NAME)


@router.delete("", status_code=204, responses=error_responses(404))
def reset_parameters(tenant: str, request: Request, _principal: Admin) -> Response:
    """Drop the bank's own overrides: it inherits the province's values again."""
    _parameters(request).reset(tenant, NAME)
    return Response(status_code=204)


@router.get("/schema", response_model=dict[str, Any])
def parameters_schema(tenant: str, request: Request, _principal: Reader) -> Any:
    """The JSON Schema the parameters are validated by; its ``default`` is the shipped value."""
    return Parameters.schema(NAME)
