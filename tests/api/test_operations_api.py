"""Operators and integrators over HTTP: incidents and retries, health, metrics, webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from factories import DIAGRAMS
from fastapi.testclient import TestClient

from loanflow.api import ApiSettings
from loanflow.api.webhooks import WebhookSender
from loanflow.engine import Engine, ManualClock
from loanflow.engine.runner import EmbeddedRunner

Headers = Callable[[str], dict[str, str]]
E = "/api/v1/tenants/enshi"


@pytest.fixture(scope="module", autouse=True)
def deployed(client: TestClient, as_user: Headers) -> None:
    files = [
        ("files", (n, (DIAGRAMS / n).read_bytes())) for n in ("spiff_basic.bpmn", "review.json")
    ]
    response = client.post(f"{E}/deployments", files=files, headers=as_user("designer.enshi"))
    assert response.status_code == 201, response.text


class Receiver:
    """A webhook receiver on loopback that fails the first ``failures`` deliveries."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                status = 500 if len(receiver.received) <= receiver.failures else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(failures=1) as running:
        yield running


def test_incident_shows_and_operator_retries(
    client: TestClient, as_user: Headers, app_engine: Engine
) -> None:
    started = client.post(
        f"{E}/process-instances",
        json={"process_key": "basic_loan", "variables": {"amount": 1000, "term": 6}},
        headers=as_user("loan_officer.enshi"),
    ).json()
    job = next(
        j
        for j in app_engine.fetch_and_lock("w", ["calc.repayment_schedule"], 10)
        if j.instance_id == started["id"]
    )
    app_engine.fail_job(job.id, "w", "core banking down", retryable=False)

    operator = as_user("operator.enshi")
    incidents = client.get(f"{E}/incidents", headers=operator).json()
    mine = [i for i in incidents if i["instance_id"] == started["id"]]
    assert mine and mine[0]["message"] == "core banking down" and mine[0]["job_id"] == job.id
    detail = client.get(f"{E}/process-instances/{started['id']}", headers=operator).json()
    assert detail["incidents"][0]["job_id"] == job.id
    assert (
        client.post(f"{E}/jobs/{job.id}/retry", json={"retries": 2}, headers=operator).status_code
        == 204
    )
    assert client.post(f"{E}/jobs/{job.id}/retry", headers=operator).status_code == 409
    assert client.post(f"{E}/jobs/nope/retry", headers=operator).status_code == 404
    assert client.get(f"{E}/incidents", headers=as_user("reviewer.enshi")).status_code == 403
    EmbeddedRunner(app_engine).run_once()
    detail = client.get(f"{E}/process-instances/{started['id']}", headers=operator).json()
    assert detail["incidents"] == [] and detail["user_tasks"][0]["element_id"] == "review"


def test_health_and_metrics(client: TestClient, as_user: Headers, app_engine: Engine) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}
    client.post(
        f"{E}/process-instances",
        json={"process_key": "basic_loan", "variables": {"amount": 1000, "term": 6}},
        headers=as_user("integrator.enshi"),
    )
    EmbeddedRunner(app_engine).run_once()
    text = client.get("/metrics").text
    assert 'loanflow_instances{process="basic_loan",state="running",tenant="enshi"}' in text
    assert 'loanflow_jobs{state="completed",topic="calc.repayment_schedule"}' in text
    assert "loanflow_job_latency_seconds_bucket" in text
    assert "loanflow_user_task_age_seconds_count" in text


def test_completion_webhook_is_signed_and_retried(
    client: TestClient,
    as_user: Headers,
    app_engine: Engine,
    api_clock: ManualClock,
    receiver: Receiver,
    api_db_url: str,
) -> None:
    settings = ApiSettings(database_url=api_db_url, demo=True, webhook_secret="s3cret-for-hooks")
    started = client.post(
        f"{E}/process-instances",
        json={
            "process_key": "basic_loan",
            "business_key": "HOOK-1",
            "variables": {"amount": 1000, "term": 6},
            "callback_url": receiver.url,
        },
        headers=as_user("integrator.enshi"),
    ).json()
    EmbeddedRunner(app_engine).run_once()
    reviewer = as_user("reviewer.enshi")
    task = next(
        t
        for t in client.get(f"{E}/tasks", headers=reviewer).json()["items"]
        if t["instance_id"] == started["id"]
    )
    client.post(
        f"{E}/tasks/{task['id']}/complete", json={"data": {"decision": "approve"}}, headers=reviewer
    )

    sender = WebhookSender(app_engine, settings)
    try:
        assert sender.run_once() >= 1  # first delivery: the receiver answers 500
        assert len(receiver.received) == 1
        assert sender.run_once() == 0  # backing off
        api_clock.advance(timedelta(seconds=6))
        assert sender.run_once() >= 1
    finally:
        sender.client.close()
    assert len(receiver.received) == 2
    headers, body = receiver.received[-1]
    expected = "sha256=" + hmac.new(b"s3cret-for-hooks", body, hashlib.sha256).hexdigest()
    assert headers["X-Loanflow-Signature"] == expected
    assert headers["X-Loanflow-Event"] == "instance.completed"
    assert headers["X-Loanflow-Delivery"] == receiver.received[0][0]["X-Loanflow-Delivery"]
    payload = json.loads(body)
    assert payload["instance_id"] == started["id"] and payload["business_key"] == "HOOK-1"
    assert payload["variables"]["decision"] == "approve"


def test_documents_are_listed_and_downloaded_decrypted(
    client: TestClient, as_user: Headers, app_engine: Engine, tmp_path: Any
) -> None:
    from loanflow.workers.vault import Vault, VaultSettings

    started = client.post(
        f"{E}/process-instances",
        json={"process_key": "basic_loan", "variables": {"amount": 1000, "term": 6}},
        headers=as_user("integrator.enshi"),
    ).json()
    vault = Vault(app_engine, VaultSettings(demo=True, local_dir=tmp_path))
    client.app.state.vault = vault  # type: ignore[attr-defined]
    content = "身份证正面".encode() * 50_000
    info = vault.store(
        "enshi",
        content,
        kind="id_card",
        content_type="image/jpeg",
        filename="身份证.jpg",
        instance_id=started["id"],
    )
    officer = as_user("loan_officer.enshi")
    listed = client.get(f"{E}/process-instances/{started['id']}/documents", headers=officer).json()
    assert [(d["id"], d["sm3"], d["size"]) for d in listed] == [(info.id, info.sm3, len(content))]
    download = client.get(f"{E}/documents/{info.id}", headers=officer)
    assert download.status_code == 200 and download.content == content
    assert download.headers["x-content-sm3"] == info.sm3
    assert download.headers["content-type"] == "image/jpeg"
    evidence = client.get(
        f"{E}/process-instances/{started['id']}/evidence", headers=as_user("operator.enshi")
    )
    assert evidence.status_code == 200 and evidence.json()["ok"] is True
    assert (
        client.get(
            f"/api/v1/tenants/xiantao/documents/{info.id}", headers=as_user("loan_officer.xiantao")
        ).status_code
        == 404
    )
