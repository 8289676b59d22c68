"""An application's risk report, as JSON, an HTML page or a PDF.

The machine part was stored by the ``risk.report`` worker; the human decisions taken after
it are read from the audit log on every request, so the report shows later overrides.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from loanflow.api.auth import Principal, require_roles
from loanflow.api.deps import APPROVERS
from loanflow.api.errors import TENANT_ROUTE_ERRORS
from loanflow.engine import NotFound
from loanflow.workers.risk import ReportService, render_html, render_pdf

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1/tenants/{tenant}/process-instances/{instance_id}/risk-report",
    tags=["risk"],
    responses=TENANT_ROUTE_ERRORS,
)

#: people who work on or oversee applications; integrators and designers do not read these
READER_ROLES = ("loan_officer", *APPROVERS, "operator", "tenant_admin", "province_auditor")
Reader = Annotated[Principal, Depends(require_roles(*READER_ROLES))]
Format = Annotated[Literal["json", "html", "pdf"], Query(description="json, html or pdf")]

_HTML_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def _service(request: Request) -> ReportService:
    service: ReportService = request.app.state.risk_reports
    return service


@router.get(
    "",
    responses={
        200: {
            "description": "The report and the human decisions after it",
            "content": {
                "application/json": {},
                "text/html": {"schema": {"type": "string"}},
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
def get_risk_report(
    tenant: str, instance_id: str, request: Request, _principal: Reader, format: Format = "json"
) -> Any:
    """The instance's newest risk report (ID and phone numbers masked) with the human
    decisions taken after it; 404 when the instance has none in this tenant."""
    found = _service(request).latest(tenant, instance_id)
    if found is None:
        raise NotFound(f"process instance {instance_id} has no risk report")
    if format == "html":
        return HTMLResponse(render_html(found["report"], found["overrides"]), headers=_HTML_HEADERS)
    if format == "pdf":
        name = f"risk-report-{found['id']}.pdf"
        return Response(
            render_pdf(found["report"], found["overrides"]),
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'inline; filename="{name}"',
                "Cache-Control": "no-store",
            },
        )
    return found
