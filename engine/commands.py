"""The command machinery: load an instance, apply one change, run, derive effects, save.

Every change to an instance goes through :meth:`Runtime.execute`: one transaction holds the
new state, the jobs and user tasks it creates or closes, the next timer due, the message
subscriptions and the audit events. A lost optimistic-lock race raises :class:`StaleInstance`.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.dmn.specs.business_rule_task_mixin import BusinessRuleTaskMixin
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import Connection, delete, select, update
from sqlalchemy import Engine as SqlEngine

from loanflow.engine.audit import GENESIS, AuditRecord, seal_all
from loanflow.engine.bpmn.serializer import SERIALIZER_VERSION, dump_state, load_state
from loanflow.engine.bpmn.specs import (
    CLOSED_KEY,
    INPUT_KEY,
    JOB_KEY,
    OPEN_KEY,
    PROJECTED_KEY,
    ExternalServiceTask,
    expression_of,
)
from loanflow.engine.deployments import ParsedProcess
from loanflow.engine.dmn import TRACE_KEY as DECISION_TRACE_KEY
from loanflow.engine.errors import Conflict, InvalidInput, LoanflowError, NotFound, ProcessError
from loanflow.engine.store.models import (
    audit_table,
    candidates_table,
    instances_table,
    jobs_table,
    outbox_table,
    subscriptions_table,
    user_tasks_table,
)
from loanflow.engine.store.writer import insert_rows

__all__ = ["Loaded", "Runtime", "StaleInstance", "new_id"]

log = logging.getLogger(__name__)
T = TypeVar("T")


instances = instances_table
jobs = jobs_table
user_tasks = user_tasks_table
candidates = candidates_table
subscriptions = subscriptions_table
audit = audit_table
outbox = outbox_table


class StaleInstance(Conflict):
    """Another command changed the instance first."""


def new_id() -> str:
    return str(uuid.uuid4())


def check_json(variables: Any, what: str = "variables") -> dict[str, Any]:
    if variables is None:
        return {}
    if not isinstance(variables, dict):
        raise InvalidInput(f"{what} must be a JSON object")
    try:
        json.dumps(variables, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} must be plain JSON: {exc}") from exc
    for key in variables:
        if not isinstance(key, str) or not key.isidentifier() or key.startswith("_"):
            raise InvalidInput(
                f"{what}: {key!r} is not a usable variable name",
                {str(key): "must be an identifier not starting with _"},
            )
    return variables


@dataclass
class Loaded:
    """An instance in memory during one command."""

    tenant: str
    id: str
    process: ParsedProcess
    definition_id: str
    process_key: str
    business_key: str | None
    workflow: BpmnWorkflow
    version: int
    audit_seq: int
    audit_head: str
    started_by: str | None = None
    callback_url: str | None = None
    new: bool = False
    audit: list[AuditRecord] = field(default_factory=list)
    #: job ids (with the final job state) this command settles besides derived effects
    job_updates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    closed_tasks: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    def record(self, kind: str, actor: str | None = None, **data: Any) -> None:
        self.audit.append(AuditRecord(kind=kind, data=data, actor=actor))


@dataclass
class Effects:
    jobs: list[dict[str, Any]] = field(default_factory=list)
    cancelled_jobs: list[str] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    task_candidates: list[dict[str, Any]] = field(default_factory=list)
    closed_tasks: list[tuple[str, str]] = field(default_factory=list)
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    waits_for_message: bool = False
    next_due: datetime | None = None


class Runtime:
    """What commands need from the engine; built by :class:`loanflow.engine.Engine`."""

    def __init__(
        self,
        db: SqlEngine,
        clock: Any,
        script_engine: Any,
        resolve: Callable[[Connection, str], ParsedProcess],
        worker_policy: Callable[[ExternalServiceTask], tuple[int, float]],
        command_retries: int,
        on_jobs: Callable[[], None],
    ) -> None:
        self.db = db
        self.clock = clock
        self.script_engine = script_engine
        self.resolve = resolve
        self.worker_policy = worker_policy
        self.command_retries = command_retries
        self.on_jobs = on_jobs
        #: delivers messages an instance throws; set by the engine (none: recorded, not sent)
        self.route: Callable[[Connection, Loaded, list[Any]], None] | None = None
        #: the tenant parameter snapshot a new instance starts with; set by the engine
        self.start_parameters: (
            Callable[[Connection, str, frozenset[str]], dict[str, Any]] | None
        ) = None

    # -- transactions -------------------------------------------------------------------

    def transaction(self) -> Any:
        return self.db.begin()

    def retrying(self, fn: Callable[[], T], retries: int | None = None) -> T:
        """Run ``fn`` again when it lost an optimistic-lock race (job commands are retried)."""
        attempts = (self.command_retries if retries is None else retries) + 1
        for attempt in range(attempts):
            try:
                return fn()
            except StaleInstance:
                if attempt == attempts - 1:
                    raise
                log.debug("instance changed under a command, retrying (%s)", attempt + 1)
        raise AssertionError("unreachable")

    # -- loading ------------------------------------------------------------------------

    def new_instance(
        self,
        tenant: str,
        process: ParsedProcess,
        business_key: str | None,
        variables: dict[str, Any],
        actor: str | None,
        callback_url: str | None = None,
        conn: Connection | None = None,
    ) -> Loaded:
        if process.parameters and self.start_parameters is not None and conn is not None:
            snapshot = self.start_parameters(conn, tenant, process.parameters)
            given = sorted(set(snapshot) & set(variables))
            if given:
                raise InvalidInput(
                    f"{', '.join(given)} is set by the engine from the tenant's parameters; "
                    "a caller cannot pass it",
                    dict.fromkeys(given, "set by the engine"),
                )
            variables = {**variables, **snapshot}
        workflow = BpmnWorkflow(
            process.spec, process.subprocess_specs, script_engine=self.script_engine
        )
        root = workflow.task_tree
        root.data.update(variables)
        for task in root.children:  # the start task copied the (empty) root data already
            task.data.update(variables)
        return Loaded(
            tenant=tenant,
            id=new_id(),
            process=process,
            definition_id=process.definition_id,
            process_key=process.key,
            business_key=business_key,
            workflow=workflow,
            version=0,
            audit_seq=0,
            audit_head=GENESIS,
            started_by=actor,
            callback_url=callback_url,
            new=True,
        )

    def load(
        self, conn: Connection, tenant: str | None, instance_id: str, *, lock: bool = False
    ) -> Loaded:
        query = select(
            instances.c.tenant,
            instances.c.definition_id,
            instances.c.process_key,
            instances.c.business_key,
            instances.c.state,
            instances.c.data,
            instances.c.version,
            instances.c.audit_seq,
            instances.c.audit_head,
            instances.c.serializer_version,
            instances.c.started_by,
            instances.c.callback_url,
        ).where(instances.c.id == instance_id)
        if tenant is not None:
            query = query.where(instances.c.tenant == tenant)
        if lock and conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).one_or_none()
        if row is None:
            raise NotFound(f"process instance {instance_id} not found")
        if row.state != "running":
            raise Conflict(f"process instance {instance_id} is {row.state}")
        if row.serializer_version != SERIALIZER_VERSION:
            raise ProcessError(
                f"instance {instance_id} was stored as {row.serializer_version}; "
                f"this engine reads {SERIALIZER_VERSION} (run the migration)"
            )
        process = self.resolve(conn, row.definition_id)
        workflow = load_state(row.data, process.spec, process.subprocess_specs, self.script_engine)
        return Loaded(
            tenant=row.tenant,
            id=instance_id,
            process=process,
            definition_id=row.definition_id,
            process_key=row.process_key,
            business_key=row.business_key,
            workflow=workflow,
            version=row.version,
            audit_seq=row.audit_seq,
            audit_head=row.audit_head,
            started_by=row.started_by,
            callback_url=row.callback_url,
        )

    # -- running ------------------------------------------------------------------------

    def run(self, loaded: Loaded) -> None:
        """Run the diagram until it waits; a failure becomes a ProcessError naming the element."""
        decisions: list[dict[str, Any]] = []

        def did_complete(task: Any) -> None:
            spec = task.task_spec
            if isinstance(spec, BusinessRuleTaskMixin):
                runner = spec.dmnEngine
                evaluated = task.internal_data.pop(DECISION_TRACE_KEY, [])
                if runner.result_variable:
                    outputs = {runner.result_variable: task.data.get(runner.result_variable)}
                else:
                    names = runner.decision.output_names
                    outputs = {n: task.data.get(n.split(".")[0]) for n in names if n}
                decisions.append(
                    {
                        "element": spec.bpmn_id,
                        "decision": runner.decision.id,
                        "outputs": outputs,
                        "evaluations": evaluated,
                    }
                )

        with self.guard(loaded):
            loaded.workflow.do_engine_steps(did_complete_task=did_complete)
        for decision in decisions:
            loaded.record("decision.evaluated", **decision)

    def guard(self, loaded: Loaded) -> Any:
        return _SpiffErrors(loaded)

    def task(self, loaded: Loaded, task_id: str) -> Any:
        try:
            task = loaded.workflow.get_task_from_id(uuid.UUID(task_id))
        except (ValueError, SpiffWorkflowException):
            task = None
        if task is None:
            raise NotFound(f"task {task_id} is not part of instance {loaded.id}")
        return task

    # -- effects ------------------------------------------------------------------------

    def _each_task(self, workflow: BpmnWorkflow) -> Iterator[Any]:
        yield from workflow.tasks.values()
        for sub in workflow.subprocesses.values():
            yield from sub.tasks.values()

    def derive(self, loaded: Loaded) -> Effects:
        effects = Effects()
        now = self.clock.now()
        # task id -> job id (or "" for a user task) of every job/user task still open
        open_items: dict[str, str] = loaded.workflow.data.setdefault(OPEN_KEY, {})
        still_open: set[str] = set()
        for task in self._each_task(loaded.workflow):
            spec = task.task_spec
            internal = task.internal_data
            if isinstance(spec, ExternalServiceTask):
                if task.state == TaskState.STARTED and JOB_KEY not in internal:
                    effects.jobs.append(self._job_row(loaded, task, now))
                    open_items[str(task.id)] = internal[JOB_KEY]
                elif (
                    JOB_KEY in internal
                    and CLOSED_KEY not in internal
                    and task.state & TaskState.FINISHED_MASK
                ):
                    internal[CLOSED_KEY] = True
                    open_items.pop(str(task.id), None)
                    if task.state != TaskState.COMPLETED:
                        effects.cancelled_jobs.append(internal[JOB_KEY])
                    continue
                still_open.add(str(task.id))
            elif spec.manual:
                if task.state == TaskState.READY and PROJECTED_KEY not in internal:
                    self._project(loaded, task, now, effects)
                    open_items[str(task.id)] = ""
                elif (
                    PROJECTED_KEY in internal
                    and CLOSED_KEY not in internal
                    and task.state != TaskState.READY
                ):
                    internal[CLOSED_KEY] = True
                    open_items.pop(str(task.id), None)
                    state = "completed" if task.state == TaskState.COMPLETED else "cancelled"
                    effects.closed_tasks.append((str(task.id), state))
                    continue
                still_open.add(str(task.id))
        for task_id in [t for t in open_items if t not in still_open]:
            # SpiffWorkflow dropped the task from the tree (a multi-instance cut short):
            # its job or inbox row must not stay open
            job_id = open_items.pop(task_id)
            if job_id:
                effects.cancelled_jobs.append(job_id)
            else:
                effects.closed_tasks.append((task_id, "cancelled"))
        self._waits(loaded, effects)
        return effects

    def _job_row(self, loaded: Loaded, task: Any, now: datetime) -> dict[str, Any]:
        spec: ExternalServiceTask = task.task_spec
        job_id = new_id()
        task.internal_data[JOB_KEY] = job_id
        retries, backoff = self.worker_policy(spec)
        return {
            "id": job_id,
            "tenant": loaded.tenant,
            "instance_id": loaded.id,
            "task_id": str(task.id),
            "element_id": spec.bpmn_id,
            "topic": spec.topic,
            "input": task.internal_data.pop(INPUT_KEY, {}),
            "state": "ready",
            "retries": retries,
            "attempts": 0,
            "backoff": backoff,
            "priority": 0,
            "lock_owner": None,
            "lock_expires_at": None,
            "next_attempt_at": now,
            "error_message": None,
            "error_details": None,
            "created_at": now,
            "completed_at": None,
        }

    def _project(self, loaded: Loaded, task: Any, now: datetime, effects: Effects) -> None:
        spec = task.task_spec
        task.internal_data[PROJECTED_KEY] = True
        with self.guard(loaded):
            groups = self._names(task, getattr(spec, "candidate_groups", None))
            users = self._names(task, getattr(spec, "candidate_users", None))
            assignee = self._names(task, getattr(spec, "assignee", None))
            due_at = self._due(task, getattr(spec, "due_date", None), now)
            sod = self._names(task, getattr(spec, "sod_group", None))
            title = self._text(task, getattr(spec, "display_name", None))
        task_id = str(task.id)
        effects.tasks.append(
            {
                "id": task_id,
                "tenant": loaded.tenant,
                "instance_id": loaded.id,
                "process_key": loaded.process_key,
                "business_key": loaded.business_key,
                "element_id": spec.bpmn_id,
                "name": (title or spec.bpmn_name or "")[:200] or None,
                "form_key": getattr(spec, "form_key", None),
                "sod_group": sod[0] if sod else None,
                "candidate_groups": groups,
                "candidate_users": users,
                "assignee": assignee[0] if assignee else None,
                "due_at": due_at,
                "state": "open",
                "created_at": now,
                "completed_at": None,
                "completed_by": None,
            }
        )
        effects.task_candidates.extend(
            {"task_id": task_id, "kind": "group", "value": g} for g in groups
        )
        effects.task_candidates.extend(
            {"task_id": task_id, "kind": "user", "value": u} for u in users
        )

    def _names(self, task: Any, text: str | None) -> list[str]:
        if not text:
            return []
        inner = expression_of(text)
        value: Any = text if inner is None else self.script_engine.evaluate(task, text)
        if value is None:
            return []
        items = value.split(",") if isinstance(value, str) else list(value)
        return [str(item).strip() for item in items if str(item).strip()]

    def _text(self, task: Any, text: str | None) -> str | None:
        if not text:
            return None
        inner = expression_of(text)
        value: Any = text if inner is None else self.script_engine.evaluate(task, text)
        return None if value is None else str(value)

    def _due(self, task: Any, text: str | None, now: datetime) -> datetime | None:
        if not text:
            return None
        inner = expression_of(text)
        value: Any = text if inner is None else self.script_engine.evaluate(task, text)
        if isinstance(value, datetime):
            return value
        if value is None or not str(value).strip():
            return None
        value = str(value).strip()
        if value.upper().startswith("P"):
            parsed = TimerEventDefinition.parse_iso_duration(value)
            due: datetime = now + TimerEventDefinition.get_timedelta_from_start(parsed, now)
            return due
        when: datetime = TimerEventDefinition.get_datetime(value)
        return when

    def _waits(self, loaded: Loaded, effects: Effects) -> None:
        for task in loaded.workflow.event_manager.tasks.values():
            definition = task.task_spec.event_definition
            if isinstance(definition, TimerEventDefinition):
                value = task.internal_data.get("event_value")
                when = value.get("next") if isinstance(value, dict) else value
                if when:
                    due = datetime.fromisoformat(when)
                    if effects.next_due is None or due < effects.next_due:
                        effects.next_due = due
            elif isinstance(definition, MessageEventDefinition):
                effects.waits_for_message = True
                effects.subscriptions.append(
                    {
                        "tenant": loaded.tenant,
                        "name": definition.name,
                        "instance_id": loaded.id,
                        "task_id": str(task.id),
                        "business_key": loaded.business_key,
                        "keys": self._correlation_keys(task, definition),
                    }
                )

    def _correlation_keys(self, task: Any, definition: Any) -> dict[str, Any]:
        keys: dict[str, Any] = {}
        for props in task.workflow.correlations.values():
            if isinstance(props, dict):
                keys.update(props)
        env = self.script_engine.environment
        for prop in getattr(definition, "correlation_properties", []) or []:
            if prop.name in keys:
                continue
            try:
                keys[prop.name] = env.evaluate(prop.retrieval_expression, task.data)
            except Exception:  # noqa: BLE001 - unknown yet: matched only by what is known
                continue
        plain: dict[str, Any] = json.loads(json.dumps(keys, default=str))
        return plain

    # -- saving -------------------------------------------------------------------------

    def save(
        self, conn: Connection, loaded: Loaded, actor: str | None = None, *, last: bool = False
    ) -> Effects:
        """Write the command's outcome. ``last``: nothing follows in this transaction."""
        effects = self.derive(loaded)
        thrown = loaded.workflow.get_events()
        if thrown:
            if self.route is not None:
                self.route(conn, loaded, thrown)
            else:
                for event in thrown:
                    loaded.record("event.unrouted", name=event.event_definition.name)
        for job in effects.jobs:
            loaded.record(
                "job.created", job_id=job["id"], topic=job["topic"], element=job["element_id"]
            )
        for task in effects.tasks:
            loaded.record(
                "task.created",
                task_id=task["id"],
                element=task["element_id"],
                groups=task["candidate_groups"],
            )
        now = self.clock.now()
        workflow = loaded.workflow
        done = bool(workflow.completed)
        state = "completed" if done else "running"
        if done:
            loaded.record("instance.completed", actor)
            if loaded.callback_url:
                inserts_first = [(outbox, [outbox_row(loaded, "completed", now)])]
            else:
                inserts_first = []
        else:
            inserts_first = []
        rows, seq, head = seal_all(
            loaded.audit,
            tenant=loaded.tenant,
            stream=loaded.id,
            seq=loaded.audit_seq,
            head=loaded.audit_head,
            at=now,
        )
        values = {
            "state": state,
            "data": dump_state(workflow),
            "serializer_version": SERIALIZER_VERSION,
            "version": loaded.version + 1,
            "next_due": None if done else effects.next_due,
            "audit_seq": seq,
            "audit_head": head,
            "updated_at": now,
            "ended_at": now if done else None,
        }
        inserts: list[tuple[Any, list[dict[str, Any]]]] = []
        if loaded.new:
            inserts.append(
                (
                    instances,
                    [
                        {
                            **values,
                            "id": loaded.id,
                            "tenant": loaded.tenant,
                            "definition_id": loaded.definition_id,
                            "process_key": loaded.process_key,
                            "business_key": loaded.business_key,
                            "started_by": loaded.started_by,
                            "callback_url": loaded.callback_url,
                            "created_at": now,
                        }
                    ],
                )
            )
        else:
            result = conn.execute(
                update(instances)
                .where(instances.c.id == loaded.id, instances.c.version == loaded.version)
                .values(**values)
            )
            if result.rowcount != 1:
                raise StaleInstance(
                    f"process instance {loaded.id} was changed by another command; try again"
                )
        self._write_effects(conn, loaded, effects, now)
        inserts += [
            *inserts_first,
            (jobs, effects.jobs),
            (user_tasks, effects.tasks),
            (candidates, effects.task_candidates),
            (subscriptions, effects.subscriptions),
            (audit, rows),
        ]
        insert_rows(conn, inserts, commit=last)
        loaded.version += 1
        return effects

    def _write_effects(
        self, conn: Connection, loaded: Loaded, effects: Effects, now: datetime
    ) -> None:
        if effects.cancelled_jobs:
            conn.execute(
                update(jobs)
                .where(
                    jobs.c.id.in_(effects.cancelled_jobs),
                    jobs.c.state.in_(("ready", "locked", "failed")),
                )
                .values(state="cancelled", completed_at=now, lock_owner=None, lock_expires_at=None)
            )
        for job_id, values in loaded.job_updates:
            conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))
        for task_id, state in effects.closed_tasks:
            by = loaded.closed_tasks.get(task_id, (state, None))[1]
            conn.execute(
                update(user_tasks)
                .where(user_tasks.c.id == task_id)
                .values(
                    state=state, completed_at=now, completed_by=by if state == "completed" else None
                )
            )
            conn.execute(delete(candidates).where(candidates.c.task_id == task_id))
        if not loaded.new:
            conn.execute(delete(subscriptions).where(subscriptions.c.instance_id == loaded.id))


def outbox_row(loaded: Loaded, state: str, now: datetime) -> dict[str, Any]:
    """The webhook delivery telling the instance's caller how it ended."""
    workflow = loaded.workflow
    variables = dict(workflow.last_task.data) if workflow.last_task is not None else {}
    return {
        "id": new_id(),
        "tenant": loaded.tenant,
        "instance_id": loaded.id,
        "url": loaded.callback_url,
        "payload": json.loads(
            json.dumps(
                {
                    "event": f"instance.{state}",
                    "instance_id": loaded.id,
                    "tenant": loaded.tenant,
                    "process_key": loaded.process_key,
                    "business_key": loaded.business_key,
                    "state": state,
                    "variables": variables,
                },
                default=str,
            )
        ),
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": None,
        "created_at": now,
        "delivered_at": None,
    }


class _SpiffErrors:
    """Turn SpiffWorkflow's exceptions into ProcessError naming the element."""

    def __init__(self, loaded: Loaded) -> None:
        self.loaded = loaded

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None or not isinstance(exc, Exception) or isinstance(exc, LoanflowError):
            return
        if isinstance(exc, WorkflowTaskException):
            task = getattr(exc, "task", None)
            element = getattr(getattr(task, "task_spec", None), "bpmn_id", None)
            cause = getattr(exc, "error", None) or getattr(exc, "exception", None) or exc
            detail = getattr(cause, "message", None) or str(cause)
            line = getattr(exc, "line_number", None) or getattr(cause, "line", None) or None
            raise ProcessError(
                f"{element or 'a task'} failed: {detail}", element=element, line=line
            ) from exc
        raise ProcessError(f"the diagram failed: {type(exc).__name__}: {exc}") from exc


def utc_after(now: datetime, seconds: float) -> datetime:
    return now + timedelta(seconds=seconds)
