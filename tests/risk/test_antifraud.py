"""risk.antifraud: every rule hit and not hit, its boundaries, counting, blacklists."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import ValidationError
from redis import Redis
from sqlalchemy import select

from loanflow.engine import Engine, ManualClock
from loanflow.engine.errors import InvalidInput, WorkerError
from loanflow.engine.store.models import antifraud_sightings_table, risk_blacklist_table
from loanflow.workers.risk._antifraud import (
    AntifraudOutput,
    AntifraudRules,
    AntifraudService,
    antifraud_worker,
    haversine_km,
)
from loanflow.workers.risk._hashing import normalize_phone, value_hash
from loanflow.workers.risk._models import Application, Location
from loanflow.workers.sdk import definition_of, run_worker

TENANT = "enshi"
OTHER = "xianfeng"
ID = "42280219850314002x"  # born 1985-03-14
A_ID, B_ID = "110105198001010029", "110105198202020021"
PHONE = "13800138000"
DEVICE = "A1B2C3D4-E5F6"
HOME = {"lat": 30.2722, "lon": 109.4882}  # Enshi
KM_PER_DEGREE = 6371.0088 * 3.141592653589793 / 180


def application(app_id: str = "APP-1", **overrides: Any) -> Application:
    applicant = {
        "name": "张三",
        "id_number": ID,
        "phone": PHONE,
        "home_location": HOME,
        **overrides.pop("applicant", {}),
    }
    data = {
        "id": app_id,
        "amount": 50_000,
        "applied_on": "2026-01-05",
        "device_id": DEVICE,
        "gps": HOME,
        "applicant": applicant,
    }
    return Application.model_validate({**data, **overrides})


def codes(result: AntifraudOutput) -> list[str]:
    return [hit.code for hit in result.hits]


@pytest.fixture
def service(engine: Engine) -> AntifraudService:
    return AntifraudService(engine)


@pytest.fixture(params=["database", "redis"])
def counting(request: pytest.FixtureRequest, engine: Engine) -> Iterator[AntifraudService]:
    """The service counting in the database, then in Redis."""
    if request.param == "database":
        yield AntifraudService(engine)
        return
    client: Redis = request.getfixturevalue("redis_client")
    yield AntifraudService(engine, client, key_prefix=request.getfixturevalue("redis_prefix"))


def test_a_clean_application_passes(service: AntifraudService) -> None:
    result = service.check(TENANT, application())
    assert result == AntifraudOutput(decision="pass", hits=[])


def test_rules_validation() -> None:
    rules = AntifraudRules()
    assert (rules.window_days, rules.max_applications_per_phone) == (30, 3)
    assert (rules.max_applications_per_device, rules.max_applications_per_id) == (3, 2)
    assert (rules.max_distance_km, rules.min_age, rules.max_age) == (50, 18, 65)
    with pytest.raises(ValidationError, match="above max_age"):
        AntifraudRules(min_age=70, max_age=65)
    with pytest.raises(ValidationError):
        AntifraudRules.model_validate({"window_day": 30})  # a typo in tenant parameters
    with pytest.raises(ValidationError):
        AntifraudRules.model_validate({"reject": ["NO_SUCH_RULE"]})


# -- blacklists -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "listed", "code"),
    [
        ("id", " 42280219850314002X ", "BLACKLIST_ID"),
        ("phone", "+86 138-0013-8000", "BLACKLIST_PHONE"),
        ("device", "a1b2c3d4-e5f6", "BLACKLIST_DEVICE"),
    ],
)
def test_blacklist_hits_normalized_values(
    service: AntifraudService, kind: Any, listed: str, code: str
) -> None:
    service.add_to_blacklist(TENANT, kind, listed, "冒用身份", by="officer.li")
    result = service.check(TENANT, application())
    assert result.decision == "reject"
    assert codes(result) == [code]
    assert result.hits[0].severity == "reject"
    assert result.hits[0].details == {"lists": [{"scope": "bank", "reason": "冒用身份"}]}
    assert service.check(OTHER, application()).decision == "pass"


def test_shared_blacklist_reaches_every_bank(service: AntifraudService) -> None:
    service.add_to_blacklist("*", "phone", PHONE, "电信诈骗号码", by="province")
    service.add_to_blacklist(TENANT, "phone", PHONE, "old reason")
    service.add_to_blacklist(TENANT, "phone", PHONE, "逾期失联")  # again: updates the reason
    mine = service.check(TENANT, application())
    assert codes(mine) == ["BLACKLIST_PHONE"]
    assert mine.hits[0].details["lists"] == [
        {"scope": "province", "reason": "电信诈骗号码"},
        {"scope": "bank", "reason": "逾期失联"},
    ]
    theirs = service.check(OTHER, application())
    assert theirs.hits[0].details["lists"] == [{"scope": "province", "reason": "电信诈骗号码"}]

    assert service.remove_from_blacklist(TENANT, "phone", PHONE)
    assert not service.remove_from_blacklist(TENANT, "phone", PHONE)
    assert len(service.check(TENANT, application()).hits[0].details["lists"]) == 1


def test_blacklist_stores_only_hashes(engine: Engine, service: AntifraudService) -> None:
    service.add_to_blacklist(TENANT, "id", ID, "测试", by="officer.li")
    with engine.db.connect() as conn:
        row = conn.execute(select(risk_blacklist_table)).one()
    assert row.value == value_hash("id", ID.upper()) and len(row.value) == 64
    assert ID.upper() not in json.dumps([str(v) for v in row])
    assert row.added_at == engine.clock.now() and row.added_by == "officer.li"
    with pytest.raises(InvalidInput):
        service.add_to_blacklist(TENANT, "email", "a@b.c", "x")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        service.add_to_blacklist(TENANT, "id", ID, "")


def test_missing_phone_and_device_are_not_checked(service: AntifraudService) -> None:
    service.add_to_blacklist(TENANT, "device", DEVICE, "root")
    app = application(device_id=None, applicant={"phone": None})
    assert service.check(TENANT, app).decision == "pass"


# -- repeated applications --------------------------------------------------------------


def test_multi_apply_counts_distinct_applications(counting: AntifraudService) -> None:
    rules = AntifraudRules()
    for n in (1, 2):
        assert counting.check(TENANT, application(f"APP-{n}"), rules).decision == "pass"
    third = counting.check(TENANT, application("APP-3"), rules)
    assert codes(third) == ["MULTI_APPLY_ID"]
    assert third.decision == "review"
    assert third.hits[0].details == {"applications": 3, "limit": 2, "window_days": 30}
    assert ID not in third.model_dump_json()

    # re-running the same applications counts nothing new
    for n in (1, 2, 3, 3):
        assert codes(counting.check(TENANT, application(f"APP-{n}"), rules)) == ["MULTI_APPLY_ID"]

    fourth = counting.check(TENANT, application("APP-4"), rules)
    assert codes(fourth) == ["MULTI_APPLY_ID", "MULTI_APPLY_PHONE", "MULTI_APPLY_DEVICE"]
    assert [h.details["applications"] for h in fourth.hits] == [4, 4, 4]

    # another bank has seen none of them
    assert counting.check(OTHER, application("APP-1"), rules).decision == "pass"


def test_multi_apply_per_kind_limits(counting: AntifraudService) -> None:
    rules = AntifraudRules(max_applications_per_id=10, max_applications_per_device=1)
    first = application("A", applicant={"id_number": A_ID, "phone": "13900000001"})
    second = application("B", applicant={"id_number": B_ID, "phone": "13900000002"})
    assert counting.check(TENANT, first, rules).decision == "pass"
    result = counting.check(TENANT, second, rules)
    assert codes(result) == ["MULTI_APPLY_DEVICE"]  # two people on one device


def test_multi_apply_window_expires(counting: AntifraudService, clock: ManualClock) -> None:
    rules = AntifraudRules(
        window_days=7,
        max_applications_per_id=1,
        max_applications_per_phone=99,
        max_applications_per_device=99,
    )

    def check(app_id: str, id_number: str) -> list[str]:
        app = application(app_id, applicant={"id_number": id_number})
        return codes(counting.check(TENANT, app, rules))

    assert check("A1", A_ID) == check("B1", B_ID) == []
    clock.advance(days=7, seconds=-1)
    assert check("A2", A_ID) == ["MULTI_APPLY_ID"]  # A1 is 7 days less a second old
    clock.advance(seconds=1)
    assert check("B2", B_ID) == []  # B1 is exactly 7 days old: out of the window
    clock.advance(days=30)
    assert check("B2", B_ID) == []  # a re-run long after renews its own sighting...
    assert check("B3", B_ID) == ["MULTI_APPLY_ID"]  # ...which counts again


def test_sightings_are_hashed_and_recorded_once(engine: Engine, service: AntifraudService) -> None:
    for _ in range(3):
        service.check(TENANT, application("APP-1"))
    with engine.db.connect() as conn:
        rows = conn.execute(select(antifraud_sightings_table)).all()
    assert sorted(r.kind for r in rows) == ["device", "id", "phone"]
    assert {r.value for r in rows} == {
        value_hash("id", ID),
        value_hash("phone", PHONE),
        value_hash("device", DEVICE),
    }
    assert all(r.application_id == "APP-1" and r.seen_at == engine.clock.now() for r in rows)


def test_redis_keys_are_prefixed_hashed_and_expire(
    engine: Engine, redis_client: Redis, redis_prefix: str
) -> None:
    service = AntifraudService(engine, redis_client, key_prefix=redis_prefix)
    service.check(TENANT, application("APP-1"), AntifraudRules(window_days=2))
    keys = sorted(k.decode() for k in redis_client.scan_iter(match=f"{redis_prefix}*"))
    hashes = [value_hash("id", ID), value_hash("phone", PHONE), value_hash("device", DEVICE)]
    assert keys == sorted(
        f"{redis_prefix}antifraud:{TENANT}:{kind}:{value}"
        for kind, value in zip(("id", "phone", "device"), hashes, strict=True)
    )
    for key in keys:
        assert 0 < redis_client.ttl(key) <= 2 * 86_400
        assert redis_client.zrange(key, 0, -1) == [b"APP-1"]
    with engine.db.connect() as conn:
        assert conn.execute(select(antifraud_sightings_table)).all() == []


def test_redis_failure_is_retryable(engine: Engine) -> None:
    dead = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    with pytest.raises(WorkerError, match="Redis") as raised:
        AntifraudService(engine, dead).check(TENANT, application())
    assert raised.value.retryable
    dead.close()


# -- location, ID card, age -------------------------------------------------------------


def test_haversine() -> None:
    beijing, shanghai = Location(lat=39.9042, lon=116.4074), Location(lat=31.2304, lon=121.4737)
    assert haversine_km(beijing, shanghai) == pytest.approx(1067.3, abs=1)
    assert haversine_km(beijing, beijing) == 0
    assert haversine_km(Location(lat=0, lon=0), Location(lat=0, lon=180)) == pytest.approx(
        20_015.1, abs=1
    )


@pytest.mark.parametrize(("km", "hit"), [(0, False), (49.9, False), (50.1, True), (300, True)])
def test_gps_far(service: AntifraudService, km: float, hit: bool) -> None:
    gps = {"lat": HOME["lat"] + km / KM_PER_DEGREE, "lon": HOME["lon"]}
    result = service.check(TENANT, application(gps=gps))
    assert codes(result) == (["GPS_FAR"] if hit else [])
    if hit:
        assert result.decision == "review"
        assert result.hits[0].details == {"distance_km": round(km, 1), "limit_km": 50.0}


def test_gps_needs_both_locations(service: AntifraudService) -> None:
    far = {"lat": 39.9, "lon": 116.4}
    assert service.check(TENANT, application(gps=None)).decision == "pass"
    app = application(gps=far, applicant={"home_location": None})
    assert service.check(TENANT, app).decision == "pass"
    rules = AntifraudRules(max_distance_km=5000)
    assert service.check(TENANT, application(gps=far), rules).decision == "pass"


@pytest.mark.parametrize(
    ("expiry", "hit"),
    [(None, False), ("2026-01-05", False), ("2026-01-04", True), ("2036-01-01", False)],
)
def test_id_expired(service: AntifraudService, expiry: str | None, hit: bool) -> None:
    result = service.check(TENANT, application(applicant={"id_expiry": expiry}))
    assert codes(result) == (["ID_EXPIRED"] if hit else [])
    if hit:
        assert result.decision == "reject"
        assert result.hits[0].details == {"id_expiry": "2026-01-04", "on": "2026-01-05"}


def test_id_expired_defaults_to_today_in_china(
    service: AntifraudService, clock: ManualClock
) -> None:
    app = application(applied_on=None, applicant={"id_expiry": "2026-01-05"})
    clock.set(datetime(2026, 1, 5, 15, 59, tzinfo=UTC))  # 23:59 in Beijing
    assert service.check(TENANT, app).decision == "pass"
    clock.set(datetime(2026, 1, 5, 16, 0, tzinfo=UTC))  # midnight in Beijing
    assert codes(service.check(TENANT, app)) == ["ID_EXPIRED"]


def id_born(born: str) -> str:
    return f"422802{born}0021"


@pytest.mark.parametrize(
    ("born", "age", "hit"),
    [
        ("20080106", 17, True),  # 18 tomorrow
        ("20080105", 18, False),  # 18 today
        ("19600106", 65, False),  # 66 tomorrow
        ("19600105", 66, True),  # 66 today
    ],
)
def test_age_from_the_id_number(service: AntifraudService, born: str, age: int, hit: bool) -> None:
    result = service.check(TENANT, application(applicant={"id_number": id_born(born)}))
    assert codes(result) == (["AGE_OUT_OF_RANGE"] if hit else [])
    if hit:
        assert result.decision == "reject"
        assert result.hits[0].details == {"age": age, "min_age": 18, "max_age": 65}


def test_age_prefers_the_birth_date_and_leap_days(service: AntifraudService) -> None:
    app = application(applicant={"id_number": id_born("20100101"), "birth_date": "1990-01-01"})
    assert service.check(TENANT, app).decision == "pass"
    leap = application(
        applied_on="2026-02-28", applicant={"birth_date": "2008-02-29", "id_number": ID}
    )
    assert codes(service.check(TENANT, leap)) == ["AGE_OUT_OF_RANGE"]  # 18 on 1 March
    later = leap.model_copy(update={"applied_on": date(2026, 3, 1)})
    assert service.check(TENANT, later).decision == "pass"
    rules = AntifraudRules(min_age=16, max_age=70)
    young = application(applicant={"id_number": id_born("20080106")})
    assert service.check(TENANT, young, rules).decision == "pass"


def test_unreadable_birth_date_is_a_hit(service: AntifraudService) -> None:
    result = service.check(TENANT, application(applicant={"id_number": id_born("19991340")}))
    assert codes(result) == ["AGE_OUT_OF_RANGE"]
    assert result.hits[0].details["age"] is None


# -- severities and the decision --------------------------------------------------------


def test_severity_and_disabled_rules(service: AntifraudService) -> None:
    far = {"lat": 31.5, "lon": 109.4882}
    app = application(gps=far, applicant={"id_expiry": "2025-12-31"})
    both = service.check(TENANT, app)
    assert [(h.code, h.severity) for h in both.hits] == [
        ("GPS_FAR", "review"),
        ("ID_EXPIRED", "reject"),
    ]
    assert both.decision == "reject"

    lenient = AntifraudRules(reject=[])
    assert service.check(TENANT, app, lenient).decision == "review"
    strict = AntifraudRules(reject=["GPS_FAR"], disabled=["ID_EXPIRED"])
    result = service.check(TENANT, app, strict)
    assert [(h.code, h.severity) for h in result.hits] == [("GPS_FAR", "reject")]
    quiet = AntifraudRules(disabled=["GPS_FAR", "ID_EXPIRED"])
    assert service.check(TENANT, app, quiet) == AntifraudOutput(decision="pass", hits=[])


def test_worker_through_run_worker(service: AntifraudService) -> None:
    defn = definition_of(antifraud_worker(service))
    assert (defn.topic, defn.retries, defn.backoff) == ("risk.antifraud", 3, 2.0)
    service.add_to_blacklist("*", "id", ID, "身份冒用")
    app = application().model_dump(mode="json")
    out = run_worker(defn, {"tenant": TENANT, "application": app})
    assert out["decision"] == "reject"
    assert out["hits"] == [
        {
            "code": "BLACKLIST_ID",
            "severity": "reject",
            "message": "the id is blacklisted",
            "details": {"lists": [{"scope": "province", "reason": "身份冒用"}]},
        }
    ]
    rules = {"disabled": ["BLACKLIST_ID"], "window_days": 10}
    out = run_worker(defn, {"tenant": TENANT, "application": app, "rules": rules})
    assert out == {"decision": "pass", "hits": []}
    with pytest.raises(WorkerError, match=r"rules\.window_days") as raised:
        run_worker(defn, {"tenant": TENANT, "application": app, "rules": {"window_days": 0}})
    assert not raised.value.retryable


def test_phone_normalization() -> None:
    assert normalize_phone("+86 138-0013-8000") == PHONE
    assert normalize_phone("0086 13800138000") == PHONE
    assert normalize_phone("8613800138000") == PHONE
    assert normalize_phone("1380013800") == "1380013800"  # not a mobile number: left as is
    assert value_hash("device", " A1B2 ") == value_hash("device", "a1b2")
