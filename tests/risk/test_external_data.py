"""risk.external_data: sandbox, HTTP adapter, settings, cache and audit."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from factories import diagram
from pydantic import SecretStr, ValidationError
from sqlalchemy import select

from loanflow.engine import Engine, ManualClock
from loanflow.engine.errors import WorkerError
from loanflow.engine.store.models import risk_data_cache_table
from loanflow.workers.risk._external import (
    SANDBOX_RESERVED,
    BusinessRegistration,
    CourtRecord,
    CreditReport,
    ExternalDataInput,
    ExternalDataService,
    ExternalDataSettings,
    HttpAdapter,
    SandboxAdapter,
    TaxRecord,
    build_adapter,
    external_data_worker,
)
from loanflow.workers.risk._hashing import sha256_hex
from loanflow.workers.sdk import definition_of, run_worker

TENANT = "enshi"
ID = "42280219850314002x"
BAD, CLEAN, THIN = "000000199001010010", "000000199001010029", "000000199001010037"
BAD_CODE, CLEAN_CODE = "91000000MA00000001", "91000000MA00000002"
CODE = "91422802MA4F0XYZ1B"


def application(**overrides: Any) -> dict[str, Any]:
    applicant = {"name": "张三", "id_number": ID, **overrides.pop("applicant", {})}
    return {"id": "APP-1", "amount": 50_000, "applicant": applicant, **overrides}


def job(**overrides: Any) -> ExternalDataInput:
    data = {"tenant": TENANT, "application": application(**overrides.pop("app", {}))}
    return ExternalDataInput.model_validate({**data, **overrides})


def ids(count: int) -> list[str]:
    """Plausible, distinct ID numbers of people born 1960-1999."""
    return [
        f"4228021{960 + n % 40:03d}0{1 + n % 9}1{n % 10}{n:03d}{n % 10}"[:18] for n in range(count)
    ]


class CountingAdapter(SandboxAdapter):
    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    def credit_report(self, id_number: str, name: str) -> CreditReport:
        self.calls["credit"] += 1
        return super().credit_report(id_number, name)

    def tax_record(self, taxpayer_id: str, name: str) -> TaxRecord:
        self.calls["tax"] += 1
        return super().tax_record(taxpayer_id, name)

    def registration(self, credit_code: str, legal_rep_name: str) -> BusinessRegistration:
        self.calls["business"] += 1
        return super().registration(credit_code, legal_rep_name)

    def cases(self, id_number: str, name: str) -> CourtRecord:
        self.calls["court"] += 1
        return super().cases(id_number, name)


# -- sandbox ----------------------------------------------------------------------------


def test_sandbox_is_deterministic_and_normalizes_the_id() -> None:
    one, other = SandboxAdapter(), SandboxAdapter()
    for subject in ids(40):
        assert one.credit_report(subject, "张三") == other.credit_report(subject, "李四")
        assert one.cases(subject, "张三") == other.cases(subject, "张三")
        assert one.tax_record(subject, "") == other.tax_record(subject, "")
    assert one.credit_report(ID, "x") == one.credit_report(" " + ID.upper(), "x")
    reseeded = SandboxAdapter("another seed")
    assert [one.credit_report(s, "x") for s in ids(20)] != [
        reseeded.credit_report(s, "x") for s in ids(20)
    ]


def test_sandbox_credit_reports_are_plausible() -> None:
    sandbox = SandboxAdapter()
    reports = [sandbox.credit_report(subject, "张三") for subject in ids(600)]
    assert len({r.report_no for r in reports}) == 600
    thin = [r for r in reports if not r.has_history]
    assert 0.03 < len(thin) / 600 < 0.15
    assert all(r.overdue_24m == 0 and r.loans_outstanding == 0 for r in thin)
    seasoned = [r for r in reports if r.has_history]
    clean = sum(r.overdue_24m == 0 for r in seasoned) / len(seasoned)
    assert 0.6 < clean < 0.8
    statuses = Counter(r.worst_status for r in seasoned)
    assert statuses["正常"] / len(seasoned) > 0.85
    assert len(statuses) >= 2
    for r in seasoned:
        assert r.overdue_6m <= r.overdue_12m <= r.overdue_24m <= 12
        assert r.inquiries_1m <= r.inquiries_3m <= r.inquiries_6m <= 12
        assert (r.max_overdue_days == 0) == (r.overdue_24m == 0)
        assert r.max_overdue_days <= 400
        assert r.overdue_current <= 2 and (r.overdue_current == 0 or r.overdue_6m > 0)
        assert (r.worst_status != "正常") >= (r.overdue_current > 0)
        assert 0 <= r.card_utilization <= 1.15
        assert (r.card_limit == 0) <= (r.card_utilization == 0)
        assert (r.loan_balance > 0) == (r.loans_outstanding > 0)
        assert r.loan_balance <= 3_000_000
        assert (r.guarantee_balance > 0) == (r.guarantees_count > 0)
    assert max(r.loans_outstanding for r in seasoned) >= 4


def test_sandbox_tax_business_and_court_are_plausible() -> None:
    sandbox = SandboxAdapter()
    codes = [f"91422802MA4F{n:05d}X" for n in range(300)]
    taxes = [sandbox.tax_record(code, "某公司") for code in codes]
    assert all(t.registered for t in taxes)
    grades = Counter(t.grade for t in taxes)
    assert set(grades) == {"A", "B", "C", "D", "M"}
    assert grades["B"] > grades["D"]
    assert all(1_000 < t.annual_taxable_revenue < 100_000_000 for t in taxes)
    assert all(t.arrears == 0 for t in taxes if t.grade in ("A", "B", "M"))
    people = [sandbox.tax_record(subject, "张三") for subject in ids(200)]
    assert 0.25 < sum(not t.registered for t in people) / 200 < 0.55

    firms = [sandbox.registration(code, "张三") for code in codes]
    status = Counter(f.status for f in firms)
    assert status["存续"] / 300 > 0.8
    assert 0.85 < sum(f.legal_rep_matches for f in firms) / 300 < 1
    assert all(date(1990, 1, 1) < f.established_on < date(2026, 1, 1) for f in firms)
    assert all(f.registered_capital >= 50_000 for f in firms)
    first = sandbox.registration(codes[0], "张三")
    assert sandbox.registration(codes[0].lower(), " 张三 ") == first

    cases = [sandbox.cases(subject, "张三") for subject in ids(600)]
    with_cases = [c for c in cases if c.open_cases]
    assert 0.05 < len(with_cases) / 600 < 0.2
    assert all(c.executed_person for c in cases if c.dishonest_debtor)
    assert all(c.open_cases == 0 and c.executed_amount == 0 for c in cases if c not in with_cases)


def test_reserved_sandbox_subjects() -> None:
    assert set(SANDBOX_RESERVED) == {BAD, CLEAN, THIN, BAD_CODE, CLEAN_CODE}
    sandbox = SandboxAdapter()
    bad = sandbox.credit_report(BAD, "x")
    assert bad.worst_status == "损失" and bad.overdue_current == 2
    assert bad.max_overdue_days > 360
    assert sandbox.cases(BAD, "x") == CourtRecord(
        executed_person=True, dishonest_debtor=True, open_cases=3, executed_amount=158_000
    )
    assert sandbox.tax_record(BAD, "x").grade == "D"
    clean = sandbox.credit_report(CLEAN, "x")
    assert clean.worst_status == "正常" and clean.overdue_24m == 0 and clean.has_history
    assert sandbox.cases(CLEAN, "x") == CourtRecord()
    assert sandbox.tax_record(CLEAN, "x").grade == "A"
    assert not sandbox.credit_report(THIN, "x").has_history
    assert not sandbox.tax_record(THIN, "x").registered
    revoked = sandbox.registration(BAD_CODE, "张三")
    assert revoked.status == "吊销" and not revoked.legal_rep_matches
    assert sandbox.tax_record(BAD_CODE, "x").arrears > 0
    sound = sandbox.registration(CLEAN_CODE, "张三")
    assert sound.status == "存续" and sound.legal_rep_matches
    assert sound.established_on == date(2010, 3, 18)
    assert sandbox.tax_record(CLEAN_CODE, "x").grade == "A"


def test_credit_report_windows_must_nest() -> None:
    with pytest.raises(ValidationError, match="6m <= 12m <= 24m"):
        CreditReport(report_no="R", overdue_6m=3, overdue_12m=2, overdue_24m=5)
    with pytest.raises(ValidationError, match="1m <= 3m <= 6m"):
        CreditReport(report_no="R", inquiries_1m=2, inquiries_3m=1, inquiries_6m=4)
    with pytest.raises(ValidationError):
        CreditReport.model_validate({"report_no": "R", "worst_status": "良好"})


# -- HTTP -------------------------------------------------------------------------------


def http_adapter(handler: Any, **kwargs: Any) -> HttpAdapter:
    return HttpAdapter(
        "https://data.example.test/v1",
        SecretStr("s3cret-token"),
        transport=httpx.MockTransport(handler),
        **kwargs,
    )


def test_http_adapter_posts_the_subject_and_validates_the_answer() -> None:
    seen: list[httpx.Request] = []
    answers = {
        "/v1/credit/report": {"report_no": "R1", "overdue_24m": 1, "max_overdue_days": 12},
        "/v1/tax/record": {"grade": "B", "annual_taxable_revenue": 800_000},
        "/v1/biz/reg": {
            "registered_name": "河口粮油有限公司",
            "status": "存续",
            "established_on": "2012-04-01",
            "registered_capital": 1_000_000,
            "legal_rep_matches": True,
        },
        "/v1/court/cases": {"executed_person": False, "open_cases": 1},
    }

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=answers[request.url.path])

    adapter = http_adapter(handler, paths={"business": "/biz/reg"})
    assert adapter.credit_report(ID, "张三") == CreditReport(
        report_no="R1", overdue_24m=1, max_overdue_days=12
    )
    assert adapter.tax_record(CODE, "河口粮油").grade == "B"
    assert adapter.registration(CODE, "张三").established_on == date(2012, 4, 1)
    assert adapter.cases(ID, "张三").open_cases == 1
    adapter.close()

    assert [r.method for r in seen] == ["POST"] * 4
    assert all(r.headers["authorization"] == "Bearer s3cret-token" for r in seen)
    assert all(ID not in str(r.url) for r in seen)
    assert json.loads(seen[0].content) == {"id_number": ID, "name": "张三"}
    assert json.loads(seen[1].content) == {"taxpayer_id": CODE, "name": "河口粮油"}
    assert json.loads(seen[2].content) == {"credit_code": CODE, "legal_rep_name": "张三"}


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(400, False), (401, False), (404, False), (408, True), (429, True), (500, True), (503, True)],
)
def test_http_errors(status: int, retryable: bool) -> None:
    adapter = http_adapter(lambda request: httpx.Response(status, json={"detail": "no"}))
    with pytest.raises(WorkerError, match=f"HTTP {status}") as raised:
        adapter.credit_report(ID, "张三")
    assert raised.value.retryable is retryable


def test_http_timeout_and_network_errors_are_retryable() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    for handler in (timeout, refused):
        with pytest.raises(WorkerError, match="did not answer") as raised:
            http_adapter(handler).cases(ID, "张三")
        assert raised.value.retryable


@pytest.mark.parametrize(
    "answer",
    [b"<html>gateway</html>", b'{"report_no": ""}', b'{"report_no": "R", "worst_status": "?"}'],
)
def test_http_answers_that_do_not_fit_are_not_retried(answer: bytes) -> None:
    adapter = http_adapter(lambda request: httpx.Response(200, content=answer))
    with pytest.raises(WorkerError, match="does not fit CreditReport") as raised:
        adapter.credit_report(ID, "张三")
    assert not raised.value.retryable
    assert ID not in str(raised.value)


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(build_adapter(ExternalDataSettings()), SandboxAdapter)
    assert ExternalDataSettings().cache_seconds == 86_400
    monkeypatch.setenv("LOANFLOW_RISK_ADAPTER", "http")
    with pytest.raises(ValidationError, match="needs base_url"):
        ExternalDataSettings()
    monkeypatch.setenv("LOANFLOW_RISK_BASE_URL", "https://bureau.example.test")
    monkeypatch.setenv("LOANFLOW_RISK_TOKEN", "s3cr3t-xyz")
    monkeypatch.setenv("LOANFLOW_RISK_TIMEOUT", "3.5")
    monkeypatch.setenv("LOANFLOW_RISK_CACHE_SECONDS", "60")
    settings = ExternalDataSettings()
    assert settings.token is not None and "s3cr3t-xyz" not in repr(settings)
    assert (settings.timeout, settings.cache_seconds) == (3.5, 60)

    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    adapter = build_adapter(settings, transport=httpx.MockTransport(handler))
    assert isinstance(adapter, HttpAdapter)
    assert adapter.cases(ID, "张三") == CourtRecord()
    assert str(seen[0].url) == "https://bureau.example.test/court/cases"
    assert seen[0].headers["authorization"] == "Bearer s3cr3t-xyz"


# -- the service ------------------------------------------------------------------------


def cache_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.db.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(risk_data_cache_table))]


def test_cache_miss_hit_and_expiry(engine: Engine, clock: ManualClock) -> None:
    adapter = CountingAdapter()
    service = ExternalDataService(engine, adapter, ExternalDataSettings(cache_seconds=3600))
    first = service.fetch(job())
    assert first.cached == {"credit": False, "tax": False, "court": False}
    assert first.business is None
    assert first.fetched_at == clock.now()
    assert adapter.calls == {"credit": 1, "tax": 1, "court": 1}

    clock.advance(minutes=59)
    second = service.fetch(job(app={"applicant": {"id_number": ID.upper()}}))
    assert second.cached == {"credit": True, "tax": True, "court": True}
    assert (second.credit, second.tax, second.court) == (first.credit, first.tax, first.court)
    assert second.fetched_at == first.fetched_at
    assert adapter.calls == {"credit": 1, "tax": 1, "court": 1}

    service.fetch(job(tenant="xianfeng", sources=["credit"]))  # another bank's cache
    assert adapter.calls["credit"] == 2

    clock.advance(minutes=1)  # expires_at is exclusive
    third = service.fetch(job(sources=["credit", "court", "credit"]))
    assert third.cached == {"credit": False, "court": False}
    assert third.fetched_at == clock.now()
    assert adapter.calls == {"credit": 3, "tax": 1, "court": 2}

    rows = cache_rows(engine)
    assert len(rows) == 4
    subject = sha256_hex(ID.upper())
    assert {(r["tenant"], r["source"], r["subject"]) for r in rows} == {
        (TENANT, "credit", subject),
        (TENANT, "tax", subject),
        (TENANT, "court", subject),
        ("xianfeng", "credit", subject),
    }
    assert ID.upper() not in json.dumps([r["payload"] for r in rows])
    credit = next(r for r in rows if r["tenant"] == TENANT and r["source"] == "credit")
    assert credit["expires_at"] == clock.now() + timedelta(hours=1)


def test_answers_keep_the_order_asked(engine: Engine) -> None:
    service = ExternalDataService(engine, SandboxAdapter())
    service.fetch(job(sources=["court"]))
    out = service.fetch(job(sources=["tax", "court", "credit"]))
    assert list(out.cached.items()) == [("tax", False), ("court", True), ("credit", False)]


def test_cache_off_and_stale_payloads(engine: Engine) -> None:
    adapter = CountingAdapter()
    off = ExternalDataService(engine, adapter, ExternalDataSettings(cache_seconds=0))
    off.fetch(job(sources=["court"]))
    off.fetch(job(sources=["court"]))
    assert adapter.calls["court"] == 2
    assert cache_rows(engine) == []

    service = ExternalDataService(engine, adapter)
    service.fetch(job(sources=["court"]))
    with engine.db.begin() as conn:
        conn.execute(risk_data_cache_table.update().values(payload={"open_cases": -1}))
    assert service.fetch(job(sources=["court"])).cached == {"court": False}
    assert adapter.calls["court"] == 4
    assert cache_rows(engine)[0]["payload"]["open_cases"] == 0


def test_business_and_tax_subjects(engine: Engine) -> None:
    adapter = CountingAdapter()
    service = ExternalDataService(engine, adapter)
    firm = {"name": "河口粮油有限公司", "credit_code": CLEAN_CODE}
    out = service.fetch(job(app={"business": firm}))
    assert out.business is not None and out.business.legal_rep_matches
    assert out.tax == SandboxAdapter().tax_record(CLEAN_CODE, "")
    assert out.cached == {"credit": False, "tax": False, "business": False, "court": False}
    # the legal-rep check depends on who applies: another applicant is another subject
    other = job(app={"business": firm, "applicant": {"name": "李四"}}, sources=["business"])
    assert service.fetch(other).cached == {"business": False}
    assert service.fetch(job(app={"business": firm}, sources=["business"])).cached == {
        "business": True
    }
    assert adapter.calls["business"] == 2


@pytest.fixture
def instance_id(engine: Engine) -> str:
    engine.deploy(diagram("spiff_basic.bpmn", "review.json"), tenant=TENANT)
    return engine.start(TENANT, "basic_loan", variables={"amount": 1000, "term": 6}).id


def test_each_call_is_audited_in_the_instance_chain(engine: Engine, instance_id: str) -> None:
    service = ExternalDataService(engine, SandboxAdapter())
    first = service.fetch(job(instance_id=instance_id, app={"applicant": {"id_number": BAD}}))
    service.fetch(
        job(instance_id=instance_id, sources=["credit"], app={"applicant": {"id_number": BAD}})
    )
    service.fetch(job(sources=["court"]))  # no instance: nothing to audit

    events = [
        e for e in engine.audit_events(TENANT, instance_id) if e["kind"] == "risk.external_data"
    ]
    assert len(events) == 2
    assert events[0]["actor"] == "worker:risk.external_data"
    assert events[0]["data"]["sources"] == ["credit", "tax", "court"]
    assert events[0]["data"]["cache"] == {"credit": "miss", "tax": "miss", "court": "miss"}
    assert events[1]["data"]["cache"] == {"credit": "hit"}
    assert first.credit is not None
    digest = events[0]["data"]["digests"]["credit"]
    assert len(digest) == 64 and digest == events[1]["data"]["digests"]["credit"]
    assert BAD not in json.dumps([e["data"] for e in events])
    assert engine.verify_audit(TENANT, instance_id).ok


def test_another_tenants_instance_is_refused(engine: Engine, instance_id: str) -> None:
    service = ExternalDataService(engine, SandboxAdapter())
    with pytest.raises(WorkerError, match="not found") as raised:
        service.fetch(job(tenant="xianfeng", instance_id=instance_id))
    assert not raised.value.retryable
    assert cache_rows(engine) == []  # the cache write rolled back with the audit


def test_worker_through_run_worker(engine: Engine, instance_id: str) -> None:
    defn = definition_of(external_data_worker(ExternalDataService(engine, SandboxAdapter())))
    assert (defn.topic, defn.retries, defn.backoff) == ("risk.external_data", 3, 5.0)
    firm = {"name": "青山农资经营部", "credit_code": BAD_CODE}
    app = application(business=firm, applicant={"id_number": BAD})
    payload = {"tenant": TENANT, "instance_id": instance_id, "application": app}
    out = run_worker(defn, payload)
    assert json.loads(json.dumps(out)) == out
    assert out["credit"]["worst_status"] == "损失"
    assert out["business"] == {
        "registered_name": "青山农资经营部",
        "status": "吊销",
        "established_on": "2016-05-20",
        "registered_capital": 100_000.0,
        "legal_rep_matches": False,
    }
    assert out["court"]["dishonest_debtor"] is True
    assert out["cached"] == {"credit": False, "tax": False, "business": False, "court": False}
    assert isinstance(out["fetched_at"], str)

    only = run_worker(defn, {**payload, "sources": ["court"]})
    assert only["credit"] is None and only["cached"] == {"court": True}
    with pytest.raises(WorkerError, match="sources") as raised:
        run_worker(defn, {**payload, "sources": ["horoscope"]})
    assert not raised.value.retryable


def test_adapter_failures_reach_the_runner(engine: Engine) -> None:
    adapter = HttpAdapter(
        "https://data.example.test",
        transport=httpx.MockTransport(lambda request: httpx.Response(403)),
    )
    defn = definition_of(external_data_worker(ExternalDataService(engine, adapter)))
    with pytest.raises(WorkerError, match="HTTP 403") as raised:
        run_worker(defn, {"tenant": TENANT, "application": application()})
    assert not raised.value.retryable
