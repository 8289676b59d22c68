"""``risk.external_data``: outside reports on the applicant, cached and audited.

:class:`ExternalDataService` fetches through an adapter (see
:mod:`loanflow.workers.risk._sources`), caches each report per (tenant, source, SHA-256 of
the subject) for ``cache_seconds`` (bureau queries cost money and count as hard inquiries)
and appends a ``risk.external_data`` event to the instance's audit chain with a digest of
each report. Neither the cache nor the audit log holds an ID number in clear.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import httpx
from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Connection, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from loanflow.engine.audit import AuditRecord
from loanflow.engine.errors import WorkerError
from loanflow.engine.jobs import append_audit
from loanflow.engine.store.models import instances_table, risk_data_cache_table
from loanflow.workers.risk._hashing import digest_json, normalize_id_number, sha256_hex
from loanflow.workers.risk._models import Application
from loanflow.workers.risk._sources import (
    ALL_SOURCES,
    DEFAULT_PATHS,
    REPORT_MODELS,
    SANDBOX_RESERVED,
    BusinessRegistration,
    BusinessRegistry,
    CourtRecord,
    CourtRecords,
    CreditBureau,
    CreditReport,
    ExternalDataAdapter,
    HttpAdapter,
    SandboxAdapter,
    Source,
    TaxAuthority,
    TaxRecord,
)
from loanflow.workers.sdk import worker

if TYPE_CHECKING:
    from loanflow.engine import Engine

__all__ = [
    "ALL_SOURCES",
    "SANDBOX_RESERVED",
    "BusinessRegistration",
    "BusinessRegistry",
    "CourtRecord",
    "CourtRecords",
    "CreditBureau",
    "CreditReport",
    "ExternalDataAdapter",
    "ExternalDataInput",
    "ExternalDataOutput",
    "ExternalDataService",
    "ExternalDataSettings",
    "HttpAdapter",
    "SandboxAdapter",
    "Source",
    "TaxAuthority",
    "TaxRecord",
    "build_adapter",
    "external_data_worker",
]

log = logging.getLogger(__name__)


# -- settings ---------------------------------------------------------------------------


class ExternalDataSettings(BaseSettings):
    """Where reports come from and how long they are reused (``LOANFLOW_RISK_*``)."""

    model_config = SettingsConfigDict(env_prefix="LOANFLOW_RISK_", extra="ignore")

    adapter: Literal["sandbox", "http"] = "sandbox"
    base_url: str | None = None
    token: SecretStr | None = None
    timeout: float = Field(default=10.0, gt=0, allow_inf_nan=False)
    cache_seconds: int = Field(default=86_400, ge=0, description="0 turns the cache off.")
    paths: dict[Source, str] = Field(default_factory=lambda: dict(DEFAULT_PATHS))
    sandbox_seed: str = "loanflow-sandbox"

    @model_validator(mode="after")
    def _http_needs_url(self) -> ExternalDataSettings:
        if self.adapter == "http" and not self.base_url:
            raise ValueError("adapter 'http' needs base_url (LOANFLOW_RISK_BASE_URL)")
        return self


def build_adapter(
    settings: ExternalDataSettings, *, transport: httpx.BaseTransport | None = None
) -> ExternalDataAdapter:
    if settings.adapter == "sandbox":
        return SandboxAdapter(settings.sandbox_seed)
    assert settings.base_url is not None  # checked by the settings
    return HttpAdapter(
        settings.base_url,
        settings.token,
        timeout=settings.timeout,
        paths=settings.paths,
        transport=transport,
    )


# -- the service and the worker ---------------------------------------------------------


class ExternalDataInput(BaseModel):
    tenant: str = Field(min_length=1, max_length=64)
    instance_id: str | None = None
    application: Application
    sources: list[Source] = Field(default_factory=lambda: list(ALL_SOURCES))


class ExternalDataOutput(BaseModel):
    credit: CreditReport | None = None
    tax: TaxRecord | None = None
    business: BusinessRegistration | None = None
    court: CourtRecord | None = None
    cached: dict[str, bool] = Field(default_factory=dict, description="Per source asked.")
    fetched_at: datetime = Field(description="When the oldest report in this answer was fetched.")


class ExternalDataService:
    """Fetches reports through ``adapter``, reusing cached ones, and audits each call."""

    def __init__(
        self,
        engine: Engine,
        adapter: ExternalDataAdapter,
        settings: ExternalDataSettings | None = None,
    ) -> None:
        self.engine = engine
        self.adapter = adapter
        self.settings = settings or ExternalDataSettings()

    def _plan(self, job: ExternalDataInput) -> dict[Source, tuple[str, Callable[[], BaseModel]]]:
        """Per source asked: the subject it is cached under, and the call that fetches it."""
        person = job.application.applicant
        business = job.application.business
        plan: dict[Source, tuple[str, Callable[[], BaseModel]]] = {}
        for source in dict.fromkeys(job.sources):
            call: Callable[[], BaseModel]
            if source == "credit":
                call = partial(self.adapter.credit_report, person.id_number, person.name)
                plan[source] = (normalize_id_number(person.id_number), call)
            elif source == "court":
                call = partial(self.adapter.cases, person.id_number, person.name)
                plan[source] = (normalize_id_number(person.id_number), call)
            elif source == "tax":
                payer, name = (
                    (business.credit_code, business.name)
                    if business
                    else (person.id_number, person.name)
                )
                plan[source] = (
                    normalize_id_number(payer),
                    partial(self.adapter.tax_record, payer, name),
                )
            elif business is not None:  # the legal-rep check depends on the applicant too
                call = partial(self.adapter.registration, business.credit_code, person.name)
                plan[source] = (
                    f"{business.credit_code.strip().upper()}|{person.name.strip()}",
                    call,
                )
        return plan

    def fetch(self, job: ExternalDataInput) -> ExternalDataOutput:
        tenant = job.tenant
        plan = self._plan(job)
        subjects = {source: sha256_hex(subject) for source, (subject, _) in plan.items()}
        now = self.engine.clock.now()
        cached: dict[Source, tuple[BaseModel, datetime, bool]] = {}
        if self.settings.cache_seconds and subjects:
            table = risk_data_cache_table
            with self.engine.db.connect() as conn:
                rows = conn.execute(
                    select(table.c.source, table.c.payload, table.c.fetched_at).where(
                        table.c.tenant == tenant,
                        tuple_(table.c.source, table.c.subject).in_(list(subjects.items())),
                        table.c.expires_at > now,
                    )
                ).all()
            for row in rows:
                source: Source = row.source
                try:
                    report = REPORT_MODELS[source].model_validate(row.payload)
                except ValidationError:
                    continue  # written by an older model: fetch again
                cached[source] = (report, row.fetched_at, True)
        reports = {
            source: cached.get(source) or (call(), now, False) for source, (_, call) in plan.items()
        }
        self._store(tenant, job.instance_id, subjects, reports, now)
        return ExternalDataOutput(
            **{source: report for source, (report, _, _) in reports.items()},
            cached={source: hit for source, (_, _, hit) in reports.items()},
            fetched_at=min((at for _, at, _ in reports.values()), default=now),
        )

    def _store(
        self,
        tenant: str,
        instance_id: str | None,
        subjects: Mapping[Source, str],
        reports: Mapping[Source, tuple[BaseModel, datetime, bool]],
        now: datetime,
    ) -> None:
        expires = now + timedelta(seconds=self.settings.cache_seconds)
        fresh = [
            {
                "tenant": tenant,
                "source": source,
                "subject": subjects[source],
                "payload": report.model_dump(mode="json"),
                "fetched_at": now,
                "expires_at": expires,
            }
            for source, (report, _, hit) in reports.items()
            if not hit and self.settings.cache_seconds
        ]
        log.info(
            "risk.external_data for tenant %s: %s",
            tenant,
            ", ".join(f"{s} {'hit' if h else 'miss'}" for s, (_, _, h) in reports.items()),
        )
        if not fresh and instance_id is None:
            return
        record = AuditRecord(
            "risk.external_data",
            {
                "sources": list(reports),
                "cache": {
                    source: "hit" if hit else "miss" for source, (_, _, hit) in reports.items()
                },
                "digests": {
                    source: digest_json(report.model_dump(mode="json"))
                    for source, (report, _, _) in reports.items()
                },
            },
            actor="worker:risk.external_data",
        )

        def write() -> None:
            with self.engine.rt.transaction() as conn:
                if fresh:
                    _upsert_cache(conn, fresh)
                if instance_id is not None:
                    _check_instance(conn, tenant, instance_id)
                    append_audit(conn, tenant, instance_id, [record], now)

        self.engine.rt.retrying(write)


def _check_instance(conn: Connection, tenant: str, instance_id: str) -> None:
    found = conn.execute(
        select(instances_table.c.id).where(
            instances_table.c.id == instance_id, instances_table.c.tenant == tenant
        )
    ).first()
    if found is None:
        raise WorkerError(
            f"process instance {instance_id} of tenant {tenant} not found", retryable=False
        )


def _upsert_cache(conn: Connection, rows: list[dict[str, Any]]) -> None:
    table = risk_data_cache_table
    insert = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)
    conn.execute(
        insert.on_conflict_do_update(
            index_elements=[table.c.tenant, table.c.source, table.c.subject],
            set_={c: insert.excluded[c] for c in ("payload", "fetched_at", "expires_at")},
        ),
        rows,
    )


def external_data_worker(service: ExternalDataService) -> Callable[..., Any]:
    """The ``risk.external_data`` worker, fetching through ``service``."""

    @worker("risk.external_data", retries=3, backoff=5.0)
    def external_data(job: ExternalDataInput) -> ExternalDataOutput:
        """Credit bureau, tax, business registry and court reports for the applicant.

        ``business`` is fetched only when the application names a business; tax is the
        business's when there is one, the applicant's otherwise.
        """
        return service.fetch(job)

    return external_data
