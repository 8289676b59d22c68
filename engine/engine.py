"""The engine: one object that deploys diagrams and runs every command on their instances.

:class:`Engine` builds the shared state and keeps the lifecycle, the job commands (see
:mod:`loanflow.engine.jobs`) and the audit queries; each other concern is a mixin in its
own module, all sharing the state declared in :mod:`loanflow.engine._state`:

- ``_deploying``: deploy, definitions, and resolving the spec of a definition
- ``_instances``: start, read, list and cancel instances
- ``_user_tasks``: list, claim and complete user tasks; separation of duties
- ``_forms``: form lookup and server-side validation
- ``_messages``: correlation, routing of thrown messages, message starts
- ``_timers``: firing due timers
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy import Engine as SqlEngine
from sqlalchemy import select

from loanflow.engine._deploying import DeploymentsMixin
from loanflow.engine._forms import FormsMixin
from loanflow.engine._instances import InstancesMixin
from loanflow.engine._messages import MessagesMixin
from loanflow.engine._timers import TimersMixin
from loanflow.engine._user_tasks import UserTasksMixin
from loanflow.engine.audit import ChainReport, verify_chain
from loanflow.engine.bpmn.scripting import LoanflowScriptEngine
from loanflow.engine.bpmn.specs import ExternalServiceTask
from loanflow.engine.clock import Clock, SystemClock
from loanflow.engine.commands import Runtime, audit, instances, jobs
from loanflow.engine.deployments import DeploymentCache
from loanflow.engine.errors import NotFound
from loanflow.engine.jobs import JobService, incidents
from loanflow.engine.parameters import Parameters
from loanflow.engine.sandbox import Sandbox
from loanflow.engine.settings import EngineSettings
from loanflow.engine.store.db import connect, migrate
from loanflow.engine.views import IncidentInfo, JobInfo, LockedJob
from loanflow.workers.registry import WorkerRegistry

__all__ = ["Engine"]


class Engine(
    DeploymentsMixin,
    InstancesMixin,
    UserTasksMixin,
    FormsMixin,
    MessagesMixin,
    TimersMixin,
):
    """Deployments, instances, jobs, user tasks, timers, messages and audit over one store.

    Build it with settings; nothing connects until it is built. ``migrate()`` brings the
    schema up to date. All methods are thread-safe.
    """

    def __init__(
        self,
        settings: EngineSettings | None = None,
        *,
        workers: WorkerRegistry | None = None,
        clock: Clock | None = None,
        db: SqlEngine | None = None,
    ) -> None:
        self.settings = settings or EngineSettings()
        self.clock: Clock = clock or SystemClock()
        self.workers = workers if workers is not None else WorkerRegistry()
        self.db = db or connect(self.settings.database_url)
        self.sandbox = Sandbox(time_limit=self.settings.script_time_limit)
        self.script_engine = LoanflowScriptEngine(self.sandbox, self.clock)
        self.cache = DeploymentCache(self.settings.spec_cache_size)
        self._definitions: dict[str, tuple[str, str]] = {}
        self._newest: dict[tuple[str, str], tuple[float, str]] = {}
        self._forms: dict[str, dict[str, Any]] | None = None
        self._validators: dict[tuple[str, str], Draft202012Validator] = {}
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self.rt = Runtime(
            db=self.db,
            clock=self.clock,
            script_engine=self.script_engine,
            resolve=self._resolve,
            worker_policy=self._worker_policy,
            command_retries=self.settings.command_retries,
            on_jobs=self._notify,
        )
        self.jobs = JobService(
            self.rt, self.settings.job_lock_seconds, self.settings.retry_backoff_max
        )
        self.rt.route = self._route
        self.parameters = Parameters(self)
        self.rt.start_parameters = self.parameters.snapshot

    # -- lifecycle ----------------------------------------------------------------------

    def migrate(self) -> None:
        migrate(self.db)

    def close(self) -> None:
        self.db.dispose()

    def on_new_jobs(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (cheaply, from any thread) whenever a command created jobs."""
        self._listeners.append(listener)

    def _notify(self) -> None:
        for listener in self._listeners:
            listener()

    def _worker_policy(self, spec: ExternalServiceTask) -> tuple[int, float]:
        definition = self.workers.get(spec.topic)
        retries = (
            spec.retries
            if spec.retries is not None
            else (definition.retries if definition else self.settings.default_retries)
        )
        backoff = (
            spec.retry_backoff
            if spec.retry_backoff is not None
            else (definition.backoff if definition else 10.0)
        )
        return retries, backoff

    # -- jobs (see loanflow.engine.jobs) ------------------------------------------------

    def fetch_and_lock(
        self,
        worker_id: str,
        topics: Iterable[str],
        max_jobs: int = 1,
        *,
        lock_seconds: float | None = None,
        tenants: Iterable[str] | None = None,
    ) -> list[LockedJob]:
        return self.jobs.fetch_and_lock(worker_id, topics, max_jobs, lock_seconds, tenants)

    def complete_job(
        self, job_id: str, worker_id: str, output: dict[str, Any] | None = None
    ) -> None:
        self.jobs.complete(job_id, worker_id, output)

    def fail_job(self, job_id: str, worker_id: str, message: str, **kwargs: Any) -> None:
        self.jobs.fail(job_id, worker_id, message, **kwargs)

    def throw_bpmn_error(
        self,
        job_id: str,
        worker_id: str,
        code: str,
        message: str | None = None,
        variables: dict[str, Any] | None = None,
    ) -> None:
        self.jobs.throw_bpmn_error(job_id, worker_id, code, message, variables)

    def retry_job(
        self, job_id: str, *, tenant: str | None = None, retries: int = 1, actor: str | None = None
    ) -> None:
        self.jobs.retry(job_id, tenant=tenant, retries=retries, actor=actor)

    def job_list(
        self,
        tenant: str | None = None,
        *,
        instance_id: str | None = None,
        state: str | None = None,
        limit: int = 100,
    ) -> list[JobInfo]:
        query = select(jobs)
        for column, value in (("tenant", tenant), ("instance_id", instance_id), ("state", state)):
            if value is not None:
                query = query.where(jobs.c[column] == value)
        with self.db.connect() as conn:
            rows = conn.execute(query.order_by(jobs.c.created_at).limit(limit)).all()
        return [
            JobInfo(
                id=r.id,
                tenant=r.tenant,
                instance_id=r.instance_id,
                element_id=r.element_id,
                topic=r.topic,
                state=r.state,
                retries=r.retries,
                attempts=r.attempts,
                error_message=r.error_message,
                next_attempt_at=r.next_attempt_at,
                lock_owner=r.lock_owner,
                lock_expires_at=r.lock_expires_at,
            )
            for r in rows
        ]

    @staticmethod
    def _incident_info(row: Any) -> IncidentInfo:
        return IncidentInfo(
            id=row.id,
            tenant=row.tenant,
            instance_id=row.instance_id,
            job_id=row.job_id,
            element_id=row.element_id,
            message=row.message,
            created_at=row.created_at,
            resolved_at=row.resolved_at,
        )

    def incidents(self, tenant: str | None = None, *, open_only: bool = True) -> list[IncidentInfo]:
        query = select(incidents)
        if tenant is not None:
            query = query.where(incidents.c.tenant == tenant)
        if open_only:
            query = query.where(incidents.c.resolved_at.is_(None))
        with self.db.connect() as conn:
            return [
                self._incident_info(r) for r in conn.execute(query.order_by(incidents.c.created_at))
            ]

    # -- audit --------------------------------------------------------------------------

    def audit_events(self, tenant: str | None, instance_id: str) -> list[dict[str, Any]]:
        with self.db.connect() as conn:
            query = select(audit).where(audit.c.stream == instance_id)
            if tenant is not None:
                query = query.where(audit.c.tenant == tenant)
            return [dict(r._mapping) for r in conn.execute(query.order_by(audit.c.seq))]

    def verify_audit(self, tenant: str | None, instance_id: str) -> ChainReport:
        with self.db.connect() as conn:
            query = select(instances.c.audit_head).where(instances.c.id == instance_id)
            if tenant is not None:
                query = query.where(instances.c.tenant == tenant)
            head = conn.execute(query).scalar_one_or_none()
            if head is None:
                raise NotFound(f"process instance {instance_id} not found")
            return verify_chain(conn, instance_id, head)
