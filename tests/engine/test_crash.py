"""Kill the engine process in the middle of a job; a restarted one finishes the instance."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from factories import diagram, only

from loanflow.engine import Engine, EngineSettings
from loanflow.engine.store.db import connect

CHILD = Path(__file__).with_name("crash_child.py")


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def spawn(db_url: str, slow_seconds: str) -> subprocess.Popen[str]:
    env = {**os.environ, "LOANFLOW_TEST_SLOW_SECONDS": slow_seconds}
    child = subprocess.Popen(
        [sys.executable, str(CHILD), db_url], env=env, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    return child


@pytest.mark.slow
def test_kill_mid_job_then_restart_completes_exactly_once(db_url: str, tmp_path: Path) -> None:
    from factories import registry

    engine = Engine(EngineSettings(database_url=db_url), workers=registry(), db=connect(db_url))
    ledger = tmp_path / "ledger.txt"
    engine.deploy(diagram("slow.bpmn"), tenant="enshi")
    started = engine.start("enshi", "slow", variables={"ledger": str(ledger), "key": "loan-1"})

    first = spawn(db_url, slow_seconds="60")
    try:
        wait_for(lambda: ledger.exists() and "start" in ledger.read_text())
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    finally:
        first.kill()
        first.wait()
        assert first.stdout is not None
        first.stdout.close()
    job = only(engine.job_list("enshi"))
    assert job.state == "locked"  # the dead worker's lock is still there
    assert engine.user_tasks("enshi") == []

    second = spawn(db_url, slow_seconds="0")
    try:
        wait_for(lambda: len(engine.user_tasks("enshi")) == 1)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(20)
        assert second.stdout is not None
        second.stdout.close()
    assert second.returncode == 0

    lines = ledger.read_text().splitlines()
    assert [line.split()[0] for line in lines] == [
        "start",
        "start",
        "done",
    ]  # at least once, done once
    job = only(engine.job_list("enshi"))
    assert job.state == "completed" and job.attempts == 2
    info = engine.get_instance("enshi", started.id)
    assert info.variables is not None and info.variables["slow_result"]["pid"] == second.pid
    kinds = [e["kind"] for e in engine.audit_events("enshi", started.id)]
    assert kinds.count("job.completed") == 1 and kinds.count("task.created") == 1
    assert engine.verify_audit("enshi", started.id).ok
    engine.complete_user_task("enshi", only(engine.user_tasks("enshi")).id, {})
    assert engine.get_instance("enshi", started.id).state == "completed"
    engine.close()
