"""The inbox: user tasks of the caller's tenant, their forms, claim / unclaim / complete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request

from loanflow.api.auth import Principal, require_roles
from loanflow.api.deps import APPROVERS, engine_of
from loanflow.api.errors import TENANT_ROUTE_ERRORS, error_responses
from loanflow.api.i18n import localize_form, pick_language
from loanflow.api.schemas import CompleteTaskIn, InstanceOut, Scope, TaskDetail, TaskOut, TaskPage
from loanflow.engine import NotFound
from loanflow.engine.views import UserTaskInfo

router = APIRouter(
    prefix="/api/v1/tenants/{tenant}/tasks", tags=["user tasks"], responses=TENANT_ROUTE_ERRORS
)

Worker = Annotated[
    Principal,
    Depends(require_roles("loan_officer", *APPROVERS, "operator", "tenant_admin")),
]
SUPERVISORS = ("operator", "tenant_admin", "province_admin")


def _visible(task: UserTaskInfo, principal: Principal) -> bool:
    if principal.has_role(*SUPERVISORS):
        return True
    return (
        task.assignee == principal.id
        or principal.id in task.candidate_users
        or bool(principal.roles.intersection(task.candidate_groups))
    )


def _task(request: Request, tenant: str, task_id: str, principal: Principal) -> UserTaskInfo:
    task = engine_of(request).get_user_task(tenant, task_id)
    if not _visible(task, principal):
        raise NotFound(f"user task {task_id} not found")
    return task


@router.get("", response_model=TaskPage)
def inbox(
    tenant: str,
    request: Request,
    principal: Worker,
    scope: Scope = "candidate",
    state: Annotated[str, Query(pattern="^(open|completed|cancelled)$")] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Any:
    """``mine``: tasks assigned to the caller; ``candidate``: tasks the caller may claim or work
    (their roles among the candidate groups, or named as candidate user, or assigned to them)."""
    engine = engine_of(request)
    if scope == "mine":
        items = [
            t
            for t in engine.user_tasks(
                tenant, state=state, user=principal.id, groups=[], limit=limit, offset=offset
            )
            if t.assignee == principal.id
        ]
    elif scope == "all" and principal.has_role(*SUPERVISORS):
        items = engine.user_tasks(tenant, state=state, limit=limit, offset=offset)
    else:
        items = engine.user_tasks(
            tenant,
            state=state,
            groups=sorted(principal.roles),
            user=principal.id,
            limit=limit,
            offset=offset,
        )
        items = [t for t in items if t.assignee in (None, principal.id)]
    return TaskPage(items=[TaskOut.of(t) for t in items], limit=limit, offset=offset)


@router.get("/{task_id}", response_model=TaskDetail)
def get_task(
    tenant: str,
    task_id: str,
    request: Request,
    principal: Worker,
    accept_language: Annotated[str | None, Header(alias="Accept-Language", max_length=200)] = None,
) -> Any:
    """The task, its form (JSON Schema with labels in the caller's language) and its data."""
    engine = engine_of(request)
    task = _task(request, tenant, task_id, principal)
    instance = engine.get_instance(tenant, task.instance_id)
    form = engine.task_form(tenant, task_id) if task.form_key else None
    language = pick_language(accept_language)
    return TaskDetail(
        **TaskOut.of(task).model_dump(),
        form=localize_form(form, language) if form is not None else None,
        data=instance.variables or {},
    )


@router.post("/{task_id}/claim", response_model=TaskOut, responses=error_responses(409))
def claim(tenant: str, task_id: str, request: Request, principal: Worker) -> Any:
    _task(request, tenant, task_id, principal)
    engine_of(request).claim(tenant, task_id, principal.id)
    return TaskOut.of(engine_of(request).get_user_task(tenant, task_id))


@router.post("/{task_id}/unclaim", response_model=TaskOut, responses=error_responses(409))
def unclaim(tenant: str, task_id: str, request: Request, principal: Worker) -> Any:
    _task(request, tenant, task_id, principal)
    engine_of(request).unclaim(tenant, task_id, principal.id)
    return TaskOut.of(engine_of(request).get_user_task(tenant, task_id))


@router.post(
    "/{task_id}/complete", response_model=InstanceOut, responses=error_responses(400, 409, 413)
)
def complete(
    tenant: str, task_id: str, body: CompleteTaskIn, request: Request, principal: Worker
) -> Any:
    """Validate the data against the task's form and complete it (separation of duties applies)."""
    _task(request, tenant, task_id, principal)
    info = engine_of(request).complete_user_task(tenant, task_id, body.data, actor=principal.id)
    return InstanceOut.of(engine_of(request).get_instance(tenant, info.id, variables=False))
