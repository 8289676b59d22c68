"""Timers: firing the timers that are due by the engine clock.

A scheduler calls ``fire_due_timers`` (``next_due`` says when); each instance is claimed
with ``SKIP LOCKED`` on PostgreSQL, so several schedulers can run side by side. A timer
whose instance fails raises an incident and stops being due, instead of failing forever.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, insert, select, update

from loanflow.engine._state import EngineState
from loanflow.engine.audit import AuditRecord
from loanflow.engine.commands import instances, new_id
from loanflow.engine.errors import Conflict, ProcessError
from loanflow.engine.jobs import append_audit, incidents

__all__ = ["TimersMixin"]

log = logging.getLogger(__name__)


class TimersMixin(EngineState):
    """Finding and firing due timers."""

    def next_due(self) -> datetime | None:
        with self.db.connect() as conn:
            value: datetime | None = conn.execute(
                select(func.min(instances.c.next_due)).where(instances.c.state == "running")
            ).scalar()
            return value

    def fire_due_timers(self, limit: int = 100) -> int:
        """Fire every timer that is due by the engine clock; returns how many instances moved."""
        now = self.clock.now()
        with self.db.connect() as conn:
            due = (
                conn.execute(
                    select(instances.c.id)
                    .where(instances.c.state == "running", instances.c.next_due <= now)
                    .order_by(instances.c.next_due)
                    .limit(limit)
                )
                .scalars()
                .all()
            )
        fired = 0
        for instance_id in due:
            try:
                fired += self._fire(instance_id, now)
            except Conflict:
                continue
            except ProcessError as exc:
                self._timer_incident(instance_id, str(exc), now)
        return fired

    def _fire(self, instance_id: str, now: datetime) -> int:
        with self.rt.transaction() as conn:
            claim = select(instances.c.id).where(
                instances.c.id == instance_id, instances.c.next_due <= now
            )
            if conn.dialect.name == "postgresql":
                claim = claim.with_for_update(skip_locked=True)
            if conn.execute(claim).one_or_none() is None:
                return 0  # fired by another scheduler, or locked by one right now
            loaded = self.rt.load(conn, None, instance_id)
            loaded.record("timer.fired", None, due=now.isoformat())
            with self.rt.guard(loaded):
                loaded.workflow.refresh_timers()
            self.rt.run(loaded)
            effects = self.rt.save(conn, loaded)
        if effects.jobs:
            self._notify()
        return 1

    def _timer_incident(self, instance_id: str, message: str, now: datetime) -> None:
        log.warning("timer of instance %s failed: %s", instance_id, message)
        with self.rt.transaction() as conn:
            row = conn.execute(
                select(instances.c.tenant).where(instances.c.id == instance_id)
            ).one()
            conn.execute(
                insert(incidents),
                {
                    "id": new_id(),
                    "tenant": row.tenant,
                    "instance_id": instance_id,
                    "job_id": None,
                    "element_id": None,
                    "message": message,
                    "created_at": now,
                },
            )
            conn.execute(
                update(instances).where(instances.c.id == instance_id).values(next_due=None)
            )
            append_audit(
                conn,
                row.tenant,
                instance_id,
                [AuditRecord("incident.raised", {"message": message})],
                now,
            )
