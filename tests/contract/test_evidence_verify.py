"""``loanflow verify INSTANCE``: audit chain, documents, signatures and SM2 evidence of a loan."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from factories import diagram
from pydantic import SecretStr
from sqlalchemy import update
from typer.testing import CliRunner

from loanflow.engine import Engine, ManualClock
from loanflow.engine.cli import app
from loanflow.engine.store.models import audit_table
from loanflow.workers.contract import (
    CertificateStore,
    ContractRequest,
    ContractService,
    ContractSettings,
    VaultEvidenceKeys,
    contract_workers,
)
from loanflow.workers.evidence import tenant_trust_roots, verify_instance
from loanflow.workers.registry import WorkerRegistry
from loanflow.workers.sdk import run_worker
from loanflow.workers.vault import Vault, VaultSettings

MASTER = "contract-test-master-key-0123456789abcdef"


def _signed_loan(
    engine: Engine,
    sealer: Any,
    clock: ManualClock,
    tmp_path: Path,
    make_request: Callable[..., ContractRequest],
) -> tuple[Vault, str, str]:
    engine.deploy(diagram("messages.bpmn"), tenant="enshi")
    instance = engine.start("enshi", "signing", business_key="LOAN-EV-1")
    vault = Vault(engine, VaultSettings(master_key=SecretStr(MASTER), local_dir=tmp_path / "vault"))
    service = ContractService(
        CertificateStore(engine.db, sealer, clock),
        storage=vault,
        evidence_keys=VaultEvidenceKeys(vault),
        clock=clock,
        settings=ContractSettings(),
    )
    registry = WorkerRegistry(contract_workers(service))
    request = json.loads(make_request().model_dump_json())
    rendered = run_worker(registry.get("contract.render"), {**request, "instance_id": instance.id})
    signed = run_worker(
        registry.get("contract.sign"),
        {
            "tenant": "enshi",
            "contract_number": "HT-2026-0001",
            "customer": {"name": "张三", "id_number": "422801199001011234"},
            "lender_name": "湖北恩施农村商业银行股份有限公司",
            "signing_city": "恩施市",
            "document_id": rendered["document_id"],
            "expected_sha256": rendered["sha256"],
            "instance_id": instance.id,
            "evidence": {"recording_digests": ["01" * 32], "decision_trail_hash": "02" * 32},
        },
    )
    vault.store(
        "enshi",
        b"recording bytes" * 1000,
        kind="recording",
        content_type="video/mp4",
        instance_id=instance.id,
    )
    return vault, instance.id, signed["document_id"]


def test_a_signed_loan_verifies_and_each_kind_of_tampering_is_found(
    engine: Engine,
    sealer: Any,
    clock: ManualClock,
    tmp_path: Path,
    make_request: Callable[..., ContractRequest],
) -> None:
    vault, instance_id, signed_id = _signed_loan(engine, sealer, clock, tmp_path, make_request)
    roots = tenant_trust_roots(engine, "enshi")
    report = verify_instance(engine, vault, "enshi", instance_id, trust_roots=roots)
    assert report.ok, [str(f) for f in report.findings if not f.ok]
    kinds = [f.what for f in report.findings]
    assert kinds.count("document") == 3  # draft, signed contract, recording
    assert kinds.count("signature") == 2 and kinds.count("evidence") == 1

    blob = next((tmp_path / "vault").rglob(f"*{signed_id}*"), None) or next(
        p for p in (tmp_path / "vault").rglob("*") if p.is_file() and p.stat().st_size > 10_000
    )
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))
    broken = verify_instance(engine, vault, "enshi", instance_id, trust_roots=roots)
    assert not broken.ok and broken.first_failure is not None
    assert broken.first_failure.what in {"audit", "document"}

    with engine.db.begin() as conn:
        conn.execute(
            update(audit_table)
            .where(audit_table.c.stream == instance_id, audit_table.c.seq == 1)
            .values(actor="mallory")
        )
    again = verify_instance(engine, vault, "enshi", instance_id, trust_roots=roots)
    assert again.findings[0].what == "audit" and not again.findings[0].ok


def test_the_cli_exits_non_zero_on_failure(
    engine: Engine,
    sealer: Any,
    clock: ManualClock,
    tmp_path: Path,
    db_url: str,
    make_request: Callable[..., ContractRequest],
    monkeypatch: Any,
) -> None:
    _vault, instance_id, _ = _signed_loan(engine, sealer, clock, tmp_path, make_request)
    monkeypatch.setenv("LOANFLOW_VAULT_MASTER_KEY", MASTER)
    monkeypatch.setenv("LOANFLOW_VAULT_LOCAL_DIR", str(tmp_path / "vault"))
    good = CliRunner().invoke(
        app, ["--database-url", db_url, "verify", instance_id, "--tenant", "enshi"]
    )
    assert good.exit_code == 0, good.output
    assert "evidence verified" in good.stdout and "[ok  ] signature" in good.stdout
    with engine.db.begin() as conn:
        conn.execute(
            update(audit_table)
            .where(audit_table.c.stream == instance_id, audit_table.c.seq == 1)
            .values(kind="forged")
        )
    bad = CliRunner().invoke(
        app, ["--database-url", db_url, "verify", instance_id, "--tenant", "enshi", "--json"]
    )
    assert bad.exit_code == 1
    assert json.loads(bad.stdout[: bad.stdout.rindex("}") + 1])["ok"] is False
    assert "first failure" in bad.stderr


def test_keys_commands_create_the_ca_and_sm2_keys(db_url: str, monkeypatch: Any) -> None:
    monkeypatch.setenv("LOANFLOW_VAULT_MASTER_KEY", MASTER)
    runner = CliRunner()
    base = ["--database-url", db_url, "keys"]
    first = runner.invoke(app, [*base, "ca", "--tenant", "enshi", "--organization", "恩施农商银行"])
    again = runner.invoke(app, [*base, "ca", "--tenant", "enshi", "--organization", "恩施农商银行"])
    assert first.exit_code == 0 and again.exit_code == 0, first.output + again.output
    assert first.stdout.split()[1] == again.stdout.split()[1]  # the same CA, not a second one
    assert runner.invoke(app, [*base, "create", "--tenant", "enshi"]).exit_code == 0
    assert runner.invoke(app, [*base, "rotate", "--tenant", "enshi"]).exit_code == 0
    listed = runner.invoke(app, [*base, "list", "--tenant", "enshi", "--json"])
    keys = json.loads(listed.stdout)
    assert [k["active"] for k in keys] == [False, True]


def test_a_diagram_renders_and_signs_through_jobs_and_the_loan_verifies(
    engine: Engine, sealer: Any, clock: ManualClock, tmp_path: Path
) -> None:
    """contract.render and contract.sign as service tasks of a BPMN process, run by the runner."""
    from loanflow.engine.runner import EmbeddedRunner

    vault = Vault(engine, VaultSettings(master_key=SecretStr(MASTER), local_dir=tmp_path / "v"))
    service = ContractService(
        CertificateStore(engine.db, vault.keys.sealer("certificates"), clock),
        storage=vault,
        evidence_keys=VaultEvidenceKeys(vault),
        clock=clock,
        settings=ContractSettings(),
    )
    engine.workers = WorkerRegistry([*engine.workers, *contract_workers(service)])
    engine.deploy(diagram("contract_flow.bpmn"), tenant="enshi")
    started = engine.start(
        "enshi",
        "contract_flow",
        variables={
            "contract_number": "HT-2026-0042",
            "lender": {
                "name": "湖北恩施农村商业银行股份有限公司",
                "address": "湖北省恩施市施州大道1号",
            },
            "borrower": {
                "name": "王五",
                "id_number": "422801199001011234",
                "address": "湖北省恩施市",
            },
            "amount": 80000,
            "annual_rate": 0.0435,
            "months": 12,
        },
    )
    runner = EmbeddedRunner(engine)
    for _ in range(5):
        if not runner.run_once():
            break
    info = engine.get_instance("enshi", started.id)
    assert info.state == "completed", engine.incidents("enshi")
    assert info.variables is not None and info.variables["signed"]["document_id"]
    report = verify_instance(
        engine, vault, "enshi", started.id, trust_roots=tenant_trust_roots(engine, "enshi")
    )
    assert report.ok, [str(f) for f in report.findings if not f.ok]
    assert [f.what for f in report.findings].count("signature") == 2
