"""Deployments and process definitions: what process designers upload and read back."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response

from loanflow.api.auth import Principal, require_roles
from loanflow.api.deps import ANY_STAFF, engine_of
from loanflow.api.errors import TENANT_ROUTE_ERRORS, error_responses
from loanflow.api.schemas import DefinitionOut, DeploymentOut, FindingOut
from loanflow.engine import InvalidInput
from loanflow.engine.views import DefinitionInfo, DeploymentInfo

router = APIRouter(
    prefix="/api/v1/tenants/{tenant}", tags=["deployments"], responses=TENANT_ROUTE_ERRORS
)

Designer = Annotated[Principal, Depends(require_roles("designer", "tenant_admin"))]
Viewer = Annotated[Principal, Depends(require_roles("designer", *ANY_STAFF))]
MAX_FILES = 200


def _definition(info: DefinitionInfo) -> DefinitionOut:
    return DefinitionOut(
        id=info.id,
        key=info.key,
        version=info.version,
        name=info.name,
        tenant=info.tenant,
        deployment_id=info.deployment_id,
        start_form=info.start_form,
        message_starts=info.message_starts,
    )


def _deployment(info: DeploymentInfo) -> DeploymentOut:
    return DeploymentOut(
        id=info.id,
        tenant=info.tenant,
        name=info.name,
        created_at=info.created_at,
        created=info.created,
        definitions=[_definition(d) for d in info.definitions],
        report=[FindingOut(**item) for item in info.report],
    )


@router.post(
    "/deployments",
    status_code=201,
    response_model=DeploymentOut,
    responses=error_responses(400, 409, 413),
)
async def deploy(
    tenant: str,
    request: Request,
    principal: Designer,
    files: Annotated[list[UploadFile], File(description="BPMN, DMN and form (.json) files")],
    name: Annotated[str | None, Form(max_length=200)] = None,
) -> Any:
    """Validate and deploy a bundle. Every problem comes back with file, line and element."""
    if len(files) > MAX_FILES:
        raise InvalidInput(f"at most {MAX_FILES} files per deployment")
    bundle: dict[str, bytes] = {}
    for upload in files:
        filename = (upload.filename or "").rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
        if not filename:
            raise InvalidInput("every file needs a name", {"files": "missing file name"})
        if filename in bundle:
            raise InvalidInput(f"{filename} is in the bundle twice", {"files": filename})
        bundle[filename] = await upload.read()
    engine = engine_of(request)
    from starlette.concurrency import run_in_threadpool

    info = await run_in_threadpool(
        engine.deploy, bundle, tenant=tenant, name=name, actor=principal.id
    )
    return _deployment(info)


@router.get("/deployments", response_model=list[DeploymentOut])
def list_deployments(tenant: str, request: Request, _principal: Viewer) -> Any:
    return [_deployment(d) for d in engine_of(request).deployment_list(tenant)]


@router.get("/process-definitions", response_model=list[DefinitionOut])
def list_definitions(tenant: str, request: Request, _principal: Viewer) -> Any:
    """The newest version of every process the tenant can start (its own and the province's)."""
    return [_definition(d) for d in engine_of(request).definitions(tenant)]


@router.get(
    "/process-definitions/{key}/xml",
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}}},
)
def definition_xml(tenant: str, key: str, request: Request, _principal: Viewer) -> Response:
    """The BPMN file of the newest version, as deployed."""
    filename, content = engine_of(request).definition_xml(tenant, key)
    return Response(
        content,
        media_type="application/xml",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )
