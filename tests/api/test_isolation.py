"""The tenant-isolation matrix: every tenant-scoped route × every role × own / other tenant.

Objects are created in ``enshi`` first, so the calls under ``/tenants/xiantao/...`` carry ids
that exist (in ``enshi``): they must answer 404, the same 404 as for an id that exists nowhere,
so that another bank's objects are not even revealed to exist. ``xiantao`` has the same process
definitions and message starts deployed, so a broken tenant check would succeed there instead
of answering 404 by accident.

A route added to the app without a row in :data:`ROUTES` fails ``test_matrix_covers_every_route``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
from factories import DIAGRAMS
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from httpx2 import Response

from loanflow.engine import Engine
from loanflow.engine.approvals import DEMO_CHAINS
from loanflow.engine.runner import EmbeddedRunner

Headers = Callable[[str], dict[str, str]]
PREFIX = "/api/v1/tenants/{tenant}"
OWN, OTHER = "enshi", "xiantao"
PROVINCE_ADMIN = "province_admin.hubei"

ROLES = (
    "loan_officer",
    "reviewer",
    "branch_approver",
    "head_approver",
    "committee_member",
    "designer",
    "tenant_admin",
    "operator",
    "integrator",
)
STAFF = frozenset(ROLES) - {"designer"}
EVERYONE = frozenset(ROLES)
WORKERS = frozenset(
    {
        "loan_officer",
        "reviewer",
        "branch_approver",
        "head_approver",
        "committee_member",
        "operator",
        "tenant_admin",
    }
)
#: workers who pass the role check but are no candidate of the review task: it is hidden (404)
NOT_CANDIDATES = frozenset({"loan_officer", "branch_approver", "head_approver", "committee_member"})
CHAIN_READERS = frozenset({"tenant_admin", "designer", "operator", "loan_officer"})
OPERATORS = frozenset({"operator", "tenant_admin"})
PARAM_READERS = frozenset({"tenant_admin", "designer", "operator", "loan_officer", "reviewer"})


def user_of(role: str, tenant: str) -> str:
    """The demo principal of ``role`` in a county bank (``committee_member1`` for committees)."""
    return f"committee_member1.{tenant}" if role == "committee_member" else f"{role}.{tenant}"


@dataclass(frozen=True)
class Route:
    """One route of the matrix and what it answers when the caller may act in the tenant.

    ``ok``: the answers of an allowed role on the own tenant (success or a domain 4xx such as
    409 for an object already in that state); ``hidden``: allowed roles that do not get to see
    the object (exactly 404). ``path`` placeholders other than ``{tenant}`` are filled with ids
    of objects that exist in ``enshi`` only.
    """

    method: str
    path: str
    roles: frozenset[str]
    ok: frozenset[int]
    json: dict[str, Any] | None = None
    params: dict[str, str] = field(default_factory=dict)
    upload: bool = False
    hidden: frozenset[str] = frozenset()
    #: path placeholder -> the object of :func:`ids` it takes, when not the one of its name
    use: dict[str, str] = field(default_factory=dict)

    @property
    def template(self) -> str:
        return PREFIX + self.path

    @property
    def has_ids(self) -> bool:
        return "{" in self.path

    def url(self, tenant: str, objects: dict[str, str]) -> str:
        values = {**objects, **{name: objects[used] for name, used in self.use.items()}}
        return self.template.format(tenant=tenant, **values)

    def __str__(self) -> str:
        return f"{self.method} {self.path or '/'}"


START = {"process_key": "basic_loan", "variables": {"amount": 1000, "term": 6}}
CHAIN = {"levels": DEMO_CHAINS["xiantao"]["*"]["levels"]}

ROUTES: tuple[Route, ...] = (
    Route("POST", "/process-instances", frozenset({"integrator", "loan_officer", "tenant_admin"}),
          frozenset({201}), json=START),
    Route("GET", "/process-instances", STAFF, frozenset({200})),
    Route("GET", "/process-instances/{instance_id}", STAFF, frozenset({200})),
    Route("GET", "/process-instances/{instance_id}/audit", OPERATORS, frozenset({200})),
    Route("GET", "/process-instances/{instance_id}/evidence", OPERATORS, frozenset({200})),
    Route("GET", "/process-instances/{instance_id}/documents", STAFF, frozenset({200})),
    Route("GET", "/documents/{document_id}", STAFF, frozenset({200})),
    Route("POST", "/process-instances/{instance_id}/cancel", OPERATORS, frozenset({204, 409}),
          use={"instance_id": "cancel_id"}),
    Route("GET", "/tasks", WORKERS, frozenset({200}), params={"scope": "candidate"}),
    Route("GET", "/tasks/{task_id}", WORKERS, frozenset({200}), hidden=NOT_CANDIDATES),
    Route("POST", "/tasks/{task_id}/claim", WORKERS, frozenset({200, 409}),
          hidden=NOT_CANDIDATES),
    Route("POST", "/tasks/{task_id}/unclaim", WORKERS, frozenset({200, 409}),
          hidden=NOT_CANDIDATES),
    Route("POST", "/tasks/{task_id}/complete", WORKERS, frozenset({200, 409}),
          json={"data": {"decision": "approve"}}, hidden=NOT_CANDIDATES,
          use={"task_id": "done_task_id"}),
    Route("POST", "/deployments", frozenset({"designer", "tenant_admin"}), frozenset({201}),
          upload=True),
    Route("GET", "/deployments", EVERYONE, frozenset({200})),
    Route("GET", "/process-definitions", EVERYONE, frozenset({200})),
    Route("GET", "/process-definitions/{key}/xml", EVERYONE, frozenset({200})),
    Route("POST", "/messages", frozenset({"integrator", "operator", "tenant_admin"}),
          frozenset({200}), json={"name": "risk_signal", "payload": {"source": "matrix"}}),
    Route("GET", "/approval-chain", CHAIN_READERS, frozenset({200})),
    Route("PUT", "/approval-chain", frozenset({"tenant_admin"}), frozenset({200}), json=CHAIN,
          params={"product": "matrix"}),
    Route("POST", "/approval-chain/preview", CHAIN_READERS, frozenset({200}),
          json={"product": "*", "application": {"amount": 120000}}),
    Route("GET", "/risk-parameters", PARAM_READERS, frozenset({200})),
    Route("GET", "/risk-parameters/schema", PARAM_READERS, frozenset({200})),
    Route("PUT", "/risk-parameters", frozenset({"tenant_admin"}), frozenset({200}),
          json={"admission": {"min_score": 560}}),
    Route("DELETE", "/risk-parameters", frozenset({"tenant_admin"}), frozenset({204, 404})),
    Route("GET", "/deployment-settings", PARAM_READERS, frozenset({200})),
    Route("GET", "/deployment-settings/schema", PARAM_READERS, frozenset({200})),
    Route("PUT", "/deployment-settings", frozenset({"tenant_admin"}), frozenset({200}),
          json={"strict_topics": False}),
    Route("DELETE", "/deployment-settings", frozenset({"tenant_admin"}), frozenset({204, 404})),
    Route("GET", "/process-instances/{instance_id}/risk-report", WORKERS, frozenset({200, 404})),
    Route("GET", "/incidents", OPERATORS, frozenset({200})),
    Route("POST", "/jobs/{job_id}/retry", OPERATORS, frozenset({204, 409}),
          json={"retries": 1}),
)  # fmt: skip


# -- objects in enshi -------------------------------------------------------------------


def upload(client: TestClient, tenant: str, headers: dict[str, str], *names: str) -> Any:
    files = [("files", (name, (DIAGRAMS / name).read_bytes())) for name in names]
    response = client.post(f"/api/v1/tenants/{tenant}/deployments", files=files, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="module")
def ids(
    client: TestClient,
    as_user: Headers,
    app_engine: Engine,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, str]:
    """Ids of objects that exist in ``enshi`` (and not in ``xiantao``), by path placeholder.

    ``instance_id``/``task_id``: a running loan at its review task; ``done_task_id``: another
    one's review task, for completing; ``cancel_id``: a loan to cancel; ``job_id``: a job that
    failed into an incident, to retry; ``incident_job_id``: one whose incident stays open;
    ``key``: a process deployed in ``enshi`` only.
    """
    for tenant in (OWN, OTHER):
        designer = as_user(f"designer.{tenant}")
        upload(client, tenant, designer, "spiff_basic.bpmn", "review.json")
        upload(client, tenant, designer, "messages.bpmn")
    deployment = upload(client, OWN, as_user("designer.enshi"), "timers.bpmn")
    (definition,) = deployment["definitions"]

    integrator = as_user("integrator.enshi")
    instances = f"/api/v1/tenants/{OWN}/process-instances"

    def start(business_key: str) -> str:
        response = client.post(
            instances, json={**START, "business_key": business_key}, headers=integrator
        )
        assert response.status_code == 201, response.text
        instance_id: str = response.json()["id"]
        return instance_id

    failing = {start("MATRIX-RETRIED"): "job_id", start("MATRIX-INCIDENT"): "incident_job_id"}
    jobs = {
        failing[job.instance_id]: job.id
        for job in app_engine.fetch_and_lock("matrix", ["calc.repayment_schedule"], 100)
        if job.instance_id in failing
    }
    for job_id in jobs.values():
        app_engine.fail_job(job_id, "matrix", "core banking down", retryable=False)
    main, done, cancel = (start(f"MATRIX-{n}") for n in ("MAIN", "DONE", "CANCEL"))
    EmbeddedRunner(app_engine).run_once()

    def review_task(instance_id: str) -> str:
        detail = client.get(f"{instances}/{instance_id}", headers=integrator).json()
        (task,) = detail["user_tasks"]
        assert task["element_id"] == "review", detail
        task_id: str = task["id"]
        return task_id

    from loanflow.workers.vault import Vault, VaultSettings

    vault = Vault(app_engine, VaultSettings(demo=True, local_dir=tmp_path_factory.mktemp("vault")))
    client.app.state.vault = vault  # type: ignore[attr-defined]
    document = vault.store(
        OWN, b"%PDF-1.7 matrix", kind="id_card", content_type="application/pdf", instance_id=main
    )

    incidents = client.get(f"/api/v1/tenants/{OWN}/incidents", headers=as_user("operator.enshi"))
    assert set(jobs.values()) <= {i["job_id"] for i in incidents.json()}
    return {
        **jobs,
        "instance_id": main,
        "task_id": review_task(main),
        "done_task_id": review_task(done),
        "cancel_id": cancel,
        "key": definition["key"],
        "deployment_id": deployment["id"],
        "document_id": document.id,
    }


@pytest.fixture(scope="module")
def call(client: TestClient, ids: dict[str, str]) -> Callable[..., Response]:
    files = {name: (DIAGRAMS / name).read_bytes() for name in ("spiff_basic.bpmn", "review.json")}

    def send(
        route: Route, tenant: str, headers: dict[str, str], values: dict[str, str] | None = None
    ) -> Response:
        return client.request(
            route.method,
            route.url(tenant, values or ids),
            headers=headers,
            params=route.params,
            json=route.json,
            files=[("files", item) for item in files.items()] if route.upload else None,
        )

    return send


def unknown_ids() -> dict[str, str]:
    """Ids of the same shape as :func:`ids` that exist in no tenant."""
    fresh = str(uuid.uuid4())
    keys = (
        "instance_id",
        "task_id",
        "done_task_id",
        "cancel_id",
        "job_id",
        "deployment_id",
        "document_id",
    )
    return {**dict.fromkeys(keys, fresh), "key": f"nowhere_{uuid.uuid4().hex[:8]}"}


def explain(route: Route, user: str, tenant: str, response: Response) -> str:
    return f"{route} as {user} on {tenant}: {response.status_code} {response.text[:300]}"


# -- the matrix -------------------------------------------------------------------------


def served_routes(app: FastAPI) -> set[tuple[str, str]]:
    """``(method, path)`` of every API route, however its router was included.

    FastAPI 0.16x keeps included routers unflattened in ``app.routes``;
    ``iter_route_contexts`` (what its OpenAPI generation walks) resolves them.
    """
    routes: Iterable[Any]
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI copies included routes into app.routes
        routes = app.routes
    else:
        routes = iter_route_contexts(app.routes)
    api: list[Any] = [
        route for route in routes if isinstance(getattr(route, "original_route", route), APIRoute)
    ]
    return {(method, str(route.path)) for route in api for method in route.methods}


def test_matrix_covers_every_route(client: TestClient) -> None:
    """Every tenant-scoped route of the app has exactly one row; no row names a lost route."""
    assert isinstance(client.app, FastAPI)
    served = {(m, path) for m, path in served_routes(client.app) if path.startswith(PREFIX)}
    table = {(route.method, route.template) for route in ROUTES}
    assert served - table == set(), "tenant-scoped routes without a row in the matrix"
    assert table - served == set(), "rows in the matrix for routes the app does not serve"
    assert len(table) == len(ROUTES)


CASES = [pytest.param(route, role, id=f"{route}-{role}") for route in ROUTES for role in ROLES]


@pytest.mark.parametrize(("route", "role"), CASES)
def test_own_tenant(
    route: Route, role: str, call: Callable[..., Response], as_user: Headers
) -> None:
    """In its own bank a role the route does not allow gets 403; an allowed one gets through."""
    user = user_of(role, OWN)
    response = call(route, OWN, as_user(user))
    if role not in route.roles:
        expected = {403}
    elif role in route.hidden:
        expected = {404}
    else:
        expected = set(route.ok)
    assert response.status_code in expected, explain(route, user, OWN, response)
    if response.status_code >= 400:
        assert set(response.json()) == {"error", "message", "details"}


@pytest.mark.parametrize(("route", "role"), CASES)
def test_other_tenant(
    route: Route, role: str, call: Callable[..., Response], as_user: Headers
) -> None:
    """Another bank answers 404 whatever the role, and the same 404 as for ids it never had."""
    headers = as_user(user_of(role, OWN))
    response = call(route, OTHER, headers)
    assert response.status_code == 404, explain(route, user_of(role, OWN), OTHER, response)
    assert response.json()["error"] == "not_found"
    if route.has_ids:
        unknown = call(route, OTHER, headers, unknown_ids())
        assert (unknown.status_code, unknown.json()) == (response.status_code, response.json())


@pytest.mark.parametrize(
    "route", [pytest.param(route, id=str(route)) for route in ROUTES if route.has_ids]
)
@pytest.mark.parametrize("role", ROLES)
def test_own_tenant_foreign_ids(
    route: Route, role: str, call: Callable[..., Response], as_user: Headers
) -> None:
    """``xiantao``'s own people asking ``xiantao`` for ``enshi``'s ids: 403 by role, else 404."""
    user = user_of(role, OTHER)
    response = call(route, OTHER, as_user(user))
    expected = 404 if role in route.roles else 403
    assert response.status_code == expected, explain(route, user, OTHER, response)


@pytest.mark.parametrize("tenant", [OWN, OTHER])
@pytest.mark.parametrize("route", [pytest.param(route, id=str(route)) for route in ROUTES])
def test_province_admin_acts_in_every_county(
    route: Route, tenant: str, call: Callable[..., Response], as_user: Headers
) -> None:
    """``province_admin.hubei`` counts as every role in both counties. In ``xiantao`` the
    ``enshi`` ids still belong to ``enshi``: 404 there, and success on the routes without ids."""
    response = call(route, tenant, as_user(PROVINCE_ADMIN))
    expected = {404} if tenant == OTHER and route.has_ids else set(route.ok)
    assert response.status_code in expected, explain(route, PROVINCE_ADMIN, tenant, response)


@pytest.mark.parametrize("user", [PROVINCE_ADMIN, "tenant_admin.xiantao", "operator.xiantao"])
@pytest.mark.parametrize(
    "path",
    [
        "/process-instances?limit=500",
        "/tasks?scope=all&limit=500",
        "/deployments",
        "/process-definitions",
        "/incidents",
    ],
)
def test_lists_of_the_other_tenant_show_nothing_of_enshi(
    path: str, user: str, client: TestClient, as_user: Headers, ids: dict[str, str]
) -> None:
    enshi_ids = {value for name, value in ids.items() if name != "key"}
    own = client.get(f"/api/v1/tenants/{OWN}{path}", headers=as_user(PROVINCE_ADMIN))
    assert any(value in own.text for value in enshi_ids), "the probe would see nothing anyway"
    response = client.get(f"/api/v1/tenants/{OTHER}{path}", headers=as_user(user))
    assert response.status_code == 200, response.text
    leaked = {value for value in enshi_ids if value in response.text}
    assert leaked == set(), f"{path} in {OTHER} shows objects of {OWN}"
    assert '"enshi"' not in response.text
