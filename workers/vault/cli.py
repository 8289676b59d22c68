"""``loanflow keys create|rotate|list --tenant T``: the vault's per-tenant SM2 keys.

:data:`keys_app` is a Typer group for the lead to mount on the main app
(``app.add_typer(keys_app, name="keys")``). It shares the main app's ``--database-url``
option, session and error handling (:mod:`loanflow.engine.cli._common`) and reads the master
key from ``LOANFLOW_VAULT_MASTER_KEY``: rotating or creating under a different master key
than the one in production would seal keys nobody can open later.
"""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from loanflow.engine.cli._common import _dumps, _fail, _guard, _out, _session, _settings, _when
from loanflow.workers.vault._keys import KeyInfo, KeyRing
from loanflow.workers.vault.settings import VaultSettings

__all__ = ["keys_app"]

keys_app = typer.Typer(
    help="Create, rotate and list the vault's per-tenant SM2 keys.", no_args_is_help=True
)

Tenant = Annotated[str, typer.Option("--tenant", "-t", help="the tenant (county bank) id")]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON for machines")]


def _vault_settings() -> VaultSettings:
    try:
        return VaultSettings()
    except ValidationError as exc:
        problems = "; ".join(
            str(e["msg"]).removeprefix("Value error, ")
            for e in exc.errors(include_url=False, include_input=False)
        )
        _fail(f"invalid vault settings: {problems}", 2)


def _as_dict(key: KeyInfo) -> dict[str, object]:
    return {
        "id": key.id,
        "tenant": key.tenant,
        "public_key": key.public_key,
        "active": key.active,
        "created_at": key.created_at,
        "retired_at": key.retired_at,
    }


def _show(keys: list[KeyInfo], as_json: bool) -> None:
    if as_json:
        typer.echo(_dumps([_as_dict(k) for k in keys]))
        return
    if not keys:
        _out().print("no vault keys")
        return
    table = Table("id", "state", "created", "retired", "public key (SM2, 04||x||y)")
    for k in keys:
        table.add_row(
            k.id,
            "active" if k.active else "retired",
            _when(k.created_at),
            _when(k.retired_at),
            k.public_key[:18] + "…",
        )
    _out().print(table)


@keys_app.command("create")
@_guard
def create(ctx: typer.Context, tenant: Tenant, as_json: AsJson = False) -> None:
    """The tenant's first SM2 key (refused if it already has an active one)."""
    settings = _vault_settings()
    with _session(_settings(ctx)) as engine:
        key = KeyRing(engine, settings).create(tenant)
    _show([key], as_json)


@keys_app.command("rotate")
@_guard
def rotate(ctx: typer.Context, tenant: Tenant, as_json: AsJson = False) -> None:
    """A new active key; older keys are retired and still open their documents."""
    settings = _vault_settings()
    with _session(_settings(ctx)) as engine:
        key = KeyRing(engine, settings).rotate(tenant)
    _show([key], as_json)


@keys_app.command("list")
@_guard
def list_keys(ctx: typer.Context, tenant: Tenant, as_json: AsJson = False) -> None:
    """Every key of the tenant, oldest first."""
    settings = _vault_settings()
    with _session(_settings(ctx)) as engine:
        keys = KeyRing(engine, settings).list(tenant)
    _show(keys, as_json)
