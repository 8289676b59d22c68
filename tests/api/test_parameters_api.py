"""Tenant administrators tune risk thresholds over HTTP; the province sets the defaults."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

Headers = Callable[[str], dict[str, str]]
URL = "/api/v1/tenants/{tenant}/risk-parameters"


def reset_all(client: TestClient, as_user: Headers) -> None:
    for tenant in ("enshi", "xiantao", "hubei"):
        client.delete(URL.format(tenant=tenant), headers=as_user("province_admin.hubei"))


@pytest.fixture(autouse=True)
def clean(client: TestClient, as_user: Headers) -> Iterator[None]:
    """Each test starts from the schema defaults (demo mode seeds hubei and xiantao)."""
    reset_all(client, as_user)
    yield
    reset_all(client, as_user)


def test_demo_mode_seeds_the_province_and_a_stricter_county(
    api_db_url: str, as_user: Headers
) -> None:
    from loanflow.api import create_app
    from loanflow.api.settings import ApiSettings
    from loanflow.engine import Engine, EngineSettings

    engine = Engine(EngineSettings(database_url=api_db_url))
    try:
        create_app(ApiSettings(database_url=api_db_url, demo=True), engine=engine)
        assert engine.parameters.effective("enshi", "risk")["admission"]["min_score"] == 560
        assert engine.parameters.effective("xiantao", "risk")["admission"]["min_score"] == 600
    finally:
        engine.close()


def test_a_bank_sees_defaults_then_its_own_overrides(client: TestClient, as_user: Headers) -> None:
    url = URL.format(tenant="enshi")
    before = client.get(url, headers=as_user("loan_officer.enshi"))
    assert before.status_code == 200, before.text
    assert before.json()["own"] is None and before.json()["version"] == 0
    assert before.json()["effective"]["admission"]["min_score"] == 550

    put = client.put(
        url, json={"admission": {"min_score": 600}}, headers=as_user("tenant_admin.enshi")
    )
    assert put.status_code == 200, put.text
    body = put.json()
    assert body["own"] == {"admission": {"min_score": 600}}
    assert body["version"] == 1 and body["updated_by"] == "tenant_admin.enshi"
    assert body["effective"]["admission"] == {
        "min_score": 600,
        "auto_approve_score": 650,
        "max_overdue_24m": 3,
    }


def test_the_province_sets_what_its_banks_inherit(client: TestClient, as_user: Headers) -> None:
    admin = as_user("province_admin.hubei")
    response = client.put(
        URL.format(tenant="hubei"), json={"antifraud": {"max_distance_km": 20}}, headers=admin
    )
    assert response.status_code == 200, response.text
    xiantao = client.get(URL.format(tenant="xiantao"), headers=as_user("tenant_admin.xiantao"))
    assert xiantao.json()["effective"]["antifraud"]["max_distance_km"] == 20
    assert xiantao.json()["own"] is None


def test_a_bad_value_is_a_422_naming_the_field(client: TestClient, as_user: Headers) -> None:
    response = client.put(
        URL.format(tenant="enshi"),
        json={"admission": {"min_score": -5}, "scorecard": {"challenger_share": 2}},
        headers=as_user("tenant_admin.enshi"),
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_input"
    assert set(body["details"]["fields"]) == {"/admission/min_score", "/scorecard/challenger_share"}


def test_only_a_tenant_admin_changes_them(client: TestClient, as_user: Headers) -> None:
    response = client.put(
        URL.format(tenant="enshi"),
        json={"admission": {"min_score": 1}},
        headers=as_user("loan_officer.enshi"),
    )
    assert response.status_code == 403


def test_another_bank_is_not_found(client: TestClient, as_user: Headers) -> None:
    response = client.get(URL.format(tenant="xiantao"), headers=as_user("tenant_admin.enshi"))
    assert response.status_code == 404


def test_the_schema_is_served_with_its_defaults(client: TestClient, as_user: Headers) -> None:
    response = client.get(URL.format(tenant="enshi") + "/schema", headers=as_user("designer.enshi"))
    assert response.status_code == 200
    schema = response.json()
    assert schema["title"] == "Risk parameters"
    assert schema["default"]["pricing"]["max_rate"] <= 0.124


def test_reset_without_overrides_is_404(client: TestClient, as_user: Headers) -> None:
    response = client.delete(URL.format(tenant="enshi"), headers=as_user("tenant_admin.enshi"))
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
