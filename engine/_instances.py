"""Process instances: starting, reading, listing and cancelling them.

``start`` runs the new instance until it first waits, in the same transaction that stores
it; ``get_instance`` rebuilds its variables from the stored workflow state.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import Connection, insert, select, update

from loanflow.engine._state import EngineState, check_tenant
from loanflow.engine.commands import (
    Loaded,
    check_json,
    instances,
    outbox,
    outbox_row,
    user_tasks,
)
from loanflow.engine.errors import InvalidInput, NotFound
from loanflow.engine.jobs import incidents
from loanflow.engine.views import IncidentInfo, InstanceInfo, UserTaskInfo

__all__ = ["InstancesMixin"]

_URL_RE = re.compile(r"^https?://[^\s/$.?#][^\s]{0,1990}$")


class InstancesMixin(EngineState):
    """Starting, reading, listing and cancelling process instances."""

    def start(
        self,
        tenant: str,
        process_key: str,
        *,
        business_key: str | None = None,
        variables: Mapping[str, Any] | None = None,
        actor: str | None = None,
        callback_url: str | None = None,
    ) -> InstanceInfo:
        """Start the newest version of ``process_key`` and run it until it waits.

        ``callback_url`` receives a webhook (see the outbox) when the instance ends.
        """
        check_tenant(tenant)
        data = check_json(dict(variables) if variables is not None else None)
        if callback_url is not None and not _URL_RE.match(callback_url):
            raise InvalidInput(
                "callback_url must be an http(s) URL of at most 2000 characters",
                {"callback_url": "http(s) URL"},
            )
        if business_key is not None and (
            not isinstance(business_key, str) or not 0 < len(business_key) <= 200
        ):
            raise InvalidInput(
                "business_key must be a string of 1 to 200 characters",
                {"business_key": "1..200 characters"},
            )
        with self.rt.transaction() as conn:
            process = self._latest(conn, tenant, process_key)
            if process.start_form:
                self._validate_form(process, process.start_form, data)
            loaded = self.rt.new_instance(
                tenant, process, business_key, data, actor, callback_url, conn=conn
            )
            loaded.record(
                "instance.started",
                actor,
                process_key=process_key,
                version=process.version,
                business_key=business_key,
                variables=sorted(data),
            )
            self.rt.run(loaded)
            effects = self.rt.save(conn, loaded, actor, last=True)
        if effects.jobs:
            self._notify()
        return self._info(loaded, "completed" if loaded.workflow.completed else "running")

    def _info(self, loaded: Loaded, state: str) -> InstanceInfo:
        now = self.clock.now()
        return InstanceInfo(
            id=loaded.id,
            tenant=loaded.tenant,
            process_key=loaded.process_key,
            definition_id=loaded.definition_id,
            business_key=loaded.business_key,
            state=state,
            version=loaded.version,
            created_at=now,
            updated_at=now,
        )

    def get_instance(
        self, tenant: str | None, instance_id: str, *, variables: bool = True
    ) -> InstanceInfo:
        with self.db.connect() as conn:
            query = select(instances).where(instances.c.id == instance_id)
            if tenant is not None:
                query = query.where(instances.c.tenant == tenant)
            row = conn.execute(query).one_or_none()
            if row is None:
                raise NotFound(f"process instance {instance_id} not found")
            data = self._variables(conn, row) if variables else None
            tasks = [
                self._task_info(t)
                for t in conn.execute(
                    select(user_tasks).where(
                        user_tasks.c.instance_id == instance_id, user_tasks.c.state == "open"
                    )
                )
            ]
            open_incidents = [
                self._incident_info(i)
                for i in conn.execute(
                    select(incidents).where(
                        incidents.c.instance_id == instance_id, incidents.c.resolved_at.is_(None)
                    )
                )
            ]
        return self._instance_info(row, data, tasks, open_incidents)

    def _variables(self, conn: Connection, row: Any) -> dict[str, Any]:
        from loanflow.engine.bpmn.serializer import load_state

        process = self._resolve(conn, row.definition_id)
        workflow = load_state(row.data, process.spec, process.subprocess_specs, self.script_engine)
        merged: dict[str, Any] = {}
        if workflow.last_task is not None:
            merged.update(workflow.last_task.data)
        for task in workflow.get_tasks(
            state=TaskState.READY | TaskState.STARTED | TaskState.WAITING
        ):
            merged.update(task.data)
        return merged

    @staticmethod
    def _instance_info(
        row: Any,
        data: dict[str, Any] | None = None,
        tasks: list[UserTaskInfo] | None = None,
        open_incidents: list[IncidentInfo] | None = None,
    ) -> InstanceInfo:
        return InstanceInfo(
            id=row.id,
            tenant=row.tenant,
            process_key=row.process_key,
            definition_id=row.definition_id,
            business_key=row.business_key,
            state=row.state,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
            ended_at=row.ended_at,
            next_due=row.next_due,
            variables=data,
            user_tasks=tasks or [],
            incidents=open_incidents or [],
        )

    def instances(
        self,
        tenant: str | None = None,
        *,
        state: str | None = None,
        business_key: str | None = None,
        process_key: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[InstanceInfo]:
        query = select(*[c for c in instances.c if c.name != "data"])
        for column, value in (
            ("tenant", tenant),
            ("state", state),
            ("business_key", business_key),
            ("process_key", process_key),
        ):
            if value is not None:
                query = query.where(instances.c[column] == value)
        query = (
            query.order_by(instances.c.created_at.desc(), instances.c.id)
            .limit(min(max(limit, 1), 500))
            .offset(max(offset, 0))
        )
        with self.db.connect() as conn:
            return [self._instance_info(r) for r in conn.execute(query)]

    def cancel(
        self,
        tenant: str | None,
        instance_id: str,
        *,
        actor: str | None = None,
        reason: str | None = None,
    ) -> None:
        with self.rt.transaction() as conn:
            loaded = self.rt.load(conn, tenant, instance_id)
            with self.rt.guard(loaded):
                loaded.workflow.cancel()
            loaded.record("instance.cancelled", actor, reason=reason)
            self.rt.save(conn, loaded, actor)
            if loaded.callback_url:
                conn.execute(insert(outbox), outbox_row(loaded, "cancelled", self.clock.now()))
            conn.execute(
                update(instances)
                .where(instances.c.id == instance_id)
                .values(state="cancelled", ended_at=self.clock.now(), next_due=None)
            )
