"""The ``loanflow`` command, driven in-process through Typer's runner on a SQLite file."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import loanflow.api
from loanflow.engine.cli import app

DIAGRAMS = Path(__file__).resolve().parents[1] / "diagrams"
BUNDLE = [str(DIAGRAMS / "spiff_basic.bpmn"), str(DIAGRAMS / "review.json")]


@pytest.fixture
def db(tmp_path: Path, sqlite_template: Path) -> str:
    target = tmp_path / "cli.sqlite3"
    shutil.copy(sqlite_template, target)
    return f"sqlite:///{target}"


def cli(db: str, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, ["--database-url", db, *args], input=stdin)


def test_deploy_then_redeploy_is_unchanged(db: str) -> None:
    first = cli(db, "deploy", *BUNDLE, "--tenant", "enshi")
    assert first.exit_code == 0, first.output
    assert "deployed " in first.stdout
    assert "basic_loan version 1" in first.stdout
    assert "unchanged" not in first.stdout

    again = cli(db, "deploy", *BUNDLE, "--tenant", "enshi")
    assert again.exit_code == 0, again.output
    assert "unchanged" in again.stdout
    assert "basic_loan version 1 (unchanged)" in again.stdout


def test_deploy_directory_collects_recursively(db: str, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    (bundle / "forms").mkdir(parents=True)
    (bundle / ".git").mkdir()
    shutil.copy(DIAGRAMS / "spiff_basic.bpmn", bundle)
    shutil.copy(DIAGRAMS / "review.json", bundle)
    for n in range(4):  # more than five files: the progress bar path
        shutil.copy(DIAGRAMS / "review.json", bundle / "forms" / f"extra{n}.json")
    (bundle / ".git" / "junk.json").write_text("not json")
    (bundle / "notes.txt").write_text("ignored")

    result = cli(db, "deploy", str(bundle), "--name", "county pack")
    assert result.exit_code == 0, result.output
    assert "to tenant '*'" in result.stdout
    assert "basic_loan version 1" in result.stdout


def test_deploy_refused_lists_problems_and_exits_1(db: str, tmp_path: Path) -> None:
    bad = tmp_path / "entity_bomb.bpmn"
    bad.write_text('<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY a "b">]>\n<x>&a;</x>\n')
    result = cli(db, "deploy", str(bad))
    assert result.exit_code == 1
    assert "entity_bomb.bpmn:2" in result.stderr
    assert "DTD" in result.stderr
    assert "Traceback" not in result.output


def test_deploy_unreadable_path_exits_2(db: str, tmp_path: Path) -> None:
    result = cli(db, "deploy", str(tmp_path / "missing.bpmn"))
    assert result.exit_code == 2
    assert "missing.bpmn" in result.stderr
    assert "no such file" in result.stderr


def test_instances_and_incidents(db: str) -> None:
    empty = cli(db, "instances")
    assert empty.exit_code == 0, empty.output
    assert "no process instances" in empty.stdout

    listed = cli(db, "instances", "--tenant", "enshi", "--state", "running", "--json")
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == []

    incidents = cli(db, "incidents")
    assert incidents.exit_code == 0, incidents.output
    assert "no open incidents" in incidents.stdout
    as_json = cli(db, "incidents", "--json")
    assert json.loads(as_json.stdout) == []


def test_instance_incident_and_retry(db: str) -> None:
    from loanflow.engine import Engine, EngineSettings
    from loanflow.engine.runner import EmbeddedRunner
    from loanflow.workers.builtin import BUILTIN_WORKERS
    from loanflow.workers.registry import WorkerRegistry

    assert cli(db, "deploy", *BUNDLE, "-t", "enshi").exit_code == 0
    engine = Engine(EngineSettings(database_url=db), workers=WorkerRegistry(BUILTIN_WORKERS))
    try:
        started = engine.start(
            "enshi", "basic_loan", business_key="APP-7", variables={"amount": -5, "term": 12}
        )
        assert EmbeddedRunner(engine, worker_id="test").run_once() == 1  # invalid input
        (job,) = engine.job_list("enshi", instance_id=started.id)
    finally:
        engine.close()

    table = cli(db, "instances", "--business-key", "APP-7")
    assert table.exit_code == 0, table.output
    assert "APP-7" in table.stdout
    assert "running" in table.stdout
    rows = json.loads(cli(db, "instances", "--json").stdout)
    assert [(r["id"], r["process_key"], r["state"]) for r in rows] == [
        (started.id, "basic_loan", "running")
    ]

    incidents = json.loads(cli(db, "incidents", "--tenant", "enshi", "--json").stdout)
    assert [(i["instance_id"], i["job_id"]) for i in incidents] == [(started.id, job.id)]
    assert "invalid input" in incidents[0]["message"]
    assert cli(db, "incidents").exit_code == 0

    retried = cli(db, "retry", job.id, "--retries", "2", "--tenant", "enshi")
    assert retried.exit_code == 0, retried.output
    assert job.id in retried.stdout
    assert json.loads(cli(db, "incidents", "--json").stdout) == []

    again = cli(db, "retry", job.id)
    assert again.exit_code == 1
    assert "only failed jobs" in again.stderr


def test_retry_unknown_job_exits_1(db: str) -> None:
    result = cli(db, "retry", "no-such-job")
    assert result.exit_code == 1
    assert "not found" in result.stderr
    assert "Traceback" not in result.output


def test_workers_json_is_clean_json(db: str) -> None:
    result = CliRunner().invoke(app, ["workers", "--json"])
    assert result.exit_code == 0, result.output
    described = json.loads(result.stdout)
    by_topic = {d["topic"]: d for d in described}
    assert {"calc.repayment_schedule", "identity.check_id_number"} <= set(by_topic)
    calc = by_topic["calc.repayment_schedule"]
    assert set(calc) == {"topic", "description", "retries", "input_schema", "output_schema"}
    assert "principal" in calc["input_schema"]["properties"]
    assert "monthly_payment" in calc["output_schema"]["properties"]


def test_workers_human_listing() -> None:
    result = CliRunner().invoke(app, ["workers"])
    assert result.exit_code == 0, result.output
    assert "identity.check_id_number" in result.stdout
    assert "input schema" in result.stdout


def test_worker_call_prints_output(tmp_path: Path) -> None:
    source = tmp_path / "in.json"
    source.write_text(json.dumps({"principal": 100000, "annual_rate": 0.0435, "months": 12}))
    result = CliRunner().invoke(app, ["worker", "call", "calc.repayment_schedule", str(source)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["monthly_payment"] == 8530.99


def test_worker_call_reads_stdin() -> None:
    payload = json.dumps({"principal": 100000, "annual_rate": 0.0435, "months": 12})
    result = CliRunner().invoke(
        app, ["worker", "call", "calc.repayment_schedule", "-"], input=payload
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["monthly_payment"] == 8530.99


def test_worker_call_business_error_exits_3(tmp_path: Path) -> None:
    source = tmp_path / "in.json"
    source.write_text(json.dumps({"id_number": "110105194912310021", "strict": True}))
    result = CliRunner().invoke(app, ["worker", "call", "identity.check_id_number", str(source)])
    assert result.exit_code == 3
    assert "business error ID_INVALID" in result.stderr
    assert json.loads(result.stdout) == {"id_problems": ["checksum"]}


@pytest.mark.parametrize(
    ("args", "stdin", "code", "message"),
    [
        (["nope.topic", "-"], "{}", 2, "known topics: approval.plan, calc.repayment_schedule"),
        (["calc.repayment_schedule", "-"], "{oops", 2, "not valid JSON"),
        (["calc.repayment_schedule", "/no/such/file.json"], None, 2, "cannot read"),
        (["calc.repayment_schedule", "-"], '{"months": 12}', 1, "invalid input"),
    ],
)
def test_worker_call_user_errors(
    args: list[str], stdin: str | None, code: int, message: str
) -> None:
    result = CliRunner().invoke(app, ["worker", "call", *args], input=stdin)
    assert result.exit_code == code
    assert message in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_serve_runs_the_api_when_there_is_one(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    served: dict[str, Any] = {}

    def create_app(settings: Any, engine: Any = None) -> str:
        served["settings"], served["engine"] = settings, engine
        return "the-app"

    def run(api: str, host: str, port: int) -> None:
        served.update(api=api, host=host, port=port)

    monkeypatch.setattr(loanflow.api, "create_app", create_app, raising=False)
    monkeypatch.setitem(sys.modules, "uvicorn", types.SimpleNamespace(run=run))
    monkeypatch.setenv("LOANFLOW_PORT", "8123")
    monkeypatch.setenv("LOANFLOW_JWT_SECRET", "a-real-secret-of-at-least-32-bytes!!")
    monkeypatch.setenv("LOANFLOW_WEBHOOK_SECRET", "another-real-secret-of-32-bytes!!!")
    result = cli(db, "serve", "--threads", "1")
    assert result.exit_code == 0, result.output
    assert served["api"] == "the-app"
    assert served["port"] == 8123
    assert served["settings"].database_url == db
    assert served["engine"] is not None
    assert "stopped" in result.stdout


def _serve(db: str, *args: str, port: int | None = None) -> subprocess.Popen[str]:
    """The real ``loanflow serve --demo`` script in a child process."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("LOANFLOW_PORT", None)
    if port is not None:
        env["LOANFLOW_PORT"] = str(port)
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from loanflow.engine.cli import main; main()",
            "--database-url",
            db,
            "serve",
            "--demo",
            "--threads",
            "1",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _read_until(child: subprocess.Popen[str], marker: str) -> list[str]:
    assert child.stdout is not None
    seen = []
    for line in child.stdout:
        seen.append(line)
        if marker in line:
            break
    return seen


def _stop(child: subprocess.Popen[str]) -> tuple[str, str]:
    """SIGTERM, then the remaining output; the child must exit 0 without a traceback."""
    try:
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err
    assert "Traceback" not in err
    return out, err


def test_serve_demo_stops_on_sigterm(db: str) -> None:
    """The real script: deploys the shipped demo, blocks, and exits 0 on SIGTERM."""
    child = _serve(db, "--no-api")
    try:
        seen = _read_until(child, "Ctrl-C to stop")
        assert any("engine running" in line for line in seen), "".join(seen)
    finally:
        out, _err = _stop(child)
    assert "stopped" in out


def test_serve_demo_with_the_api_answers_and_stops_on_sigterm(db: str) -> None:
    """``make run``'s command: the API answers on its port, demo users log in, SIGTERM stops it."""
    import socket

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    child = _serve(db, port=port)
    try:
        seen = _read_until(child, "API on")
        assert any(f"http://127.0.0.1:{port}" in line for line in seen), "".join(seen)
        # built-ins, contract.*, ocr.*, risk.* and video.*
        assert any("workers: 15 topics" in line for line in seen), "".join(seen)
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                health = httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert health.status_code == 200
        token = httpx.post(
            f"{base}/api/v1/auth/token",
            data={"grant_type": "password", "username": "loan_officer.enshi", "password": "demo"},
        )
        assert token.status_code == 200, token.text
        definitions = httpx.get(
            f"{base}/api/v1/tenants/enshi/process-definitions",
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        )
        assert {"demo_loan", "approval"} <= {d["key"] for d in definitions.json()}
        assert httpx.get(f"{base}/docs").status_code == 200
    finally:
        _stop(child)


def test_scheduler_fires_due_timers_serves_metrics_and_stops_on_sigterm(db: str) -> None:
    import socket
    from datetime import UTC, datetime, timedelta

    import httpx
    from factories import diagram

    from loanflow.engine import Engine, EngineSettings
    from loanflow.engine.clock import ManualClock

    clock = ManualClock(datetime.now(UTC) - timedelta(hours=13))
    engine = Engine(EngineSettings(database_url=db), clock=clock)
    engine.deploy(diagram("timer_start.bpmn"), tenant="enshi")  # due 12 h after "now"
    (waiting,) = engine.instances("enshi")
    engine.close()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from loanflow.engine.cli import main; main()",
            "--database-url",
            db,
            "scheduler",
            "--interval",
            "0.2",
            "--metrics-port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        _read_until(child, "scheduler running")
        check = Engine(EngineSettings(database_url=db))
        try:
            for _ in range(100):
                if check.get_instance("enshi", waiting.id).state == "completed":
                    break
                time.sleep(0.1)
            assert check.get_instance("enshi", waiting.id).state == "completed"
        finally:
            check.close()
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert metrics.status_code == 200 and "process_cpu_seconds_total" in metrics.text
    finally:
        _stop(child)
