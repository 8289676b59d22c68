"""Jobs: the seam between the engine and its workers (fetch-and-lock, complete, fail, BPMN error).

Delivery is at least once: a job is locked to one worker until its lock expires, after which
another may take it. Completion is idempotent for the lock owner; any other caller gets a
:class:`~loanflow.engine.errors.Conflict`. Failures retry with exponential backoff until the
retries run out, then the job becomes an incident an operator can retry.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.spiff.specs.event_definitions import ErrorEventDefinition
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import Connection, and_, insert, or_, select, update

from loanflow.engine.audit import AuditRecord, seal_all
from loanflow.engine.bpmn.specs import CLOSED_KEY, ExternalServiceTask
from loanflow.engine.commands import StaleInstance, audit, check_json, instances, jobs, new_id
from loanflow.engine.errors import Conflict, InvalidInput, NotFound, ProcessError
from loanflow.engine.store.models import incidents_table
from loanflow.engine.views import LockedJob

if TYPE_CHECKING:
    from loanflow.engine.commands import Runtime

__all__ = ["JobService"]

log = logging.getLogger(__name__)
incidents = incidents_table


class JobService:
    def __init__(self, rt: Runtime, lock_seconds: float, backoff_max: float) -> None:
        self.rt = rt
        self.lock_seconds = lock_seconds
        self.backoff_max = backoff_max

    def fetch_and_lock(
        self,
        worker_id: str,
        topics: Iterable[str],
        max_jobs: int = 1,
        lock_seconds: float | None = None,
        tenants: Iterable[str] | None = None,
    ) -> list[LockedJob]:
        topics = list(topics)
        if not worker_id:
            raise InvalidInput("worker_id is required")
        if not topics or max_jobs < 1:
            return []
        now = self.rt.clock.now()
        expires = now + timedelta(seconds=lock_seconds or self.lock_seconds)
        available = and_(
            jobs.c.topic.in_(topics),
            or_(
                and_(jobs.c.state == "ready", jobs.c.next_attempt_at <= now),
                and_(jobs.c.state == "locked", jobs.c.lock_expires_at < now),
            ),
        )
        if tenants is not None:
            available = and_(available, jobs.c.tenant.in_(list(tenants)))
        pick = (
            select(jobs.c.id)
            .where(available)
            .order_by(jobs.c.priority.desc(), jobs.c.next_attempt_at)
            .limit(max_jobs)
        )
        with self.rt.transaction() as conn:
            if conn.dialect.name == "postgresql":
                pick = pick.with_for_update(skip_locked=True)
            # Pick the ids first, then update them: PostgreSQL may run an
            # ``IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)`` subquery more than once and so
            # lock more than ``max_jobs`` rows.
            ids = list(conn.execute(pick).scalars())
            if not ids:
                return []
            rows = conn.execute(
                update(jobs)
                .where(jobs.c.id.in_(ids), available)
                .values(
                    state="locked",
                    lock_owner=worker_id,
                    lock_expires_at=expires,
                    attempts=jobs.c.attempts + 1,
                )
                .returning(
                    jobs.c.id,
                    jobs.c.tenant,
                    jobs.c.instance_id,
                    jobs.c.element_id,
                    jobs.c.topic,
                    jobs.c.input,
                    jobs.c.retries,
                    jobs.c.attempts,
                )
            ).all()
        return [
            LockedJob(
                id=r.id,
                tenant=r.tenant,
                instance_id=r.instance_id,
                element_id=r.element_id,
                topic=r.topic,
                input=r.input,
                retries=r.retries,
                attempts=r.attempts,
                lock_owner=worker_id,
                lock_expires_at=expires,
            )
            for r in rows
        ]

    def _locked(self, conn: Connection, job_id: str, worker_id: str) -> Any:
        query = select(jobs).where(jobs.c.id == job_id)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        job = conn.execute(query).one_or_none()
        if job is None:
            raise NotFound(f"job {job_id} not found")
        if job.state == "completed" and job.lock_owner == worker_id:
            return None  # already done by this worker: completion is idempotent
        if job.state != "locked" or job.lock_owner != worker_id:
            owner = f" by {job.lock_owner}" if job.state == "locked" else ""
            raise Conflict(f"job {job_id} is {job.state}{owner}, not locked by {worker_id}")
        return job

    def complete(self, job_id: str, worker_id: str, output: dict[str, Any] | None = None) -> None:
        output = check_json(output, "output") if output else {}

        def attempt() -> None:
            with self.rt.transaction() as conn:
                job = self._locked(conn, job_id, worker_id)
                if job is None:
                    return
                loaded = self.rt.load(conn, None, job.instance_id)
                task = self.rt.task(loaded, job.task_id)
                if task.state != TaskState.STARTED:
                    raise Conflict(f"job {job_id}: its task is no longer waiting")
                spec: ExternalServiceTask = task.task_spec
                with self.rt.guard(loaded):
                    spec.apply_result(task, output)
                    task.complete()
                task.internal_data[CLOSED_KEY] = True
                now = self.rt.clock.now()
                loaded.job_updates.append((job_id, {"state": "completed", "completed_at": now}))
                loaded.record(
                    "job.completed",
                    worker_id,
                    job_id=job_id,
                    topic=job.topic,
                    element=job.element_id,
                    output=output,
                )
                self.rt.run(loaded)
                self.rt.save(conn, loaded)

        try:
            self.rt.retrying(attempt)
        except ProcessError as exc:
            self.fail(
                job_id,
                worker_id,
                f"the worker's result could not be applied: {exc}",
                retryable=False,
            )
            raise
        self.rt.on_jobs()

    def fail(
        self,
        job_id: str,
        worker_id: str,
        message: str,
        *,
        details: str | None = None,
        retries: int | None = None,
        retry_delay: float | None = None,
        retryable: bool = True,
    ) -> None:
        """Record a failed attempt: retry later while retries remain, else raise an incident."""

        def attempt() -> None:
            with self.rt.transaction() as conn:
                job = self._locked(conn, job_id, worker_id)
                if job is None:
                    raise Conflict(f"job {job_id} is already completed")
                now = self.rt.clock.now()
                left = job.retries if retries is None else retries + 1
                if retryable and left > 0:
                    delay = retry_delay if retry_delay is not None else self._backoff(job)
                    values = {
                        "state": "ready",
                        "retries": left - 1,
                        "next_attempt_at": now + timedelta(seconds=delay),
                    }
                    record = AuditRecord(
                        "job.failed",
                        {"job_id": job_id, "message": message, "retries_left": left - 1},
                        worker_id,
                    )
                else:
                    values = {"state": "failed", "retries": 0}
                    conn.execute(
                        insert(incidents),
                        {
                            "id": new_id(),
                            "tenant": job.tenant,
                            "instance_id": job.instance_id,
                            "job_id": job_id,
                            "element_id": job.element_id,
                            "message": message,
                            "created_at": now,
                        },
                    )
                    record = AuditRecord(
                        "incident.raised", {"job_id": job_id, "message": message}, worker_id
                    )
                conn.execute(
                    update(jobs)
                    .where(jobs.c.id == job_id)
                    .values(
                        **values,
                        lock_owner=None,
                        lock_expires_at=None,
                        error_message=message[:4000],
                        error_details=details,
                    )
                )
                append_audit(conn, job.tenant, job.instance_id, [record], now)

        self.rt.retrying(attempt)

    def _backoff(self, job: Any) -> float:
        delay: float = job.backoff * (2 ** max(job.attempts - 1, 0))
        return min(delay, self.backoff_max)

    def throw_bpmn_error(
        self,
        job_id: str,
        worker_id: str,
        code: str,
        message: str | None = None,
        variables: dict[str, Any] | None = None,
    ) -> None:
        """Throw the BPMN error ``code`` at the job's task; uncaught, it becomes an incident."""
        variables = check_json(variables, "variables") if variables else {}
        caught = True

        def attempt() -> None:
            nonlocal caught
            with self.rt.transaction() as conn:
                job = self._locked(conn, job_id, worker_id)
                if job is None:
                    return
                loaded = self.rt.load(conn, None, job.instance_id)
                task = self.rt.task(loaded, job.task_id)
                for sibling in task.parent.children if task.parent else []:
                    if sibling is not task:
                        sibling.data.update(variables)
                event = BpmnEvent(
                    ErrorEventDefinition(code, code=code), payload=variables, target=task.workflow
                )
                with self.rt.guard(loaded):
                    caught = loaded.workflow.event_manager.catch(event) > 0
                if not caught:
                    return
                task.internal_data[CLOSED_KEY] = True
                now = self.rt.clock.now()
                loaded.job_updates.append(
                    (
                        job_id,
                        {
                            "state": "completed",
                            "completed_at": now,
                            "error_message": f"BPMN error {code}: {message or ''}",
                        },
                    )
                )
                loaded.record(
                    "job.bpmn_error",
                    worker_id,
                    job_id=job_id,
                    code=code,
                    message=message,
                    variables=variables,
                )
                self.rt.run(loaded)
                self.rt.save(conn, loaded)

        self.rt.retrying(attempt)
        if not caught:
            self.fail(
                job_id,
                worker_id,
                f"BPMN error {code!r} is not caught by the diagram: {message or code}",
                retryable=False,
            )
        self.rt.on_jobs()

    def retry(
        self, job_id: str, *, tenant: str | None = None, retries: int = 1, actor: str | None = None
    ) -> None:
        """An operator sends a failed job (an incident) back to its workers."""
        if retries < 1:
            raise InvalidInput("retries must be at least 1", {"retries": ">= 1"})
        with self.rt.transaction() as conn:
            query = select(jobs).where(jobs.c.id == job_id)
            if tenant is not None:
                query = query.where(jobs.c.tenant == tenant)
            job = conn.execute(query).one_or_none()
            if job is None:
                raise NotFound(f"job {job_id} not found")
            if job.state != "failed":
                raise Conflict(
                    f"job {job_id} is {job.state}; only failed jobs (incidents) can be retried"
                )
            now = self.rt.clock.now()
            conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id)
                .values(state="ready", retries=retries - 1, next_attempt_at=now)
            )
            conn.execute(
                update(incidents)
                .where(incidents.c.job_id == job_id, incidents.c.resolved_at.is_(None))
                .values(resolved_at=now, resolved_by=actor)
            )
            append_audit(
                conn,
                job.tenant,
                job.instance_id,
                [AuditRecord("incident.retried", {"job_id": job_id, "retries": retries}, actor)],
                now,
            )
        self.rt.on_jobs()

    def extend_lock(self, job_id: str, worker_id: str, seconds: float) -> datetime:
        with self.rt.transaction() as conn:
            job = self._locked(conn, job_id, worker_id)
            if job is None:
                raise Conflict(f"job {job_id} is already completed")
            expires: datetime = self.rt.clock.now() + timedelta(seconds=seconds)
            conn.execute(update(jobs).where(jobs.c.id == job_id).values(lock_expires_at=expires))
            return expires

    def unlock(self, job_id: str, worker_id: str) -> None:
        """Give a job back untouched (a worker shutting down)."""
        with self.rt.transaction() as conn:
            job = self._locked(conn, job_id, worker_id)
            if job is None:
                return
            conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id)
                .values(
                    state="ready",
                    lock_owner=None,
                    lock_expires_at=None,
                    attempts=jobs.c.attempts - 1,
                )
            )


def append_audit(
    conn: Connection, tenant: str, instance_id: str, records: list[AuditRecord], now: datetime
) -> None:
    """Append to an instance's chain outside a full command (the head lives on the instance)."""
    row = conn.execute(
        select(instances.c.audit_seq, instances.c.audit_head, instances.c.version).where(
            instances.c.id == instance_id
        )
    ).one()
    rows, seq, head = seal_all(
        records, tenant=tenant, stream=instance_id, seq=row.audit_seq, head=row.audit_head, at=now
    )
    result = conn.execute(
        update(instances)
        .where(instances.c.id == instance_id, instances.c.version == row.version)
        .values(audit_seq=seq, audit_head=head, version=row.version + 1)
    )
    if result.rowcount != 1:
        raise StaleInstance(
            f"process instance {instance_id} changed while appending to its audit log"
        )
    conn.execute(insert(audit), rows)
