"""The Camunda 7-compatible ``/engine-rest``: a worker that knows only Camunda's REST API.

Each test deploys its own process with its own topic (``remote.<name>``, served by no embedded
worker), so that jobs of one test never reach another's fetches.
"""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from loanflow.api import ApiSettings, create_app
from loanflow.engine import Engine, ManualClock

E = "/api/v1/tenants"
R = "/engine-rest"
ADMIN = "province_admin.hubei"
Headers = Callable[[str], dict[str, str]]


def basic(client_id: str, secret: str = "demo") -> dict[str, str]:
    token = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


ENSHI = basic("integrator.enshi")
XIANTAO = basic("integrator.xiantao")


def bpmn(key: str, topic: str) -> bytes:
    """Score remotely (a BPMN error REJECTED ends it early), then wait for ``docs_signed``."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs_{key}"
    targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:error id="err_rejected" name="Rejected" errorCode="REJECTED"/>
  <bpmn:message id="msg_signed" name="docs_signed_{key}"/>
  <bpmn:process id="{key}" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="score" camunda:type="external" camunda:topic="{topic}">
      <bpmn:extensionElements><camunda:inputOutput>
        <camunda:inputParameter name="amount">${{amount}}</camunda:inputParameter>
        <camunda:inputParameter name="applicant">${{applicant}}</camunda:inputParameter>
        <camunda:inputParameter name="profile">${{profile}}</camunda:inputParameter>
      </camunda:inputOutput></bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:boundaryEvent id="rejected" attachedToRef="score">
      <bpmn:outgoing>f_rej</bpmn:outgoing>
      <bpmn:errorEventDefinition errorRef="err_rejected"/>
    </bpmn:boundaryEvent>
    <bpmn:intermediateCatchEvent id="signed">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:messageEventDefinition messageRef="msg_signed"/>
    </bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="end_rejected"><bpmn:incoming>f_rej</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="score"/>
    <bpmn:sequenceFlow id="f2" sourceRef="score" targetRef="signed"/>
    <bpmn:sequenceFlow id="f3" sourceRef="signed" targetRef="end"/>
    <bpmn:sequenceFlow id="f_rej" sourceRef="rejected" targetRef="end_rejected"/>
  </bpmn:process>
</bpmn:definitions>""".encode()


START_VARIABLES = {
    "amount": {"value": 120000, "type": "Integer"},
    "applicant": {"value": "张三", "type": "String"},
    "profile": {"value": '{"age": 41, "tags": ["farmer"]}', "type": "Json"},
}


@pytest.fixture(scope="module")
def deploy(client: TestClient, as_user: Headers) -> Callable[[str, str], str]:
    """Deploy the test process as ``key`` with topic ``remote.<key>`` in a tenant."""

    def run(key: str, tenant: str = "enshi") -> str:
        files = [("files", (f"{key}.bpmn", bpmn(key, f"remote.{key}")))]
        deployed = client.post(f"{E}/{tenant}/deployments", files=files, headers=as_user(ADMIN))
        assert deployed.status_code == 201, deployed.text
        return f"remote.{key}"

    return run


def start(client: TestClient, key: str, tenant: str = "enshi", **extra: Any) -> dict[str, Any]:
    headers = ENSHI if tenant == "enshi" else XIANTAO
    response = client.post(
        f"{R}/process-definition/key/{key}/tenant-id/{tenant}/start",
        json={"variables": START_VARIABLES, **extra},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def fetch(
    client: TestClient, topic: str, headers: dict[str, str] = ENSHI, **options: Any
) -> list[dict[str, Any]]:
    topic_options = {k: options.pop(k) for k in ("variables", "tenantIdIn") if k in options}
    body = {
        "workerId": options.pop("worker", "w1"),
        "maxTasks": 5,
        "topics": [{"topicName": topic, "lockDuration": 60_000, **topic_options}],
        **options,
    }
    response = client.post(f"{R}/external-task/fetchAndLock", json=body, headers=headers)
    assert response.status_code == 200, response.text
    tasks: list[dict[str, Any]] = response.json()
    return tasks


def instance(client: TestClient, as_user: Headers, instance_id: str) -> dict[str, Any]:
    response = client.get(
        f"{E}/enshi/process-instances/{instance_id}", headers=as_user("operator.enshi")
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_worker_completes_end_to_end_with_typed_variables(
    client: TestClient, as_user: Headers, deploy: Callable[[str], str]
) -> None:
    topic = deploy("rest_e2e")
    started = start(client, "rest_e2e", businessKey="RE-1")
    assert started["tenantId"] == "enshi" and started["businessKey"] == "RE-1"
    assert started["ended"] is False and started["links"] == []

    [task] = fetch(client, topic)
    assert task["topicName"] == topic and task["workerId"] == "w1"
    assert task["processInstanceId"] == started["id"]
    assert task["processDefinitionKey"] == "rest_e2e" and task["businessKey"] == "RE-1"
    assert task["activityId"] == "score" and task["tenantId"] == "enshi"
    assert task["lockExpirationTime"].endswith("+0000")
    assert task["variables"] == {
        "amount": {"value": 120000, "type": "Integer", "valueInfo": {}},
        "applicant": {"value": "张三", "type": "String", "valueInfo": {}},
        "profile": {"value": '{"age": 41, "tags": ["farmer"]}', "type": "Json", "valueInfo": {}},
    }
    assert fetch(client, topic) == []  # locked

    done = client.post(
        f"{R}/external-task/{task['id']}/complete",
        json={
            "workerId": "w1",
            "variables": {
                "score": {"value": 712, "type": "Long"},
                "grade": {"value": "B", "type": "String"},
                "approved": {"value": "true", "type": "Boolean"},
                "ratio": {"value": 0.35, "type": "Double"},
                "detail": {"value": '{"model": "v3"}', "type": "Json"},
                "note": {"value": None, "type": "Null"},
            },
            "localVariables": {"big": {"value": 2**40, "type": "Long"}},
        },
        headers=ENSHI,
    )
    assert done.status_code == 204, done.text
    variables = instance(client, as_user, started["id"])["variables"]
    assert {k: variables[k] for k in ("score", "grade", "approved", "ratio", "detail", "big")} == {
        "score": 712,
        "grade": "B",
        "approved": True,
        "ratio": 0.35,
        "detail": {"model": "v3"},
        "big": 2**40,
    }
    assert variables["note"] is None
    again = client.post(f"{R}/external-task/{task['id']}/complete", json={"workerId": "w2"})
    assert again.status_code == 401  # no credentials
    again = client.post(
        f"{R}/external-task/{task['id']}/complete", json={"workerId": "w2"}, headers=ENSHI
    )
    assert again.status_code == 400 and again.json()["type"] == "BadUserRequestException"

    correlated = client.post(
        f"{R}/message",
        json={
            "messageName": "docs_signed_rest_e2e",
            "businessKey": "RE-1",
            "processVariables": {"signed_by": {"value": "李四", "type": "String"}},
            "resultEnabled": True,
        },
        headers=ENSHI,
    )
    assert correlated.status_code == 200, correlated.text
    [result] = correlated.json()
    assert result["resultType"] == "Execution"
    assert result["processInstance"]["id"] == started["id"]
    assert result["processInstance"]["ended"] is True
    assert instance(client, as_user, started["id"])["state"] == "completed"
    missing = client.post(
        f"{R}/message",
        json={"messageName": "docs_signed_rest_e2e", "businessKey": "RE-1"},
        headers=ENSHI,
    )
    assert missing.status_code == 400 and set(missing.json()) == {"type", "message"}


def test_variables_filter_and_typed_value_errors(
    client: TestClient, deploy: Callable[[str], str]
) -> None:
    topic = deploy("rest_filter")
    start(client, "rest_filter")
    [task] = fetch(client, topic, variables=["amount", "nope"])
    assert task["variables"] == {"amount": {"value": 120000, "type": "Integer", "valueInfo": {}}}
    for bad in (
        {"value": "x", "type": "Integer"},
        {"value": "{", "type": "Json"},
        {"value": "rO0AB", "type": "Object", "valueInfo": {"serializationDataFormat": "java"}},
        {"value": "AAAA", "type": "Bytes"},
    ):
        response = client.post(
            f"{R}/external-task/{task['id']}/complete",
            json={"workerId": "w1", "variables": {"v": bad}},
            headers=ENSHI,
        )
        assert response.status_code == 400, (bad, response.text)
        assert response.json()["type"] == "InvalidRequestException"
    invalid = client.post(f"{R}/external-task/fetchAndLock", json={"topics": 3}, headers=ENSHI)
    assert invalid.status_code == 400 and invalid.json()["type"] == "InvalidRequestException"
    unsupported = fetch_raw(client, topic, processDefinitionKey="rest_filter")
    assert unsupported.status_code == 400


def fetch_raw(client: TestClient, topic: str, **topic_options: Any) -> httpx.Response:
    body = {
        "workerId": "w1",
        "maxTasks": 1,
        "topics": [{"topicName": topic, "lockDuration": 1000, **topic_options}],
    }
    return client.post(f"{R}/external-task/fetchAndLock", json=body, headers=ENSHI)


def test_failure_retries_later_then_raises_an_incident(
    client: TestClient, deploy: Callable[[str], str], app_engine: Engine, api_clock: ManualClock
) -> None:
    topic = deploy("rest_fail")
    start(client, "rest_fail")
    [task] = fetch(client, topic)
    failed = client.post(
        f"{R}/external-task/{task['id']}/failure",
        json={
            "workerId": "w1",
            "errorMessage": "scoring service down",
            "errorDetails": "Traceback ...",
            "retries": 2,
            "retryTimeout": 30_000,
        },
        headers=ENSHI,
    )
    assert failed.status_code == 204, failed.text
    assert fetch(client, topic) == []  # not before retryTimeout
    api_clock.advance(seconds=31)
    [retried] = fetch(client, topic)
    assert retried["id"] == task["id"] and retried["retries"] == 2
    assert retried["errorMessage"] == "scoring service down"
    assert retried["errorDetails"] == "Traceback ..."

    final = client.post(
        f"{R}/external-task/{task['id']}/failure",
        json={"workerId": "w1", "errorMessage": "gave up", "retries": 0, "retryTimeout": 0},
        headers=ENSHI,
    )
    assert final.status_code == 204, final.text
    assert task["id"] in {i.job_id for i in app_engine.incidents("enshi")}
    assert fetch(client, topic) == []


def test_bpmn_error_is_caught_by_the_boundary_event(
    client: TestClient, as_user: Headers, deploy: Callable[[str], str]
) -> None:
    topic = deploy("rest_bpmn_error")
    started = start(client, "rest_bpmn_error")
    [task] = fetch(client, topic)
    thrown = client.post(
        f"{R}/external-task/{task['id']}/bpmnError",
        json={
            "workerId": "w1",
            "errorCode": "REJECTED",
            "errorMessage": "blacklisted",
            "variables": {"reason": {"value": "blacklist", "type": "String"}},
        },
        headers=ENSHI,
    )
    assert thrown.status_code == 204, thrown.text
    assert instance(client, as_user, started["id"])["state"] == "completed"


def test_extend_lock_and_unlock(
    client: TestClient, deploy: Callable[[str], str], api_clock: ManualClock
) -> None:
    topic = deploy("rest_lock")
    start(client, "rest_lock")
    body = {"workerId": "w1", "maxTasks": 1, "topics": [{"topicName": topic, "lockDuration": 1000}]}
    [task] = client.post(f"{R}/external-task/fetchAndLock", json=body, headers=ENSHI).json()
    extended = client.post(
        f"{R}/external-task/{task['id']}/extendLock",
        json={"workerId": "w1", "newDuration": 600_000},
        headers=ENSHI,
    )
    assert extended.status_code == 204, extended.text
    stolen = client.post(
        f"{R}/external-task/{task['id']}/extendLock",
        json={"workerId": "w2", "newDuration": 1000},
        headers=ENSHI,
    )
    assert stolen.status_code == 400  # Camunda says 500; loanflow never does
    api_clock.advance(seconds=5)
    assert fetch(client, topic, worker="w2") == []
    unlocked = client.post(f"{R}/external-task/{task['id']}/unlock", headers=ENSHI)
    assert unlocked.status_code == 204, unlocked.text
    [again] = fetch(client, topic, worker="w2")
    assert again["id"] == task["id"] and again["workerId"] == "w2"


def test_authentication_and_tenants(
    client: TestClient, as_user: Headers, deploy: Callable[[str, str], str]
) -> None:
    topic = deploy("rest_tenants", "xiantao")
    theirs = start(client, "rest_tenants", "xiantao")
    assert theirs["tenantId"] == "xiantao"
    assert fetch(client, topic) == []  # enshi's worker never sees xiantao's jobs
    assert fetch(client, topic, tenantIdIn=["enshi"], headers=XIANTAO) == []
    [task] = fetch(client, topic, headers=XIANTAO, tenantIdIn=["xiantao", "enshi"])
    for action, body in (
        ("complete", {"workerId": "w1"}),
        ("unlock", None),
        ("failure", {"workerId": "w1", "retries": 0}),
    ):
        answer = client.post(f"{R}/external-task/{task['id']}/{action}", json=body, headers=ENSHI)
        assert answer.status_code == 404, answer.text
        assert answer.json()["type"] == "RestException"
    assert client.post(f"{R}/external-task/nope/unlock", headers=XIANTAO).status_code == 404

    wrong = client.post(
        f"{R}/external-task/fetchAndLock",
        json={"workerId": "w", "topics": []},
        headers=basic("integrator.enshi", "wrong"),
    )
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"].startswith("Basic")
    assert wrong.json()["type"] == "AuthenticationException"
    officer = client.post(
        f"{R}/external-task/fetchAndLock",
        json={"workerId": "w", "topics": []},
        headers=as_user("loan_officer.enshi"),
    )
    assert officer.status_code == 403
    bearer = client.post(
        f"{R}/external-task/fetchAndLock",
        json={"workerId": "w", "topics": [{"topicName": topic, "lockDuration": 10}]},
        headers=as_user("integrator.enshi"),
    )
    assert bearer.status_code == 200 and bearer.json() == []

    other = client.post(
        f"{R}/process-definition/key/rest_tenants/tenant-id/xiantao/start", json={}, headers=ENSHI
    )
    assert other.status_code == 404
    unknown = client.post(
        f"{R}/process-definition/key/no_such_process/start", json={}, headers=ENSHI
    )
    assert unknown.status_code == 404
    mine = client.post(
        f"{R}/process-definition/key/rest_tenants/start",
        json={"variables": START_VARIABLES, "businessKey": "T-1"},
        headers=XIANTAO,
    )
    assert mine.status_code == 200 and mine.json()["tenantId"] == "xiantao"
    province = client.post(
        f"{R}/process-definition/key/rest_tenants/start", json={}, headers=as_user(ADMIN)
    )
    assert province.status_code == 400  # several tenants: it must name one


def test_long_poll_times_out_with_nothing(client: TestClient) -> None:
    began = time.monotonic()
    body = {
        "workerId": "w1",
        "maxTasks": 1,
        "asyncResponseTimeout": 300,
        "topics": [{"topicName": "remote.nothing_here", "lockDuration": 1000}],
    }
    response = client.post(f"{R}/external-task/fetchAndLock", json=body, headers=ENSHI)
    assert response.status_code == 200 and response.json() == []
    assert 0.3 <= time.monotonic() - began < 5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(api_db_url: str, app_engine: Engine) -> Iterator[str]:
    """The app behind a real uvicorn on loopback, so a long poll waits while others act."""
    port = _free_port()
    app = create_app(ApiSettings(database_url=api_db_url, demo=True), engine=app_engine)
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(30)


def test_long_poll_wakes_when_a_job_appears(
    server: str, app_engine: Engine, deploy: Callable[[str], str], client: TestClient
) -> None:
    topic = deploy("rest_long_poll")
    notified: list[float] = []
    app_engine.on_new_jobs(lambda: notified.append(time.perf_counter()))
    body = {
        "workerId": "poller",
        "maxTasks": 1,
        "asyncResponseTimeout": 20_000,
        "topics": [{"topicName": topic, "lockDuration": 60_000}],
    }

    def start_later() -> None:
        time.sleep(0.5)
        app_engine.start(
            "enshi", "rest_long_poll", variables={"amount": 1, "applicant": "a", "profile": {}}
        )

    with httpx.Client(base_url=server, timeout=30) as http:
        warm = {**body, "topics": [], "asyncResponseTimeout": 0}  # Basic check cached
        assert http.post(f"{R}/external-task/fetchAndLock", json=warm, headers=ENSHI).json() == []
        starter = threading.Thread(target=start_later)
        began = time.perf_counter()
        starter.start()
        response = http.post(f"{R}/external-task/fetchAndLock", json=body, headers=ENSHI)
        answered = time.perf_counter()
        starter.join()
    assert response.status_code == 200, response.text
    [task] = response.json()
    assert task["topicName"] == topic
    latency_ms = (answered - notified[-1]) * 1000
    print(f"long-poll wake-up latency: {latency_ms:.1f} ms (waited {answered - began:.2f} s)")
    assert answered - began >= 0.5
    assert latency_ms < 500
