"""Test-data builders and test workers shared by the test suite."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from loanflow.engine import Engine
from loanflow.engine.bpmn.serializer import dump_state, load_state
from loanflow.engine.commands import instances
from loanflow.workers import BusinessError, WorkerRegistry, worker
from loanflow.workers.builtin import BUILTIN_WORKERS

DIAGRAMS = Path(__file__).parent / "diagrams"


def diagram(*names: str) -> dict[str, bytes]:
    """Files from tests/diagrams as a deployment bundle."""
    return {name: (DIAGRAMS / name).read_bytes() for name in names}


class EchoIn(BaseModel):
    value: Any = None
    fail_times: int = 0
    reject: bool = False


class EchoOut(BaseModel):
    echoed: Any = None
    calls: int


CALLS: dict[str, int] = {}
_calls_lock = threading.Lock()


@worker("test.echo", retries=2, backoff=1.0)
def echo(data: EchoIn) -> EchoOut:
    """Echo the value; fail the first ``fail_times`` calls; reject when asked."""
    key = repr(data.value)
    with _calls_lock:
        CALLS[key] = CALLS.get(key, 0) + 1
        calls = CALLS[key]
    if data.reject:
        raise BusinessError("REJECTED", "rejected by the test worker", {"reason": "test"})
    if calls <= data.fail_times:
        raise RuntimeError(f"flaky failure {calls}")
    return EchoOut(echoed=data.value, calls=calls)


class SlowIn(BaseModel):
    ledger: str
    key: str


class SlowOut(BaseModel):
    pid: int


@worker("test.slow", retries=3, backoff=0.0)
def slow(data: SlowIn) -> SlowOut:
    """Append to a ledger file, then take as long as LOANFLOW_TEST_SLOW_SECONDS says."""
    import os
    import time

    with open(data.ledger, "a", encoding="utf-8") as ledger:
        ledger.write(f"start {data.key} {os.getpid()}\n")
    time.sleep(float(os.environ.get("LOANFLOW_TEST_SLOW_SECONDS", "0")))
    with open(data.ledger, "a", encoding="utf-8") as ledger:
        ledger.write(f"done {data.key} {os.getpid()}\n")
    return SlowOut(pid=os.getpid())


def registry() -> WorkerRegistry:
    return WorkerRegistry([*BUILTIN_WORKERS, echo, slow])


def assert_round_trip(engine: Engine, instance_id: str) -> None:
    """Reload the stored state with a freshly parsed spec and check nothing changes.

    Compared as JSON values: SpiffWorkflow may write the keys of a multi-instance child's
    data delta in another order after a reload, which changes no meaning.
    """
    import json

    from sqlalchemy import select

    engine.cache.clear()
    with engine.db.connect() as conn:
        row = conn.execute(select(instances).where(instances.c.id == instance_id)).one()
        process = engine._resolve(conn, row.definition_id)
    workflow = load_state(row.data, process.spec, process.subprocess_specs, engine.script_engine)
    assert json.loads(dump_state(workflow)) == json.loads(row.data)


def only(items: list[Any]) -> Any:
    assert len(items) == 1, items
    return items[0]
