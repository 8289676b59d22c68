"""Process instances: start (idempotent), read, list, cancel, audit."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from loanflow.api.auth import Principal, require_roles
from loanflow.api.deps import ANY_STAFF, engine_of
from loanflow.api.errors import TENANT_ROUTE_ERRORS, error_responses
from loanflow.api.idempotency import IdempotencyKeys
from loanflow.api.schemas import (
    IncidentOut,
    InstanceDetail,
    InstanceOut,
    InstancePage,
    StartIn,
    TaskOut,
)

router = APIRouter(
    prefix="/api/v1/tenants/{tenant}", tags=["process instances"], responses=TENANT_ROUTE_ERRORS
)

Starter = Annotated[Principal, Depends(require_roles("integrator", "loan_officer", "tenant_admin"))]
Reader = Annotated[Principal, Depends(require_roles(*ANY_STAFF))]
Operator = Annotated[Principal, Depends(require_roles("operator", "tenant_admin"))]
IdemKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="a retried request with the same key returns the first result",
    ),
]


@router.post(
    "/process-instances",
    status_code=201,
    response_model=InstanceOut,
    responses=error_responses(400, 409, 413),
)
def start_instance(
    tenant: str,
    body: StartIn,
    request: Request,
    response: Response,
    principal: Starter,
    idempotency_key: IdemKey = None,
) -> Any:
    """Start the newest version of a process; variables are checked against its start form."""
    engine = engine_of(request)

    def start() -> dict[str, Any]:
        variables = dict(body.variables)
        chains = getattr(request.app.state, "approval_chains", None)
        if chains is not None:
            from loanflow.engine.approvals import start_variables

            variables = start_variables(chains, tenant, variables)
        info = engine.start(
            tenant,
            body.process_key,
            business_key=body.business_key,
            variables=variables,
            actor=principal.id,
            callback_url=body.callback_url,
        )
        return InstanceOut.of(info).model_dump(mode="json")

    if idempotency_key is None:
        return start()
    keys = IdempotencyKeys(engine)
    result, replayed = keys.run(tenant, idempotency_key, body.model_dump(mode="json"), start)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return result


@router.get("/process-instances/{instance_id}", response_model=InstanceDetail)
def get_instance(tenant: str, instance_id: str, request: Request, _principal: Reader) -> Any:
    """State, open user tasks, open incidents and the instance's current variables."""
    info = engine_of(request).get_instance(tenant, instance_id)
    return InstanceDetail(
        **InstanceOut.of(info).model_dump(),
        variables=info.variables or {},
        user_tasks=[TaskOut.of(t) for t in info.user_tasks],
        incidents=[IncidentOut.of(i) for i in info.incidents],
    )


@router.get("/process-instances", response_model=InstancePage)
def list_instances(
    tenant: str,
    request: Request,
    _principal: Reader,
    business_key: Annotated[str | None, Query(max_length=200)] = None,
    state: Annotated[str | None, Query(pattern="^(running|completed|cancelled)$")] = None,
    process_key: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Any:
    items = engine_of(request).instances(
        tenant,
        state=state,
        business_key=business_key,
        process_key=process_key,
        limit=limit,
        offset=offset,
    )
    return InstancePage(items=[InstanceOut.of(i) for i in items], limit=limit, offset=offset)


@router.post(
    "/process-instances/{instance_id}/cancel", status_code=204, responses=error_responses(409)
)
def cancel_instance(tenant: str, instance_id: str, request: Request, principal: Operator) -> None:
    engine_of(request).cancel(tenant, instance_id, actor=principal.id)


@router.get("/process-instances/{instance_id}/audit")
def instance_audit(
    tenant: str,
    instance_id: str,
    request: Request,
    _principal: Annotated[
        Principal, Depends(require_roles("operator", "tenant_admin", "province_auditor"))
    ],
) -> dict[str, Any]:
    """The instance's audit log and whether its SM3 hash chain holds."""
    engine = engine_of(request)
    report = engine.verify_audit(tenant, instance_id)
    events = engine.audit_events(tenant, instance_id)
    return {
        "chain": {
            "ok": report.ok,
            "events": report.events,
            "broken_at": report.broken_at,
            "reason": report.reason,
        },
        "events": [
            {
                k: (v.isoformat() if hasattr(v, "isoformat") else v)
                for k, v in e.items()
                if k != "id"
            }
            for e in events
        ],
    }


__all__ = ["router"]


@router.get("/process-instances/{instance_id}/evidence")
def instance_evidence(
    tenant: str,
    instance_id: str,
    request: Request,
    _principal: Annotated[
        Principal, Depends(require_roles("operator", "tenant_admin", "province_auditor"))
    ],
) -> dict[str, Any]:
    """The loan's whole evidence checked offline (what ``loanflow verify`` prints): the audit
    hash chain, every document's SM3 digest and tags, every PDF signature, every SM2 evidence
    signature. ``ok`` is true only if every finding holds."""
    from loanflow.workers.evidence import tenant_trust_roots, verify_instance

    engine = engine_of(request)
    engine.get_instance(tenant, instance_id, variables=False)  # 404 for another tenant's
    vault = _vault(request)
    report = verify_instance(
        engine, vault, tenant, instance_id, trust_roots=tenant_trust_roots(engine, tenant)
    )
    return report.as_dict()


def _vault(request: Request) -> Any:
    vault = getattr(request.app.state, "vault", None)
    if vault is None:
        from loanflow.workers.vault import Vault, VaultSettings

        demo = bool(getattr(request.app.state.settings, "demo", False))
        vault = Vault(engine_of(request), VaultSettings(demo=demo) if demo else VaultSettings())
        request.app.state.vault = vault
    return vault
