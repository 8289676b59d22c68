"""Tenant administrators change approval chains over HTTP; applications follow them, no code."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from loanflow.engine import Engine
from loanflow.engine.runner import EmbeddedRunner

Headers = Callable[[str], dict[str, str]]
ROOT = Path(__file__).resolve().parents[2]
LEVEL_NAMES = {"审查", "支行审批", "总行审批", "贷审会审议", "总行审查"}


@pytest.fixture(scope="module", autouse=True)
def deployed(client: TestClient, as_user: Headers) -> None:
    files = [
        ("files", ("approval.bpmn", (ROOT / "processes" / "approval.bpmn").read_bytes())),
        (
            "files",
            ("approval_decision.json", (ROOT / "forms" / "approval_decision.json").read_bytes()),
        ),
    ]
    for tenant in ("enshi", "xiantao"):
        response = client.post(
            f"/api/v1/tenants/{tenant}/deployments",
            files=files,
            headers=as_user(f"designer.{tenant}"),
        )
        assert response.status_code == 201, response.text


def apply(client: TestClient, as_user: Headers, tenant: str, amount: int, officer: str) -> str:
    response = client.post(
        f"/api/v1/tenants/{tenant}/process-instances",
        json={
            "process_key": "approval",
            "variables": {
                "application": {"amount": amount, "product": "consumer", "risk_grade": "A"}
            },
        },
        headers=as_user(officer),
    )
    assert response.status_code == 201, response.text
    instance_id: str = response.json()["id"]
    return instance_id


def walk(
    client: TestClient,
    as_user: Headers,
    engine: Engine,
    tenant: str,
    instance_id: str,
    deciders: dict[str, str],
) -> list[str]:
    """Approve every level as it comes; returns the roles that were asked, in order."""
    asked: list[str] = []
    for _ in range(10):
        EmbeddedRunner(engine).run_once()
        detail = client.get(
            f"/api/v1/tenants/{tenant}/process-instances/{instance_id}",
            headers=as_user(f"operator.{tenant}"),
        ).json()
        if detail["state"] != "running":
            assert detail["variables"]["approval_outcome"] == "approved"
            return asked
        task = detail["user_tasks"][0]
        role = task["candidate_groups"][0]
        assert task["name"] in LEVEL_NAMES  # named after the level, not the generic task
        asked.append(role)
        user = deciders[role]
        done = client.post(
            f"/api/v1/tenants/{tenant}/tasks/{task['id']}/complete",
            json={"data": {"decision": "approve", "comment": "ok"}},
            headers=as_user(user),
        )
        assert done.status_code == 200, done.text
    raise AssertionError("the approval did not finish")


def deciders(tenant: str) -> dict[str, str]:
    return {role: f"{role}.{tenant}" for role in ("reviewer", "branch_approver", "head_approver")}


def test_the_tenants_chains_give_two_paths_for_one_application(
    client: TestClient, as_user: Headers, app_engine: Engine
) -> None:
    enshi = apply(client, as_user, "enshi", 400_000, "loan_officer.enshi")
    xiantao = apply(client, as_user, "xiantao", 400_000, "loan_officer.xiantao")
    assert walk(client, as_user, app_engine, "enshi", enshi, deciders("enshi")) == [
        "reviewer",
        "branch_approver",
        "head_approver",
    ]
    assert walk(client, as_user, app_engine, "xiantao", xiantao, deciders("xiantao")) == [
        "reviewer",
        "head_approver",
    ]


def test_changing_the_chain_changes_the_next_application_only(
    client: TestClient, as_user: Headers, app_engine: Engine
) -> None:
    admin = as_user("tenant_admin.xiantao")
    url = "/api/v1/tenants/xiantao/approval-chain"
    before = client.get(url, headers=admin).json()
    running = apply(client, as_user, "xiantao", 150_000, "loan_officer.xiantao")
    EmbeddedRunner(app_engine).run_once()

    levels: list[dict[str, Any]] = [
        {"id": "review", "name": {"zh-CN": "审查", "en": "Review"}, "role": "reviewer"},
        {
            "id": "branch",
            "name": {"zh-CN": "支行审批", "en": "Branch"},
            "role": "branch_approver",
            "when": "amount > 100000",
        },
    ]
    changed = client.put(url, json={"levels": levels}, headers=admin)
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == before["version"] + 1
    preview = client.post(
        f"{url}/preview", json={"application": {"amount": 150_000}}, headers=admin
    )
    assert [level["id"] for level in preview.json()["levels"]] == ["review", "branch"]

    fresh = apply(client, as_user, "xiantao", 150_000, "loan_officer.xiantao")
    assert walk(client, as_user, app_engine, "xiantao", fresh, deciders("xiantao")) == [
        "reviewer",
        "branch_approver",
    ]
    assert walk(client, as_user, app_engine, "xiantao", running, deciders("xiantao")) == [
        "reviewer",
        "head_approver",
    ]  # the snapshot taken when it started


def test_chain_validation_and_permissions(client: TestClient, as_user: Headers) -> None:
    url = "/api/v1/tenants/enshi/approval-chain"
    admin = as_user("tenant_admin.enshi")
    bad = client.put(
        url,
        json={
            "levels": [
                {
                    "id": "x",
                    "name": {"zh-CN": "x"},
                    "role": "reviewer",
                    "when": "__import__('os').system('true')",
                }
            ]
        },
        headers=admin,
    )
    assert bad.status_code == 422
    assert "levels/0/when" in bad.json()["details"]["fields"]
    assert client.put(url, json={"levels": []}, headers=admin).status_code == 422
    assert (
        client.put(
            url, json={"levels": [{"id": "x"}]}, headers=as_user("loan_officer.enshi")
        ).status_code
        == 403
    )
    assert client.get(url, headers=as_user("tenant_admin.xiantao")).status_code == 404


def test_separation_of_duties_over_http(
    client: TestClient, as_user: Headers, app_engine: Engine
) -> None:
    instance_id = apply(client, as_user, "enshi", 400_000, "loan_officer.enshi")
    EmbeddedRunner(app_engine).run_once()
    province = as_user("province_admin.hubei")  # may act as every role, but once per round
    detail = client.get(
        f"/api/v1/tenants/enshi/process-instances/{instance_id}", headers=province
    ).json()
    first = detail["user_tasks"][0]
    done = client.post(
        f"/api/v1/tenants/enshi/tasks/{first['id']}/complete",
        json={"data": {"decision": "approve"}},
        headers=province,
    )
    assert done.status_code == 200, done.text
    detail = client.get(
        f"/api/v1/tenants/enshi/process-instances/{instance_id}", headers=province
    ).json()
    second = detail["user_tasks"][0]
    refused = client.post(
        f"/api/v1/tenants/enshi/tasks/{second['id']}/complete",
        json={"data": {"decision": "approve"}},
        headers=province,
    )
    assert refused.status_code == 403
    assert "separation of duties" in refused.json()["message"]


def test_forms_come_in_the_callers_language(
    client: TestClient, as_user: Headers, app_engine: Engine
) -> None:
    instance_id = apply(client, as_user, "enshi", 10_000, "loan_officer.enshi")
    EmbeddedRunner(app_engine).run_once()
    reviewer = as_user("reviewer.enshi")
    task = next(
        t
        for t in client.get("/api/v1/tenants/enshi/tasks", headers=reviewer).json()["items"]
        if t["instance_id"] == instance_id
    )
    zh = client.get(f"/api/v1/tenants/enshi/tasks/{task['id']}", headers=reviewer).json()["form"]
    en = client.get(
        f"/api/v1/tenants/enshi/tasks/{task['id']}",
        headers={**reviewer, "Accept-Language": "en-US,en;q=0.9"},
    ).json()["form"]
    assert zh["x-language"] == "zh-CN" and en["x-language"] == "en"
    assert zh["properties"]["decision"]["title"] != en["properties"]["decision"]["title"]
    assert set(en["properties"]["decision"]["x-enum-labels"]) == {"approve", "reject", "return"}
