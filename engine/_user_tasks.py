"""User tasks: listing, claiming and completing them, with separation of duties.

Completing a task checks, in order: it is open, the actor holds it (if it is claimed),
separation of duties (``sod_group``), and its form; then it runs the instance on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import ColumnElement, Connection, and_, or_, select, update

from loanflow.engine._state import EngineState
from loanflow.engine.audit import AuditRecord
from loanflow.engine.bpmn.specs import HumanTask
from loanflow.engine.commands import Loaded, check_json, instances, user_tasks
from loanflow.engine.errors import Conflict, Forbidden, NotFound
from loanflow.engine.jobs import append_audit
from loanflow.engine.views import InstanceInfo, UserTaskInfo

__all__ = ["UserTasksMixin"]


class UserTasksMixin(EngineState):
    """Querying, claiming and completing user tasks."""

    @staticmethod
    def _task_info(row: Any) -> UserTaskInfo:
        return UserTaskInfo(
            id=row.id,
            tenant=row.tenant,
            instance_id=row.instance_id,
            process_key=row.process_key,
            business_key=row.business_key,
            element_id=row.element_id,
            name=row.name,
            form_key=row.form_key,
            candidate_groups=list(row.candidate_groups or []),
            candidate_users=list(row.candidate_users or []),
            assignee=row.assignee,
            due_at=row.due_at,
            state=row.state,
            created_at=row.created_at,
            completed_at=row.completed_at,
            completed_by=row.completed_by,
        )

    def user_tasks(
        self,
        tenant: str | None = None,
        *,
        state: str | None = "open",
        instance_id: str | None = None,
        groups: Iterable[str] | None = None,
        user: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[UserTaskInfo]:
        """Tasks, optionally only those a user may work (assigned, candidate user or group)."""
        from loanflow.engine.commands import candidates

        query = select(user_tasks)
        if tenant is not None:
            query = query.where(user_tasks.c.tenant == tenant)
        if state is not None:
            query = query.where(user_tasks.c.state == state)
        if instance_id is not None:
            query = query.where(user_tasks.c.instance_id == instance_id)
        if groups is not None or user is not None:
            who = [and_(candidates.c.kind == "group", candidates.c.value.in_(list(groups or [])))]
            if user is not None:
                who.append(and_(candidates.c.kind == "user", candidates.c.value == user))
            eligible = select(candidates.c.task_id).where(or_(*who))
            eligible_or_mine: ColumnElement[bool] = user_tasks.c.id.in_(eligible)
            if user is not None:
                eligible_or_mine = or_(eligible_or_mine, user_tasks.c.assignee == user)
            query = query.where(eligible_or_mine)
        query = (
            query.order_by(user_tasks.c.created_at, user_tasks.c.id)
            .limit(min(max(limit, 1), 500))
            .offset(max(offset, 0))
        )
        with self.db.connect() as conn:
            return [self._task_info(r) for r in conn.execute(query)]

    def get_user_task(self, tenant: str | None, task_id: str) -> UserTaskInfo:
        with self.db.connect() as conn:
            return self._task_info(self._task_row(conn, tenant, task_id))

    def _task_row(self, conn: Connection, tenant: str | None, task_id: str) -> Any:
        query = select(user_tasks).where(user_tasks.c.id == task_id)
        if tenant is not None:
            query = query.where(user_tasks.c.tenant == tenant)
        row = conn.execute(query).one_or_none()
        if row is None:
            raise NotFound(f"user task {task_id} not found")
        return row

    def claim(self, tenant: str | None, task_id: str, user: str) -> None:
        self._assign(tenant, task_id, user, "task.claimed")

    def unclaim(self, tenant: str | None, task_id: str, user: str) -> None:
        self._assign(tenant, task_id, None, "task.unclaimed", by=user)

    def _assign(
        self,
        tenant: str | None,
        task_id: str,
        assignee: str | None,
        kind: str,
        by: str | None = None,
    ) -> None:
        actor = by or assignee
        with self.rt.transaction() as conn:
            row = self._task_row(conn, tenant, task_id)
            if row.state != "open":
                raise Conflict(f"user task {task_id} is {row.state}")
            if assignee is not None and row.assignee not in (None, assignee):
                raise Conflict(f"user task {task_id} is already claimed by {row.assignee}")
            if assignee is None and row.assignee is not None and row.assignee != by:
                raise Conflict(f"user task {task_id} is claimed by {row.assignee}, not by {by}")
            conn.execute(
                update(user_tasks)
                .where(user_tasks.c.id == task_id, user_tasks.c.state == "open")
                .values(assignee=assignee)
            )
            append_audit(
                conn,
                row.tenant,
                row.instance_id,
                [AuditRecord(kind, {"task_id": task_id, "element": row.element_id}, actor)],
                self.clock.now(),
            )

    def complete_user_task(
        self,
        tenant: str | None,
        task_id: str,
        data: Mapping[str, Any] | None = None,
        *,
        actor: str | None = None,
    ) -> InstanceInfo:
        """Validate ``data`` against the task's form, complete it and run on."""
        payload = check_json(dict(data) if data is not None else None, "data")
        with self.rt.transaction() as conn:
            row = self._task_row(conn, tenant, task_id)
            if row.state != "open":
                raise Conflict(f"user task {task_id} is already {row.state}")
            if row.assignee and actor and row.assignee != actor:
                raise Conflict(f"user task {task_id} is claimed by {row.assignee}")
            loaded = self.rt.load(conn, row.tenant, row.instance_id)
            if row.sod_group and actor:
                self._check_duties(conn, loaded, row, actor)
            if row.form_key:
                self._validate_form(loaded.process, row.form_key, payload)
            task = self.rt.task(loaded, task_id)
            if task.state != TaskState.READY:
                raise Conflict(f"user task {task_id} is no longer waiting")
            with self.rt.guard(loaded):
                if isinstance(task.task_spec, HumanTask):
                    task.task_spec.add_data_from_form(task, payload)
                else:
                    task.data.update(payload)
                task.run()
            loaded.closed_tasks[task_id] = ("completed", actor)
            loaded.record(
                "task.completed", actor, task_id=task_id, element=row.element_id, data=payload
            )
            self.rt.run(loaded)
            effects = self.rt.save(conn, loaded, actor)
        if effects.jobs:
            self._notify()
        return self._info(loaded, "completed" if loaded.workflow.completed else "running")

    def _check_duties(self, conn: Connection, loaded: Loaded, row: Any, actor: str) -> None:
        """Separation of duties: a submitter decides nothing, nobody decides twice (per group)."""
        if loaded.started_by == actor:
            raise Forbidden(
                f"separation of duties: {actor} submitted this application and may not decide on it"
            )
        earlier = conn.execute(
            select(user_tasks.c.name, user_tasks.c.element_id)
            .where(
                user_tasks.c.instance_id == row.instance_id,
                user_tasks.c.sod_group == row.sod_group,
                user_tasks.c.completed_by == actor,
                user_tasks.c.state == "completed",
            )
            .limit(1)
        ).first()
        if earlier is not None:
            raise Forbidden(
                f"separation of duties: {actor} already decided "
                f"{earlier.name or earlier.element_id!r} of this application"
            )

    def task_form(self, tenant: str | None, task_id: str) -> dict[str, Any]:
        """The JSON Schema form of a user task, from the deployment its instance runs."""
        with self.db.connect() as conn:
            row = self._task_row(conn, tenant, task_id)
            if not row.form_key:
                raise NotFound(f"user task {task_id} has no form")
            definition = conn.execute(
                select(instances.c.definition_id).where(instances.c.id == row.instance_id)
            ).scalar_one()
            process = self._resolve(conn, definition)
        return self.form(process, row.form_key)
