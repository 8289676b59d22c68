"""Integrators and officers over HTTP: deploy, start (idempotent), inbox, complete, messages."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

import pytest
from factories import DIAGRAMS
from fastapi.testclient import TestClient

from loanflow.engine import Engine
from loanflow.engine.runner import EmbeddedRunner

Headers = Callable[[str], dict[str, str]]
E = "/api/v1/tenants/enshi"


def upload(client: TestClient, headers: dict[str, str], *names: str) -> dict[str, object]:
    files = [("files", (name, (DIAGRAMS / name).read_bytes())) for name in names]
    response = client.post(f"{E}/deployments", files=files, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


@pytest.fixture(scope="module", autouse=True)
def deployed(client: TestClient, as_user: Headers) -> None:
    designer = as_user("designer.enshi")
    upload(client, designer, "spiff_basic.bpmn", "review.json")
    upload(client, designer, "approval_chain.bpmn")
    upload(client, designer, "application.bpmn", "application_start.json")
    upload(client, designer, "messages.bpmn")


def test_deploy_errors_come_back_with_file_and_line(client: TestClient, as_user: Headers) -> None:
    bad = (DIAGRAMS / "spiff_basic.bpmn").read_bytes().replace(b"calc.repayment", b"calc.nothing")
    # strict topics: a topic no worker of this engine serves is refused, not left to a remote one
    settings = client.put(
        f"{E}/deployment-settings",
        json={"strict_topics": True},
        headers=as_user("tenant_admin.enshi"),
    )
    assert settings.status_code == 200, settings.text
    response = client.post(
        f"{E}/deployments",
        files=[("files", ("bad.bpmn", bad)), ("files", ("review.json", b"{}"))],
        headers=as_user("designer.enshi"),
    )
    assert response.status_code == 422
    problem = response.json()["details"]["problems"][0]
    assert (
        problem["file"] == "bad.bpmn" and problem["line"] == 13 and problem["element"] == "schedule"
    )
    client.delete(f"{E}/deployment-settings", headers=as_user("tenant_admin.enshi"))


def test_only_designers_deploy(client: TestClient, as_user: Headers) -> None:
    files = [("files", ("x.bpmn", b"<x/>"))]
    response = client.post(f"{E}/deployments", files=files, headers=as_user("loan_officer.enshi"))
    assert response.status_code == 403


def test_definition_xml_and_list(client: TestClient, as_user: Headers) -> None:
    headers = as_user("designer.enshi")
    keys = {d["key"] for d in client.get(f"{E}/process-definitions", headers=headers).json()}
    assert {"basic_loan", "application", "signing"} <= keys
    xml = client.get(f"{E}/process-definitions/basic_loan/xml", headers=headers)
    assert xml.status_code == 200 and xml.headers["content-type"].startswith("application/xml")
    assert b'id="basic_loan"' in xml.content
    assert client.get(f"{E}/process-definitions/nope/xml", headers=headers).status_code == 404


def test_start_validates_against_the_start_form(client: TestClient, as_user: Headers) -> None:
    response = client.post(
        f"{E}/process-instances",
        json={"process_key": "application", "variables": {"amount": -1, "product": "yacht"}},
        headers=as_user("integrator.enshi"),
    )
    assert response.status_code == 422
    assert set(response.json()["details"]["fields"]) == {"amount", "product"}


def test_officer_starts_reviewer_completes(
    client: TestClient, as_user: Headers, app_engine: Engine
) -> None:
    officer = as_user("loan_officer.enshi")
    started = client.post(
        f"{E}/process-instances",
        json={
            "process_key": "basic_loan",
            "business_key": "API-1",
            "variables": {"amount": 120000, "term": 12},
        },
        headers=officer,
    )
    assert started.status_code == 201, started.text
    instance = started.json()
    assert instance["state"] == "running" and instance["business_key"] == "API-1"
    EmbeddedRunner(app_engine).run_once()

    reviewer = as_user("reviewer.enshi")
    inbox = client.get(f"{E}/tasks", params={"scope": "candidate"}, headers=reviewer).json()
    task = next(t for t in inbox["items"] if t["instance_id"] == instance["id"])
    assert task["candidate_groups"] == ["reviewer"]
    assert client.get(f"{E}/tasks", headers=as_user("head_approver.enshi")).json()[
        "items"
    ] == [] or all(
        t["instance_id"] != instance["id"]
        for t in client.get(f"{E}/tasks", headers=as_user("head_approver.enshi")).json()["items"]
    )
    detail = client.get(f"{E}/tasks/{task['id']}", headers={**reviewer, "Accept-Language": "en"})
    assert detail.status_code == 200
    assert detail.json()["data"]["amount"] == 120000
    assert detail.json()["form"]["required"] == ["decision"]

    claimed = client.post(f"{E}/tasks/{task['id']}/claim", headers=reviewer)
    assert claimed.status_code == 200 and claimed.json()["assignee"] == "reviewer.enshi"
    mine = client.get(f"{E}/tasks", params={"scope": "mine"}, headers=reviewer).json()["items"]
    assert task["id"] in {t["id"] for t in mine}
    bad = client.post(
        f"{E}/tasks/{task['id']}/complete", json={"data": {"decision": "maybe"}}, headers=reviewer
    )
    assert bad.status_code == 422 and "decision" in bad.json()["details"]["fields"]
    done = client.post(
        f"{E}/tasks/{task['id']}/complete", json={"data": {"decision": "approve"}}, headers=reviewer
    )
    assert done.status_code == 200 and done.json()["state"] == "completed"
    again = client.post(
        f"{E}/tasks/{task['id']}/complete", json={"data": {"decision": "approve"}}, headers=reviewer
    )
    assert again.status_code == 409

    got = client.get(f"{E}/process-instances/{instance['id']}", headers=as_user("integrator.enshi"))
    assert got.status_code == 200 and got.json()["variables"]["decision"] == "approve"
    page = client.get(
        f"{E}/process-instances", params={"business_key": "API-1"}, headers=officer
    ).json()
    assert [i["id"] for i in page["items"]] == [instance["id"]]
    audit = client.get(
        f"{E}/process-instances/{instance['id']}/audit", headers=as_user("operator.enshi")
    )
    assert audit.json()["chain"]["ok"] is True


def test_idempotent_start_under_twenty_concurrent_retries(
    client: TestClient, as_user: Headers
) -> None:
    headers = {**as_user("integrator.enshi"), "Idempotency-Key": f"k-{uuid.uuid4()}"}
    body = {
        "process_key": "basic_loan",
        "business_key": "IDEM-1",
        "variables": {"amount": 1, "term": 1},
    }
    results: list[tuple[int, str]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(20)

    def post() -> None:
        barrier.wait()
        response = client.post(f"{E}/process-instances", json=body, headers=headers)
        with lock:
            results.append((response.status_code, response.json().get("id", response.text)))

    threads = [threading.Thread(target=post) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert {status for status, _ in results} == {201}
    assert len({instance_id for _, instance_id in results}) == 1
    page = client.get(
        f"{E}/process-instances", params={"business_key": "IDEM-1"}, headers=headers
    ).json()
    assert len(page["items"]) == 1
    other = client.post(
        f"{E}/process-instances", json={**body, "business_key": "IDEM-2"}, headers=headers
    )
    assert other.status_code == 422  # same key, different request


def test_messages(client: TestClient, as_user: Headers) -> None:
    integrator = as_user("integrator.enshi")
    started = client.post(
        f"{E}/process-instances",
        json={"process_key": "signing", "business_key": "SIGN-7"},
        headers=integrator,
    ).json()
    nothing = client.post(
        f"{E}/messages",
        json={"name": "contract_signed", "correlation_keys": {"business_key": "SIGN-404"}},
        headers=integrator,
    )
    assert nothing.status_code == 404 and "contract_signed" in nothing.json()["message"]
    delivered = client.post(
        f"{E}/messages",
        json={
            "name": "contract_signed",
            "correlation_keys": {"business_key": "SIGN-7"},
            "payload": {"signed_by": "customer"},
        },
        headers=integrator,
    )
    assert delivered.status_code == 200
    assert (
        delivered.json()["instance_id"] == started["id"]
        and delivered.json()["state"] == "completed"
    )


def test_bad_requests_are_4xx_not_500(client: TestClient, as_user: Headers) -> None:
    headers = as_user("integrator.enshi")
    cases = [
        client.post(
            f"{E}/process-instances",
            content=b"{not json",
            headers={**headers, "Content-Type": "application/json"},
        ),
        client.post(f"{E}/process-instances", json={"process_key": 5}, headers=headers),
        client.post(
            f"{E}/process-instances", json={"process_key": "x", "extra": 1}, headers=headers
        ),
        client.post(f"{E}/process-instances", json={"process_key": "nope"}, headers=headers),
        client.post(
            f"{E}/process-instances",
            json={"process_key": "basic_loan", "variables": {"_x": 1}},
            headers=headers,
        ),
        client.post(
            f"{E}/process-instances",
            content=b"x" * 2_000_000,
            headers={**headers, "Content-Type": "application/json"},
        ),
        client.get(f"{E}/process-instances/nope", headers=headers),
        client.get("/api/v1/tenants/nowhere/process-instances", headers=headers),
        client.get(f"{E}/process-instances", headers={"Authorization": "Bearer nonsense"}),
        client.get(f"{E}/process-instances"),
        client.post(
            f"{E}/process-instances",
            json={"process_key": "basic_loan"},
            headers={**headers, "Idempotency-Key": "bad key!"},
        ),
    ]
    statuses = [c.status_code for c in cases]
    assert statuses == [422, 422, 422, 404, 422, 413, 404, 404, 401, 401, 422]
    assert all(set(c.json()) >= {"error", "message"} for c in cases)


def test_the_deploy_answer_reports_what_was_translated(
    client: TestClient, as_user: Headers
) -> None:
    diagram = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"
    targetNamespace="x">
  <bpmn:process id="reported" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:task id="look"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:task>
    <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="look"/>
    <bpmn:sequenceFlow id="f2" sourceRef="look" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>"""
    response = client.post(
        f"{E}/deployments",
        files=[("files", ("reported.bpmn", diagram))],
        headers=as_user("designer.enshi"),
    )
    assert response.status_code == 201, response.text
    (item,) = response.json()["report"]
    assert item["kind"] == "translated" and item["element"] == "look"
    assert item["file"] == "reported.bpmn" and item["line"] == 6
