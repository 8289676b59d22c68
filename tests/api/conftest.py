"""API fixtures: one app per test module and database (demo tenants and users seeded once)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from loanflow.api import ApiSettings, create_app
from loanflow.engine import Engine, ManualClock

PASSWORD = "demo"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def api_db_url(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Path,
) -> str:
    if request.param == "sqlite":
        target = tmp_path_factory.mktemp("api") / "loanflow.sqlite3"
        shutil.copy(sqlite_template, target)
        return f"sqlite:///{target}"
    from conftest import _truncate

    url: str = request.getfixturevalue("pg_url")
    _truncate(url)
    return url


@pytest.fixture(scope="module")
def api_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def app_engine(api_db_url: str, api_clock: ManualClock) -> Iterator[Engine]:
    from factories import registry

    settings = ApiSettings(database_url=api_db_url, demo=True)
    engine = Engine(settings, workers=registry(), clock=api_clock)
    engine.migrate()
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def client(api_db_url: str, app_engine: Engine) -> Iterator[TestClient]:
    settings = ApiSettings(database_url=api_db_url, demo=True)
    app = create_app(settings, engine=app_engine)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def token(client: TestClient) -> Callable[[str], str]:
    cache: dict[str, str] = {}

    def get(user: str) -> str:
        if user not in cache:
            if user.startswith("integrator."):
                data = {
                    "grant_type": "client_credentials",
                    "client_id": user,
                    "client_secret": PASSWORD,
                }
            else:
                data = {"grant_type": "password", "username": user, "password": PASSWORD}
            response = client.post("/api/v1/auth/token", data=data)
            assert response.status_code == 200, response.text
            cache[user] = response.json()["access_token"]
        return cache[user]

    return get


@pytest.fixture(scope="module")
def as_user(token: Callable[[str], str]) -> Callable[[str], dict[str, str]]:
    def headers(user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token(user)}"}

    return headers
