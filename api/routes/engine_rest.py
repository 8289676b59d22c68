"""A Camunda 7-compatible slice of ``/engine-rest``, so existing external-task clients
(camunda-external-task-client-js and -java, pycamunda) work against loanflow unchanged.

Covered::

    POST /engine-rest/external-task/fetchAndLock          long polling with asyncResponseTimeout
    POST /engine-rest/external-task/{id}/complete         variables, localVariables
    POST /engine-rest/external-task/{id}/failure          retries is the new count; 0 -> incident
    POST /engine-rest/external-task/{id}/bpmnError
    POST /engine-rest/external-task/{id}/extendLock
    POST /engine-rest/external-task/{id}/unlock
    POST /engine-rest/process-definition/key/{key}/start
    POST /engine-rest/process-definition/key/{key}/tenant-id/{tenant}/start
    POST /engine-rest/message                              resultEnabled answers 200 with results

Variables travel as Camunda typed values (String, Integer, Long, Short, Double, Boolean, Json,
Object with a JSON serialization, Null, Date); Json and Object values are serialized JSON text.
Out of loanflow: str is String, bool Boolean, int Integer (Long past 32 bits), float Double,
objects and lists Json, None Null.

Authentication is HTTP Basic with a client's credentials (checked against the directory and
cached for a minute per id and secret digest, since workers poll constantly) or a Bearer token
of ``/api/v1/auth/token``. Every route needs the ``integrator`` role; a worker only sees jobs of
the tenants its principal acts in (``tenantIdIn`` narrows them), and another tenant's task id
is a 404. Errors answer Camunda's ``{"type", "message"}``; a body that does not validate is a
400 ``InvalidRequestException`` (not the 422 of ``/api/v1``).

Where loanflow deviates:

- a task locked by another worker, or no longer locked, is a 400 (Camunda answers 500), and so
  is a worker's result the diagram cannot apply (the job becomes an incident, as in Camunda);
- fetchAndLock returns the job's *input* (what the task maps in with ``camunda:inputParameter``),
  not every process variable; ``topics[].variables`` filters it, ``localVariables`` is ignored;
- the topic filters ``processDefinitionKey(In)``, ``processDefinitionId(In)``, ``businessKey``
  and ``processVariables`` are refused with a 400 rather than silently ignored;
  ``usePriority`` is always on; ``withoutTenantId``, ``includeExtensionProperties`` and
  ``deserializeValues`` are ignored;
- one lockDuration applies per group of topics with the same duration and tenants;
- ``executionId`` is the job id and ``activityInstanceId`` is ``{activityId}:{job id}``;
  ``errorDetails`` is returned with the task (Camunda needs a separate call);
- an uncaught bpmnError becomes an incident; localVariables are written like variables;
- a message correlation result always has ``resultType`` ``Execution`` (the engine does not
  say whether the message started a process) and both ``execution`` and ``processInstance``;
- ``/process-definition/key/{key}/start`` needs a principal of exactly one tenant;
  ``withVariablesInReturn``, ``startInstructions`` and ``skip*`` are ignored.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response, Security
from fastapi.security import HTTPBasic, HTTPBasicCredentials, HTTPBearer
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from loanflow.api.auth import AuthService, InvalidToken, Principal
from loanflow.api.deps import engine_of
from loanflow.api.routes._camunda import (
    BasicCache,
    BpmnErrorIn,
    CamundaError,
    CamundaRoute,
    CompleteIn,
    CorrelationResultDto,
    ErrorDto,
    ExecutionDto,
    ExtendLockIn,
    FailureIn,
    FetchIn,
    InstanceDto,
    JobSignal,
    LockedTaskOut,
    MessageIn,
    StartIn,
    TopicIn,
    camunda_time,
    decode,
    to_typed,
)
from loanflow.api.schemas import ErrorOut
from loanflow.engine import Engine
from loanflow.engine.errors import Conflict, NotFound
from loanflow.engine.store.models import instances_table, jobs_table
from loanflow.engine.views import InstanceInfo, LockedJob

__all__ = ["CamundaError", "install", "router"]


PREFIX = "/engine-rest"
MAX_LONG_POLL_MS = 60_000
#: long polls also re-fetch this often: retries and expired locks come due without a signal
_POLL_FALLBACK_S = 2.0


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorDto, "description": "invalid request, or a lock held by someone else"},
    401: {"model": ErrorDto, "description": "no or wrong credentials (Basic or Bearer)"},
    403: {"model": ErrorDto, "description": "the principal lacks the integrator role"},
    404: {"model": ErrorDto, "description": "no such task, definition or tenant for the caller"},
    413: {"model": ErrorOut, "description": "the request body is over the size limit"},
    429: {"model": ErrorDto, "description": "too many failed Basic logins; see Retry-After"},
}
router = APIRouter(
    prefix=PREFIX, tags=["engine-rest (Camunda 7)"], route_class=CamundaRoute, responses=_ERRORS
)


# -- authentication ---------------------------------------------------------------------

_basic = HTTPBasic(auto_error=False, realm="loanflow", description="a client's id and secret")
_bearer = HTTPBearer(auto_error=False, description="an access token of /api/v1/auth/token")


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, {"WWW-Authenticate": 'Basic realm="loanflow"'})


async def _authenticate(
    request: Request, basic: HTTPBasicCredentials, auth: AuthService
) -> Principal:
    cache: BasicCache = request.app.state.engine_rest_basic_cache
    client_id, secret = basic.username, basic.password
    key = (client_id, hashlib.sha256(secret.encode()).digest())
    known = cache.get(key)
    if known is not None:
        return known
    if not client_id or not secret or len(client_id) > 128 or len(secret) > 1024:
        raise _unauthorized("the client id or secret is wrong")
    address = request.client.host if request.client else "unknown"
    wait = auth.throttle(address, client_id)
    if wait is not None:
        raise HTTPException(
            429, "too many failed logins; try again later", {"Retry-After": str(math.ceil(wait))}
        )
    if "\x00" in client_id:
        raise _unauthorized("the client id or secret is wrong")
    info = await run_in_threadpool(auth.directory.authenticate, client_id, secret, "client")
    if info is None:
        raise _unauthorized("the client id or secret is wrong")
    tenants = await run_in_threadpool(auth.directory.scope, info)
    principal = Principal(info.id, info.tenant, info.kind, info.roles, frozenset(tenants))
    cache.put(key, principal)
    return principal


async def worker_principal(
    request: Request,
    basic: Annotated[HTTPBasicCredentials | None, Security(_basic)],
    bearer: Annotated[Any, Security(_bearer)],
) -> Principal:
    """The caller from HTTP Basic (a client) or a Bearer token; it needs ``integrator``."""
    auth: AuthService = request.app.state.auth
    if basic is not None:
        principal = await _authenticate(request, basic, auth)
    elif bearer is not None:
        try:
            principal = auth.verify(bearer.credentials)
        except InvalidToken as exc:
            raise _unauthorized(str(exc)) from None
    else:
        raise _unauthorized("credentials are required (Basic or Bearer)")
    if not principal.has_role("integrator"):
        raise HTTPException(403, "this needs the integrator role")
    return principal


Worker = Annotated[Principal, Depends(worker_principal)]


# -- fetch and lock -----------------------------------------------------------------------


_UNSUPPORTED = (
    "processDefinitionKey",
    "processDefinitionKeyIn",
    "processDefinitionId",
    "processDefinitionIdIn",
    "businessKey",
    "processVariables",
)


def _lock(engine: Engine, body: FetchIn, principal: Principal) -> list[LockedTaskOut]:
    """One fetch over all topics, grouped by lock duration and tenants (the engine takes one
    of each per call)."""
    groups: dict[tuple[int, frozenset[str]], list[TopicIn]] = {}
    for topic in body.topics:
        tenants = principal.tenants
        if topic.tenantIdIn is not None:
            tenants = tenants & frozenset(topic.tenantIdIn)
        if tenants:
            groups.setdefault((topic.lockDuration, tenants), []).append(topic)
    locked: list[tuple[LockedJob, TopicIn]] = []
    for (duration, tenants), topics in groups.items():
        wanted = body.maxTasks - len(locked)
        if wanted <= 0:
            break
        by_name = {t.topicName: t for t in topics}
        jobs = engine.fetch_and_lock(
            body.workerId, list(by_name), wanted, lock_seconds=duration / 1000, tenants=tenants
        )
        locked.extend((job, by_name[job.topic]) for job in jobs)
    return _describe(engine, locked, body.workerId) if locked else []


def _describe(
    engine: Engine, locked: list[tuple[LockedJob, TopicIn]], worker_id: str
) -> list[LockedTaskOut]:
    jobs, instances = jobs_table, instances_table
    with engine.db.connect() as conn:
        rows = {
            r.id: r
            for r in conn.execute(
                select(
                    jobs.c.id,
                    jobs.c.priority,
                    jobs.c.error_message,
                    jobs.c.error_details,
                    instances.c.process_key,
                    instances.c.definition_id,
                    instances.c.business_key,
                )
                .join(instances, instances.c.id == jobs.c.instance_id)
                .where(jobs.c.id.in_([job.id for job, _ in locked]))
            )
        }
    out = []
    for job, topic in locked:
        row = rows.get(job.id)
        names = topic.variables
        values = {k: v for k, v in job.input.items() if names is None or k in names}
        out.append(
            LockedTaskOut(
                activityId=job.element_id,
                activityInstanceId=f"{job.element_id}:{job.id}",
                errorMessage=row.error_message if row else None,
                errorDetails=row.error_details if row else None,
                executionId=job.id,
                id=job.id,
                lockExpirationTime=camunda_time(job.lock_expires_at),
                processDefinitionId=row.definition_id if row else None,
                processDefinitionKey=row.process_key if row else None,
                processInstanceId=job.instance_id,
                retries=job.retries,
                workerId=worker_id,
                topicName=job.topic,
                tenantId=job.tenant,
                variables={k: to_typed(v) for k, v in values.items()},
                priority=row.priority if row else 0,
                businessKey=row.business_key if row else None,
            )
        )
    return out


@router.post("/external-task/fetchAndLock", response_model=list[LockedTaskOut])
async def fetch_and_lock(body: FetchIn, request: Request, principal: Worker) -> Any:
    """Lock up to ``maxTasks`` tasks of the topics; with ``asyncResponseTimeout`` (ms, at most
    60 s) wait for one when none is available, answering as soon as a command creates one."""
    for topic in body.topics:
        given = [name for name in _UNSUPPORTED if getattr(topic, name) is not None]
        if given:
            raise CamundaError(
                400, "InvalidRequestException", f"loanflow does not filter topics by {given}"
            )
    engine = engine_of(request)
    signal: JobSignal = request.app.state.engine_rest_signal
    timeout = min(body.asyncResponseTimeout or 0, MAX_LONG_POLL_MS) / 1000
    deadline = time.monotonic() + timeout
    while True:
        waiter = signal.waiter()
        try:
            tasks = await run_in_threadpool(_lock, engine, body, principal)
            remaining = deadline - time.monotonic()
            if tasks or remaining <= 0 or not body.topics or body.maxTasks == 0:
                return tasks
            await asyncio.wait({waiter}, timeout=min(remaining, _POLL_FALLBACK_S))
        finally:
            signal.discard(waiter)


# -- completing, failing, locks -------------------------------------------------------------


def _job(engine: Engine, job_id: str, principal: Principal) -> Any:
    """The job's row when it is in the caller's tenants; 404 otherwise."""
    jobs = jobs_table
    with engine.db.connect() as conn:
        row = conn.execute(
            select(jobs.c.tenant, jobs.c.state, jobs.c.lock_owner).where(jobs.c.id == job_id)
        ).one_or_none()
    if row is None or not principal.may_act_in(row.tenant):
        raise CamundaError(404, "RestException", f"External task with id {job_id} does not exist")
    return row


async def _on_job(
    request: Request, job_id: str, principal: Principal, command: Callable[[Engine, Any], object]
) -> Response:
    engine = engine_of(request)

    def run() -> None:
        command(engine, _job(engine, job_id, principal))

    await run_in_threadpool(run)
    return Response(status_code=204)


@router.post("/external-task/{job_id}/complete", status_code=204, response_class=Response)
async def complete(job_id: str, body: CompleteIn, request: Request, principal: Worker) -> Response:
    """Complete the task with its output; variables and local variables both go to the task."""
    output = {**decode(body.variables), **decode(body.localVariables)}
    return await _on_job(
        request, job_id, principal, lambda e, _j: e.complete_job(job_id, body.workerId, output)
    )


@router.post("/external-task/{job_id}/failure", status_code=204, response_class=Response)
async def failure(job_id: str, body: FailureIn, request: Request, principal: Worker) -> Response:
    """Report a failure; ``retries`` is the count left (0 raises an incident), the task comes
    back after ``retryTimeout`` ms. Without ``retries`` the engine's backoff policy decides."""
    message = body.errorMessage or "the external worker reported a failure"
    delay = None if body.retryTimeout is None else body.retryTimeout / 1000

    def fail(engine: Engine, _job_row: Any) -> None:
        engine.fail_job(
            job_id,
            body.workerId,
            message,
            details=body.errorDetails,
            retries=body.retries,
            retry_delay=delay,
            retryable=body.retries != 0,
        )

    return await _on_job(request, job_id, principal, fail)


@router.post("/external-task/{job_id}/bpmnError", status_code=204, response_class=Response)
async def bpmn_error(
    job_id: str, body: BpmnErrorIn, request: Request, principal: Worker
) -> Response:
    """Throw the BPMN error at the task; an uncaught one becomes an incident."""
    variables = decode(body.variables)
    return await _on_job(
        request,
        job_id,
        principal,
        lambda e, _j: e.throw_bpmn_error(
            job_id, body.workerId, body.errorCode, body.errorMessage, variables
        ),
    )


@router.post("/external-task/{job_id}/extendLock", status_code=204, response_class=Response)
async def extend_lock(
    job_id: str, body: ExtendLockIn, request: Request, principal: Worker
) -> Response:
    return await _on_job(
        request,
        job_id,
        principal,
        lambda e, _j: e.jobs.extend_lock(job_id, body.workerId, body.newDuration / 1000),
    )


@router.post("/external-task/{job_id}/unlock", status_code=204, response_class=Response)
async def unlock(job_id: str, request: Request, principal: Worker) -> Response:
    """Give the task back to every worker (whoever holds the lock); a no-op when unlocked."""

    def give_back(engine: Engine, row: Any) -> None:
        if row.state == "locked" and row.lock_owner:
            engine.jobs.unlock(job_id, row.lock_owner)

    return await _on_job(request, job_id, principal, give_back)


# -- starting processes, messages -------------------------------------------------------------


def _only_tenant(principal: Principal) -> str:
    if len(principal.tenants) != 1:
        raise CamundaError(
            400,
            "InvalidRequestException",
            "the caller acts in several tenants; name one (tenant-id/{tenant}, tenantId)",
        )
    return next(iter(principal.tenants))


async def _start(
    request: Request, principal: Principal, key: str, tenant: str, body: StartIn
) -> Any:
    if not principal.may_act_in(tenant):
        raise CamundaError(404, "RestException", f"no process definition {key!r} for {tenant!r}")
    variables = decode(body.variables)
    chains = getattr(request.app.state, "approval_chains", None)
    engine = engine_of(request)

    def start() -> InstanceInfo:
        data = variables
        if chains is not None:
            from loanflow.engine.approvals import start_variables

            data = start_variables(chains, tenant, data)
        return engine.start(
            tenant, key, business_key=body.businessKey, variables=data, actor=principal.id
        )

    return InstanceDto.of(await run_in_threadpool(start))


@router.post("/process-definition/key/{key}/tenant-id/{tenant}/start", response_model=InstanceDto)
async def start_in_tenant(
    key: str, tenant: str, body: StartIn, request: Request, principal: Worker
) -> Any:
    """Start the newest version of ``key`` in ``tenant``."""
    return await _start(request, principal, key, tenant, body)


@router.post("/process-definition/key/{key}/start", response_model=InstanceDto)
async def start(key: str, body: StartIn, request: Request, principal: Worker) -> Any:
    """Start the newest version of ``key`` in the caller's one tenant."""
    return await _start(request, principal, key, _only_tenant(principal), body)


@router.post(
    "/message",
    status_code=204,
    response_model=None,
    responses={200: {"model": list[CorrelationResultDto], "description": "with resultEnabled"}},
)
async def correlate(body: MessageIn, request: Request, principal: Worker) -> Response:
    """Deliver the message to the one waiting instance (or start the process it starts);
    400 when nothing, or more than one instance, matches."""
    tenant = body.tenantId if body.tenantId is not None else _only_tenant(principal)
    keys = decode(body.correlationKeys)
    if body.businessKey is not None:
        keys["business_key"] = body.businessKey
    payload = decode(body.processVariables)
    engine = engine_of(request)
    if not principal.may_act_in(tenant):
        raise CamundaError(400, "RestException", f"no tenant {tenant!r} for this caller")
    try:
        info = await run_in_threadpool(
            lambda: engine.correlate(tenant, body.messageName, keys, payload, actor=principal.id)
        )
    except (NotFound, Conflict) as exc:
        raise CamundaError(400, "RestException", f"cannot correlate: {exc.message}") from None
    if not body.resultEnabled:
        return Response(status_code=204)
    instance = InstanceDto.of(info)
    execution = ExecutionDto(
        id=info.id, processInstanceId=info.id, ended=instance.ended, tenantId=info.tenant
    )
    result = CorrelationResultDto(
        resultType="Execution", execution=execution, processInstance=instance
    )
    return Response(json.dumps([result.model_dump()]), 200, media_type="application/json")


def install(app: FastAPI) -> None:
    """Add the routes, wake long polls on the engine's new jobs, keep the Basic cache."""
    signal = JobSignal()
    engine: Engine = app.state.engine
    engine.on_new_jobs(signal)
    app.state.engine_rest_signal = signal
    app.state.engine_rest_basic_cache = BasicCache()
    app.include_router(router)
