"""Request and response bodies of the API (they are the OpenAPI reference's schemas)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ApprovalChainIn",
    "ApprovalChainOut",
    "CompleteTaskIn",
    "CorrelateIn",
    "CorrelateOut",
    "DefinitionOut",
    "DeploymentOut",
    "IncidentOut",
    "InstanceDetail",
    "InstanceOut",
    "InstancePage",
    "PreviewIn",
    "RetryIn",
    "StartIn",
    "TaskDetail",
    "TaskOut",
    "TaskPage",
]

Key = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,199}$")


class _FromView(BaseModel):
    """An answer built from the engine's view of the same fields (extra ones are left out)."""

    @classmethod
    def of(cls, view: object) -> Self:
        return cls.model_validate(view, from_attributes=True)


class StartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    process_key: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,199}$", examples=["loan_application"]
    )
    business_key: str | None = Field(None, min_length=1, max_length=200, examples=["APP-2026-0001"])
    variables: dict[str, Any] = Field(default_factory=dict)
    callback_url: str | None = Field(
        None, max_length=2000, description="receives a signed webhook when the instance ends"
    )


class InstanceOut(_FromView):
    id: str
    tenant: str
    process_key: str
    business_key: str | None
    state: str
    version: int
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None = None


class TaskOut(_FromView):
    id: str
    instance_id: str
    process_key: str
    business_key: str | None
    element_id: str
    name: str | None
    form_key: str | None
    candidate_groups: list[str]
    candidate_users: list[str]
    assignee: str | None
    due_at: datetime | None
    state: str
    created_at: datetime
    completed_at: datetime | None = None
    completed_by: str | None = None


class IncidentOut(_FromView):
    id: str
    instance_id: str
    job_id: str | None
    element_id: str | None
    message: str
    created_at: datetime
    resolved_at: datetime | None = None


class InstanceDetail(InstanceOut):
    variables: dict[str, Any] = Field(default_factory=dict)
    user_tasks: list[TaskOut] = Field(default_factory=list)
    incidents: list[IncidentOut] = Field(default_factory=list)


class InstancePage(BaseModel):
    items: list[InstanceOut]
    limit: int
    offset: int


class TaskPage(BaseModel):
    items: list[TaskOut]
    limit: int
    offset: int


class TaskDetail(TaskOut):
    form: dict[str, Any] | None = Field(
        None, description="JSON Schema of the form, labels localized"
    )
    data: dict[str, Any] = Field(default_factory=dict, description="the application data shown")


class CompleteTaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: dict[str, Any] = Field(default_factory=dict)


class CorrelateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    correlation_keys: dict[str, str | int | float | bool] = Field(default_factory=dict)
    payload: dict[str, Any] = Field(default_factory=dict)


class CorrelateOut(BaseModel):
    instance_id: str
    process_key: str
    state: str


class DefinitionOut(BaseModel):
    id: str
    key: str
    version: int
    name: str | None
    tenant: str
    deployment_id: str
    start_form: str | None = None
    message_starts: list[str] = Field(default_factory=list)


class FindingOut(BaseModel):
    kind: str = Field(description="translated (rewritten into BPMN the engine runs) or ignored")
    file: str
    line: int | None = None
    element: str | None = None
    message: str


class DeploymentOut(BaseModel):
    id: str
    tenant: str
    name: str
    created_at: datetime
    created: bool
    definitions: list[DefinitionOut]
    report: list[FindingOut] = Field(
        default_factory=list,
        description="what the engine translated or ignored in the diagrams (rejections are "
        "a 422); empty when identical content was deployed before",
    )


class RetryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    retries: int = Field(1, ge=1, le=100)


class ApprovalChainIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    levels: list[dict[str, Any]] = Field(min_length=1, max_length=20)


class ApprovalChainOut(BaseModel):
    tenant: str
    product: str
    version: int
    levels: list[dict[str, Any]]
    updated_at: datetime | None = None
    updated_by: str | None = None


class ParametersOut(BaseModel):
    tenant: str
    name: str
    effective: dict[str, Any] = Field(description="what decisions read: defaults ← province ← bank")
    own: dict[str, Any] | None = Field(description="the bank's own overrides (none: inherits all)")
    version: int = Field(description="version of the bank's own document (0: none)")
    updated_at: datetime | None = None
    updated_by: str | None = None


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product: str = Field("*", pattern=r"^(\*|[A-Za-z0-9_-]{1,64})$")
    application: dict[str, Any] = Field(default_factory=dict)


class ErrorOut(BaseModel):
    error: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


Scope = Literal["mine", "candidate", "all"]
