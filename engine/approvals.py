"""Approval chains as data: each tenant's ordered approval levels, validated, versioned, planned.

A county bank changes who approves what without code: the generic diagram
``processes/approval.bpmn`` reads the chain *snapshot* an instance was given at its start
(variable ``approval_chain``, see :func:`start_variables`), so a change applies to new
applications only and a running one keeps its path.

A chain is ``{"levels": [...]}`` as described by ``forms/approval_chain.schema.json``. Beyond
the schema, :func:`validate_chain` requires unique level ids, a ``when`` that compiles in the
sandbox, an ``sla`` wherever there is an ``escalation_role`` and a quorum that can be reached.
:func:`plan` picks the levels that apply to one application.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from loanflow.engine.errors import Conflict, InvalidInput, NotFound, ScriptError
from loanflow.engine.sandbox import Sandbox
from loanflow.engine.store.models import approval_chains_table
from loanflow.engine.store.versioned import put_versioned

if TYPE_CHECKING:
    from loanflow.engine.engine import Engine

__all__ = [
    "ANY_PRODUCT",
    "APPLICATION_FIELDS",
    "DEMO_CHAINS",
    "ApprovalChains",
    "ChainInfo",
    "chain_schema",
    "plan",
    "start_variables",
    "validate_chain",
]

chains_table = approval_chains_table

#: the product key of a tenant's default chain
ANY_PRODUCT = "*"
#: names a ``when`` condition may always use (None when the application does not say)
APPLICATION_FIELDS = ("amount", "product", "risk_grade", "term")

_TENANT = re.compile(r"^(\*|[a-z][a-z0-9_-]{0,62})$")
_PRODUCT = re.compile(r"^(\*|[A-Za-z0-9][A-Za-z0-9_.-]{0,63})$")


@cache
def chain_schema() -> dict[str, Any]:
    """The JSON Schema of a chain, as shipped in ``loanflow.forms``."""
    text = (
        resources.files("loanflow.forms").joinpath("approval_chain.schema.json").read_text("utf-8")
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(chain_schema())


@dataclass(frozen=True)
class ChainInfo:
    """One stored chain: ``chain`` is ``{"levels": [...]}``; ``version`` counts its changes."""

    tenant: str
    product: str
    version: int
    chain: dict[str, Any]
    updated_at: datetime
    updated_by: str | None

    @property
    def levels(self) -> list[dict[str, Any]]:
        levels: list[dict[str, Any]] = self.chain["levels"]
        return levels


def validate_chain(chain: Any, sandbox: Sandbox) -> dict[str, Any]:
    """A deep copy of ``chain`` if it is a usable chain; otherwise InvalidInput naming every
    bad field by its path (``levels/2/when``) in ``errors``."""
    errors: dict[str, str] = {}
    for error in _validator().iter_errors(chain):
        path = "/".join(str(p) for p in error.absolute_path) or "(root)"
        errors.setdefault(path, error.message)
    levels = chain.get("levels") if isinstance(chain, dict) else None
    seen: dict[str, int] = {}
    for index, level in enumerate(levels if isinstance(levels, list) else []):
        if not isinstance(level, dict):
            continue
        where = f"levels/{index}"
        level_id = level.get("id")
        if isinstance(level_id, str):
            if level_id in seen:
                errors.setdefault(
                    f"{where}/id", f"duplicate level id {level_id!r} (also levels/{seen[level_id]})"
                )
            else:
                seen[level_id] = index
        when = level.get("when")
        if isinstance(when, str) and f"{where}/when" not in errors:
            try:
                sandbox.check_expression(when)
            except ScriptError as exc:
                errors[f"{where}/when"] = f"the condition does not compile: {exc.message}"
        if "escalation_role" in level and "sla" not in level:
            errors.setdefault(f"{where}/escalation_role", "an escalation role needs an 'sla'")
        quorum = level.get("quorum")
        if isinstance(quorum, dict):
            members, approve = quorum.get("members"), quorum.get("approve")
            valid = f"{where}/quorum/members" not in errors and f"{where}/quorum" not in errors
            if (
                valid
                and isinstance(members, int)
                and isinstance(approve, int)
                and approve > members
            ):
                errors.setdefault(
                    f"{where}/quorum/approve",
                    f"a quorum of {approve} approvals cannot be reached by {members} members",
                )
    if errors:
        detail = "; ".join(f"{path}: {message}" for path, message in errors.items())
        raise InvalidInput(f"invalid approval chain: {detail}", errors)
    return {"levels": copy.deepcopy(chain["levels"])}


def _condition_context(application: Mapping[str, Any]) -> dict[str, Any]:
    context: dict[str, Any] = dict.fromkeys(APPLICATION_FIELDS)
    context.update(
        (k, v)
        for k, v in application.items()
        if isinstance(k, str) and k.isidentifier() and not k.startswith("_")
    )
    context["application"] = dict(application)
    return context


def plan(
    levels: list[dict[str, Any]], application: Mapping[str, Any], sandbox: Sandbox
) -> list[dict[str, Any]]:
    """The levels that apply to ``application``, in order: those without ``when`` or whose
    ``when`` is true. Each is a copy with its ``index`` in the plan.

    A condition that fails (an unknown name, ``None > 50000``…) raises InvalidInput naming the
    level; it never counts as false, so a broken condition cannot skip a level silently.
    """
    context = _condition_context(application)
    planned: list[dict[str, Any]] = []
    for position, level in enumerate(levels):
        when = level.get("when")
        if when:
            try:
                applies = bool(sandbox.evaluate(when, context))
            except ScriptError as exc:
                message = f"the condition {when!r} of level {level.get('id')!r} failed: {exc}"
                raise InvalidInput(message, {f"levels/{position}/when": str(exc)}) from None
            if not applies:
                continue
        planned.append({**copy.deepcopy(level), "index": len(planned)})
    return planned


def _check_keys(tenant: str, product: str) -> None:
    if not isinstance(tenant, str) or not _TENANT.match(tenant):
        raise InvalidInput(f"{tenant!r} is not a tenant id", {"tenant": "not a tenant id"})
    if not isinstance(product, str) or not _PRODUCT.match(product):
        raise InvalidInput(
            f"{product!r} is not a product key ('*' or up to 64 letters, digits, '_', '.', '-')",
            {"product": "'*' or up to 64 letters, digits, '_', '.', '-'"},
        )


class ApprovalChains:
    """The tenants' approval chains in the engine's store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @staticmethod
    def _info(row: Any) -> ChainInfo:
        return ChainInfo(
            tenant=row.tenant,
            product=row.product,
            version=row.version,
            chain=row.chain,
            updated_at=row.updated_at,
            updated_by=row.updated_by,
        )

    def get(self, tenant: str, product: str = ANY_PRODUCT) -> ChainInfo | None:
        """The chain for ``product``, else the tenant's default (``*``), else None."""
        _check_keys(tenant, product)
        wanted = [product] if product == ANY_PRODUCT else [product, ANY_PRODUCT]
        with self.engine.db.connect() as conn:
            rows = {
                r.product: r
                for r in conn.execute(
                    select(chains_table).where(
                        chains_table.c.tenant == tenant, chains_table.c.product.in_(wanted)
                    )
                )
            }
        for key in wanted:
            if key in rows:
                return self._info(rows[key])
        return None

    def chains(self, tenant: str) -> list[ChainInfo]:
        """Every chain of the tenant, by product."""
        _check_keys(tenant, ANY_PRODUCT)
        with self.engine.db.connect() as conn:
            rows = conn.execute(
                select(chains_table)
                .where(chains_table.c.tenant == tenant)
                .order_by(chains_table.c.product)
            ).all()
        return [self._info(r) for r in rows]

    def put(
        self, tenant: str, product: str, chain: Mapping[str, Any], actor: str | None = None
    ) -> ChainInfo:
        """Validate and store the chain; its version goes up by one. Running instances keep
        the snapshot they started with. The same chain again changes nothing."""
        _check_keys(tenant, product)
        clean = validate_chain(
            dict(chain) if isinstance(chain, Mapping) else chain, self.engine.sandbox
        )
        now = self.engine.clock.now()
        try:
            with self.engine.rt.transaction() as conn:
                version, unchanged = put_versioned(
                    conn,
                    chains_table,
                    {"tenant": tenant, "product": product},
                    "chain",
                    clean,
                    actor=actor,
                    now=now,
                    what=f"the approval chain of {tenant}/{product}",
                )
                if unchanged is not None:
                    return self._info(unchanged)
        except IntegrityError as exc:
            raise Conflict(
                f"the approval chain of {tenant}/{product} was created meanwhile; read it again"
            ) from exc
        return ChainInfo(tenant, product, version, clean, now, actor)

    def snapshot(self, tenant: str, product: str = ANY_PRODUCT) -> dict[str, Any] | None:
        """What an instance keeps of the chain: ``{"tenant", "product", "version", "levels"}``
        (``product`` is the chain's own key, ``*`` when the default applied)."""
        info = self.get(tenant, product)
        if info is None:
            return None
        return {
            "tenant": info.tenant,
            "product": info.product,
            "version": info.version,
            "levels": copy.deepcopy(info.levels),
        }

    def preview(
        self, tenant: str, product: str, application: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """The levels ``application`` would go through now; NotFound without a chain."""
        info = self.get(tenant, product)
        if info is None:
            raise NotFound(f"tenant {tenant!r} has no approval chain for product {product!r}")
        return plan(info.levels, application, self.engine.sandbox)


def _product_of(variables: Mapping[str, Any]) -> str:
    application = variables.get("application")
    product = application.get("product") if isinstance(application, Mapping) else None
    if product is None:
        product = variables.get("product")
    if isinstance(product, str) and _PRODUCT.match(product):
        return product
    return ANY_PRODUCT


def start_variables(
    chains: ApprovalChains, tenant: str, variables: Mapping[str, Any] | None
) -> dict[str, Any]:
    """``variables`` plus ``approval_chain``: the snapshot of the tenant's chain for the
    application's product (``application.product``, else ``product``, else ``*``).

    Unchanged when the caller passed an ``approval_chain`` or the tenant has no chain. Start
    routes call this for every process, so any process that calls the approval diagram gets
    the chain as it is at its start.
    """
    result = dict(variables or {})
    if "approval_chain" in result:
        return result
    snapshot = chains.snapshot(tenant, _product_of(result))
    if snapshot is not None:
        result["approval_chain"] = snapshot
    return result


def _name(zh: str, en: str) -> dict[str, str]:
    return {"zh-CN": zh, "en": en}


DEMO_CHAINS: dict[str, dict[str, dict[str, Any]]] = {
    "enshi": {
        ANY_PRODUCT: {
            "levels": [
                {
                    "id": "review",
                    "name": _name("审查", "Review"),
                    "role": "reviewer",
                    "sla": "P1D",
                },
                {
                    "id": "branch",
                    "name": _name("支行审批", "Branch approval"),
                    "role": "branch_approver",
                    "when": "amount > 50000",
                    "sla": "P2D",
                    "escalation_role": "tenant_admin",
                },
                {
                    "id": "head_office",
                    "name": _name("总行审批", "Head office approval"),
                    "role": "head_approver",
                    "when": "amount > 300000 or risk_grade in ('C', 'D')",
                    "sla": "P2D",
                    "escalation_role": "tenant_admin",
                },
                {
                    "id": "committee",
                    "name": _name("贷款审查委员会", "Credit committee"),
                    "role": "committee_member",
                    "when": "amount > 1000000",
                    "quorum": {"members": 5, "approve": 3},
                    "sla": "P5D",
                    "escalation_role": "tenant_admin",
                },
            ]
        }
    },
    "xiantao": {
        ANY_PRODUCT: {
            "levels": [
                {
                    "id": "review",
                    "name": _name("审查", "Review"),
                    "role": "reviewer",
                    "sla": "P1D",
                },
                {
                    "id": "head_office",
                    "name": _name("总行审批", "Head office approval"),
                    "role": "head_approver",
                    "when": "amount > 100000",
                    "sla": "P2D",
                    "escalation_role": "tenant_admin",
                },
            ]
        }
    },
}
"""The demo county banks' chains (tenant → product → chain), put by demo mode."""
