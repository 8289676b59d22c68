"""The shipped risk process end to end: external data → anti-fraud → scorecard → shared
admission table → pricing → risk report, reloaded from the store after every step; two banks
reach different decisions for the same application through their own thresholds."""

from __future__ import annotations

from importlib import resources
from typing import Any

import pytest
from factories import assert_round_trip, only

from loanflow.engine import SHARED_TENANT, Engine
from loanflow.engine.runner import EmbeddedRunner
from loanflow.engine.tenancy import Directory
from loanflow.workers.builtin import BUILTIN_WORKERS
from loanflow.workers.registry import WorkerRegistry
from loanflow.workers.risk import risk_workers

CLEAN_ID = "000000199001010029"  # the sandbox's spotless subject
BAD_ID = "000000199001010010"  # the sandbox's subject with every source bad


def application(id_number: str = CLEAN_ID, app_id: str = "APP-1") -> dict[str, Any]:
    return {
        "id": app_id,
        "product": "*",
        "amount": 150000,
        "term_months": 24,
        "applied_on": "2026-11-20",
        "applicant": {
            "name": "测试甲",
            "id_number": id_number,
            "phone": "13800000001",
            "monthly_income": 18000,
            "monthly_debt_payment": 1500,
            "home_location": {"lat": 30.27, "lon": 109.48},
        },
        "device_id": f"device-{app_id}",
        "gps": {"lat": 30.28, "lon": 109.47},
    }


@pytest.fixture
def risk_engine(engine: Engine) -> Engine:
    engine.workers = WorkerRegistry([*BUILTIN_WORKERS, *risk_workers(engine)])
    processes = resources.files("loanflow.processes")
    engine.deploy(
        {
            name: processes.joinpath(name).read_bytes()
            for name in ("risk_assessment.bpmn", "risk_admission.dmn")
        },
        tenant=SHARED_TENANT,
    )
    directory = Directory(engine)
    directory.add_tenant("hubei", "province", {"zh-CN": "湖北省联社"})
    for county in ("enshi", "xiantao"):
        directory.add_tenant(county, "county", {"zh-CN": county}, parent="hubei")
    return engine


def run_to_end(engine: Engine, tenant: str, app: dict[str, Any]) -> dict[str, Any]:
    started = engine.start(tenant, "risk_assessment", variables={"application": app})
    runner = EmbeddedRunner(engine, worker_id="risk-test")
    for _ in range(10):
        info = engine.get_instance(tenant, started.id)
        if info.state != "running":
            break
        assert runner.run_once() > 0, "nothing to run, yet the instance is not done"
        assert engine.incidents(tenant) == [], engine.incidents(tenant)
        assert_round_trip(engine, started.id)
    info = engine.get_instance(tenant, started.id)
    assert info.state == "completed"
    assert info.variables is not None
    return {"id": started.id, **info.variables}


def test_a_clean_application_is_approved_priced_and_reported(risk_engine: Engine) -> None:
    data = run_to_end(risk_engine, "enshi", application())
    assert data["external"]["court"]["dishonest_debtor"] is False
    assert data["antifraud"]["decision"] == "pass"
    assert data["scorecard"]["score"] >= data["risk_params"]["admission"]["auto_approve_score"]
    assert (data["admission"], data["admission_reason"]) == ("approve", "OK")
    assert data["pricing"]["approved"] is True and 0 < data["pricing"]["limit"] <= 150000
    report = risk_engine.audit_events("enshi", data["id"])
    (decision,) = [e for e in report if e["kind"] == "decision.evaluated"]
    assert decision["data"]["outputs"] == {"admission": "approve", "admission_reason": "OK"}
    assert decision["data"]["evaluations"][0]["matched_rules"] == [
        {"number": 9, "id": "Rule_approve"}
    ]
    assert data["risk_report"]["report_id"]


def test_a_bad_subject_is_rejected_without_pricing(risk_engine: Engine) -> None:
    data = run_to_end(risk_engine, "enshi", application(BAD_ID, "APP-BAD"))
    assert data["admission"] == "reject"
    assert data["admission_reason"] in {"ANTIFRAUD", "DISHONEST_DEBTOR", "NON_PERFORMING_LOAN"}
    assert "pricing" not in data
    assert data["risk_report"]["report_id"]


def test_two_banks_decide_differently_with_the_same_shared_table(risk_engine: Engine) -> None:
    params = risk_engine.parameters
    params.put("hubei", "risk", {"admission": {"min_score": 500}}, "province")
    params.put("enshi", "risk", {"admission": {"min_score": 1000}}, "enshi-admin")
    params.put("xiantao", "risk", {"admission": {"auto_approve_score": 0}}, "xiantao-admin")

    strict = run_to_end(risk_engine, "enshi", application(app_id="APP-E"))
    lenient = run_to_end(risk_engine, "xiantao", application(app_id="APP-X"))

    assert strict["scorecard"]["score"] == lenient["scorecard"]["score"]
    assert strict["risk_params"]["admission"]["min_score"] == 1000
    assert lenient["risk_params"]["admission"] == {
        "min_score": 500,
        "auto_approve_score": 0,
        "max_overdue_24m": 3,
    }
    assert (strict["admission"], strict["admission_reason"]) == ("reject", "SCORE_BELOW_CUTOFF")
    assert lenient["admission"] == "approve"
    only([d for d in risk_engine.definitions(SHARED_TENANT) if d.key == "risk_assessment"])


def test_a_running_application_keeps_the_thresholds_it_started_with(
    risk_engine: Engine,
) -> None:
    started = risk_engine.start(
        "enshi", "risk_assessment", variables={"application": application()}
    )
    risk_engine.parameters.put("enshi", "risk", {"admission": {"min_score": 1000}}, "admin")
    runner = EmbeddedRunner(risk_engine, worker_id="risk-test")
    while runner.run_once():
        pass
    info = risk_engine.get_instance("enshi", started.id)
    assert info.variables is not None
    assert info.variables["risk_params"]["admission"]["min_score"] == 550
    assert info.variables["admission"] == "approve"
