"""risk.report: written by the worker inside a real process, masked, rendered, overridden later.

The diagram scores and prices the application (the real ``risk.scorecard`` and
``risk.pricing`` workers), evaluates the demo DMN table, writes the report, then waits for a
reviewer; completing the review afterwards must show up as a human override on read.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from factories import diagram, only
from fastapi.testclient import TestClient
from sqlalchemy import select

from loanflow.api import ApiSettings, create_app
from loanflow.engine import Engine, EngineSettings, ManualClock
from loanflow.engine.runner import EmbeddedRunner
from loanflow.engine.store.models import risk_reports_table
from loanflow.workers import WorkerRegistry
from loanflow.workers.builtin import BUILTIN_WORKERS
from loanflow.workers.builtin.identity import check_digit
from loanflow.workers.contract._fonts import DEFAULT_FONT_PATH
from loanflow.workers.risk._models import Application
from loanflow.workers.risk._pricing import price_application
from loanflow.workers.risk._report import (
    ReportService,
    human_decisions,
    mask_id_number,
    report_worker,
    scrub,
)
from loanflow.workers.risk._report_html import render_html, render_pdf
from loanflow.workers.risk._scorecard import score_application

TENANT = "enshi"
ID = "42080219850314002" + check_digit("42080219850314002")
PHONE = "13812345678"
HOSTILE = "<script>alert('x')</script>王五"

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="Definitions_risk" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="risk_demo" name="风险评估" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="score" name="评分">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="risk.scorecard" resultVariable="scorecard">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="application" type="any" value="application"/>
            <spiffworkflow:parameter id="external" type="any" value="external"/>
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:serviceTask id="price" name="定价">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="risk.pricing" resultVariable="pricing">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="application" type="any" value="application"/>
            <spiffworkflow:parameter id="grade" type="str" value="scorecard['grade']"/>
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:businessRuleTask id="grade" name="等级">
      <bpmn:extensionElements>
        <spiffworkflow:calledDecisionId>demo_grade</spiffworkflow:calledDecisionId>
      </bpmn:extensionElements>
      <bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
    </bpmn:businessRuleTask>
    <bpmn:serviceTask id="report" name="风险报告">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="risk.report" resultVariable="risk_report">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="application" type="any" value="application"/>
            <spiffworkflow:parameter id="external" type="any" value="external"/>
            <spiffworkflow:parameter id="scorecard" type="any" value="scorecard"/>
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>f4</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:userTask id="review" name="人工审查">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formKey" value="review"/>
          <spiffworkflow:property name="candidateGroups" value="reviewer"/>
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>f5</bpmn:incoming><bpmn:outgoing>f6</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f6</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="score"/>
    <bpmn:sequenceFlow id="f2" sourceRef="score" targetRef="price"/>
    <bpmn:sequenceFlow id="f3" sourceRef="price" targetRef="grade"/>
    <bpmn:sequenceFlow id="f4" sourceRef="grade" targetRef="report"/>
    <bpmn:sequenceFlow id="f5" sourceRef="report" targetRef="review"/>
    <bpmn:sequenceFlow id="f6" sourceRef="review" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""

EXTERNAL = {
    "credit": {"has_history": True, "overdue_24m": 0, "max_overdue_days": 0, "inquiries_3m": 1},
    "court": {"dishonest_debtor": False, "executed_person": False},
    # an adapter that echoes the subject must not leak it into the report
    "subject": {"id_number": ID, "phone": PHONE, "note": f"查询对象 {ID}，电话 {PHONE}"},
}


def application_data(**applicant: Any) -> dict[str, Any]:
    return {
        "id": "APP-2026-0001",
        "product": "consumer",
        "amount": 50_000,
        "term_months": 12,
        "applied_on": "2026-01-05",
        "applicant": {
            "name": HOSTILE,
            "id_number": ID,
            "phone": PHONE,
            "monthly_income": 12_000,
            "monthly_debt_payment": 1_000,
            **applicant,
        },
    }


def with_risk_workers(engine: Engine) -> ReportService:
    service = ReportService(engine)
    engine.workers = WorkerRegistry(
        [*BUILTIN_WORKERS, score_application, price_application, report_worker(service)]
    )
    return service


def bundle() -> dict[str, bytes]:
    dmn = resources.files("loanflow.processes").joinpath("demo_grade.dmn").read_bytes()
    return {"risk_demo.bpmn": BPMN.encode(), "demo_grade.dmn": dmn, **diagram("review.json")}


def run_to_review(engine: Engine) -> tuple[str, str]:
    """Start the diagram and run its jobs; returns (instance id, review task id)."""
    engine.deploy(bundle(), tenant=TENANT)
    variables = {
        "application": application_data(),
        "external": EXTERNAL,
        "amount": 50_000,
        "monthly_income": 12_000,
    }
    started = engine.start(TENANT, "risk_demo", business_key="APP-2026-0001", variables=variables)
    runner = EmbeddedRunner(engine, worker_id="risk-test")
    for _ in range(6):
        tasks = engine.user_tasks(TENANT, instance_id=started.id)
        if tasks:
            return started.id, only(tasks).id
        assert runner.run_once() > 0, engine.incidents(TENANT)
    raise AssertionError(f"the review never opened: {engine.incidents(TENANT)}")


@pytest.fixture
def risk_engine(engine: Engine) -> tuple[Engine, ReportService]:
    return engine, with_risk_workers(engine)


def pdf_of(report: Any, overrides: Any) -> bytes:
    if not DEFAULT_FONT_PATH.is_file():
        pytest.skip(f"the CJK font {DEFAULT_FONT_PATH} is missing (Debian: fonts-wqy-zenhei)")
    return render_pdf(report, overrides)


def pdftotext(pdf: bytes, tmp_path: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    source = tmp_path / "report.pdf"
    source.write_bytes(pdf)
    done = subprocess.run(
        ["pdftotext", "-layout", str(source), "-"], capture_output=True, check=True, timeout=60
    )
    return done.stdout.decode()


def test_masking_helpers() -> None:
    assert mask_id_number(ID) == "420***********" + ID[-4:]
    masked = scrub({"a": [f"身份证{ID}，手机{PHONE}。", 13], "b": None, "c": "A" + ID + "Z"})
    assert masked == {
        "a": [f"身份证{mask_id_number(ID)}，手机138****5678。", 13],
        "b": None,
        "c": "A" + ID + "Z",  # not a standalone number: a code, left alone
    }


def test_worker_writes_the_report_and_later_decisions_show_as_overrides(
    risk_engine: tuple[Engine, ReportService], clock: ManualClock
) -> None:
    engine, service = risk_engine
    instance_id, task_id = run_to_review(engine)
    found = service.latest(TENANT, instance_id)
    assert found is not None
    report = found["report"]
    assert found["application_id"] == "APP-2026-0001"
    assert report["application"]["applicant"]["id_number"] == mask_id_number(ID)
    assert report["application"]["applicant"]["phone"] == "138****5678"
    assert report["scorecard"]["decided_by"] == "rural_small_loan"
    # not mapped into the report task: taken from the risk.pricing job in the audit log
    assert report["pricing"]["approved"] is True
    assert report["pricing"]["trail"][0]["rule"] == "product"
    assert report["decision"]["outcome"] == "approve"
    assert [(d["element"], d["decision"], d["outputs"]) for d in report["decisions"]] == [
        ("grade", "demo_grade", {"grade": "A"})
    ]
    assert [j["topic"] for j in report["risk_jobs"]] == ["risk.scorecard", "risk.pricing"]
    assert found["overrides"] == []

    text = json.dumps(found, ensure_ascii=False)
    assert ID not in text
    assert PHONE not in text
    assert mask_id_number(ID) in text

    later = clock.advance(minutes=30)
    engine.complete_user_task(
        TENANT,
        task_id,
        {"decision": "reject", "comment": f"收入存疑 {PHONE} <b>"},
        actor="reviewer.enshi",
    )
    reread = service.latest(TENANT, instance_id)
    assert reread is not None
    assert reread["report"] == report  # the stored part does not change
    override = only(reread["overrides"])
    assert override["actor"] == "reviewer.enshi"
    assert override["decision"] == "reject"
    assert override["task_name"] == "人工审查"
    assert override["agrees"] is False  # system approved, the reviewer rejected
    assert override["at"] == later.isoformat()
    assert PHONE not in json.dumps(override, ensure_ascii=False)
    with engine.db.connect() as conn:
        assert human_decisions(conn, TENANT, instance_id, later) == []
        assert len(human_decisions(conn, TENANT, instance_id, later - timedelta(seconds=1))) == 1
        assert human_decisions(conn, "xiantao", instance_id, 0) == []
    assert service.latest("xiantao", instance_id) is None


def test_report_is_built_from_the_given_sections(
    risk_engine: tuple[Engine, ReportService], tmp_path: Path
) -> None:
    engine, service = risk_engine
    app = Application.model_validate(application_data())
    sections = {
        "external": EXTERNAL,
        "antifraud": {"hits": [{"rule": "shared_device", "detail": f"设备与 {PHONE} 共用"}]},
        "pricing": {"approved": False, "reasons": ["grade E is declined"]},
        "decision": {"outcome": "reject", "by": "<img src=x onerror=alert(1)>"},
    }
    report_id = service.write(TENANT, None, app, sections)
    report = service.latest(TENANT, "no-such-instance")
    assert report is None
    with engine.db.connect() as conn:
        stored = conn.execute(
            select(risk_reports_table.c.report).where(risk_reports_table.c.id == report_id)
        ).scalar_one()
    assert stored["decision"] == sections["decision"]
    assert stored["decisions"] == []
    assert stored["antifraud"]["hits"][0]["detail"] == "设备与 138****5678 共用"

    page = render_html(stored, [])
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;王五" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert ID not in page and PHONE not in page
    assert "风险报告" in page and "拒绝" in page

    pdf = pdf_of(stored, [])
    assert pdf.startswith(b"%PDF")
    text = pdftotext(pdf, tmp_path)
    flat = re.sub(r"\s+", "", text)
    assert "风险报告" in flat
    assert "外部数据" in flat and "反欺诈" in flat
    assert "第1页共" in flat
    assert ID not in flat and PHONE not in flat
    assert mask_id_number(ID) in flat
    assert "<script>alert('x')</script>王五" in flat  # shown as text, not markup


def test_rendered_pdf_and_html_carry_scorecard_pricing_and_overrides(
    risk_engine: tuple[Engine, ReportService], clock: ManualClock, tmp_path: Path
) -> None:
    engine, service = risk_engine
    instance_id, task_id = run_to_review(engine)
    clock.advance(minutes=5)
    engine.complete_user_task(
        TENANT, task_id, {"decision": "approve", "comment": "同意"}, actor="reviewer.enshi"
    )
    found = service.latest(TENANT, instance_id)
    assert found is not None
    page = render_html(found["report"], found["overrides"])
    for expected in (
        "评分卡",
        "冠军评分卡",
        "计算过程",
        "demo_grade",
        "reviewer.enshi",
        "risk.pricing",
    ):
        assert expected in page
    flat = re.sub(r"\s+", "", pdftotext(pdf_of(found["report"], found["overrides"]), tmp_path))
    for expected in (
        "风险报告",
        "评分卡",
        "负债收入比上限",
        "reviewer.enshi",
        "报告生成后的人工决定",
    ):
        assert expected in flat
    assert ID not in flat


# -- the API ---------------------------------------------------------------------------------


@pytest.fixture
def api(db_url: str, clock: ManualClock) -> Iterator[tuple[TestClient, Engine]]:
    settings = ApiSettings(database_url=db_url, demo=True)
    engine = Engine(EngineSettings(database_url=db_url), clock=clock)
    try:
        engine.migrate()
        app = create_app(settings, engine=engine)
        service = with_risk_workers(engine)
        if getattr(app.state, "risk_reports", None) is None:
            app.state.risk_reports = service
        if not any(str(getattr(r, "path", "")).endswith("/risk-report") for r in app.routes):
            from loanflow.api.routes import risk_reports

            app.include_router(risk_reports.router)
        with TestClient(app) as client:
            yield client, engine
    finally:
        engine.close()


def login(client: TestClient, user: str) -> dict[str, str]:
    data = {"grant_type": "password", "username": user, "password": "demo"}
    response = client.post("/api/v1/auth/token", data=data)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_api_serves_json_html_and_pdf_and_hides_other_tenants(
    api: tuple[TestClient, Engine], tmp_path: Path
) -> None:
    client, engine = api
    instance_id, _ = run_to_review(engine)
    url = f"/api/v1/tenants/{TENANT}/process-instances/{instance_id}/risk-report"
    reviewer = login(client, "reviewer.enshi")

    as_json = client.get(url, headers=reviewer)
    assert as_json.status_code == 200, as_json.text
    body = as_json.json()
    assert body["instance_id"] == instance_id
    assert body["report"]["scorecard"]["grade"] == body["report"]["pricing"]["grade"]
    assert body["overrides"] == []
    assert ID not in as_json.text

    as_html = client.get(
        url, params={"format": "html"}, headers=login(client, "loan_officer.enshi")
    )
    assert as_html.status_code == 200
    assert as_html.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in as_html.headers["content-security-policy"]
    assert "<script>" not in as_html.text and ID not in as_html.text

    as_pdf = client.get(url, params={"format": "pdf"}, headers=login(client, "tenant_admin.enshi"))
    assert as_pdf.status_code == 200
    assert as_pdf.headers["content-type"] == "application/pdf"
    assert "风险报告" in re.sub(r"\s+", "", pdftotext(as_pdf.content, tmp_path))

    assert client.get(url, params={"format": "xml"}, headers=reviewer).status_code == 422
    assert client.get(url, headers=login(client, "designer.enshi")).status_code == 403
    other = login(client, "reviewer.xiantao")
    elsewhere = f"/api/v1/tenants/xiantao/process-instances/{instance_id}/risk-report"
    assert client.get(elsewhere, headers=other).status_code == 404
    assert client.get(url, headers=other).status_code in (403, 404)
    nobody = "00000000-0000-0000-0000-000000000000"
    missing = f"/api/v1/tenants/{TENANT}/process-instances/{nobody}/risk-report"
    response = client.get(missing, headers=reviewer)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
