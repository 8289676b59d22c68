"""``loanflow keys ca``: the tenant's contract-signing CA (demo, or replaced by the bank's)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from loanflow.engine.cli._common import _fail, _guard, _out, _session, _settings


@_guard
def ca(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Option("--tenant", "-t", help="the tenant (county bank) id")],
    organization: Annotated[
        str, typer.Option("--organization", help="the bank's legal name, shown on certificates")
    ],
    import_cert: Annotated[
        Path | None, typer.Option("--import-cert", help="the bank's own CA certificate (PEM)")
    ] = None,
) -> None:
    """Create the tenant's demo signing CA (ECDSA P-256), or import the bank's own CA
    certificate; private keys are sealed under the vault's master key."""
    from loanflow.workers.contract import CertificateStore
    from loanflow.workers.vault import Vault
    from loanflow.workers.vault.cli import _vault_settings

    with _session(_settings(ctx)) as engine:
        vault = Vault(engine, _vault_settings())
        store = CertificateStore(engine.db, vault.keys.sealer("certificates"), engine.clock)
        if import_cert is not None:
            try:
                pem = import_cert.read_bytes()
            except OSError as exc:
                _fail(f"cannot read {import_cert}: {exc.strerror}", 2)
            info = store.import_ca(tenant, pem)
        else:
            info = store.ensure_ca(tenant, organization)
    _out().print(
        f"CA {info.id} for {tenant}: {info.distinguished_name}, "
        f"valid until {info.not_after:%Y-%m-%d}"
    )
