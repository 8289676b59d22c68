"""Tenant parameters: the thresholds, limits and scorecards that shared decisions read.

A provincial union publishes decision tables once; each county bank changes the numbers the
tables compare against, not the tables. A *parameter set* (today: ``risk``) is a JSON
document validated by ``forms/<name>_params.schema.json``; its effective value for a county
bank is, merged key by key (objects merge, anything else replaces):

1. the defaults in the schema's top-level ``default``;
2. the province's document (the county's ``parent`` tenant);
3. the county bank's own document.

A process that mentions ``<name>_params`` anywhere in its deployment gets the effective
document as that variable when it starts (a snapshot, like the approval chain: a change
applies to new applications, and the report shows the thresholds a loan was judged by).
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator
from sqlalchemy import Connection, delete, select
from sqlalchemy.exc import IntegrityError

from loanflow.engine.errors import Conflict, InvalidInput, NotFound
from loanflow.engine.store.models import tenant_parameters_table as params_table
from loanflow.engine.store.models import tenants_table
from loanflow.engine.store.versioned import put_versioned

if TYPE_CHECKING:
    from loanflow.engine.engine import Engine

__all__ = [
    "PARAMETER_SETS",
    "ParameterInfo",
    "Parameters",
    "deep_merge",
    "parameter_sets_read_by",
    "parameter_variable",
]

#: the parameter sets there are; each has ``forms/<name>_params.schema.json``
PARAMETER_SETS = ("risk", "deployment")
_MAX_DOCUMENT = 256 * 1024


def parameter_variable(name: str) -> str:
    """The process variable a parameter set is snapshotted into: ``risk`` → ``risk_params``."""
    return f"{name}_params"


def parameter_sets_read_by(texts: list[bytes]) -> frozenset[str]:
    """The parameter sets a deployment's files mention (by their variable name)."""
    return frozenset(
        name
        for name in PARAMETER_SETS
        if any(parameter_variable(name).encode() in t for t in texts)
    )


@functools.cache
def _schema(name: str) -> dict[str, Any]:
    text = resources.files("loanflow.forms").joinpath(f"{name}_params.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    Draft202012Validator.check_schema(schema)
    return schema


@functools.cache
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(_schema(name))


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``: nested objects merge, every other value replaces."""
    result = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


@dataclass(frozen=True)
class ParameterInfo:
    """One tenant's own document for one parameter set."""

    tenant: str
    name: str
    version: int
    document: dict[str, Any]
    updated_at: datetime
    updated_by: str | None


def _check(tenant: str, name: str) -> None:
    from loanflow.engine.tenancy import TENANT_ID_PATTERN  # tenancy imports the engine

    if not isinstance(tenant, str) or not re.match(TENANT_ID_PATTERN, tenant):
        raise InvalidInput(f"{tenant!r} is not a tenant id", {"tenant": "not a tenant id"})
    if name not in PARAMETER_SETS:
        raise NotFound(
            f"there is no parameter set {name!r} (there are: {', '.join(PARAMETER_SETS)})"
        )


class Parameters:
    """The tenants' parameter documents in the engine's store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        #: checks beyond the JSON Schema per set (e.g. the workers' own models), raising
        #: InvalidInput; registered by whoever knows them (the API registers the risk workers')
        self.validators: dict[str, Callable[[dict[str, Any]], None]] = {}

    @staticmethod
    def schema(name: str) -> dict[str, Any]:
        """The JSON Schema of a parameter set (its ``default`` is the shipped default)."""
        if name not in PARAMETER_SETS:
            raise NotFound(f"there is no parameter set {name!r}")
        return _schema(name)

    @staticmethod
    def _info(row: Any) -> ParameterInfo:
        return ParameterInfo(
            row.tenant, row.name, row.version, row.document, row.updated_at, row.updated_by
        )

    def own(self, tenant: str, name: str) -> ParameterInfo | None:
        """The tenant's own document (its overrides), or None."""
        _check(tenant, name)
        with self.engine.db.connect() as conn:
            return self._own(conn, tenant, name)

    def _own(self, conn: Connection, tenant: str, name: str) -> ParameterInfo | None:
        row = conn.execute(
            select(params_table).where(params_table.c.tenant == tenant, params_table.c.name == name)
        ).one_or_none()
        return None if row is None else self._info(row)

    def _parent(self, conn: Connection, tenant: str) -> str | None:
        parent: str | None = conn.execute(
            select(tenants_table.c.parent).where(tenants_table.c.id == tenant)
        ).scalar_one_or_none()
        return parent

    def _inherited(self, conn: Connection, tenant: str, name: str) -> dict[str, Any]:
        """Defaults and the province's document: what the tenant's own document overrides."""
        document: dict[str, Any] = copy.deepcopy(self.schema(name).get("default", {}))
        parent = self._parent(conn, tenant)
        if parent is not None:
            province = self._own(conn, parent, name)
            if province is not None:
                document = deep_merge(document, province.document)
        return document

    def effective(self, tenant: str, name: str, conn: Connection | None = None) -> dict[str, Any]:
        """What the tenant's decisions read: defaults ← province ← tenant."""
        _check(tenant, name)
        if conn is None:
            with self.engine.db.connect() as own_conn:
                return self.effective(tenant, name, own_conn)
        document = self._inherited(conn, tenant, name)
        own = self._own(conn, tenant, name)
        return deep_merge(document, own.document) if own is not None else document

    def _validate(self, name: str, document: Any, label: str) -> None:
        errors = sorted(_validator(name).iter_errors(document), key=lambda e: list(e.path))
        if errors:
            details = {
                "/" + "/".join(str(p) for p in error.path) or "/": error.message
                for error in errors[:20]
            }
            raise InvalidInput(
                f"{label}: {len(errors)} problem(s), e.g. {next(iter(details.items()))[0]}: "
                f"{errors[0].message}",
                details,
            )
        extra = self.validators.get(name)
        if extra is not None:
            try:
                extra(document)
            except InvalidInput as exc:
                raise InvalidInput(f"{label}: {exc}", exc.errors) from None

    def put(
        self, tenant: str, name: str, document: Mapping[str, Any], actor: str | None = None
    ) -> ParameterInfo:
        """Replace the tenant's own document; the version goes up by one.

        The document may set any subset of the schema; merged over what it inherits it must
        satisfy the whole schema. A province's change is refused if it would make one of its
        county banks' effective parameters invalid. Running instances keep their snapshot.
        """
        _check(tenant, name)
        if not isinstance(document, Mapping):
            raise InvalidInput("parameters must be a JSON object", {"/": "object"})
        clean = json.loads(json.dumps(document))
        if len(json.dumps(clean)) > _MAX_DOCUMENT:
            raise InvalidInput(f"parameters larger than {_MAX_DOCUMENT // 1024} KiB")
        now = self.engine.clock.now()
        try:
            with self.engine.rt.transaction() as conn:
                merged = deep_merge(self._inherited(conn, tenant, name), clean)
                self._validate(name, merged, f"{name} parameters of {tenant}")
                self._check_children(conn, tenant, name, clean)
                version, unchanged = put_versioned(
                    conn,
                    params_table,
                    {"tenant": tenant, "name": name},
                    "document",
                    clean,
                    actor=actor,
                    now=now,
                    what=f"the {name} parameters of {tenant}",
                )
                if unchanged is not None:
                    return self._info(unchanged)
        except IntegrityError as exc:
            raise Conflict(
                f"the {name} parameters of {tenant} were created meanwhile; read them again"
            ) from exc
        return ParameterInfo(tenant, name, version, clean, now, actor)

    def _check_children(
        self, conn: Connection, tenant: str, name: str, document: dict[str, Any]
    ) -> None:
        children = conn.execute(
            select(tenants_table.c.id).where(tenants_table.c.parent == tenant)
        ).scalars()
        base = deep_merge(self.schema(name).get("default", {}), document)
        for child in children:
            own = self._own(conn, child, name)
            if own is not None:
                self._validate(
                    name,
                    deep_merge(base, own.document),
                    f"this change would make the {name} parameters of {child} invalid",
                )

    def reset(self, tenant: str, name: str) -> None:
        """Drop the tenant's own document: it inherits everything again."""
        _check(tenant, name)
        with self.engine.rt.transaction() as conn:
            result = conn.execute(
                delete(params_table).where(
                    params_table.c.tenant == tenant, params_table.c.name == name
                )
            )
            if result.rowcount == 0:
                raise NotFound(f"tenant {tenant!r} has no {name} parameters of its own")

    def snapshot(
        self, conn: Connection, tenant: str, names: frozenset[str]
    ) -> dict[str, dict[str, Any]]:
        """The start variables for the parameter sets a process reads."""
        return {parameter_variable(n): self.effective(tenant, n, conn) for n in sorted(names)}
