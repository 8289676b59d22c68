"""The contract workers through the SDK, with inline PDFs, a document store, and the vault."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from loanflow.engine import BusinessError, Engine, ManualClock, WorkerError
from loanflow.workers import WorkerRegistry, run_worker
from loanflow.workers.contract import (
    CertificateStore,
    ContractRequest,
    ContractService,
    ContractSettings,
    VaultEvidenceKeys,
    contract_workers,
)

LENDER = "湖北恩施农村商业银行股份有限公司"


def _registry(service: ContractService) -> WorkerRegistry:
    return WorkerRegistry(contract_workers(service))


def _job(request: ContractRequest) -> dict[str, Any]:
    """The request as the engine hands it over: JSON data."""
    return json.loads(request.model_dump_json())


def _sign_job(**values: Any) -> dict[str, Any]:
    job: dict[str, Any] = {
        "tenant": "enshi",
        "contract_number": "HT-2026-0001",
        "customer": {"name": "张三", "id_number": "422801199001011234"},
        "lender_name": LENDER,
        "signing_city": "恩施市",
    }
    job.update(values)
    return job


def test_the_three_topics(service: ContractService) -> None:
    registry = _registry(service)
    assert registry.topics() == ["contract.render", "contract.sign", "contract.verify"]
    for definition in registry:
        assert definition.description
        assert definition.input_schema()["type"] == "object"


def test_render_sign_verify_inline(
    service: ContractService, make_request: Callable[..., ContractRequest]
) -> None:
    registry = _registry(service)
    run = lambda topic, job: run_worker(registry.get(topic), job)  # noqa: E731

    rendered = run("contract.render", _job(make_request()))
    assert rendered["pages"] == 3 and rendered["document_id"] is None
    assert rendered["template_id"] == "personal_loan"
    pdf = base64.b64decode(rendered["pdf_base64"])
    assert len(pdf) == rendered["size"]

    signed = run(
        "contract.sign",
        _sign_job(
            pdf_base64=rendered["pdf_base64"],
            expected_sha256=rendered["sha256"],
            evidence={"recording_digests": ["ab" * 32], "decision_trail_hash": "cd" * 32},
        ),
    )
    assert [s["field"] for s in signed["signatures"]] == ["customer", "bank_seal"]
    assert signed["evidence"]["inputs"]["pdf_sha256"] == signed["sha256"]

    verified = run(
        "contract.verify",
        {"tenant": "enshi", "pdf_base64": signed["pdf_base64"], "evidence": signed["evidence"]},
    )
    assert verified["ok"], verified["reasons"]
    assert verified["evidence"]["ok"]


def test_contract_errors_are_not_retried(
    service: ContractService, make_request: Callable[..., ContractRequest]
) -> None:
    registry = _registry(service)
    rendered = run_worker(registry.get("contract.render"), _job(make_request()))
    with pytest.raises(WorkerError, match="not the one expected") as caught:
        run_worker(
            registry.get("contract.sign"),
            _sign_job(pdf_base64=rendered["pdf_base64"], expected_sha256="0" * 64),
        )
    assert caught.value.retryable is False
    with pytest.raises(WorkerError, match="invalid input") as bad:
        run_worker(registry.get("contract.sign"), _sign_job(pdf_base64=None))
    assert bad.value.retryable is False


def test_strict_verify_throws_the_bpmn_error(
    service: ContractService, make_request: Callable[..., ContractRequest]
) -> None:
    registry = _registry(service)
    rendered = run_worker(registry.get("contract.render"), _job(make_request()))
    with pytest.raises(BusinessError) as caught:
        run_worker(
            registry.get("contract.verify"),
            {"tenant": "enshi", "pdf_base64": rendered["pdf_base64"], "strict": True},
        )
    assert caught.value.code == "CONTRACT_INVALID"
    assert "the PDF has no signatures" in caught.value.variables["contract_problems"]


def test_with_a_document_store_jobs_carry_ids(
    certificates: CertificateStore,
    sm2_keys: Any,
    clock: ManualClock,
    make_request: Callable[..., ContractRequest],
    memory_storage: Any,
) -> None:
    service = ContractService(
        certificates, storage=memory_storage, evidence_keys=sm2_keys, clock=clock
    )
    registry = _registry(service)
    rendered = run_worker(registry.get("contract.render"), _job(make_request()))
    assert rendered["pdf_base64"] is None and rendered["document_id"]
    assert memory_storage.meta[rendered["document_id"]]["kind"] == "contract"

    signed = run_worker(
        registry.get("contract.sign"),
        _sign_job(
            document_id=rendered["document_id"],
            evidence={"recording_digests": [], "decision_trail_hash": "ef" * 32},
        ),
    )
    assert signed["document_id"] != rendered["document_id"]
    stored = memory_storage.evidence[signed["document_id"]]["sm2_evidence_signature"]
    assert stored == signed["evidence"]

    verified = run_worker(
        registry.get("contract.verify"),
        {"tenant": "enshi", "document_id": signed["document_id"], "evidence": stored},
    )
    assert verified["ok"], verified["reasons"]


def test_a_document_id_without_storage_is_refused(service: ContractService) -> None:
    with pytest.raises(WorkerError, match="no document storage"):
        run_worker(
            _registry(service).get("contract.verify"), {"tenant": "enshi", "document_id": "x"}
        )


def test_end_to_end_with_the_vault(
    engine: Engine,
    sealer: Any,
    clock: ManualClock,
    tmp_path: Path,
    make_request: Callable[..., ContractRequest],
) -> None:
    vault_module = pytest.importorskip("loanflow.workers.vault")
    vault = vault_module.Vault(
        engine,
        vault_module.VaultSettings(
            master_key=SecretStr("contract-test-master-key-0123456789abcdef"),
            local_dir=tmp_path / "vault",
        ),
    )
    service = ContractService(
        CertificateStore(engine.db, sealer, clock),
        storage=vault,
        evidence_keys=VaultEvidenceKeys(vault),
        clock=clock,
        settings=ContractSettings(),
    )
    registry = _registry(service)
    rendered = run_worker(registry.get("contract.render"), _job(make_request()))
    signed = run_worker(
        registry.get("contract.sign"),
        _sign_job(
            document_id=rendered["document_id"],
            expected_sha256=rendered["sha256"],
            evidence={"recording_digests": ["01" * 32], "decision_trail_hash": "02" * 32},
        ),
    )
    info = vault.info("enshi", signed["document_id"])
    assert (info.sm3, info.kind) == (signed["sm3"], "contract_signed")
    assert info.evidence["sm2_evidence_signature"] == signed["evidence"]
    assert vault.verify("enshi", signed["document_id"]).ok
    verified = run_worker(
        registry.get("contract.verify"),
        {"tenant": "enshi", "document_id": signed["document_id"], "evidence": signed["evidence"]},
    )
    assert verified["ok"], verified["reasons"]
    assert verified["evidence"]["key_id"] == vault.keys.active("enshi").id

    tampered = dict(signed["evidence"], signature="00" + signed["evidence"]["signature"][2:])
    again = run_worker(
        registry.get("contract.verify"),
        {"tenant": "enshi", "document_id": signed["document_id"], "evidence": tampered},
    )
    assert not again["ok"] and not again["evidence"]["signature_valid"]
