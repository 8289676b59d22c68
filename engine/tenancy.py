"""Tenants (the provincial union and its county banks) and the principals acting in them.

A principal is a person (``user``, password) or a system (``client``, client credentials) of
exactly one tenant, with roles that hold in that tenant. A principal of a province also acts in
every county bank under it (:meth:`Directory.scope`).

Secrets are stored as argon2id hashes. The cost of verifying one is the point of argon2, so
every :meth:`Directory.authenticate` spends it, even for an unknown name (against a dummy hash),
and at most a few verifications run at once: each takes ``memory_cost`` KiB, and a burst of
logins must not take the server's memory with it.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY
from sqlalchemy import Connection, Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from loanflow.engine.engine import Engine
from loanflow.engine.errors import Conflict, InvalidInput
from loanflow.engine.store.models import principals_table, tenants_table

__all__ = [
    "PRINCIPAL_KINDS",
    "PROVINCE_ROLES",
    "ROLES",
    "TENANT_ID_PATTERN",
    "TENANT_KINDS",
    "Directory",
    "NewPrincipal",
    "PrincipalInfo",
    "TenantInfo",
    "default_hasher",
]

log = logging.getLogger(__name__)

ROLES = frozenset(
    {
        "loan_officer",
        "reviewer",
        "branch_approver",
        "head_approver",
        "committee_member",
        "designer",
        "tenant_admin",
        "operator",
        "integrator",
        "province_admin",
        "province_auditor",
    }
)
#: roles that only a principal of a province may hold; they act across its county banks
PROVINCE_ROLES = frozenset({"province_admin", "province_auditor"})
TENANT_KINDS = ("province", "county")
PRINCIPAL_KINDS = ("user", "client")
TENANT_ID_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"
_TENANT_RE = re.compile(TENANT_ID_PATTERN)
_PRINCIPAL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")
_MAX_SECRET = 1024

tenants = tenants_table
principals = principals_table


def default_hasher() -> PasswordHasher:
    """argon2id with RFC 9106's low-memory profile (t=3, 64 MiB, p=4); not configurable.

    Hashes made with other parameters are upgraded at the next successful login (see
    :class:`Directory`).
    """
    return PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY)


@dataclass(frozen=True)
class TenantInfo:
    id: str
    kind: str
    names: Mapping[str, str]
    parent: str | None
    created_at: datetime

    def name(self, language: str = "zh-CN") -> str:
        """The name in ``language``, else Chinese, else the id."""
        return self.names.get(language) or self.names.get("zh-CN") or self.id


@dataclass(frozen=True)
class PrincipalInfo:
    id: str
    tenant: str
    kind: str
    roles: frozenset[str]
    display_name: str | None


def _tenant_info(row: Row[Any]) -> TenantInfo:
    return TenantInfo(
        id=row.id,
        kind=row.kind,
        names=dict(row.names or {}),
        parent=row.parent,
        created_at=row.created_at,
    )


def _principal_info(row: Row[Any]) -> PrincipalInfo:
    return PrincipalInfo(
        id=row.id,
        tenant=row.tenant,
        kind=row.kind,
        roles=frozenset(row.roles or ()),
        display_name=row.display_name,
    )


@dataclass(frozen=True)
class NewPrincipal:
    """What :meth:`Directory.add_principals` takes for one principal."""

    id: str
    tenant: str
    kind: str
    secret: str
    roles: Collection[str]
    display_name: str | None = None


def _check_principal(item: NewPrincipal) -> frozenset[str]:
    """Check what needs no database; answer the roles as a set."""
    if not isinstance(item.id, str) or not _PRINCIPAL_RE.match(item.id):
        raise InvalidInput(
            f"{item.id!r} is not a principal id (letters, digits, '.', '_', '@', '-'; 128 at most)",
            {"id": "invalid"},
        )
    if item.kind not in PRINCIPAL_KINDS:
        raise InvalidInput(
            f"principal kind {item.kind!r} is not one of {', '.join(PRINCIPAL_KINDS)}",
            {"kind": "must be user or client"},
        )
    if isinstance(item.roles, str) or not all(isinstance(r, str) for r in item.roles):
        raise InvalidInput("roles are a collection of role names", {"roles": "not a list"})
    role_set = frozenset(item.roles)
    unknown = sorted(role_set - ROLES)
    if unknown:
        raise InvalidInput(
            f"unknown roles {', '.join(map(repr, unknown))}; known: {', '.join(sorted(ROLES))}",
            {"roles": "unknown: " + ", ".join(unknown)},
        )
    if "integrator" in role_set and item.kind != "client":
        raise InvalidInput(
            "the integrator role belongs to clients (client credentials), not users",
            {"roles": "integrator needs kind client"},
        )
    if not isinstance(item.secret, str) or not item.secret or len(item.secret) > _MAX_SECRET:
        raise InvalidInput(
            f"a secret is a non-empty string of at most {_MAX_SECRET} characters",
            {"secret": "invalid"},
        )
    if item.display_name is not None and (
        not isinstance(item.display_name, str) or len(item.display_name) > 200
    ):
        raise InvalidInput(
            "a display name is a string of at most 200 characters", {"display_name": "invalid"}
        )
    return role_set


def _check_tenant_id(value: object, field: str = "id") -> str:
    if not isinstance(value, str) or not _TENANT_RE.match(value):
        raise InvalidInput(
            f"{value!r} is not a tenant id (a lowercase letter, then letters, digits, - or _)",
            {field: "must match " + TENANT_ID_PATTERN},
        )
    return value


class Directory:
    """Tenants and principals in the engine's store. Thread-safe.

    ``hasher`` sets the argon2 parameters of new hashes; leave it to the default except to
    seed demo users cheaply. A successful login upgrades a hash made with other parameters,
    unless ``upgrade_hashes`` is off (demo mode: its cheaply seeded users have a public
    password, and upgrading each at its first login would cost ~150 ms per user).
    ``concurrency`` bounds simultaneous hash computations (each takes 64 MiB).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        hasher: PasswordHasher | None = None,
        upgrade_hashes: bool = True,
        concurrency: int | None = None,
    ) -> None:
        self._engine = engine
        self._upgrade = upgrade_hashes
        self._hasher = hasher or default_hasher()
        self._slots = threading.BoundedSemaphore(concurrency or max(2, os.cpu_count() or 2))
        self._dummy: str | None = None
        self._dummy_lock = threading.Lock()

    # -- tenants ------------------------------------------------------------------------

    def add_tenant(
        self,
        id: str,
        kind: str,
        names: Mapping[str, str],
        parent: str | None = None,
    ) -> TenantInfo:
        """Create the tenant or bring it to these values (idempotent).

        A county's parent must be a province; a province has no parent. A province keeps its
        kind while county banks or province-level principals depend on it.
        """
        _check_tenant_id(id)
        if kind not in TENANT_KINDS:
            raise InvalidInput(
                f"tenant kind {kind!r} is not one of {', '.join(TENANT_KINDS)}",
                {"kind": "must be province or county"},
            )
        if (
            not isinstance(names, Mapping)
            or not names
            or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in names.items())
        ):
            raise InvalidInput(
                "tenant names map languages to non-empty names, e.g. {'zh-CN': ..., 'en': ...}",
                {"names": "a non-empty mapping of language to name"},
            )
        if kind == "province" and parent is not None:
            raise InvalidInput("a province has no parent", {"parent": "must be empty"})
        if kind == "county":
            if parent is None:
                raise InvalidInput("a county bank needs its province", {"parent": "required"})
            _check_tenant_id(parent, "parent")
        values = {"kind": kind, "parent": parent, "names": dict(names)}

        def write(conn: Connection) -> None:
            if parent is not None:
                parent_kind = conn.execute(
                    select(tenants.c.kind).where(tenants.c.id == parent)
                ).scalar_one_or_none()
                if parent_kind != "province":
                    raise InvalidInput(
                        f"the parent of a county bank must be a province; {parent!r} is "
                        + ("not a tenant" if parent_kind is None else f"a {parent_kind}"),
                        {"parent": "must be an existing province"},
                    )
            current = conn.execute(select(tenants).where(tenants.c.id == id)).one_or_none()
            if current is None:
                conn.execute(
                    insert(tenants), {"id": id, "created_at": self._engine.clock.now(), **values}
                )
                return
            if current.kind == "province" and kind != "province":
                self._check_no_dependants(conn, id)
            if (current.kind, current.parent, current.names) != (kind, parent, values["names"]):
                conn.execute(update(tenants).where(tenants.c.id == id).values(**values))

        self._write(write)
        info = self.tenant(id)
        assert info is not None
        return info

    @staticmethod
    def _check_no_dependants(conn: Connection, id: str) -> None:
        child = conn.execute(
            select(tenants.c.id).where(tenants.c.parent == id).limit(1)
        ).scalar_one_or_none()
        if child is not None:
            raise Conflict(f"tenant {id!r} stays a province: county bank {child!r} belongs to it")
        for row in conn.execute(
            select(principals.c.id, principals.c.roles).where(principals.c.tenant == id)
        ):
            if PROVINCE_ROLES & set(row.roles or ()):
                raise Conflict(f"tenant {id!r} stays a province: {row.id!r} holds a province role")

    def tenant(self, id: str) -> TenantInfo | None:
        with self._engine.db.connect() as conn:
            row = conn.execute(select(tenants).where(tenants.c.id == id)).one_or_none()
        return None if row is None else _tenant_info(row)

    def tenants(self) -> list[TenantInfo]:
        with self._engine.db.connect() as conn:
            rows = conn.execute(select(tenants).order_by(tenants.c.id)).all()
        return [_tenant_info(row) for row in rows]

    # -- principals ---------------------------------------------------------------------

    def add_principal(
        self,
        id: str,
        tenant: str,
        kind: str,
        secret: str,
        roles: Collection[str],
        display_name: str | None = None,
    ) -> PrincipalInfo:
        """Create the principal or bring it to these values (idempotent; keeps ``active``).

        An unchanged secret keeps its hash. ``integrator`` is a role of clients only;
        ``province_*`` roles belong to principals of a province.
        """
        (info,) = self.add_principals([NewPrincipal(id, tenant, kind, secret, roles, display_name)])
        return info

    def add_principals(self, items: Iterable[NewPrincipal]) -> list[PrincipalInfo]:
        """:meth:`add_principal` for many, in one transaction (all or none)."""
        batch = list(items)
        roles = [_check_principal(item) for item in batch]
        ids = [item.id for item in batch]
        if len(set(ids)) != len(ids):
            raise InvalidInput("a principal appears twice in one batch", {"id": "duplicate"})
        if not batch:
            return []
        with self._engine.db.connect() as conn:
            tenant_kinds: dict[str, str] = {
                row.id: row.kind
                for row in conn.execute(
                    select(tenants.c.id, tenants.c.kind).where(
                        tenants.c.id.in_({item.tenant for item in batch})
                    )
                )
            }
            old_hashes: dict[str, str] = {
                row.id: row.secret_hash
                for row in conn.execute(
                    select(principals.c.id, principals.c.secret_hash).where(
                        principals.c.id.in_(ids)
                    )
                )
            }
        for item, role_set in zip(batch, roles, strict=True):
            tenant_kind = tenant_kinds.get(item.tenant)
            if tenant_kind is None:
                raise InvalidInput(f"tenant {item.tenant!r} does not exist", {"tenant": "unknown"})
            if role_set & PROVINCE_ROLES and tenant_kind != "province":
                raise InvalidInput(
                    f"{', '.join(sorted(role_set & PROVINCE_ROLES))} belong to principals of a "
                    f"province; {item.tenant!r} is a {tenant_kind}",
                    {"roles": "province roles need a province tenant"},
                )
        # Hash outside the write transaction: on SQLite it holds the database's write lock.
        rows = []
        for item, role_set in zip(batch, roles, strict=True):
            old = old_hashes.get(item.id)
            rows.append(
                {
                    "id": item.id,
                    "tenant": item.tenant,
                    "kind": item.kind,
                    "roles": sorted(role_set),
                    "display_name": item.display_name,
                    "secret_hash": old
                    if old and self._matches(old, item.secret)
                    else self._hash(item.secret),
                }
            )

        def write(conn: Connection) -> None:
            existing = set(
                conn.execute(select(principals.c.id).where(principals.c.id.in_(ids))).scalars()
            )
            now = self._engine.clock.now()
            new = [
                {**row, "active": True, "created_at": now}
                for row in rows
                if row["id"] not in existing
            ]
            if new:
                conn.execute(insert(principals), new)
            for row in rows:
                if row["id"] in existing:
                    values = {k: v for k, v in row.items() if k != "id"}
                    conn.execute(
                        update(principals).where(principals.c.id == row["id"]).values(**values)
                    )

        self._write(write)
        return [
            PrincipalInfo(item.id, item.tenant, item.kind, role_set, item.display_name)
            for item, role_set in zip(batch, roles, strict=True)
        ]

    def principal(self, id: str) -> PrincipalInfo | None:
        with self._engine.db.connect() as conn:
            row = conn.execute(select(principals).where(principals.c.id == id)).one_or_none()
        return None if row is None else _principal_info(row)

    def principal_ids(self, ids: Collection[str]) -> set[str]:
        """Which of ``ids`` exist (one query; for seeding)."""
        if not ids:
            return set()
        with self._engine.db.connect() as conn:
            return set(
                conn.execute(
                    select(principals.c.id).where(principals.c.id.in_(list(ids)))
                ).scalars()
            )

    def set_active(self, id: str, active: bool) -> None:
        """Suspend or restore a principal. Tokens already issued stay valid until they expire."""
        with self._engine.rt.transaction() as conn:
            conn.execute(update(principals).where(principals.c.id == id).values(active=active))

    def authenticate(self, id: str, secret: str, kind: str) -> PrincipalInfo | None:
        """The principal when ``secret`` is right, else None — in about the same time either way.

        Unknown, inactive and wrong-kind principals are checked against a dummy hash so the
        answer time does not tell which names exist.
        """
        row = None
        if isinstance(id, str) and 0 < len(id) <= 128:
            with self._engine.db.connect() as conn:
                row = conn.execute(select(principals).where(principals.c.id == id)).one_or_none()
        usable = row is not None and row.active and row.kind == kind
        if not isinstance(secret, str) or len(secret) > _MAX_SECRET:
            secret = ""
        if row is None or not usable:
            self._matches(self._dummy_hash(), secret)
            return None
        stored: str = row.secret_hash
        if not self._matches(stored, secret):
            return None
        if self._upgrade and self._hasher.check_needs_rehash(stored):
            self._rehash(row.id, stored, secret)
        return _principal_info(row)

    def _rehash(self, id: str, old: str, secret: str) -> None:
        new = self._hash(secret)
        with self._engine.rt.transaction() as conn:
            conn.execute(
                update(principals)
                .where(principals.c.id == id, principals.c.secret_hash == old)
                .values(secret_hash=new)
            )
        log.info("upgraded the secret hash of principal %s", id)

    # -- scope --------------------------------------------------------------------------

    def scope(self, principal: PrincipalInfo) -> frozenset[str]:
        """The tenants ``principal`` acts in: its own, plus a province's county banks."""
        with self._engine.db.connect() as conn:
            kind = conn.execute(
                select(tenants.c.kind).where(tenants.c.id == principal.tenant)
            ).scalar_one_or_none()
            if kind != "province":
                return frozenset({principal.tenant})
            children = conn.execute(
                select(tenants.c.id).where(tenants.c.parent == principal.tenant)
            ).scalars()
            return frozenset({principal.tenant, *children})

    # -- internals ----------------------------------------------------------------------

    def _write(self, write: Callable[[Connection], None]) -> None:
        """Run ``write(conn)`` in one transaction; once more if a concurrent insert won."""
        for attempt in range(2):
            try:
                with self._engine.rt.transaction() as conn:
                    write(conn)
                return
            except IntegrityError:
                if attempt:
                    raise
                log.debug("concurrent insert in the directory, trying again")

    @contextmanager
    def _slot(self) -> Iterator[None]:
        with self._slots:
            yield

    def _hash(self, secret: str) -> str:
        with self._slot():
            return self._hasher.hash(secret)

    def _matches(self, stored: str, secret: str) -> bool:
        with self._slot():
            try:
                return self._hasher.verify(stored, secret)
            except (VerificationError, InvalidHashError):
                return False

    def _dummy_hash(self) -> str:
        with self._dummy_lock:
            if self._dummy is None:
                self._dummy = self._hash(secrets.token_urlsafe(24))
            return self._dummy
