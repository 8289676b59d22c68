"""What the engine hands back to callers: plain frozen dataclasses, never ORM rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "DefinitionInfo",
    "DeploymentInfo",
    "IncidentInfo",
    "InstanceInfo",
    "JobInfo",
    "LockedJob",
    "UserTaskInfo",
]


@dataclass(frozen=True)
class DefinitionInfo:
    id: str
    tenant: str
    key: str
    version: int
    name: str | None
    deployment_id: str
    start_form: str | None = None
    message_starts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DeploymentInfo:
    id: str
    tenant: str
    name: str
    created_at: datetime
    definitions: list[DefinitionInfo]
    #: False when identical content was deployed before and this call changed nothing
    created: bool = True
    #: elements the engine translated or ignored: (kind, file, line, element, message)
    report: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class UserTaskInfo:
    id: str
    tenant: str
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


@dataclass(frozen=True)
class IncidentInfo:
    id: str
    tenant: str
    instance_id: str
    job_id: str | None
    element_id: str | None
    message: str
    created_at: datetime
    resolved_at: datetime | None = None


@dataclass(frozen=True)
class JobInfo:
    id: str
    tenant: str
    instance_id: str
    element_id: str
    topic: str
    state: str
    retries: int
    attempts: int
    error_message: str | None
    next_attempt_at: datetime
    lock_owner: str | None = None
    lock_expires_at: datetime | None = None


@dataclass(frozen=True)
class LockedJob:
    """A job fetched and locked by one worker until ``lock_expires_at``."""

    id: str
    tenant: str
    instance_id: str
    element_id: str
    topic: str
    input: dict[str, Any]
    retries: int
    attempts: int
    lock_owner: str
    lock_expires_at: datetime


@dataclass(frozen=True)
class InstanceInfo:
    id: str
    tenant: str
    process_key: str
    definition_id: str
    business_key: str | None
    state: str
    version: int
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None = None
    next_due: datetime | None = None
    variables: dict[str, Any] | None = None
    user_tasks: list[UserTaskInfo] = field(default_factory=list)
    incidents: list[IncidentInfo] = field(default_factory=list)
