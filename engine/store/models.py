"""The tables of the loanflow store (SQLAlchemy 2.0). Schema changes go through Alembic.

The engine writes through SQLAlchemy Core on these tables (one transaction, a handful of
statements per command); the ORM classes exist for the schema, migrations and readability.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AuditEvent",
    "Base",
    "Deployment",
    "DeploymentFile",
    "Incident",
    "Job",
    "MessageSubscription",
    "ProcessDefinition",
    "ProcessInstance",
    "TaskCandidate",
    "UserTask",
    "UtcDateTime",
]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always returned timezone-aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value


Json = JSON().with_variant(JSONB(), "postgresql")
Id = String(36)
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: Json,
        list[Any]: Json,
    }


class Deployment(Base):
    __tablename__ = "deployments"
    __table_args__ = (UniqueConstraint("tenant", "content_hash"),)

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(128))


class DeploymentFile(Base):
    __tablename__ = "deployment_files"

    deployment_id: Mapped[str] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    content: Mapped[bytes] = mapped_column(LargeBinary)


class ProcessDefinition(Base):
    __tablename__ = "process_definitions"
    __table_args__ = (UniqueConstraint("tenant", "key", "version"),)

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id"), index=True)
    tenant: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(200))
    file: Mapped[str] = mapped_column(String(255))
    start_form: Mapped[str | None] = mapped_column(String(200))
    message_starts: Mapped[list[Any]] = mapped_column(default=list)
    timer_start: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]


class ProcessInstance(Base):
    __tablename__ = "process_instances"
    __table_args__ = (
        Index("ix_process_instances_tenant_business_key", "tenant", "business_key"),
        Index("ix_process_instances_tenant_state", "tenant", "state"),
    )

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    definition_id: Mapped[str] = mapped_column(ForeignKey("process_definitions.id"))
    process_key: Mapped[str] = mapped_column(String(200))
    business_key: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16))
    data: Mapped[str] = mapped_column(Text)
    serializer_version: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    next_due: Mapped[datetime | None] = mapped_column(index=True)
    audit_seq: Mapped[int] = mapped_column(Integer, default=0)
    audit_head: Mapped[str] = mapped_column(String(64))
    started_by: Mapped[str | None] = mapped_column(String(128))
    callback_url: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_fetch", "state", "topic", "next_attempt_at"),
        Index("ix_jobs_task", "instance_id", "task_id"),
    )

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instances.id"))
    task_id: Mapped[str] = mapped_column(Id)
    element_id: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(String(200))
    input: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16))
    retries: Mapped[int] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    backoff: Mapped[float]
    priority: Mapped[int] = mapped_column(Integer, default=0)
    lock_owner: Mapped[str | None] = mapped_column(String(200))
    lock_expires_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime]
    error_message: Mapped[str | None] = mapped_column(Text)
    error_details: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]


class Incident(Base):
    __tablename__ = "incidents"

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instances.id"), index=True)
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id"), index=True)
    element_id: Mapped[str | None] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(128))


class UserTask(Base):
    __tablename__ = "user_tasks"
    __table_args__ = (Index("ix_user_tasks_tenant_state", "tenant", "state"),)

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instances.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(200))
    business_key: Mapped[str | None] = mapped_column(String(200))
    element_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(200))
    form_key: Mapped[str | None] = mapped_column(String(200))
    candidate_groups: Mapped[list[Any]] = mapped_column(default=list)
    candidate_users: Mapped[list[Any]] = mapped_column(default=list)
    assignee: Mapped[str | None] = mapped_column(String(128))
    due_at: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(String(16))
    #: tasks of one separation-of-duties group: nobody completes two of them in one instance
    sod_group: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    completed_by: Mapped[str | None] = mapped_column(String(128))


class TaskCandidate(Base):
    """One row per candidate group or user of an open task, so the inbox query is indexed."""

    __tablename__ = "task_candidates"

    task_id: Mapped[str] = mapped_column(
        ForeignKey("user_tasks.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    value: Mapped[str] = mapped_column(String(128), primary_key=True, index=True)


class MessageSubscription(Base):
    __tablename__ = "message_subscriptions"
    __table_args__ = (Index("ix_message_subscriptions_lookup", "tenant", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instances.id"), index=True)
    task_id: Mapped[str] = mapped_column(Id)
    business_key: Mapped[str | None] = mapped_column(String(200))
    keys: Mapped[dict[str, Any]]


class AuditEvent(Base):
    """Append-only; each event carries the SM3 hash of the previous one in its stream."""

    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("stream", "seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    stream: Mapped[str] = mapped_column(String(80))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
    actor: Mapped[str | None] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Tenant(Base):
    """A county bank, or the provincial union whose shared processes its banks use."""

    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    parent: Mapped[str | None] = mapped_column(ForeignKey("tenants.id"))
    names: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class Principal(Base):
    """A person (password) or a system (client credentials) acting in one tenant."""

    __tablename__ = "principals"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    tenant: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list[Any]]
    display_name: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]


class ApprovalChain(Base):
    """A tenant's approval levels for one product (or ``*``), as data; versioned."""

    __tablename__ = "approval_chains"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    product: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    chain: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]
    updated_by: Mapped[str | None] = mapped_column(String(128))


class IdempotencyKey(Base):
    """The first answer to a request with an ``Idempotency-Key``, replayed to its retries."""

    __tablename__ = "idempotency_keys"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[dict[str, Any] | None] = mapped_column(Json)
    created_at: Mapped[datetime]


class Outbox(Base):
    """Webhook deliveries written with the instance change that causes them."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "state", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instances.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    payload: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]


class VaultKey(Base):
    """A tenant's SM2 key pair; the private key sealed under the master key (SM4-GCM)."""

    __tablename__ = "vault_keys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    public_key: Mapped[str] = mapped_column(String(200))
    sealed_private_key: Mapped[bytes] = mapped_column(LargeBinary)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]


class Document(Base):
    """A document in the vault: metadata here, ciphertext in a blob backend."""

    __tablename__ = "documents"
    __table_args__ = (Index("ix_documents_tenant_instance", "tenant", "instance_id"),)

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    instance_id: Mapped[str | None] = mapped_column(Id)
    kind: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str | None] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigInteger)
    sm3: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(64))
    blob: Mapped[str] = mapped_column(String(500))
    #: detached signatures and other evidence bound to the document (e.g. SM2 over a digest)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(128))


class Certificate(Base):
    """X.509 material of a tenant (its signing CA, signer and seal certificates)."""

    __tablename__ = "certificates"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(500))
    certificate_pem: Mapped[str] = mapped_column(Text)
    sealed_private_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    issuer_id: Mapped[str | None] = mapped_column(String(64))
    not_after: Mapped[datetime]
    created_at: Mapped[datetime]


class TenantParameters(Base):
    """Parameters a decision reads (thresholds, limits, scorecards): the province's under
    tenant ``*``, a county bank's overrides under its own id; versioned."""

    __tablename__ = "tenant_parameters"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]
    updated_by: Mapped[str | None] = mapped_column(String(128))


class RiskDataCache(Base):
    """An external data source's answer for one subject, reused until it expires."""

    __tablename__ = "risk_data_cache"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: SHA-256 of the normalized subject id: no ID number in clear in this table
    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    payload: Mapped[dict[str, Any]]
    fetched_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class AntifraudSighting(Base):
    """One application seen with one identifying value (phone, device, ID number)."""

    __tablename__ = "antifraud_sightings"
    __table_args__ = (
        Index("ix_antifraud_sightings_lookup", "tenant", "kind", "value", "seen_at"),
        UniqueConstraint("tenant", "kind", "value", "application_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    #: SHA-256 of the normalized value
    value: Mapped[str] = mapped_column(String(64))
    application_id: Mapped[str] = mapped_column(String(128))
    seen_at: Mapped[datetime]


class RiskBlacklist(Base):
    """A blacklisted value: the province's under tenant ``*``, a bank's under its own id."""

    __tablename__ = "risk_blacklist"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: SHA-256 of the normalized value
    value: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(500))
    added_at: Mapped[datetime]
    added_by: Mapped[str | None] = mapped_column(String(128))


class RiskReport(Base):
    """The machine part of an application's risk report, as the risk.report worker wrote it."""

    __tablename__ = "risk_reports"
    __table_args__ = (Index("ix_risk_reports_tenant_instance", "tenant", "instance_id"),)

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    instance_id: Mapped[str | None] = mapped_column(Id)
    application_id: Mapped[str | None] = mapped_column(String(128))
    report: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


#: the Core tables the engine writes through (typed as Table for the query builders)
deployments_table = _table(Deployment)
deployment_files_table = _table(DeploymentFile)
definitions_table = _table(ProcessDefinition)
instances_table = _table(ProcessInstance)
jobs_table = _table(Job)
incidents_table = _table(Incident)
user_tasks_table = _table(UserTask)
candidates_table = _table(TaskCandidate)
subscriptions_table = _table(MessageSubscription)
audit_table = _table(AuditEvent)
tenants_table = _table(Tenant)
principals_table = _table(Principal)
approval_chains_table = _table(ApprovalChain)
idempotency_table = _table(IdempotencyKey)
outbox_table = _table(Outbox)
vault_keys_table = _table(VaultKey)
documents_table = _table(Document)
certificates_table = _table(Certificate)
tenant_parameters_table = _table(TenantParameters)
risk_data_cache_table = _table(RiskDataCache)
antifraud_sightings_table = _table(AntifraudSighting)
risk_blacklist_table = _table(RiskBlacklist)
risk_reports_table = _table(RiskReport)
