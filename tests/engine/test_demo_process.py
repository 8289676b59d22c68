"""The packaged demo loan process end to end, reloaded from the store after every step."""

from __future__ import annotations

from importlib import resources

from factories import assert_round_trip, only

from loanflow.engine import Engine, ManualClock
from loanflow.engine.runner import EmbeddedRunner
from loanflow.workers.builtin.identity import check_digit

TENANT = "enshi"
VALID_ID = "42280219850314002" + check_digit("42280219850314002")
START = {
    "applicant_id": VALID_ID,
    "amount": 100000,
    "term": 12,
    "monthly_income": 20000,
    "application_date": "2026-01-05",
}


def demo_files() -> dict[str, bytes]:
    processes = resources.files("loanflow.processes")
    forms = resources.files("loanflow.forms")
    return {
        "demo_loan.bpmn": processes.joinpath("demo_loan.bpmn").read_bytes(),
        "demo_grade.dmn": processes.joinpath("demo_grade.dmn").read_bytes(),
        "demo_review.json": forms.joinpath("demo_review.json").read_bytes(),
    }


def start_demo(engine: Engine, **overrides: object) -> str:
    info = engine.deploy(demo_files(), tenant=TENANT)
    assert [d.key for d in info.definitions] == ["demo_loan"]
    assert info.definitions[0].name == "个人消费贷款（演示）"
    started = engine.start(
        TENANT, "demo_loan", business_key="DEMO-1", variables={**START, **overrides}
    )
    assert started.state == "running"
    assert_round_trip(engine, started.id)
    return started.id


def drive_to_review(engine: Engine, instance_id: str) -> str:
    """Run the jobs (ID check, then both schedules in parallel) until the review task is open."""
    runner = EmbeddedRunner(engine, worker_id="demo-test")
    topics: list[str] = []
    for _ in range(10):
        tasks = engine.user_tasks(TENANT, instance_id=instance_id)
        if tasks:
            return str(only(tasks).id)
        topics += [j.topic for j in engine.job_list(TENANT, instance_id=instance_id, state="ready")]
        assert runner.run_once() > 0, "no job to run and no review task"
        assert_round_trip(engine, instance_id)
        assert engine.incidents(TENANT) == []
    raise AssertionError(f"the review task never opened; jobs run: {topics}")


def test_first_wait_is_the_id_check_job(engine: Engine) -> None:
    instance_id = start_demo(engine)
    job = only(engine.job_list(TENANT, instance_id=instance_id))
    assert job.topic == "identity.check_id_number"
    locked = only(engine.fetch_and_lock("w", ["identity.check_id_number"]))
    assert locked.input == {"id_number": VALID_ID, "on_date": "2026-01-05"}
    assert engine.user_tasks(TENANT) == []


def test_demo_loan_runs_to_review_and_is_approved(engine: Engine) -> None:
    instance_id = start_demo(engine)
    task_id = drive_to_review(engine, instance_id)

    jobs = engine.job_list(TENANT, instance_id=instance_id)
    assert sorted(j.topic for j in jobs) == [
        "calc.repayment_schedule",
        "calc.repayment_schedule",
        "identity.check_id_number",
    ]
    assert {j.state for j in jobs} == {"completed"}

    task = engine.get_user_task(TENANT, task_id)
    assert task.element_id == "review"
    assert task.form_key == "demo_review"
    assert task.candidate_groups == ["reviewer"]

    info = engine.get_instance(TENANT, instance_id)
    assert info.variables is not None
    variables = info.variables
    assert variables["grade"] == "A"
    assert variables["id_check"]["valid"] is True
    assert variables["schedule_installment"]["method"] == "equal_installment"
    assert variables["schedule_principal"]["method"] == "equal_principal"
    assert variables["monthly_payment"] == variables["schedule_installment"]["monthly_payment"]
    assert 0 < variables["debt_ratio"] < 1
    decisions = [
        e for e in engine.audit_events(TENANT, instance_id) if e["kind"] == "decision.evaluated"
    ]
    assert only(decisions)["data"]["outputs"] == {"grade": "A"}

    done = engine.complete_user_task(
        TENANT, task_id, {"decision": "approve"}, actor="reviewer.enshi"
    )
    assert done.state == "completed"
    final = engine.get_instance(TENANT, instance_id)
    assert final.state == "completed"
    assert final.variables is not None and final.variables["decision"] == "approve"
    assert engine.get_user_task(TENANT, task_id).state == "completed"
    report = engine.verify_audit(TENANT, instance_id)
    assert report.ok, str(report)


def test_review_times_out_after_48_hours(engine: Engine, clock: ManualClock) -> None:
    instance_id = start_demo(engine)
    task_id = drive_to_review(engine, instance_id)
    assert engine.get_instance(TENANT, instance_id).next_due is not None

    clock.advance(hours=47)
    assert engine.fire_due_timers() == 0
    assert engine.get_user_task(TENANT, task_id).state == "open"

    clock.advance(hours=2)
    assert engine.fire_due_timers() == 1
    assert engine.get_user_task(TENANT, task_id).state == "cancelled"
    info = engine.get_instance(TENANT, instance_id)
    assert info.state == "completed"
    assert info.user_tasks == []
    report = engine.verify_audit(TENANT, instance_id)
    assert report.ok, str(report)


def test_grade_c_is_declined_without_review(engine: Engine) -> None:
    instance_id = start_demo(engine, amount=500000, monthly_income=8000)
    runner = EmbeddedRunner(engine, worker_id="demo-test")
    assert runner.run_once() == 1  # the ID check; the grade is C, so no schedules
    assert_round_trip(engine, instance_id)
    info = engine.get_instance(TENANT, instance_id)
    assert info.state == "completed"
    assert info.variables is not None and info.variables["grade"] == "C"
    assert engine.user_tasks(TENANT, state=None) == []
    assert (
        only(engine.job_list(TENANT, instance_id=instance_id)).topic == "identity.check_id_number"
    )
