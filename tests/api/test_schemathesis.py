"""Schemathesis over the OpenAPI reference: no input makes a 5xx, and every answer is documented.

Each operation gets a bounded number of generated requests, valid and invalid, sent as a
principal with broad roles (``province_admin.hubei``) and again as an integrator. Path
parameters are sometimes pinned to real tenants and ids so that requests get past the 404 of an
unknown tenant into the handlers.

The test drives Hypothesis with ``APIOperation.as_strategy`` rather than ``@schema.parametrize``:
an eagerly loaded schema would build the app (and open its database) at import, and the lazy
``schemathesis.pytest.from_fixture`` fails under pytest 9 (it sets ``Node._nodeid``, which is
gone). :data:`OPERATIONS` names the operations so that each one is a test of its own.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from factories import DIAGRAMS
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Err, Ok
from schemathesis.generation.modes import GenerationMode

from loanflow.api import ApiSettings, create_app
from loanflow.engine import Engine
from loanflow.engine.runner import EmbeddedRunner

E = "/api/v1/tenants/enshi"
T = "/api/v1/tenants/{tenant}"
PASSWORD = "demo"
USERS = ("province_admin.hubei", "integrator.enshi")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
SETTINGS = hypothesis.settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
#: every operation of the reference; test_every_operation_is_fuzzed keeps it complete
OPERATIONS = (
    "POST /api/v1/auth/token",
    "GET /healthz",
    "GET /metrics",
    f"POST {T}/process-instances",
    f"GET {T}/process-instances",
    f"GET {T}/process-instances/{{instance_id}}",
    f"POST {T}/process-instances/{{instance_id}}/cancel",
    f"GET {T}/process-instances/{{instance_id}}/audit",
    f"GET {T}/process-instances/{{instance_id}}/evidence",
    f"GET {T}/process-instances/{{instance_id}}/documents",
    f"GET {T}/documents/{{document_id}}",
    f"GET {T}/tasks",
    f"GET {T}/tasks/{{task_id}}",
    f"POST {T}/tasks/{{task_id}}/claim",
    f"POST {T}/tasks/{{task_id}}/unclaim",
    f"POST {T}/tasks/{{task_id}}/complete",
    f"POST {T}/deployments",
    f"GET {T}/deployments",
    f"GET {T}/process-definitions",
    f"GET {T}/process-definitions/{{key}}/xml",
    f"POST {T}/messages",
    f"GET {T}/approval-chain",
    f"PUT {T}/approval-chain",
    f"POST {T}/approval-chain/preview",
    f"GET {T}/risk-parameters",
    f"PUT {T}/risk-parameters",
    f"DELETE {T}/risk-parameters",
    f"GET {T}/risk-parameters/schema",
    f"GET {T}/deployment-settings",
    f"PUT {T}/deployment-settings",
    f"DELETE {T}/deployment-settings",
    f"GET {T}/deployment-settings/schema",
    f"GET {T}/process-instances/{{instance_id}}/risk-report",
    f"GET {T}/incidents",
    f"POST {T}/jobs/{{job_id}}/retry",
    "POST /engine-rest/external-task/fetchAndLock",
    "POST /engine-rest/external-task/{job_id}/complete",
    "POST /engine-rest/external-task/{job_id}/failure",
    "POST /engine-rest/external-task/{job_id}/bpmnError",
    "POST /engine-rest/external-task/{job_id}/extendLock",
    "POST /engine-rest/external-task/{job_id}/unlock",
    "POST /engine-rest/process-definition/key/{key}/start",
    "POST /engine-rest/process-definition/key/{key}/tenant-id/{tenant}/start",
    "POST /engine-rest/message",
)


def token(client: TestClient, user: str) -> str:
    if user.startswith("integrator."):
        data = {"grant_type": "client_credentials", "client_id": user, "client_secret": PASSWORD}
    else:
        data = {"grant_type": "password", "username": user, "password": PASSWORD}
    response = client.post("/api/v1/auth/token", data=data)
    assert response.status_code == 200, response.text
    access: str = response.json()["access_token"]
    return access


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[FastAPI]:
    database = tmp_path_factory.mktemp("schemathesis") / "loanflow.sqlite3"
    shutil.copy(sqlite_template, database)
    built = create_app(ApiSettings(database_url=f"sqlite:///{database}", demo=True))
    yield built
    engine: Engine = built.state.engine
    engine.close()


@pytest.fixture(scope="module")
def world(app: FastAPI, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Tokens, and real values for path parameters: tenants, and ids of objects in ``enshi``."""
    vault_dir = tmp_path_factory.mktemp("vault")
    with TestClient(app) as client:
        tokens = {user: token(client, user) for user in USERS}
        admin = {"Authorization": f"Bearer {tokens['province_admin.hubei']}"}
        for bundle in (("spiff_basic.bpmn", "review.json"), ("messages.bpmn",)):
            files = [("files", (n, (DIAGRAMS / n).read_bytes())) for n in bundle]
            deployed = client.post(f"{E}/deployments", files=files, headers=admin)
            assert deployed.status_code == 201, deployed.text

        def start(n: int) -> str:
            started = client.post(
                f"{E}/process-instances",
                json={
                    "process_key": "basic_loan",
                    "business_key": f"FUZZ-{n}",
                    "variables": {"amount": 1000 * (n + 1), "term": 6},
                },
                headers=admin,
            )
            assert started.status_code == 201, started.text
            instance_id: str = started.json()["id"]
            return instance_id

        engine: Engine = app.state.engine
        failing = start(0)
        jobs = [
            job.id
            for job in engine.fetch_and_lock("fuzz", ["calc.repayment_schedule"], 10)
            if job.instance_id == failing
        ]
        engine.fail_job(jobs[0], "fuzz", "core banking down", retryable=False)
        instances = [failing, start(1), start(2)]
        EmbeddedRunner(engine).run_once()
        from loanflow.workers.vault import Vault, VaultSettings

        vault = Vault(engine, VaultSettings(demo=True, local_dir=vault_dir))
        app.state.vault = vault
        documents = [
            vault.store(
                "enshi",
                b"%PDF-1.7 fuzz",
                kind="id_card",
                content_type="application/pdf",
                instance_id=instances[1],
            ).id
        ]
        inbox = client.get(f"{E}/tasks", params={"scope": "all"}, headers=admin).json()
        tasks = [task["id"] for task in inbox["items"]]
        assert tasks
    return {
        "tokens": tokens,
        "real": {
            "tenant": ["enshi", "xiantao", "hubei"],
            "instance_id": instances,
            "task_id": tasks,
            "job_id": jobs,
            "document_id": documents,
            "key": ["basic_loan", "signing", "risk_signal_handling"],
            "process_key": ["basic_loan", "signing"],
            "message": ["risk_signal", "contract_signed"],
        },
    }


@pytest.fixture(scope="module")
def schema(app: FastAPI) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def pinned(names: list[str], real: dict[str, list[str]]) -> st.SearchStrategy[dict[str, str]]:
    """Path parameters to pin, mostly so that requests reach the handlers: the real ids in their
    tenant ``enshi``, the same ids under ``xiantao``, a real tenant alone, or nothing."""
    if not names:
        return st.just({})
    ids = {name: st.sampled_from(real[name]) for name in names if name != "tenant"}
    enshi = st.just({"tenant": "enshi"})
    tenant = st.fixed_dictionaries({"tenant": st.sampled_from(real["tenant"])})
    nothing: st.SearchStrategy[dict[str, str]] = st.just({})
    if not ids:
        return st.sampled_from([enshi, enshi, tenant, nothing]).flatmap(lambda s: s)
    own = st.fixed_dictionaries({"tenant": st.just("enshi"), **ids})
    other = st.fixed_dictionaries({"tenant": st.just("xiantao"), **ids})
    return st.sampled_from([own, own, enshi, other, nothing]).flatmap(lambda s: s)


#: body fields that name something deployed: a generated name would almost always be a 404
REAL_NAMES = {"process_key": "process_key", "name": "message"}


def with_real_names(case: Any, real: dict[str, list[str]]) -> st.SearchStrategy[Any]:
    """The case as generated, or with a deployed process key or message name in its body."""
    body = case.body
    field = next((f for f in REAL_NAMES if isinstance(body, dict) and f in body), None)
    if field is None:
        return st.just(case)

    def rename(value: str | None) -> Any:
        if value is not None:
            case.body = {**body, field: value}
        return case

    return st.sampled_from([None, *real[REAL_NAMES[field]]]).map(rename)


def test_every_operation_is_fuzzed(schema: Any) -> None:
    """A new operation needs a line in :data:`OPERATIONS`; a broken one fails loading here."""
    results = list(schema.get_all_operations())
    assert [r.err() for r in results if isinstance(r, Err)] == []
    assert {r.ok().label for r in results if isinstance(r, Ok)} == set(OPERATIONS)


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("label", OPERATIONS)
def test_no_server_error_and_answers_as_documented(
    label: str, user: str, schema: Any, world: dict[str, Any]
) -> None:
    method, path = label.split(" ", 1)
    operation = schema[path][method]
    names = [p.name for p in operation.path_parameters]
    headers = {"Authorization": f"Bearer {world['tokens'][user]}"}
    cases = (
        st.sampled_from(list(GenerationMode))
        .flatmap(
            lambda mode: pinned(names, world["real"]).flatmap(
                lambda fixed: operation.as_strategy(mode, path_parameters=fixed)
            )
        )
        .flatmap(lambda case: with_real_names(case, world["real"]))
    )

    @SETTINGS
    @hypothesis.given(case=cases)
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


# -- PostgreSQL refuses NUL in text, which SQLite stores: the fuzzing above cannot see it ----

NUL = "a\x00b"
NUL_REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/process-instances/a%00b", {}),
    ("GET", "/process-instances", {"params": {"business_key": NUL}}),
    ("GET", "/tasks/a%00b", {}),
    ("POST", "/tasks/a%00b/claim", {}),
    ("POST", "/jobs/a%00b/retry", {}),
    ("GET", "/process-definitions/a%00b/xml", {}),
    ("POST", "/process-instances", {"json": {"process_key": "signing", "business_key": NUL}}),
    (
        "POST",
        "/process-instances",
        {"json": {"process_key": "signing", "callback_url": f"http://{NUL}"}},
    ),
    ("POST", "/messages", {"json": {"name": NUL}}),
    ("POST", "/messages", {"json": {"name": "risk_signal", "correlation_keys": {"k": NUL}}}),
    (
        "PUT",
        "/approval-chain",
        {"json": {"levels": [{"id": "a", "role": "reviewer", "name": {"zh-CN": NUL, "en": NUL}}]}},
    ),
    (
        "POST",
        "/deployments",
        {
            "files": [("files", ("nul.bpmn", (DIAGRAMS / "messages.bpmn").read_bytes()))],
            "data": {"name": NUL},
        },
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "request_kwargs"),
    [pytest.param(*r, id=f"{r[0]} {r[1]} {sorted(r[2])}") for r in NUL_REQUESTS],
)
def test_nul_characters_are_never_a_server_error(
    method: str,
    path: str,
    request_kwargs: dict[str, Any],
    client: TestClient,
    as_user: Callable[[str], dict[str, str]],
) -> None:
    headers = as_user("province_admin.hubei")
    files = [("files", (n, (DIAGRAMS / n).read_bytes())) for n in ("messages.bpmn",)]
    client.post(f"{E}/deployments", files=files, headers=headers)
    response = client.request(method, E + path, headers=headers, **request_kwargs)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.status_code in (404, 422), response.text
        assert set(response.json()) == {"error", "message", "details"}


@pytest.mark.parametrize(
    ("grant", "expected"),
    [
        ({"grant_type": "password", "username": NUL, "password": "demo"}, 400),
        ({"grant_type": "client_credentials", "client_id": NUL, "client_secret": "demo"}, 401),
    ],
)
def test_nul_characters_in_names_fail_the_grant(
    grant: dict[str, str], expected: int, client: TestClient
) -> None:
    response = client.post("/api/v1/auth/token", data=grant)
    assert response.status_code == expected, response.text
    assert set(response.json()) == {"error", "error_description"}
