"""``loanflow verify INSTANCE``: the whole evidence of one loan, checked offline."""

from __future__ import annotations

from typing import Annotated

import typer

from loanflow.engine.cli._common import _dumps, _fail, _guard, _out, _session, _settings


@_guard
def verify(
    ctx: typer.Context,
    instance: Annotated[str, typer.Argument(help="the process instance id")],
    tenant: Annotated[str, typer.Option("--tenant", "-t", help="the tenant (county bank) id")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON for machines")] = False,
) -> None:
    """Audit hash chain, every document's SM3 digest and tags, every PDF signature and every SM2
    evidence signature of INSTANCE; exits 1 when anything fails."""
    from loanflow.workers.evidence import tenant_trust_roots, verify_instance
    from loanflow.workers.vault import Vault
    from loanflow.workers.vault.cli import _vault_settings

    settings = _settings(ctx)
    with _session(settings) as engine:
        vault = Vault(engine, _vault_settings())
        report = verify_instance(
            engine, vault, tenant, instance, trust_roots=tenant_trust_roots(engine, tenant)
        )
    out = _out()
    if as_json:
        out.print(_dumps(report.as_dict()), soft_wrap=True)
    else:
        for finding in report.findings:
            out.print(str(finding), soft_wrap=True)
        out.print("evidence verified" if report.ok else "EVIDENCE DOES NOT VERIFY")
    if not report.ok:
        failure = report.first_failure
        _fail(f"first failure: {failure}", 1)
