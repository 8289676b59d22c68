"""Demo tenants and users, created by ``create_app`` in demo mode only.

The province ``hubei`` with two county banks, ``enshi`` and ``xiantao``; in each bank a user
per role named ``{role}.{tenant}``, five committee members ``committee_member1.{tenant}`` …
``committee_member5.{tenant}`` and the client ``integrator.{tenant}``; ``province_admin.hubei``
at the province. All take ``LOANFLOW_DEMO_PASSWORD`` (default ``demo``).

Seeding hashes with cheap argon2 parameters (about 1 ms each instead of ~150 ms) so that start-up
and demo logins stay fast; the demo app does not upgrade them (the password is public anyway).
"""

from __future__ import annotations

import logging
from typing import NamedTuple

from argon2 import PasswordHasher

from loanflow.api.settings import ApiSettings
from loanflow.engine.engine import Engine
from loanflow.engine.tenancy import Directory, NewPrincipal

__all__ = [
    "COMMITTEE_SIZE",
    "COUNTY_ROLES",
    "DEMO_PROVINCE",
    "DEMO_TENANTS",
    "DEMO_USERS",
    "DemoTenant",
    "DemoUser",
    "seed_demo",
]

log = logging.getLogger(__name__)

DEMO_PROVINCE = "hubei"
#: roles that get one demo user each in every county bank
COUNTY_ROLES = (
    "loan_officer",
    "reviewer",
    "branch_approver",
    "head_approver",
    "designer",
    "tenant_admin",
    "operator",
)
COMMITTEE_SIZE = 5


class DemoTenant(NamedTuple):
    id: str
    kind: str
    names: dict[str, str]
    parent: str | None


class DemoUser(NamedTuple):
    id: str
    tenant: str
    roles: frozenset[str]

    @property
    def kind(self) -> str:
        return "client" if "integrator" in self.roles else "user"


DEMO_TENANTS: tuple[DemoTenant, ...] = (
    DemoTenant(
        DEMO_PROVINCE,
        "province",
        {"zh-CN": "湖北省农村信用社联合社", "en": "Hubei Rural Credit Union"},
        None,
    ),
    DemoTenant(
        "enshi",
        "county",
        {"zh-CN": "恩施农商银行", "en": "Enshi Rural Commercial Bank"},
        DEMO_PROVINCE,
    ),
    DemoTenant(
        "xiantao",
        "county",
        {"zh-CN": "仙桃农商银行", "en": "Xiantao Rural Commercial Bank"},
        DEMO_PROVINCE,
    ),
)

_ROLE_LABELS = {
    "loan_officer": "客户经理",
    "reviewer": "审查岗",
    "branch_approver": "支行审批人",
    "head_approver": "总行审批人",
    "committee_member": "贷审会委员",
    "designer": "流程设计员",
    "tenant_admin": "系统管理员",
    "operator": "运维人员",
    "integrator": "渠道系统",
    "province_admin": "省联社管理员",
}


def _demo_users() -> list[DemoUser]:
    users: list[DemoUser] = []
    for tenant in DEMO_TENANTS:
        if tenant.kind != "county":
            continue
        users += [
            DemoUser(f"{role}.{tenant.id}", tenant.id, frozenset({role})) for role in COUNTY_ROLES
        ]
        users += [
            DemoUser(f"committee_member{n}.{tenant.id}", tenant.id, frozenset({"committee_member"}))
            for n in range(1, COMMITTEE_SIZE + 1)
        ]
        users.append(DemoUser(f"integrator.{tenant.id}", tenant.id, frozenset({"integrator"})))
    users.append(
        DemoUser(f"province_admin.{DEMO_PROVINCE}", DEMO_PROVINCE, frozenset({"province_admin"}))
    )
    return users


#: every demo principal; ``kind`` is ``client`` for the integrators
DEMO_USERS: list[DemoUser] = _demo_users()


def _display_name(user: DemoUser) -> str:
    (role,) = user.roles
    tenant = next(t for t in DEMO_TENANTS if t.id == user.tenant)
    label = _ROLE_LABELS.get(role, role)
    if role == "committee_member":
        label += user.id.split(".", 1)[0].removeprefix("committee_member")
    return f"{label}（{tenant.names['zh-CN']}）"


def _seed_hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def seed_demo(engine: Engine, settings: ApiSettings) -> int:
    """Create the demo tenants and the demo principals that do not exist yet (idempotent).

    Existing principals are left alone, password included. Answers how many were created.
    """
    if not settings.demo:
        raise RuntimeError("demo tenants and users exist only in demo mode (LOANFLOW_DEMO=true)")
    directory = Directory(engine, hasher=_seed_hasher())
    existing_tenants = {t.id for t in directory.tenants()}
    for tenant in DEMO_TENANTS:
        if tenant.id not in existing_tenants:
            directory.add_tenant(tenant.id, tenant.kind, tenant.names, tenant.parent)
    existing = directory.principal_ids([u.id for u in DEMO_USERS])
    password = settings.demo_password.get_secret_value()
    created = directory.add_principals(
        NewPrincipal(user.id, user.tenant, user.kind, password, user.roles, _display_name(user))
        for user in DEMO_USERS
        if user.id not in existing
    )
    if created:
        log.info("created %s demo principals", len(created))
    return len(created)
