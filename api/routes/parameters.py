"""Tenant parameters over HTTP: risk thresholds and deployment settings.

A province publishes its document; a county bank overrides only what it wants different.
Risk parameters are snapshotted into new applications; deployment settings apply to the
bank's next deployment. Both sets are served by the same four routes (see
:func:`parameter_router`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, Response

from loanflow.api.auth import Principal, require_roles
from loanflow.api.errors import TENANT_ROUTE_ERRORS, error_responses
from loanflow.api.schemas import ParametersOut
from loanflow.engine.parameters import Parameters

__all__ = ["deployment_router", "parameter_router", "risk_router"]

Admin = Annotated[Principal, Depends(require_roles("tenant_admin"))]
Reader = Annotated[
    Principal,
    Depends(
        require_roles(
            "tenant_admin", "designer", "operator", "loan_officer", "reviewer", "province_auditor"
        )
    ),
]


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


def parameter_router(name: str, path: str, what: str) -> APIRouter:
    """GET / PUT / DELETE ``…/{path}`` and GET ``…/{path}/schema`` for one parameter set."""
    router = APIRouter(
        prefix=f"/api/v1/tenants/{{tenant}}/{path}",
        tags=["parameters"],
        responses=TENANT_ROUTE_ERRORS,
    )

    @router.get("", response_model=ParametersOut, summary=f"Get the {what}")
    def get_parameters(tenant: str, request: Request, _principal: Reader) -> Any:
        """The effective values (schema defaults ← province ← this bank) and the bank's own."""
        return _out(_parameters(request), tenant, name)

    @router.put(
        "",
        response_model=ParametersOut,
        responses=error_responses(400, 409, 413),
        summary=f"Replace the bank's own {what}",
    )
    def put_parameters(
        tenant: str,
        request: Request,
        principal: Admin,
        document: Annotated[dict[str, Any], Body(description="the bank's own overrides")],
    ) -> Any:
        """Replace the bank's own overrides. Any subset of the schema may be set; merged over
        what the bank inherits, the result must satisfy the schema (the answer's ``details``
        maps each failing JSON pointer to its problem). A province's change that would make a
        county bank's values invalid is refused."""
        parameters = _parameters(request)
        parameters.put(tenant, name, document, principal.id)
        return _out(parameters, tenant, name)

    @router.delete(
        "",
        status_code=204,
        responses=error_responses(404),
        summary=f"Drop the bank's own {what}",
    )
    def reset_parameters(tenant: str, request: Request, _principal: Admin) -> Response:
        """Drop the bank's own overrides: it inherits the province's values again."""
        _parameters(request).reset(tenant, name)
        return Response(status_code=204)

    @router.get("/schema", response_model=dict[str, Any], summary=f"The {what} schema")
    def parameters_schema(tenant: str, request: Request, _principal: Reader) -> Any:
        """The JSON Schema the values are validated by; its ``default`` is the shipped value."""
        return Parameters.schema(name)

    return router


#: risk thresholds, scorecards, pricing: read by the shared decision tables (``risk_params``)
risk_router = parameter_router("risk", "risk-parameters", "risk parameters")
#: how deployments are checked (``strict_topics``)
deployment_router = parameter_router("deployment", "deployment-settings", "deployment settings")
