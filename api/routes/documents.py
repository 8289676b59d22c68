"""Documents of a loan from the vault: listed per instance, downloaded with authorization.

A download streams the plaintext as the vault decrypts it; every chunk is authenticated
before it is sent, and a tampered blob ends the stream with an error instead of bad data.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from loanflow.api.auth import Principal, require_roles
from loanflow.api.deps import ANY_STAFF, engine_of
from loanflow.api.errors import TENANT_ROUTE_ERRORS
from loanflow.api.routes.instances import _vault

router = APIRouter(
    prefix="/api/v1/tenants/{tenant}", tags=["documents"], responses=TENANT_ROUTE_ERRORS
)

Reader = Annotated[Principal, Depends(require_roles(*ANY_STAFF))]


def _as_dict(info: Any) -> dict[str, Any]:
    return {
        "id": info.id,
        "kind": info.kind,
        "filename": info.filename,
        "content_type": info.content_type,
        "size": info.size,
        "sm3": info.sm3,
        "created_at": info.created_at.isoformat(),
        "created_by": info.created_by,
    }


@router.get("/process-instances/{instance_id}/documents")
def list_documents(
    tenant: str, instance_id: str, request: Request, _principal: Reader
) -> list[dict[str, Any]]:
    """The instance's documents (metadata only: digest, size, type)."""
    engine_of(request).get_instance(tenant, instance_id, variables=False)
    return [_as_dict(d) for d in _vault(request).documents(tenant, instance_id)]


@router.get(
    "/documents/{document_id}",
    response_class=StreamingResponse,
    responses={200: {"content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}}},
)
def download(tenant: str, document_id: str, request: Request, _principal: Reader) -> Any:
    """The document's content, decrypted and authenticated chunk by chunk."""
    vault = _vault(request)
    info = vault.info(tenant, document_id)
    chunks: Iterator[bytes] = vault.open(tenant, document_id)
    filename = info.filename or f"{info.id}"
    return StreamingResponse(
        chunks,
        media_type=info.content_type,
        headers={
            "Content-Length": str(info.size),
            "X-Content-SM3": info.sm3,
            "Content-Disposition": f"attachment; filename*=UTF-8''{_quote(filename)}",
        },
    )


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")
