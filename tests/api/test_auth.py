"""Authentication and tenancy: token endpoint, bearer tokens, tenant scope, roles, directory.

Most tests drive a small app that has exactly the pieces under test (``auth.install`` and
``seed_demo``) plus three probe routes; ``test_create_app_*`` checks the same wiring in the
real app.
"""

from __future__ import annotations

import base64
import json
import threading
import warnings
from collections.abc import Iterator
from typing import Annotated, Any, Literal
from urllib.parse import quote_plus

import jwt
import pytest
from argon2 import PasswordHasher
from fastapi import APIRouter, Depends, FastAPI
from jwt.warnings import InsecureKeyLengthWarning
from pydantic import SecretStr, ValidationError
from sqlalchemy import select

from loanflow.api import auth
from loanflow.api.auth import (
    Principal,
    SlidingWindowLimiter,
    current_principal,
    require_roles,
    tenant_principal,
)
from loanflow.api.demo import DEMO_TENANTS, DEMO_USERS, seed_demo
from loanflow.api.errors import install_error_handlers
from loanflow.api.settings import ApiSettings
from loanflow.engine import Conflict, Engine, InvalidInput, ManualClock
from loanflow.engine.store.models import principals_table
from loanflow.engine.tenancy import Directory, NewPrincipal

with warnings.catch_warnings():
    # starlette warns that it prefers httpx2 to httpx; not this module's concern
    warnings.simplefilter("ignore", UserWarning)
    from fastapi.testclient import TestClient

#: for tests of the HTTP layer alone: its queries run on both databases in the other tests
http_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

TOKEN = "/api/v1/auth/token"
SECRET = "test-signing-key-of-at-least-thirty-two-bytes"
PASSWORD = "demo"


def cheap_hasher(memory_cost: int = 1024) -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost=memory_cost, parallelism=1)


def stored_hash(engine: Engine, principal: str) -> str:
    with engine.db.connect() as conn:
        value = conn.execute(
            select(principals_table.c.secret_hash).where(principals_table.c.id == principal)
        ).scalar_one()
    assert isinstance(value, str)
    return value


# -- the app under test ---------------------------------------------------------------

probe = APIRouter()


@probe.get("/api/v1/me")
async def me(principal: Annotated[Principal, Depends(current_principal)]) -> dict[str, Any]:
    return {"id": principal.id, "tenants": sorted(principal.tenants)}


@probe.get("/api/v1/tenants/{tenant}/whoami")
async def whoami(
    tenant: str, principal: Annotated[Principal, Depends(tenant_principal)]
) -> dict[str, Any]:
    return {"tenant": tenant, "id": principal.id, "roles": sorted(principal.roles)}


@probe.get("/api/v1/tenants/{tenant}/admin-only")
async def admin_only(
    principal: Annotated[Principal, Depends(require_roles("tenant_admin"))],
) -> dict[str, Any]:
    return {"id": principal.id}


def settings_for(db_url: str, **overrides: Any) -> ApiSettings:
    values: dict[str, Any] = {
        "database_url": db_url,
        "demo": True,
        "jwt_secret": SecretStr(SECRET),
        "token_attempts_per_minute": 1000,
        **overrides,
    }
    return ApiSettings(**values)


def small_app(engine: Engine, settings: ApiSettings) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    auth.install(app, engine, settings)
    seed_demo(engine, settings)
    app.include_router(probe)
    return app


@pytest.fixture
def settings(db_url: str) -> ApiSettings:
    return settings_for(db_url)


@pytest.fixture
def client(engine: Engine, settings: ApiSettings) -> Iterator[TestClient]:
    with TestClient(small_app(engine, settings)) as test_client:
        yield test_client


def login(client: TestClient, user: str, password: str = PASSWORD) -> str:
    response = client.post(
        TOKEN, data={"grant_type": "password", "username": user, "password": password}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def forge(claims: dict[str, Any], key: str = SECRET, **header: Any) -> str:
    return jwt.encode(claims, key, algorithm="HS256", headers=header or None)


def claims_at(clock: ManualClock, **changes: Any) -> dict[str, Any]:
    now = int(clock.now().timestamp())
    claims: dict[str, Any] = {
        "sub": "reviewer.enshi",
        "ten": "enshi",
        "rol": ["reviewer"],
        "tns": ["enshi"],
        "knd": "user",
        "iat": now,
        "exp": now + 600,
        "iss": "loanflow",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


# -- grants ---------------------------------------------------------------------------


def test_password_grant_answers_a_token_the_routes_accept(
    client: TestClient, settings: ApiSettings
) -> None:
    response = client.post(
        TOKEN, data={"grant_type": "password", "username": "reviewer.enshi", "password": "demo"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.token_ttl_seconds
    assert (body["tenant"], body["roles"]) == ("enshi", ["reviewer"])
    claims = jwt.decode(
        body["access_token"], SECRET, algorithms=["HS256"], options={"verify_exp": False}
    )
    assert claims["sub"] == "reviewer.enshi"
    assert (claims["ten"], claims["rol"], claims["tns"], claims["knd"], claims["iss"]) == (
        "enshi",
        ["reviewer"],
        ["enshi"],
        "user",
        "loanflow",
    )
    assert claims["exp"] - claims["iat"] == settings.token_ttl_seconds

    whoami = client.get("/api/v1/tenants/enshi/whoami", headers=bearer(body["access_token"]))
    assert whoami.json() == {"tenant": "enshi", "id": "reviewer.enshi", "roles": ["reviewer"]}


@http_only
def test_client_credentials_in_the_form_or_as_basic(client: TestClient, engine: Engine) -> None:
    form = client.post(
        TOKEN,
        data={
            "grant_type": "client_credentials",
            "client_id": "integrator.enshi",
            "client_secret": "demo",
        },
    )
    assert form.status_code == 200, form.text
    assert (form.json()["tenant"], form.json()["roles"]) == ("enshi", ["integrator"])

    basic = client.post(
        TOKEN,
        # a client_id in the form besides Basic is no second authentication
        data={"grant_type": "client_credentials", "client_id": "integrator.xiantao"},
        auth=("integrator.xiantao", "demo"),
    )
    assert basic.status_code == 200, basic.text
    assert basic.json()["tenant"] == "xiantao"
    token = basic.json()["access_token"]
    assert client.get("/api/v1/tenants/xiantao/whoami", headers=bearer(token)).status_code == 200

    # RFC 6749 2.3.1: Basic carries the form-encoded id and secret
    odd = "p@ss:w%rd +1"
    Directory(engine, hasher=cheap_hasher()).add_principal(
        "core.enshi", "enshi", "client", odd, ["integrator"]
    )
    raw = f"{quote_plus('core.enshi')}:{quote_plus(odd)}".encode()
    encoded = client.post(
        TOKEN,
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + base64.b64encode(raw).decode()},
    )
    assert encoded.status_code == 200, encoded.text


@http_only
def test_wrong_password_and_unknown_user_answer_alike(client: TestClient) -> None:
    wrong = client.post(
        TOKEN, data={"grant_type": "password", "username": "reviewer.enshi", "password": "nope"}
    )
    unknown = client.post(
        TOKEN, data={"grant_type": "password", "username": "nobody.enshi", "password": "demo"}
    )
    # a client's id is not a username either
    client_as_user = client.post(
        TOKEN, data={"grant_type": "password", "username": "integrator.enshi", "password": "demo"}
    )
    for response in (wrong, unknown, client_as_user):
        assert response.status_code == 400
        assert response.json() == {
            "error": "invalid_grant",
            "error_description": "the username or password is wrong",
        }


@http_only
def test_bad_client_credentials_are_401_invalid_client(client: TestClient) -> None:
    cases: list[dict[str, Any]] = [
        {"data": {"grant_type": "client_credentials"}, "auth": ("integrator.enshi", "wrong")},
        {"data": {"grant_type": "client_credentials"}, "auth": ("reviewer.enshi", "demo")},
        {"data": {"grant_type": "client_credentials", "client_id": "integrator.enshi"}},
        {"data": {"grant_type": "client_credentials"}},
        {
            "data": {"grant_type": "client_credentials"},
            "headers": {"Authorization": "Basic not-base64!"},
        },
    ]
    for case in cases:
        response = client.post(TOKEN, **case)
        assert response.status_code == 401, (case, response.text)
        assert response.json()["error"] == "invalid_client"
        assert response.headers["www-authenticate"].startswith("Basic")


MALFORMED: list[tuple[dict[str, Any], str]] = [
    ({}, "invalid_request"),
    ({"data": {"username": "reviewer.enshi", "password": "demo"}}, "invalid_request"),
    ({"data": {"grant_type": "password", "username": "reviewer.enshi"}}, "invalid_request"),
    ({"data": {"grant_type": "password", "password": "demo"}}, "invalid_request"),
    (
        {"data": {"grant_type": "password", "username": "x" * 500, "password": "d"}},
        "invalid_request",
    ),
    ({"json": {"grant_type": "password", "username": "reviewer.enshi"}}, "invalid_request"),
    (
        {
            "content": b"\xff\xfe=%%%",
            "headers": {"Content-Type": "application/x-www-form-urlencoded"},
        },
        "invalid_request",
    ),
    ({"data": {"grant_type": "authorization_code", "code": "x"}}, "unsupported_grant_type"),
    (
        {"data": {"grant_type": "implicit", "username": "a", "password": "b"}},
        "unsupported_grant_type",
    ),
    (
        {
            "data": {
                "grant_type": "client_credentials",
                "client_id": "a",
                "client_secret": "b",
            },
            "auth": ("a", "b"),
        },
        "invalid_request",
    ),
]


@http_only
def test_malformed_token_requests_are_oauth2_errors(client: TestClient) -> None:
    for request_kwargs, error in MALFORMED:
        response = client.post(TOKEN, **request_kwargs)
        assert response.status_code == 400, (request_kwargs, response.text)
        assert response.json()["error"] == error, request_kwargs
        assert set(response.json()) == {"error", "error_description"}


# -- bearer tokens --------------------------------------------------------------------


@http_only
def test_a_missing_or_malformed_bearer_is_401(client: TestClient) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic cmV2aWV3ZXIuZW5zaGk6ZGVtbw=="},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": "Bearer " + "a" * 10_000},
    ):
        response = client.get("/api/v1/tenants/enshi/whoami", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert set(response.json()) == {"error", "message", "details"}
        assert response.json()["error"] == "unauthorized"


@http_only
def test_an_expired_token_is_401(client: TestClient, clock: ManualClock) -> None:
    now = int(clock.now().timestamp())
    past = forge(claims_at(clock, iat=now - 7200, exp=now - 3600))
    response = client.get("/api/v1/tenants/enshi/whoami", headers=bearer(past))
    assert response.status_code == 401
    assert "expired" in response.json()["message"]

    token = login(client, "reviewer.enshi")
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    clock.advance(hours=1, seconds=1)
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401


@http_only
def test_a_tampered_or_foreign_token_is_401(client: TestClient, clock: ManualClock) -> None:
    token = login(client, "reviewer.enshi")
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["tns"] = ["enshi", "xiantao"]
    widened = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    unsigned_none = (
        base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
        + "."
        + payload
        + "."
    )
    bad = {
        "payload changed": f"{header}.{widened}.{signature}",
        "signature changed": f"{header}.{payload}.{signature[:-4]}AAAA",
        "alg none": unsigned_none,
        "other key": forge(claims_at(clock), key="another-key-of-at-least-thirty-two-bytes!"),
        "other issuer": forge(claims_at(clock, iss="someone-else")),
        "claim missing": forge(claims_at(clock, tns=None)),
        "claim mistyped": forge(claims_at(clock, rol="reviewer")),
        "unknown kind": forge(claims_at(clock, knd="robot")),
    }
    for what, forged in bad.items():
        response = client.get("/api/v1/tenants/xiantao/whoami", headers=bearer(forged))
        assert response.status_code == 401, what
    # the untampered token still works where it should
    assert client.get("/api/v1/tenants/enshi/whoami", headers=bearer(token)).status_code == 200


# -- tenancy and roles ----------------------------------------------------------------


@http_only
def test_another_tenant_is_404_never_403(client: TestClient) -> None:
    reviewer = bearer(login(client, "reviewer.enshi"))
    admin = bearer(login(client, "tenant_admin.enshi"))
    for path, headers in (
        ("/api/v1/tenants/xiantao/whoami", reviewer),
        ("/api/v1/tenants/hubei/whoami", reviewer),
        ("/api/v1/tenants/nowhere/whoami", reviewer),
        ("/api/v1/tenants/xiantao/admin-only", admin),
        ("/api/v1/tenants/xiantao/admin-only", reviewer),
    ):
        response = client.get(path, headers=headers)
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found"
    assert client.get("/api/v1/tenants/Bad!/whoami", headers=reviewer).status_code == 422


def test_province_admin_acts_in_every_county_with_every_role(client: TestClient) -> None:
    response = client.post(
        TOKEN,
        data={"grant_type": "password", "username": "province_admin.hubei", "password": "demo"},
    )
    assert response.json()["tenant"] == "hubei"
    headers = bearer(response.json()["access_token"])
    assert client.get("/api/v1/me", headers=headers).json()["tenants"] == [
        "enshi",
        "hubei",
        "xiantao",
    ]
    for tenant in ("enshi", "xiantao", "hubei"):
        assert client.get(f"/api/v1/tenants/{tenant}/whoami", headers=headers).status_code == 200
        assert (
            client.get(f"/api/v1/tenants/{tenant}/admin-only", headers=headers).status_code == 200
        )
    assert client.get("/api/v1/tenants/elsewhere/whoami", headers=headers).status_code == 404


@http_only
def test_a_missing_role_is_403(client: TestClient) -> None:
    response = client.get(
        "/api/v1/tenants/enshi/admin-only", headers=bearer(login(client, "reviewer.enshi"))
    )
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert "tenant_admin" in response.json()["message"]
    allowed = client.get(
        "/api/v1/tenants/enshi/admin-only", headers=bearer(login(client, "tenant_admin.enshi"))
    )
    assert allowed.json() == {"id": "tenant_admin.enshi"}


def test_principal_roles() -> None:
    officer = Principal("a", "enshi", "user", frozenset({"loan_officer"}), frozenset({"enshi"}))
    assert officer.has_role("reviewer", "loan_officer")
    assert not officer.has_role("reviewer")
    assert officer.may_act_in("enshi") and not officer.may_act_in("xiantao")
    admin = Principal("p", "hubei", "user", frozenset({"province_admin"}), frozenset({"hubei"}))
    assert admin.has_role("committee_member")
    with pytest.raises(ValueError, match="unknown"):
        require_roles("superuser")
    with pytest.raises(ValueError):
        require_roles()


# -- rate limit -----------------------------------------------------------------------


@http_only
def test_the_token_endpoint_is_rate_limited(engine: Engine, db_url: str) -> None:
    app = small_app(engine, settings_for(db_url, token_attempts_per_minute=3))
    now = [1000.0]
    app.state.auth.limiter = SlidingWindowLimiter(60.0, clock=lambda: now[0])
    attempt = {"grant_type": "password", "username": "reviewer.enshi"}  # no password: cheap
    with TestClient(app) as client:
        for _ in range(3):
            assert client.post(TOKEN, data=attempt).status_code == 400
        now[0] += 20
        limited = client.post(TOKEN, data=attempt)
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "40"
        assert limited.json()["error"] == "too_many_requests"
        # a correct password does not get past the limit either
        assert client.post(TOKEN, data={**attempt, "password": "demo"}).status_code == 429
        # another name from the same address is counted apart
        assert (
            client.post(TOKEN, data={**attempt, "username": "reviewer.xiantao"}).status_code == 400
        )
        now[0] += 41
        assert client.post(TOKEN, data={**attempt, "password": "demo"}).status_code == 200


def test_the_limiter_slides_bounds_memory_and_is_thread_safe() -> None:
    now = [0.0]
    limiter = SlidingWindowLimiter(60.0, max_keys=3, clock=lambda: now[0])
    assert limiter.attempt((("a",), 2)) is None
    now[0] = 30
    assert limiter.attempt((("a",), 2)) is None
    assert limiter.attempt((("a",), 2)) == pytest.approx(30)
    now[0] = 60.5
    assert limiter.attempt((("a",), 2)) is None  # the first attempt left the window
    for key in "bcdef":
        limiter.attempt(((key,), 2))
    assert len(limiter) == 3

    shared = SlidingWindowLimiter(60.0)
    passed: list[bool] = []
    lock = threading.Lock()

    def hammer() -> None:
        for _ in range(50):
            ok = shared.attempt((("k",), 25)) is None
            with lock:
                passed.append(ok)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert passed.count(True) == 25


# -- settings -------------------------------------------------------------------------


def test_placeholder_secrets_are_refused_outside_demo_mode() -> None:
    db_url = "sqlite://"
    with pytest.raises(ValidationError, match="LOANFLOW_JWT_SECRET"):
        ApiSettings(database_url=db_url, demo=False)
    with pytest.raises(ValidationError, match="LOANFLOW_WEBHOOK_SECRET"):
        ApiSettings(database_url=db_url, demo=False, jwt_secret=SecretStr(SECRET))
    real = ApiSettings(
        database_url=db_url,
        demo=False,
        jwt_secret=SecretStr(SECRET),
        webhook_secret=SecretStr("another-real-secret-for-callbacks"),
    )
    engine = Engine(real)
    with pytest.raises(RuntimeError, match="demo mode"):
        seed_demo(engine, real)
    engine.close()


@http_only
def test_demo_mode_without_a_key_signs_with_a_random_one(engine: Engine, db_url: str) -> None:
    placeholder = ApiSettings(database_url=db_url, demo=True)
    first, second = (
        TestClient(small_app(engine, placeholder)),
        TestClient(small_app(engine, placeholder)),
    )
    token = login(first, "reviewer.enshi")
    assert first.get("/api/v1/me", headers=bearer(token)).status_code == 200
    assert second.get("/api/v1/me", headers=bearer(token)).status_code == 401
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(token, "change-me", algorithms=["HS256"], options={"verify_exp": False})


# -- the directory --------------------------------------------------------------------


@pytest.fixture
def directory(engine: Engine) -> Directory:
    built = Directory(engine, hasher=cheap_hasher())
    built.add_tenant("prov", "province", {"zh-CN": "省联社", "en": "Province"})
    built.add_tenant("aa", "county", {"zh-CN": "甲"}, parent="prov")
    built.add_tenant("bb", "county", {"zh-CN": "乙"}, parent="prov")
    built.add_tenant("lone", "province", {"zh-CN": "另一省"})
    return built


def test_scope_of_county_and_province_principals(directory: Directory) -> None:
    county = directory.add_principal("u.aa", "aa", "user", "pw", ["reviewer"])
    province = directory.add_principal("admin.prov", "prov", "user", "pw", ["province_admin"])
    alone = directory.add_principal("admin.lone", "lone", "user", "pw", ["province_auditor"])
    assert directory.scope(county) == {"aa"}
    assert directory.scope(province) == {"prov", "aa", "bb"}
    assert directory.scope(alone) == {"lone"}


def test_upserts_are_idempotent(directory: Directory, engine: Engine) -> None:
    before = directory.tenant("aa")
    again = directory.add_tenant("aa", "county", {"zh-CN": "甲"}, parent="prov")
    assert again == before
    renamed = directory.add_tenant("aa", "county", {"zh-CN": "甲银行", "en": "A"}, parent="prov")
    assert renamed.name("en") == "A" and renamed.name("fr") == "甲银行"
    assert [t.id for t in directory.tenants()] == ["aa", "bb", "lone", "prov"]

    directory.add_principal("u.aa", "aa", "user", "first", ["reviewer"])
    stored = stored_hash(engine, "u.aa")
    updated = directory.add_principal("u.aa", "aa", "user", "first", ["reviewer", "designer"], "U")
    assert stored_hash(engine, "u.aa") == stored  # same secret: same hash
    assert updated.roles == {"reviewer", "designer"}
    assert directory.authenticate("u.aa", "first", "user") == updated
    directory.add_principal("u.aa", "aa", "user", "second", ["reviewer"])
    assert directory.authenticate("u.aa", "first", "user") is None
    info = directory.authenticate("u.aa", "second", "user")
    assert info is not None and info.roles == {"reviewer"} and info.display_name is None


def test_bad_principals_are_refused(directory: Directory) -> None:
    cases: list[tuple[tuple[Any, ...], str]] = [
        (("x.aa", "aa", "user", "pw", ["superuser"]), "unknown roles"),
        (("x.aa", "aa", "user", "pw", "reviewer"), "collection"),
        (("x.aa", "aa", "user", "pw", ["integrator"]), "clients"),
        (("x.aa", "aa", "user", "pw", ["province_admin"]), "province"),
        (("x.aa", "aa", "robot", "pw", ["reviewer"]), "kind"),
        (("x.aa", "zz", "user", "pw", ["reviewer"]), "does not exist"),
        (("x.aa", "aa", "user", "", ["reviewer"]), "secret"),
        (("bad id!", "aa", "user", "pw", ["reviewer"]), "principal id"),
    ]
    for args, match in cases:
        with pytest.raises(InvalidInput, match=match):
            directory.add_principal(*args)
    assert directory.principal("x.aa") is None
    with pytest.raises(InvalidInput, match="twice"):
        directory.add_principals([NewPrincipal("x.aa", "aa", "user", "pw", ["reviewer"])] * 2)


def test_bad_tenants_are_refused(directory: Directory) -> None:
    names = {"zh-CN": "丙"}
    for args, match in (
        (("Bad", "county", names, "prov"), "tenant id"),
        (("cc", "city", names, "prov"), "kind"),
        (("cc", "county", names, None), "needs its province"),
        (("cc", "county", names, "aa"), "must be a province"),
        (("cc", "county", names, "nowhere"), "not a tenant"),
        (("cc", "province", names, "prov"), "no parent"),
        (("cc", "county", {}, "prov"), "names"),
    ):
        with pytest.raises(InvalidInput, match=match):
            directory.add_tenant(*args)
    assert directory.tenant("cc") is None
    with pytest.raises(Conflict, match="belongs to it"):
        directory.add_tenant("prov", "county", names, parent="lone")


def test_authenticate_refuses_alike_and_upgrades_weak_hashes(
    directory: Directory, engine: Engine
) -> None:
    verified: list[str] = []

    class Counting(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            verified.append(str(hash))
            return super().verify(hash, password)

    counting = Counting(time_cost=1, memory_cost=2048, parallelism=1)
    strict = Directory(engine, hasher=counting)
    directory.add_principal("u.aa", "aa", "user", "pw", ["reviewer"])
    directory.add_principal("api.aa", "aa", "client", "pw", ["integrator"])

    for who, secret, kind in (
        ("ghost", "pw", "user"),
        ("api.aa", "pw", "user"),
        ("u.aa", "no", "user"),
    ):
        assert strict.authenticate(who, secret, kind) is None
    assert len(verified) == 3  # an unknown or wrong-kind name costs a verification too

    directory.set_active("u.aa", False)
    assert strict.authenticate("u.aa", "pw", "user") is None
    directory.set_active("u.aa", True)

    assert PasswordHasher().check_needs_rehash(verified[-1]) is True
    assert strict.authenticate("u.aa", "pw", "user") is not None
    upgraded = stored_hash(engine, "u.aa")
    assert "m=2048" in upgraded and not counting.check_needs_rehash(upgraded)
    assert strict.authenticate("u.aa", "pw", "user") is not None
    relaxed = Directory(engine, hasher=cheap_hasher(4096), upgrade_hashes=False)
    assert relaxed.authenticate("u.aa", "pw", "user") is not None
    assert stored_hash(engine, "u.aa") == upgraded


def test_seed_demo_is_idempotent_and_complete(engine: Engine, settings: ApiSettings) -> None:
    assert seed_demo(engine, settings) == len(DEMO_USERS) == 27
    assert seed_demo(engine, settings) == 0
    directory = Directory(engine)
    assert {t.id for t in directory.tenants()} == {t.id for t in DEMO_TENANTS}
    assert directory.tenant("enshi") is not None
    assert directory.tenant("enshi").name("en") == "Enshi Rural Commercial Bank"  # type: ignore[union-attr]
    cheap = Directory(engine, hasher=cheap_hasher(), upgrade_hashes=False)
    for user in DEMO_USERS:
        info = cheap.authenticate(user.id, PASSWORD, user.kind)
        assert info is not None, user
        assert (info.tenant, info.roles) == (user.tenant, user.roles)
    ids = {user.id for user in DEMO_USERS}
    assert {"committee_member5.xiantao", "integrator.enshi", "province_admin.hubei"} <= ids


# -- the real app ---------------------------------------------------------------------


def test_create_app_wires_auth_into_every_tenant_route(
    engine: Engine, settings: ApiSettings
) -> None:
    from loanflow.api.app import create_app

    app = create_app(settings, engine=engine)
    with TestClient(app) as client:
        schema = client.get("/openapi.json").json()
        flows = schema["components"]["securitySchemes"]["OAuth2"]["flows"]
        assert flows["password"]["tokenUrl"] == TOKEN
        assert client.get("/docs").status_code == 200

        token = login(client, "reviewer.enshi")
        reads = [
            path
            for path, operations in schema["paths"].items()
            if "get" in operations
            and path.startswith("/api/v1/tenants/{tenant}/")
            and path.count("{") == 1
        ]
        assert reads, "no tenant-scoped GET route to try"
        for path in reads:
            other = client.get(path.replace("{tenant}", "xiantao"), headers=bearer(token))
            assert other.status_code == 404, (path, other.text)
            anonymous = client.get(path.replace("{tenant}", "enshi"))
            assert anonymous.status_code == 401, path
