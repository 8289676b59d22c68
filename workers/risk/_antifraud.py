"""``risk.antifraud``: blacklists, repeated applications, location, ID validity and age.

Each rule yields at most one hit; a hit rejects or sends the application to review as
:class:`AntifraudRules` says, and the decision is the worst of them. Identifying values
(ID number, phone, device) are normalized and SHA-256-hashed before they reach a table
or Redis (see :mod:`loanflow.workers.risk._hashing`); no hit carries one in clear.

Repeated applications are counted per tenant and value over the last ``window_days``:
in ``antifraud_sightings`` by default, or in Redis when a client is given (one sorted set
per tenant, kind and value, application ids scored by time). Checking the same
application again records nothing new, so retries and re-runs do not count twice (a
sighting that has left the window is renewed by a re-run, in both stores alike).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from redis import Redis, RedisError
from sqlalchemy import Connection, and_, delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from loanflow.engine.errors import InvalidInput, WorkerError
from loanflow.engine.store.models import antifraud_sightings_table, risk_blacklist_table
from loanflow.workers.risk._hashing import Kind, value_hash
from loanflow.workers.risk._models import Application, Location
from loanflow.workers.sdk import worker

if TYPE_CHECKING:
    from loanflow.engine import Engine

__all__ = [
    "DEFAULT_REJECT",
    "SHARED_BLACKLIST",
    "AntifraudHit",
    "AntifraudInput",
    "AntifraudOutput",
    "AntifraudRules",
    "AntifraudService",
    "Decision",
    "RuleCode",
    "Severity",
    "antifraud_worker",
    "haversine_km",
]

log = logging.getLogger(__name__)

RuleCode = Literal[
    "BLACKLIST_ID",
    "BLACKLIST_PHONE",
    "BLACKLIST_DEVICE",
    "MULTI_APPLY_PHONE",
    "MULTI_APPLY_DEVICE",
    "MULTI_APPLY_ID",
    "GPS_FAR",
    "ID_EXPIRED",
    "AGE_OUT_OF_RANGE",
]
Severity = Literal["reject", "review"]
Decision = Literal["pass", "review", "reject"]

#: the blacklist tenant every bank of the province shares
SHARED_BLACKLIST = "*"
#: rules whose hit rejects unless the tenant says otherwise; every other hit means review
DEFAULT_REJECT: tuple[RuleCode, ...] = (
    "BLACKLIST_ID",
    "BLACKLIST_PHONE",
    "BLACKLIST_DEVICE",
    "ID_EXPIRED",
    "AGE_OUT_OF_RANGE",
)
_BLACKLIST_CODES: dict[Kind, RuleCode] = {
    "id": "BLACKLIST_ID",
    "phone": "BLACKLIST_PHONE",
    "device": "BLACKLIST_DEVICE",
}
_MULTI_CODES: dict[Kind, RuleCode] = {
    "id": "MULTI_APPLY_ID",
    "phone": "MULTI_APPLY_PHONE",
    "device": "MULTI_APPLY_DEVICE",
}
_CHINA = timezone(timedelta(hours=8), "CST")
_EARTH_RADIUS_KM = 6371.0088


class AntifraudRules(BaseModel):
    """A tenant's thresholds, mapped in from its parameters by the process."""

    model_config = ConfigDict(extra="forbid")

    window_days: int = Field(default=30, ge=1, le=366)
    max_applications_per_phone: int = Field(default=3, ge=1)
    max_applications_per_device: int = Field(default=3, ge=1)
    max_applications_per_id: int = Field(default=2, ge=1)
    max_distance_km: float = Field(default=50.0, gt=0, allow_inf_nan=False)
    min_age: int = Field(default=18, ge=0, le=150)
    max_age: int = Field(default=65, ge=0, le=150)
    reject: list[RuleCode] = Field(
        default_factory=lambda: list(DEFAULT_REJECT),
        description="Rules whose hit rejects; a hit of any other rule sends to review.",
    )
    disabled: list[RuleCode] = Field(default_factory=list, description="Rules not checked.")

    @model_validator(mode="after")
    def _ages_in_order(self) -> AntifraudRules:
        if self.min_age > self.max_age:
            raise ValueError(f"min_age {self.min_age} is above max_age {self.max_age}")
        return self

    def limit(self, kind: Kind) -> int:
        """How many distinct applications one value may have within the window."""
        return {
            "id": self.max_applications_per_id,
            "phone": self.max_applications_per_phone,
            "device": self.max_applications_per_device,
        }[kind]


class AntifraudHit(BaseModel):
    code: RuleCode
    severity: Severity
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class AntifraudInput(BaseModel):
    tenant: str = Field(min_length=1, max_length=64)
    application: Application
    rules: AntifraudRules = Field(default_factory=AntifraudRules)


class AntifraudOutput(BaseModel):
    decision: Decision
    hits: list[AntifraudHit] = Field(default_factory=list)


def haversine_km(a: Location, b: Location) -> float:
    """Great-circle distance on a spherical Earth (error under 0.5%)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = math.sin((lat2 - lat1) / 2) ** 2
    h += math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * _EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _birth_date(application: Application) -> date | None:
    """The applicant's birth date, or from digits 7-14 of the ID number (YYYYMMDD)."""
    if application.applicant.birth_date is not None:
        return application.applicant.birth_date
    digits = application.applicant.id_number[6:14]
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _hits(
    application: Application,
    rules: AntifraudRules,
    on: date,
    listed: Mapping[Kind, list[dict[str, Any]]],
    counts: Mapping[Kind, int],
) -> list[tuple[RuleCode, str, dict[str, Any]]]:
    """(code, message, details) of every rule that hit, enabled or not."""
    hits: list[tuple[RuleCode, str, dict[str, Any]]] = []
    details: dict[str, Any]
    for kind, code in _BLACKLIST_CODES.items():
        if kind in listed:
            hits.append((code, f"the {kind} is blacklisted", {"lists": listed[kind]}))
    for kind, code in _MULTI_CODES.items():
        count, limit = counts.get(kind, 0), rules.limit(kind)
        if count > limit:
            message = f"{count} applications with this {kind} within {rules.window_days} days"
            details = {"applications": count, "limit": limit, "window_days": rules.window_days}
            hits.append((code, message, details))
    person = application.applicant
    if application.gps is not None and person.home_location is not None:
        distance = haversine_km(application.gps, person.home_location)
        if distance > rules.max_distance_km:
            message = f"applied {distance:.1f} km from home"
            details = {"distance_km": round(distance, 1), "limit_km": rules.max_distance_km}
            hits.append(("GPS_FAR", message, details))
    if person.id_expiry is not None and person.id_expiry < on:
        details = {"id_expiry": person.id_expiry.isoformat(), "on": on.isoformat()}
        hits.append(("ID_EXPIRED", "the ID card has expired", details))
    born = _birth_date(application)
    age = _age(born, on) if born else None
    if age is None or not rules.min_age <= age <= rules.max_age:
        bounds = f"{rules.min_age}-{rules.max_age}"
        message = "no readable birth date" if age is None else f"age {age} outside {bounds}"
        details = {"age": age, "min_age": rules.min_age, "max_age": rules.max_age}
        hits.append(("AGE_OUT_OF_RANGE", message, details))
    return hits


class AntifraudService:
    """Blacklists and application counts for ``risk.antifraud``.

    ``redis`` (a ``redis.Redis`` client) moves the counts out of the database; its keys are
    ``{key_prefix}antifraud:{tenant}:{kind}:{sha256}`` and expire after the window.
    """

    def __init__(
        self, engine: Engine, redis: Redis | None = None, key_prefix: str = "loanflow:"
    ) -> None:
        self.engine = engine
        self.redis = redis
        self.key_prefix = key_prefix

    # -- blacklist ----------------------------------------------------------------------

    def add_to_blacklist(
        self, tenant: str, kind: Kind, value: str, reason: str, by: str | None = None
    ) -> None:
        """List ``value`` for ``tenant`` (``*``: the whole province); again updates the reason."""
        if not 0 < len(tenant) <= 64:
            raise InvalidInput("a tenant id is 1 to 64 characters", {"tenant": "length"})
        if kind not in _BLACKLIST_CODES:
            raise InvalidInput(f"unknown blacklist kind {kind!r}", {"kind": "unknown"})
        if not value.strip() or not 0 < len(reason) <= 500:
            raise InvalidInput("a value and a reason of 1 to 500 characters are needed")
        row = {
            "tenant": tenant,
            "kind": kind,
            "value": value_hash(kind, value),
            "reason": reason,
            "added_at": self.engine.clock.now(),
            "added_by": by,
        }
        table = risk_blacklist_table
        with self.engine.db.begin() as conn:
            insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            stmt = insert(table).values(row)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[table.c.tenant, table.c.kind, table.c.value],
                    set_={"reason": reason, "added_at": row["added_at"], "added_by": by},
                )
            )
        log.info("blacklisted a %s for tenant %s (by %s)", kind, tenant, by)

    def remove_from_blacklist(self, tenant: str, kind: Kind, value: str) -> bool:
        """Unlist ``value`` for ``tenant``; False if it was not listed there."""
        table = risk_blacklist_table
        with self.engine.db.begin() as conn:
            result = conn.execute(
                delete(table).where(
                    table.c.tenant == tenant,
                    table.c.kind == kind,
                    table.c.value == value_hash(kind, value),
                )
            )
        return bool(result.rowcount)

    # -- the check ----------------------------------------------------------------------

    def check(
        self, tenant: str, application: Application, rules: AntifraudRules | None = None
    ) -> AntifraudOutput:
        """Run every enabled rule and record this application's sightings."""
        rules = rules or AntifraudRules()
        person = application.applicant
        clear: dict[Kind, str | None] = {
            "id": person.id_number,
            "phone": person.phone,
            "device": application.device_id,
        }
        values = {kind: value_hash(kind, raw) for kind, raw in clear.items() if raw and raw.strip()}
        now = self.engine.clock.now()
        if self.redis is None:
            with self.engine.rt.transaction() as conn:
                listed = self._listed(conn, tenant, values)
                counts = self._count_db(conn, tenant, application.id, values, now, rules)
        else:
            with self.engine.db.connect() as conn:
                listed = self._listed(conn, tenant, values)
            counts = self._count_redis(tenant, application.id, values, now, rules)
        on = application.applied_on or now.astimezone(_CHINA).date()
        hits = _hits(application, rules, on, listed, counts)
        found = [
            AntifraudHit(
                code=code,
                severity="reject" if code in rules.reject else "review",
                message=message,
                details=details,
            )
            for code, message, details in hits
            if code not in rules.disabled
        ]
        severities = {hit.severity for hit in found}
        decision: Decision = (
            "reject" if "reject" in severities else "review" if severities else "pass"
        )
        log.info(
            "risk.antifraud for tenant %s: %s (%s)",
            tenant,
            decision,
            ", ".join(hit.code for hit in found) or "no hits",
        )
        return AntifraudOutput(decision=decision, hits=found)

    def _listed(
        self, conn: Connection, tenant: str, values: Mapping[Kind, str]
    ) -> dict[Kind, list[dict[str, Any]]]:
        if not values:
            return {}
        table = risk_blacklist_table
        rows = conn.execute(
            select(table.c.tenant, table.c.kind, table.c.reason)
            .where(
                table.c.tenant.in_([tenant, SHARED_BLACKLIST]),
                or_(*(and_(table.c.kind == k, table.c.value == v) for k, v in values.items())),
            )
            .order_by(table.c.kind, table.c.tenant)
        ).all()
        listed: dict[Kind, list[dict[str, Any]]] = {}
        for row in rows:
            scope = "province" if row.tenant == SHARED_BLACKLIST else "bank"
            listed.setdefault(row.kind, []).append({"scope": scope, "reason": row.reason})
        return listed

    def _count_db(
        self,
        conn: Connection,
        tenant: str,
        application_id: str,
        values: Mapping[Kind, str],
        now: datetime,
        rules: AntifraudRules,
    ) -> dict[Kind, int]:
        """Distinct applications per value within the window, this one included.

        A sighting older than the window is renewed, as Redis re-adds a trimmed member.
        """
        if not values:
            return {}
        table = antifraud_sightings_table
        cutoff = now - timedelta(days=rules.window_days)
        rows = [
            {"tenant": tenant, "kind": k, "value": v, "application_id": application_id}
            for k, v in values.items()
        ]
        insert = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)
        conn.execute(
            insert.values(seen_at=now).on_conflict_do_update(
                index_elements=[
                    table.c.tenant,
                    table.c.kind,
                    table.c.value,
                    table.c.application_id,
                ],
                set_={"seen_at": now},
                where=table.c.seen_at <= cutoff,
            ),
            rows,
        )
        counted = conn.execute(
            select(table.c.kind, func.count())
            .where(
                table.c.tenant == tenant,
                or_(*(and_(table.c.kind == k, table.c.value == v) for k, v in values.items())),
                table.c.seen_at > cutoff,
            )
            .group_by(table.c.kind)
        ).all()
        return {row.kind: int(row[1]) for row in counted}

    def _count_redis(
        self,
        tenant: str,
        application_id: str,
        values: Mapping[Kind, str],
        now: datetime,
        rules: AntifraudRules,
    ) -> dict[Kind, int]:
        assert self.redis is not None
        window = timedelta(days=rules.window_days)
        stamp = now.astimezone(UTC).timestamp()
        try:
            with self.redis.pipeline(transaction=True) as pipe:
                for kind, value in values.items():
                    key = f"{self.key_prefix}antifraud:{tenant}:{kind}:{value}"
                    pipe.zremrangebyscore(key, "-inf", stamp - window.total_seconds())
                    pipe.zadd(key, {application_id: stamp}, nx=True)
                    pipe.zcard(key)
                    pipe.expire(key, window)
                results = pipe.execute()
        except RedisError as exc:
            raise WorkerError(f"Redis failed while counting applications: {exc}") from exc
        return {kind: int(results[4 * i + 2]) for i, kind in enumerate(values)}


def antifraud_worker(service: AntifraudService) -> Callable[..., Any]:
    """The ``risk.antifraud`` worker, checking through ``service``."""

    @worker("risk.antifraud", retries=3, backoff=2.0)
    def antifraud(job: AntifraudInput) -> AntifraudOutput:
        """Blacklists, repeated applications, GPS distance, ID validity and age.

        ``decision`` is ``reject`` if a rejecting rule hit, ``review`` if another did,
        ``pass`` otherwise; ``hits`` say which and why, without personal data.
        """
        return service.check(job.tenant, job.application, job.rules)

    return antifraud
