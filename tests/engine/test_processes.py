"""Real diagrams through the engine, reloaded from the store (fresh spec) after every step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from factories import assert_round_trip, diagram, only
from pydantic import BaseModel
from sqlalchemy import select, update

from loanflow.engine import Conflict, DeploymentError, Engine, InvalidInput, ManualClock, NotFound
from loanflow.engine.audit import audit_table
from loanflow.engine.runner import EmbeddedRunner
from loanflow.workers import WorkerRegistry, worker
from loanflow.workers.builtin.identity import check_digit

VALID_ID = "11010519491231002" + check_digit("11010519491231002")


def run_jobs(engine: Engine) -> int:
    return EmbeddedRunner(engine, worker_id="test-runner").run_once()


def test_spiff_dialect_start_job_user_task_complete(engine: Engine) -> None:
    engine.deploy(diagram("spiff_basic.bpmn", "review.json"), tenant="enshi")
    started = engine.start(
        "enshi", "basic_loan", business_key="APP-1", variables={"amount": 100000, "term": 12}
    )
    assert_round_trip(engine, started.id)

    job = only(engine.job_list("enshi", instance_id=started.id))
    assert job.topic == "calc.repayment_schedule"
    assert job.state == "ready"
    assert run_jobs(engine) == 1
    assert_round_trip(engine, started.id)

    task = only(engine.user_tasks("enshi"))
    assert task.candidate_groups == ["reviewer"]
    assert task.form_key == "review"
    assert engine.user_tasks("enshi", groups=["reviewer"]) == [task]
    assert engine.user_tasks("enshi", groups=["branch_approver"]) == []

    with pytest.raises(InvalidInput) as bad:
        engine.complete_user_task("enshi", task.id, {"decision": "maybe"})
    assert "decision" in bad.value.errors

    done = engine.complete_user_task(
        "enshi", task.id, {"decision": "approve"}, actor="reviewer.enshi"
    )
    assert done.state == "completed"
    info = engine.get_instance("enshi", started.id)
    assert info.state == "completed"
    assert info.variables is not None
    assert info.variables["schedule"]["monthly_payment"] == pytest.approx(8530.99)
    assert info.variables["decision"] == "approve"
    assert engine.get_user_task("enshi", task.id).completed_by == "reviewer.enshi"
    report = engine.verify_audit("enshi", started.id)
    assert report.ok, str(report)
    kinds = [e["kind"] for e in engine.audit_events("enshi", started.id)]
    assert kinds == [
        "instance.started",
        "job.created",
        "job.completed",
        "task.created",
        "task.completed",
        "instance.completed",
    ]


def test_camunda_dialect_with_expression_candidates_and_input_mapping(
    engine: Engine, clock: ManualClock
) -> None:
    engine.deploy(diagram("camunda_basic.bpmn", "review.json"), tenant="xiantao")
    started = engine.start(
        "xiantao", "camunda_loan", variables={"applicant_id": VALID_ID, "amount": 400000}
    )
    job = only(engine.job_list("xiantao", instance_id=started.id))
    assert job.topic == "identity.check_id_number"
    locked = only(engine.fetch_and_lock("w", ["identity.check_id_number"]))
    assert locked.input == {"id_number": VALID_ID, "on_date": "2026-01-05"}  # only mapped variables
    engine.jobs.unlock(locked.id, "w")
    run_jobs(engine)
    assert_round_trip(engine, started.id)
    task = only(engine.user_tasks("xiantao"))
    assert task.candidate_groups == ["head_approver"]
    assert task.due_at == clock.now() + timedelta(days=2)
    engine.complete_user_task("xiantao", task.id, {"decision": "reject"})
    assert engine.get_instance("xiantao", started.id).state == "completed"


def test_business_error_goes_to_boundary_event(engine: Engine) -> None:
    engine.deploy(diagram("spiff_basic.bpmn", "review.json"), tenant="enshi")
    started = engine.start("enshi", "basic_loan", variables={"amount": 1000, "term": 6})
    job = only(engine.fetch_and_lock("w", ["calc.repayment_schedule"]))
    engine.throw_bpmn_error(job.id, "w", "REJECTED", "not eligible", {"reason": "blacklist"})
    info = engine.get_instance("enshi", started.id)
    assert info.state == "completed"
    assert info.variables is not None and info.variables["reason"] == "blacklist"
    assert engine.user_tasks("enshi") == []
    assert only(engine.job_list("enshi")).state == "completed"


def test_uncaught_bpmn_error_becomes_incident(engine: Engine) -> None:
    engine.deploy(diagram("spiff_basic.bpmn", "review.json"), tenant="enshi")
    started = engine.start("enshi", "basic_loan", variables={"amount": 1000, "term": 6})
    job = only(engine.fetch_and_lock("w", ["calc.repayment_schedule"]))
    engine.throw_bpmn_error(job.id, "w", "UNKNOWN_CODE")
    incident = only(engine.incidents("enshi"))
    assert "UNKNOWN_CODE" in incident.message
    assert engine.get_instance("enshi", started.id).state == "running"


def test_failures_retry_with_backoff_then_incident_then_operator_retry(
    engine: Engine, clock: ManualClock
) -> None:
    engine.deploy(diagram("spiff_basic.bpmn", "review.json"), tenant="enshi")
    started = engine.start("enshi", "basic_loan", variables={"amount": 1000, "term": 6})
    job = only(engine.fetch_and_lock("w", ["calc.repayment_schedule"]))
    # the built-in calc worker has retries=0; give this job two retries for the test
    with engine.db.begin() as conn:
        from loanflow.engine.commands import jobs

        conn.execute(update(jobs).where(jobs.c.id == job.id).values(retries=2, backoff=10.0))
    engine.fail_job(job.id, "w", "core banking timeout")
    assert engine.fetch_and_lock("w", ["calc.repayment_schedule"]) == []  # backing off
    clock.advance(seconds=11)
    again = only(engine.fetch_and_lock("w", ["calc.repayment_schedule"]))
    assert again.id == job.id and again.attempts == 2
    engine.fail_job(job.id, "w", "core banking timeout")
    clock.advance(seconds=19)
    assert engine.fetch_and_lock("w", ["calc.repayment_schedule"]) == []  # second backoff is 20 s
    clock.advance(seconds=2)
    third = only(engine.fetch_and_lock("w", ["calc.repayment_schedule"]))
    engine.fail_job(third.id, "w", "core banking down")
    incident = only(engine.incidents("enshi"))
    assert incident.job_id == job.id and "core banking down" in incident.message
    assert engine.fetch_and_lock("w", ["calc.repayment_schedule"]) == []

    with pytest.raises(Conflict):
        engine.complete_job(job.id, "w", {})  # an incident is not locked by anyone
    engine.retry_job(job.id, tenant="enshi", actor="operator.enshi")
    assert engine.incidents("enshi") == []
    assert run_jobs(engine) == 1
    assert only(engine.user_tasks("enshi")).element_id == "review"
    assert engine.verify_audit("enshi", started.id).ok


def test_expired_lock_returns_job_and_stale_owner_is_refused(
    engine: Engine, clock: ManualClock
) -> None:
    engine.deploy(diagram("spiff_basic.bpmn", "review.json"), tenant="enshi")
    engine.start("enshi", "basic_loan", variables={"amount": 1000, "term": 6})
    first = only(engine.fetch_and_lock("dead-worker", ["calc.repayment_schedule"], lock_seconds=30))
    assert engine.fetch_and_lock("other", ["calc.repayment_schedule"]) == []
    clock.advance(seconds=31)
    second = only(engine.fetch_and_lock("other", ["calc.repayment_schedule"]))
    assert second.id == first.id
    with pytest.raises(Conflict):
        engine.complete_job(first.id, "dead-worker", {"monthly_payment": 1})
    run_worker_output = {"method": "x"}
    engine.complete_job(second.id, "other", run_worker_output)
    engine.complete_job(second.id, "other", run_worker_output)  # idempotent for the owner
    assert len(engine.user_tasks("enshi")) == 1


def test_timers_fire_by_the_engine_clock(engine: Engine, clock: ManualClock) -> None:
    engine.deploy(diagram("timers.bpmn"), tenant="enshi")
    until = (clock.now() + timedelta(days=3)).isoformat()
    started = engine.start("enshi", "timers", variables={"until": until})
    info = engine.get_instance("enshi", started.id)
    assert info.next_due == clock.now() + timedelta(days=1)
    assert engine.fire_due_timers() == 0
    clock.advance(hours=23)
    assert engine.fire_due_timers() == 0
    clock.advance(hours=1, seconds=1)
    assert engine.fire_due_timers() == 1
    assert_round_trip(engine, started.id)
    assert engine.get_instance("enshi", started.id).next_due == datetime.fromisoformat(until)
    clock.set(datetime.fromisoformat(until) + timedelta(seconds=1))
    assert engine.fire_due_timers() == 1
    task = only(engine.user_tasks("enshi"))
    # the non-interrupting reminder cycle fires twice, hourly, and leaves the task open
    for _ in range(2):
        clock.advance(hours=1, seconds=1)
        assert engine.fire_due_timers() == 1
    clock.advance(hours=5)
    assert engine.fire_due_timers() == 0
    assert only(engine.user_tasks("enshi")).id == task.id
    engine.complete_user_task("enshi", task.id, {})
    assert engine.get_instance("enshi", started.id).state == "completed"


def test_boundary_timer_cancels_user_task(engine: Engine, clock: ManualClock) -> None:
    engine.deploy(diagram("spiff_basic.bpmn", "review.json"), tenant="enshi")
    started = engine.start("enshi", "basic_loan", variables={"amount": 1000, "term": 6})
    run_jobs(engine)
    task = only(engine.user_tasks("enshi"))
    clock.advance(hours=2, seconds=1)
    assert engine.fire_due_timers() == 1
    assert engine.get_user_task("enshi", task.id).state == "cancelled"
    assert engine.get_instance("enshi", started.id).state == "completed"
    with pytest.raises(Conflict):
        engine.complete_user_task("enshi", task.id, {"decision": "approve"})


def test_messages_correlate_and_start(engine: Engine) -> None:
    engine.deploy(diagram("messages.bpmn"), tenant="enshi")
    a = engine.start("enshi", "signing", business_key="LOAN-A")
    b = engine.start("enshi", "signing", business_key="LOAN-B")
    with pytest.raises(Conflict):
        engine.correlate("enshi", "contract_signed", {}, {"signed_by": "x"})
    with pytest.raises(NotFound):
        engine.correlate("enshi", "contract_signed", {"business_key": "LOAN-Z"})
    engine.correlate(
        "enshi", "contract_signed", {"business_key": "LOAN-B"}, {"signed_by": "customer"}
    )
    assert engine.get_instance("enshi", b.id).state == "completed"
    assert engine.get_instance("enshi", b.id).variables["signed_by"] == "customer"  # type: ignore[index]
    assert engine.get_instance("enshi", a.id).state == "running"
    with pytest.raises(NotFound):
        engine.correlate("xiantao", "contract_signed", {"business_key": "LOAN-A"})  # other tenant

    started = engine.correlate(
        "enshi", "risk_signal", {"business_key": "LOAN-A"}, {"level": "high"}
    )
    assert started.process_key == "risk_signal_handling"
    task = only(engine.user_tasks("enshi", instance_id=started.id))
    assert task.element_id == "assess"


def test_cancel_closes_jobs_and_tasks(engine: Engine) -> None:
    engine.deploy(diagram("spiff_basic.bpmn", "review.json"), tenant="enshi")
    started = engine.start("enshi", "basic_loan", variables={"amount": 1000, "term": 6})
    engine.cancel("enshi", started.id, actor="operator.enshi", reason="customer withdrew")
    assert engine.get_instance("enshi", started.id).state == "cancelled"
    assert only(engine.job_list("enshi")).state == "cancelled"
    assert engine.fetch_and_lock("w", ["calc.repayment_schedule"]) == []
    with pytest.raises(Conflict):
        engine.cancel("enshi", started.id)


def test_second_completion_of_a_task_is_a_conflict(engine: Engine) -> None:
    engine.deploy(diagram("spiff_basic.bpmn", "review.json"), tenant="enshi")
    engine.start("enshi", "basic_loan", variables={"amount": 1000, "term": 6})
    run_jobs(engine)
    task = only(engine.user_tasks("enshi"))
    engine.claim("enshi", task.id, "alice")
    with pytest.raises(Conflict):
        engine.claim("enshi", task.id, "bob")
    with pytest.raises(Conflict):
        engine.complete_user_task("enshi", task.id, {"decision": "approve"}, actor="bob")
    engine.complete_user_task("enshi", task.id, {"decision": "approve"}, actor="alice")
    with pytest.raises(Conflict):
        engine.complete_user_task("enshi", task.id, {"decision": "approve"}, actor="alice")


def test_errors_callers_can_cause_are_loanflow_errors(engine: Engine) -> None:
    engine.deploy(diagram("spiff_basic.bpmn", "review.json"), tenant="enshi")
    with pytest.raises(NotFound, match="no process 'nope'"):
        engine.start("enshi", "nope")
    with pytest.raises(NotFound):
        engine.start("xiantao", "basic_loan")  # deployed for enshi only
    with pytest.raises(InvalidInput):
        engine.start("enshi", "basic_loan", variables={"_hidden": 1})
    with pytest.raises(InvalidInput):
        engine.start("enshi", "basic_loan", variables={"x": float("nan")})
    with pytest.raises(InvalidInput):
        engine.start("Bad Tenant!", "basic_loan")
    with pytest.raises(NotFound):
        engine.complete_user_task("enshi", "no-such-task", {})
    with pytest.raises(NotFound):
        engine.complete_job("no-such-job", "w", {})
    with pytest.raises(NotFound):
        engine.get_instance("enshi", "no-such-instance")


def test_script_failure_at_start_is_a_process_error_and_saves_nothing(engine: Engine) -> None:
    from loanflow.engine import ProcessError

    engine.deploy(diagram("spiff_basic.bpmn", "review.json"), tenant="enshi")
    with pytest.raises(ProcessError) as failed:
        engine.start("enshi", "basic_loan", variables={"term": 6})  # the script reads `amount`
    assert failed.value.element == "prepare"
    assert "amount" in str(failed.value)
    assert engine.instances("enshi") == []


def test_tampering_with_the_audit_log_is_detected(engine: Engine) -> None:
    engine.deploy(diagram("spiff_basic.bpmn", "review.json"), tenant="enshi")
    started = engine.start("enshi", "basic_loan", variables={"amount": 1000, "term": 6})
    run_jobs(engine)
    assert engine.verify_audit("enshi", started.id).ok
    with engine.db.begin() as conn:
        conn.execute(
            update(audit_table)
            .where(audit_table.c.stream == started.id, audit_table.c.seq == 2)
            .values(actor="someone-else")
        )
    report = engine.verify_audit("enshi", started.id)
    assert not report.ok and report.broken_at == 2


def test_audit_log_cut_short_is_detected(engine: Engine) -> None:
    engine.deploy(diagram("spiff_basic.bpmn", "review.json"), tenant="enshi")
    started = engine.start("enshi", "basic_loan", variables={"amount": 1000, "term": 6})
    run_jobs(engine)
    with engine.db.begin() as conn:
        last = (
            conn.execute(
                select(audit_table.c.id)
                .where(audit_table.c.stream == started.id)
                .order_by(audit_table.c.seq.desc())
            )
            .scalars()
            .first()
        )
        conn.execute(audit_table.delete().where(audit_table.c.id == last))
    assert not engine.verify_audit("enshi", started.id).ok


def test_redeploy_is_noop_and_new_version_for_new_instances(engine: Engine) -> None:
    first = engine.deploy(diagram("spiff_basic.bpmn", "review.json"), tenant="enshi")
    again = engine.deploy(diagram("spiff_basic.bpmn", "review.json"), tenant="enshi")
    assert again.id == first.id and not again.created
    old = engine.start("enshi", "basic_loan", variables={"amount": 1000, "term": 6})
    changed = diagram("spiff_basic.bpmn", "review.json")
    changed["spiff_basic.bpmn"] = changed["spiff_basic.bpmn"].replace(b"PT2H", b"PT4H")
    second = engine.deploy(changed, tenant="enshi")
    assert only(second.definitions).version == 2
    new = engine.start("enshi", "basic_loan", variables={"amount": 1000, "term": 6})
    assert engine.get_instance("enshi", old.id).definition_id == only(first.definitions).id
    assert engine.get_instance("enshi", new.id).definition_id == only(second.definitions).id
    shared = engine.deploy(diagram("messages.bpmn"))  # provincial default
    assert shared.tenant == "*"
    assert engine.start("xiantao", "signing").process_key == "signing"


def test_now_is_timezone_aware(clock: ManualClock) -> None:
    assert clock.now().tzinfo == UTC


def test_thrown_message_reaches_the_waiting_instance_in_the_same_transaction(
    engine: Engine,
) -> None:
    engine.deploy(diagram("messages.bpmn"), tenant="enshi")
    engine.deploy(diagram("sender.bpmn"), tenant="enshi")
    other = engine.start("enshi", "signing", business_key="LOAN-A")
    waiting = engine.start("enshi", "signing", business_key="LOAN-B")
    sender = engine.start(
        "enshi", "sender", business_key="LOAN-B", variables={"signer": "customer"}
    )
    assert sender.state == "completed"
    received = engine.get_instance("enshi", waiting.id)
    assert received.state == "completed"
    assert received.variables is not None and received.variables["signed_by"] == "customer"
    assert engine.get_instance("enshi", other.id).state == "running"
    events = engine.audit_events("enshi", sender.id)
    sent = [e for e in events if e["kind"].startswith("message.")]
    assert [(e["kind"], e["data"]["name"]) for e in sent] == [
        ("message.sent", "contract_signed"),
        ("message.undelivered", "nobody_listens"),
    ]
    assert engine.verify_audit("enshi", waiting.id).ok


def test_start_form_call_activity_across_deployments_and_manual_task(engine: Engine) -> None:
    engine.deploy(diagram("approval_chain.bpmn"))  # the province's shared approval diagram
    with pytest.raises(DeploymentError) as missing:
        engine.deploy(diagram("application.bpmn"), tenant="enshi")
    assert "application_start" in str(missing.value)
    engine.deploy(diagram("application.bpmn", "application_start.json"), tenant="enshi")
    with pytest.raises(InvalidInput) as bad:
        engine.start("enshi", "application", variables={"amount": -5, "product": "yacht"})
    assert set(bad.value.errors) == {"amount", "product"}
    started = engine.start("enshi", "application", variables={"amount": 5000, "product": "agri"})
    review = only(engine.user_tasks("enshi"))
    assert review.element_id == "review" and review.candidate_groups == ["reviewer"]  # lane
    assert_round_trip(engine, started.id)
    engine.complete_user_task("enshi", review.id, {"ok": True})
    # a manual task with neither a form nor anyone to do it passes through, as in Camunda
    assert engine.user_tasks("enshi") == []
    info = engine.get_instance("enshi", started.id)
    assert info.state == "completed"
    assert info.variables is not None and info.variables["ok"] is True


def test_timer_start_event_starts_on_deploy_and_fires(engine: Engine, clock: ManualClock) -> None:
    engine.deploy(diagram("timer_start.bpmn"), tenant="enshi")
    waiting = only(engine.instances("enshi"))
    assert waiting.state == "running"
    assert waiting.next_due == clock.now() + timedelta(hours=12)
    clock.advance(hours=12, seconds=1)
    assert engine.fire_due_timers() == 1
    info = engine.get_instance("enshi", waiting.id)
    assert info.state == "completed"
    assert info.variables is not None and info.variables["swept"] is True


def test_separation_of_duties(engine: Engine) -> None:
    from loanflow.engine import Forbidden

    engine.deploy(diagram("two_levels.bpmn"), tenant="enshi")
    started = engine.start("enshi", "two_levels", variables={"round": 1}, actor="officer")
    level1 = only(engine.user_tasks("enshi"))
    with pytest.raises(Forbidden, match="submitted"):
        engine.complete_user_task("enshi", level1.id, {}, actor="officer")
    engine.complete_user_task("enshi", level1.id, {}, actor="alice")
    level2 = only(engine.user_tasks("enshi"))
    with pytest.raises(Forbidden, match="already decided 'Branch approval'"):
        engine.complete_user_task("enshi", level2.id, {}, actor="alice")
    engine.complete_user_task("enshi", level2.id, {}, actor="bob")
    assert engine.get_instance("enshi", started.id).state == "completed"


def test_completion_callback_is_written_with_the_last_change(engine: Engine) -> None:
    from loanflow.engine.commands import outbox

    engine.deploy(diagram("two_levels.bpmn"), tenant="enshi")
    with pytest.raises(InvalidInput):
        engine.start("enshi", "two_levels", variables={"round": 1}, callback_url="ftp://x")
    started = engine.start(
        "enshi", "two_levels", variables={"round": 1}, callback_url="https://bank.example/hook"
    )
    cancelled = engine.start(
        "enshi", "two_levels", variables={"round": 1}, callback_url="https://bank.example/hook"
    )
    for task in engine.user_tasks("enshi", instance_id=started.id):
        engine.complete_user_task("enshi", task.id, {"ok": 1}, actor="a")
    engine.complete_user_task(
        "enshi", only(engine.user_tasks("enshi", instance_id=started.id)).id, {}, actor="b"
    )
    engine.cancel("enshi", cancelled.id, reason="withdrawn")
    with engine.db.connect() as conn:
        rows = conn.execute(select(outbox).order_by(outbox.c.created_at)).all()
    by_instance = {r.instance_id: r for r in rows}
    assert by_instance[started.id].payload["state"] == "completed"
    assert by_instance[started.id].payload["variables"]["ok"] == 1
    assert by_instance[cancelled.id].payload["event"] == "instance.cancelled"
    assert {r.url for r in rows} == {"https://bank.example/hook"}


class TenantIn(BaseModel):
    tenant: str
    value: object = None


class TenantOut(BaseModel):
    echoed: object = None


SEEN_TENANTS: list[str] = []


@worker("test.echo")
def tenant_echo(data: TenantIn) -> TenantOut:
    SEEN_TENANTS.append(data.tenant)
    return TenantOut(echoed=data.value)


def test_a_worker_acts_only_for_the_jobs_own_tenant(engine: Engine) -> None:
    seen = SEEN_TENANTS
    seen.clear()
    engine.workers = WorkerRegistry(
        [tenant_echo, *[d for d in engine.workers if d.topic != "test.echo"]]
    )
    bpmn = diagram("spiff_basic.bpmn")["spiff_basic.bpmn"].replace(
        b'id="calc.repayment_schedule" resultVariable="schedule"',
        b'id="test.echo" resultVariable="schedule"',
    )
    for tenant, named in (("enshi", None), ("xiantao", "enshi")):
        body = (
            bpmn
            if named is None
            else bpmn.replace(
                b'<spiffworkflow:parameter id="principal" type="number" value="principal"/>',
                b'<spiffworkflow:parameter id="tenant" type="str" value="\'enshi\'"/>',
            )
        )
        engine.deploy({"spiff_basic.bpmn": body, **diagram("review.json")}, tenant=tenant)
        engine.start(tenant, "basic_loan", variables={"amount": 1, "term": 1})
    run_jobs(engine)
    run_jobs(engine)
    assert seen == ["enshi"]  # filled in from the job for enshi; xiantao's job named enshi
    incident = only(engine.incidents("xiantao"))
    assert "belongs to tenant 'xiantao'" in incident.message
