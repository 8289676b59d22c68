"""The engine: one object that deploys diagrams and runs every command on their instances."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from jsonschema import Draft202012Validator
from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import ColumnElement, Connection, and_, func, insert, or_, select, update
from sqlalchemy import Engine as SqlEngine
from sqlalchemy.exc import IntegrityError

from loanflow.engine.audit import GENESIS, AuditRecord, ChainReport, seal_all, verify_chain
from loanflow.engine.bpmn.scripting import LoanflowScriptEngine
from loanflow.engine.bpmn.specs import ExternalServiceTask, HumanTask
from loanflow.engine.clock import Clock, SystemClock
from loanflow.engine.commands import (
    Loaded,
    Runtime,
    audit,
    check_json,
    instances,
    jobs,
    new_id,
    outbox,
    outbox_row,
    subscriptions,
    user_tasks,
)
from loanflow.engine.deployments import (
    DeploymentCache,
    ParsedDeployment,
    ParsedProcess,
    build_deployment,
    content_hash,
    packaged_forms,
)
from loanflow.engine.errors import Conflict, Forbidden, InvalidInput, NotFound, ProcessError
from loanflow.engine.jobs import JobService, append_audit, incidents
from loanflow.engine.sandbox import Sandbox
from loanflow.engine.settings import SHARED_TENANT, EngineSettings
from loanflow.engine.store.db import connect, migrate
from loanflow.engine.store.models import (
    definitions_table,
    deployment_files_table,
    deployments_table,
)
from loanflow.engine.views import (
    DefinitionInfo,
    DeploymentInfo,
    IncidentInfo,
    InstanceInfo,
    JobInfo,
    LockedJob,
    UserTaskInfo,
)
from loanflow.workers.registry import WorkerRegistry

__all__ = ["Engine"]

log = logging.getLogger(__name__)
deployments = deployments_table
deployment_files = deployment_files_table
definitions = definitions_table
_URL_RE = re.compile(r"^https?://[^\s/$.?#][^\s]{0,1990}$")
TENANT_RE = re.compile(r"^(\*|[a-z][a-z0-9_-]{0,62})$")


def _tenant(tenant: str) -> str:
    if not isinstance(tenant, str) or not TENANT_RE.match(tenant):
        raise InvalidInput(f"{tenant!r} is not a tenant id (lowercase letters, digits, - and _)")
    return tenant


class Engine:
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

    def forms(self) -> dict[str, dict[str, Any]]:
        if self._forms is None:
            self._forms = packaged_forms()
        return self._forms

    # -- deployments --------------------------------------------------------------------

    def deploy(
        self,
        files: Mapping[str, bytes | str],
        *,
        tenant: str = SHARED_TENANT,
        name: str | None = None,
        actor: str | None = None,
    ) -> DeploymentInfo:
        """Validate and store a bundle; identical content deployed again changes nothing."""
        _tenant(tenant)
        raw = {n: (c.encode() if isinstance(c, str) else bytes(c)) for n, c in files.items()}
        digest = content_hash(raw)
        try:
            with self.rt.transaction() as conn:
                existing = conn.execute(
                    select(deployments).where(
                        deployments.c.tenant == tenant, deployments.c.content_hash == digest
                    )
                ).one_or_none()
                if existing is not None:
                    return self._deployment_info(conn, existing, created=False)
                deployment_id = new_id()
                parsed = build_deployment(
                    deployment_id,
                    tenant,
                    raw,
                    has_topic=self.workers.__contains__,
                    check_expression=self.sandbox.check_expression,
                    check_script=self.sandbox.check_script,
                    known_forms=self.forms(),
                    resolve_process=lambda key: self._latest_or_none(conn, tenant, key),
                )
                now = self.clock.now()
                label = name or ", ".join(sorted(raw))[:200]
                conn.execute(
                    insert(deployments),
                    {
                        "id": deployment_id,
                        "tenant": tenant,
                        "name": label,
                        "content_hash": digest,
                        "created_at": now,
                        "created_by": actor,
                    },
                )
                conn.execute(
                    insert(deployment_files),
                    [
                        {
                            "deployment_id": deployment_id,
                            "name": n,
                            "kind": n.rsplit(".", 1)[-1].lower(),
                            "content": c,
                        }
                        for n, c in raw.items()
                    ],
                )
                for key, process in parsed.processes.items():
                    latest = conn.execute(
                        select(func.max(definitions.c.version)).where(
                            definitions.c.tenant == tenant, definitions.c.key == key
                        )
                    ).scalar()
                    process.version = (latest or 0) + 1
                    process.definition_id = new_id()
                    conn.execute(
                        insert(definitions),
                        {
                            "id": process.definition_id,
                            "deployment_id": deployment_id,
                            "tenant": tenant,
                            "key": key,
                            "version": process.version,
                            "name": process.name,
                            "file": process.file,
                            "start_form": process.start_form,
                            "message_starts": process.message_starts,
                            "timer_start": process.timer_start,
                            "created_at": now,
                        },
                    )
                    self._definitions[process.definition_id] = (deployment_id, key)
                record = AuditRecord(
                    "deployment.created",
                    {
                        "deployment_id": deployment_id,
                        "files": {n: content_hash({n: c}) for n, c in raw.items()},
                        "processes": {k: p.version for k, p in parsed.processes.items()},
                    },
                    actor,
                )
                self._append_stream(conn, tenant, f"deployments:{tenant}", [record], now)
                info = self._deployment_info(
                    conn,
                    conn.execute(
                        select(deployments).where(deployments.c.id == deployment_id)
                    ).one(),
                )
        except IntegrityError as exc:
            raise Conflict(
                "another deployment of the same processes happened at the same time; deploy again"
            ) from exc
        self.cache.put(parsed)
        self._newest.clear()
        for process in parsed.processes.values():
            if process.timer_start:
                self.start(tenant, process.key, actor="timer-start")
        return info

    def _append_stream(
        self, conn: Connection, tenant: str, stream: str, records: list[AuditRecord], now: datetime
    ) -> None:
        last = conn.execute(
            select(audit.c.seq, audit.c.hash)
            .where(audit.c.stream == stream)
            .order_by(audit.c.seq.desc())
            .limit(1)
        ).one_or_none()
        rows, _, _ = seal_all(
            records,
            tenant=tenant,
            stream=stream,
            seq=last.seq if last else 0,
            head=last.hash if last else GENESIS,
            at=now,
        )
        conn.execute(insert(audit), rows)

    def _deployment_info(self, conn: Connection, row: Any, created: bool = True) -> DeploymentInfo:
        defs = conn.execute(
            select(definitions)
            .where(definitions.c.deployment_id == row.id)
            .order_by(definitions.c.key)
        ).all()
        return DeploymentInfo(
            id=row.id,
            tenant=row.tenant,
            name=row.name,
            created_at=row.created_at,
            definitions=[self._definition_info(d) for d in defs],
            created=created,
        )

    @staticmethod
    def _definition_info(row: Any) -> DefinitionInfo:
        return DefinitionInfo(
            id=row.id,
            tenant=row.tenant,
            key=row.key,
            version=row.version,
            name=row.name,
            deployment_id=row.deployment_id,
            start_form=row.start_form,
            message_starts=list(row.message_starts or []),
        )

    def definitions(self, tenant: str) -> list[DefinitionInfo]:
        """The newest version of each process the tenant can start (its own, then shared)."""
        with self.db.connect() as conn:
            return self._definitions_in(conn, tenant)

    def _definitions_in(self, conn: Connection, tenant: str) -> list[DefinitionInfo]:
        if True:
            rows = conn.execute(
                select(definitions)
                .where(definitions.c.tenant.in_((tenant, SHARED_TENANT)))
                .order_by(definitions.c.key, definitions.c.version)
            ).all()
        newest: dict[str, Any] = {}
        for row in rows:
            current = newest.get(row.key)
            if current is None or (row.tenant == tenant) >= (current.tenant == tenant):
                newest[row.key] = row
        return [self._definition_info(r) for r in newest.values()]

    def _latest_row(self, conn: Connection, tenant: str, key: str) -> Any:
        own_first = (definitions.c.tenant == tenant).desc()
        return conn.execute(
            select(definitions.c.id, definitions.c.deployment_id, definitions.c.key)
            .where(definitions.c.key == key, definitions.c.tenant.in_((tenant, SHARED_TENANT)))
            .order_by(own_first, definitions.c.version.desc())
            .limit(1)
        ).one_or_none()

    def _latest_or_none(self, conn: Connection, tenant: str, key: str) -> ParsedProcess | None:
        row = self._latest_row(conn, tenant, key)
        return None if row is None else self._resolve(conn, row.id)

    def _latest(self, conn: Connection, tenant: str, key: str) -> ParsedProcess:
        """The newest definition for starting; remembered briefly (deploys here forget it)."""
        now = time.monotonic()
        hit = self._newest.get((tenant, key))
        if hit is not None and hit[0] > now:
            return self._resolve(conn, hit[1])
        found = self._latest_or_none(conn, tenant, key)
        if found is not None:
            self._newest[(tenant, key)] = (
                now + self.settings.definition_cache_seconds,
                found.definition_id,
            )
        if found is None:
            raise NotFound(f"no process {key!r} is deployed for tenant {tenant!r}")
        return found

    def _resolve(self, conn: Connection, definition_id: str) -> ParsedProcess:
        where = self._definitions.get(definition_id)
        if where is None:
            row = conn.execute(
                select(definitions.c.deployment_id, definitions.c.key).where(
                    definitions.c.id == definition_id
                )
            ).one_or_none()
            if row is None:
                raise NotFound(f"process definition {definition_id} not found")
            where = (row.deployment_id, row.key)
            self._definitions[definition_id] = where
        deployment_id, key = where
        parsed = self.cache.get(deployment_id) or self._reparse(conn, deployment_id)
        return parsed.processes[key]

    def _reparse(self, conn: Connection, deployment_id: str) -> ParsedDeployment:
        """Rebuild a deployment's specs from its stored files (after a restart or eviction)."""
        dep = conn.execute(select(deployments).where(deployments.c.id == deployment_id)).one()
        files = {
            r.name: r.content
            for r in conn.execute(
                select(deployment_files).where(deployment_files.c.deployment_id == deployment_id)
            )
        }
        parsed = build_deployment(
            deployment_id,
            dep.tenant,
            files,
            has_topic=lambda _topic: (
                True
            ),  # validated when deployed; a removed worker must not hide old instances
            check_expression=lambda _s: None,
            check_script=lambda _s: None,
            known_forms=self.forms(),
            resolve_process=lambda key: self._latest_or_none(conn, dep.tenant, key),
        )
        for row in conn.execute(
            select(definitions).where(definitions.c.deployment_id == deployment_id)
        ):
            if row.key in parsed.processes:
                parsed.processes[row.key].definition_id = row.id
                parsed.processes[row.key].version = row.version
        self.cache.put(parsed)
        return parsed

    def definition_xml(self, tenant: str, key: str) -> tuple[str, bytes]:
        """The BPMN file of the newest version of ``key`` the tenant sees."""
        with self.db.connect() as conn:
            row = self._latest_row(conn, tenant, key)
            if row is None:
                raise NotFound(f"no process {key!r} is deployed for tenant {tenant!r}")
            process = self._resolve(conn, row.id)
            content = conn.execute(
                select(deployment_files.c.content).where(
                    deployment_files.c.deployment_id == row.deployment_id,
                    deployment_files.c.name == process.file,
                )
            ).scalar_one()
        return process.file, bytes(content)

    # -- instances ----------------------------------------------------------------------

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
        _tenant(tenant)
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
            loaded = self.rt.new_instance(tenant, process, business_key, data, actor, callback_url)
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

    # -- user tasks ---------------------------------------------------------------------

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

    def deployment_list(self, tenant: str, limit: int = 100) -> list[DeploymentInfo]:
        with self.db.connect() as conn:
            rows = conn.execute(
                select(deployments)
                .where(deployments.c.tenant == tenant)
                .order_by(deployments.c.created_at.desc())
                .limit(limit)
            ).all()
            return [self._deployment_info(conn, r, created=True) for r in rows]

    def form(self, process: ParsedProcess, key: str) -> dict[str, Any]:
        form = process.forms.get(key) if process.forms else None
        if form is None:
            form = self.forms().get(key)
        if form is None:
            raise NotFound(f"form {key!r} not found")
        return form

    def _validate_form(self, process: ParsedProcess, key: str, data: dict[str, Any]) -> None:
        cache_key = (process.definition_id, key)
        validator = self._validators.get(cache_key)
        if validator is None:
            validator = Draft202012Validator(self.form(process, key))
            self._validators[cache_key] = validator
        problems: dict[str, str] = {}
        for error in validator.iter_errors(data):
            path = "/".join(str(p) for p in error.absolute_path) or "(root)"
            problems.setdefault(path, error.message)
        if problems:
            raise InvalidInput(
                f"data does not match form {key!r}: "
                + "; ".join(f"{p}: {m}" for p, m in problems.items()),
                problems,
            )

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

    # -- messages -----------------------------------------------------------------------

    def correlate(
        self,
        tenant: str,
        name: str,
        correlation_keys: Mapping[str, Any] | None = None,
        payload: Mapping[str, Any] | None = None,
        *,
        actor: str | None = None,
    ) -> InstanceInfo:
        """Deliver message ``name`` to the one instance waiting for it with these keys.

        ``business_key`` matches the instance's business key; other keys match the
        message's correlation properties. With no waiting instance, a process with a
        message start event for ``name`` is started; otherwise NotFound.
        """
        _tenant(tenant)
        keys = dict(correlation_keys or {})
        data = check_json(dict(payload) if payload is not None else None, "payload")
        with self.rt.transaction() as conn:
            rows = conn.execute(
                select(subscriptions).where(
                    subscriptions.c.tenant == tenant, subscriptions.c.name == name
                )
            ).all()
            matches = [
                r
                for r in rows
                if all(
                    (r.business_key == v) if k == "business_key" else (r.keys or {}).get(k) == v
                    for k, v in keys.items()
                )
            ]
            targets = {r.instance_id for r in matches}
            if len(targets) > 1:
                raise Conflict(
                    f"{len(targets)} instances wait for message {name!r} with {keys}; "
                    "give more correlation keys"
                )
            if targets:
                match = matches[0]
                loaded = self.rt.load(conn, tenant, match.instance_id)
                self._deliver(loaded, match.task_id, name, {**keys, **data})
                loaded.record(
                    "message.correlated", actor, name=name, keys=keys, payload=sorted(data)
                )
                self.rt.run(loaded)
                effects = self.rt.save(conn, loaded, actor)
            else:
                loaded, effects = self._message_start(conn, tenant, name, keys, data, actor)
        if effects.jobs:
            self._notify()
        return self._info(loaded, "completed" if loaded.workflow.completed else "running")

    def _route(self, conn: Connection, sender: Loaded, events: list[Any], depth: int = 0) -> None:
        """Deliver the messages an instance threw to the instances of its tenant waiting for them.

        A message goes to the one waiting instance whose correlation keys agree with it (the
        sender's business key decides between several), or starts a process with that message
        start event; otherwise it is recorded as undelivered. Signals are recorded.
        """
        for event in events:
            definition = event.event_definition
            name = getattr(definition, "name", None)
            if not isinstance(definition, MessageEventDefinition) or name is None:
                sender.record("event.unrouted", name=name, event_type=type(definition).__name__)
                continue
            payload = (
                event.payload if isinstance(event.payload, dict) else {"payload": event.payload}
            )
            keys: dict[str, Any] = {}
            for props in (event.correlations or {}).values():
                if isinstance(props, dict):
                    keys.update(props)
            rows = [
                r
                for r in conn.execute(
                    select(subscriptions).where(
                        subscriptions.c.tenant == sender.tenant,
                        subscriptions.c.name == name,
                        subscriptions.c.instance_id != sender.id,
                    )
                )
                if all((r.keys or {}).get(k, v) == v for k, v in keys.items())
            ]
            if len({r.instance_id for r in rows}) > 1 and sender.business_key:
                rows = [r for r in rows if r.business_key == sender.business_key]
            targets = {r.instance_id for r in rows}
            if len(targets) > 1:
                raise ProcessError(
                    f"message {name!r} thrown by {sender.process_key} matches {len(targets)} "
                    "waiting instances; add correlation keys"
                )
            if targets:
                match = rows[0]
                receiver = self.rt.load(conn, sender.tenant, match.instance_id)
                self._deliver(receiver, match.task_id, name, {**keys, **payload})
                receiver.record("message.correlated", None, name=name, sender=sender.id)
                self.rt.run(receiver)
                self.rt.save(conn, receiver)
                sender.record("message.sent", name=name, to=receiver.id)
                continue
            starters = [
                d for d in self._definitions_in(conn, sender.tenant) if name in d.message_starts
            ]
            if starters:
                started, _ = self._message_start(conn, sender.tenant, name, keys, payload, None)
                sender.record("message.sent", name=name, to=started.id, started=True)
            else:
                sender.record("message.undelivered", name=name, keys=keys)

    def _deliver(self, loaded: Loaded, task_id: str, name: str, payload: dict[str, Any]) -> None:
        task = self.rt.task(loaded, task_id)
        definition = task.task_spec.event_definition
        with self.rt.guard(loaded):
            task.task_spec.catch(task, BpmnEvent(definition, payload=payload, correlations={}))
            if getattr(definition, "message_var", None) is None:
                task.data.update(payload)
            task.task_spec._update(task)

    def _message_start(
        self,
        conn: Connection,
        tenant: str,
        name: str,
        keys: dict[str, Any],
        data: dict[str, Any],
        actor: str | None,
    ) -> tuple[Loaded, Any]:
        candidates = [d for d in self._definitions_in(conn, tenant) if name in d.message_starts]
        if not candidates:
            raise NotFound(
                f"no process instance of tenant {tenant!r} waits for message {name!r} "
                f"with {keys or 'no keys'}, "
                "and no process starts with it"
            )
        if len(candidates) > 1:
            raise Conflict(
                f"message {name!r} starts {len(candidates)} processes: "
                f"{[d.key for d in candidates]}"
            )
        process = self._resolve(conn, candidates[0].id)
        business_key = keys.get("business_key")
        loaded = self.rt.new_instance(
            tenant, process, str(business_key) if business_key else None, {}, actor
        )
        loaded.record(
            "instance.started",
            actor,
            process_key=process.key,
            version=process.version,
            message=name,
        )
        self.rt.run(loaded)
        waiting = [
            t
            for t in loaded.workflow.event_manager.tasks.values()
            if getattr(t.task_spec.event_definition, "name", None) == name
        ]
        if not waiting:
            raise ProcessError(
                f"process {process.key!r} does not wait for message {name!r} at its start"
            )
        self._deliver(loaded, str(waiting[0].id), name, {**keys, **data})
        self.rt.run(loaded)
        return loaded, self.rt.save(conn, loaded, actor)

    # -- timers -------------------------------------------------------------------------

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
