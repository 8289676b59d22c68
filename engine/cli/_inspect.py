"""``loanflow instances``, ``incidents`` and ``retry``: look at the store and repair it.

Listings print a table for people or, with ``--json``, an array for scripts; ``retry`` is the
one repair, recorded in the audit trail under the login name of whoever ran it.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from loanflow.engine.cli._common import _actor, _dumps, _guard, _out, _session, _settings, _when


@_guard
def instances(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option("--tenant", "-t", help="only this tenant")] = None,
    state: Annotated[
        str | None, typer.Option("--state", "-s", help="running, completed, cancelled…")
    ] = None,
    business_key: Annotated[str | None, typer.Option("--business-key", "-k")] = None,
    limit: Annotated[int, typer.Option("--limit", "-l", min=1, max=500)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON for machines")] = False,
) -> None:
    """Process instances, newest first."""
    with _session(_settings(ctx)) as engine:
        found = engine.instances(tenant, state=state, business_key=business_key, limit=limit)
    if as_json:
        typer.echo(
            _dumps(
                [
                    {
                        "id": i.id,
                        "tenant": i.tenant,
                        "process_key": i.process_key,
                        "definition_id": i.definition_id,
                        "business_key": i.business_key,
                        "state": i.state,
                        "version": i.version,
                        "created_at": i.created_at,
                        "updated_at": i.updated_at,
                        "ended_at": i.ended_at,
                        "next_due": i.next_due,
                    }
                    for i in found
                ]
            )
        )
        return
    if not found:
        _out().print("no process instances")
        return
    table = Table("id", "tenant", "process", "business key", "state", "updated")
    for i in found:
        table.add_row(
            i.id, i.tenant, i.process_key, i.business_key or "", i.state, _when(i.updated_at)
        )
    _out().print(table)


@_guard
def incidents(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option("--tenant", "-t", help="only this tenant")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON for machines")] = False,
) -> None:
    """Open incidents: jobs out of retries and failed timers."""
    with _session(_settings(ctx)) as engine:
        found = engine.incidents(tenant)
    if as_json:
        typer.echo(
            _dumps(
                [
                    {
                        "id": i.id,
                        "tenant": i.tenant,
                        "instance_id": i.instance_id,
                        "job_id": i.job_id,
                        "element_id": i.element_id,
                        "message": i.message,
                        "created_at": i.created_at,
                    }
                    for i in found
                ]
            )
        )
        return
    if not found:
        _out().print("no open incidents")
        return
    table = Table("id", "instance", "job", "element", "message", "created")
    for i in found:
        table.add_row(
            i.id, i.instance_id, i.job_id or "", i.element_id or "", i.message, _when(i.created_at)
        )
    _out().print(table)


@_guard
def retry(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="id of the failed job (see `incidents`)")],
    retries: Annotated[
        int, typer.Option("--retries", "-r", min=1, help="attempts the workers get")
    ] = 1,
    tenant: Annotated[str | None, typer.Option("--tenant", "-t", help="the job's tenant")] = None,
) -> None:
    """Send a failed job back to its workers and resolve its incident."""
    with _session(_settings(ctx)) as engine:
        engine.retry_job(job_id, tenant=tenant, retries=retries, actor=_actor())
    attempts = "attempt" if retries == 1 else "attempts"
    _out().print(f"job {job_id} sent back to its workers ({retries} {attempts})", soft_wrap=True)
