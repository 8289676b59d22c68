"""Check an instance's whole evidence: audit chain, documents, PDF signatures, SM2 evidence.

``verify_instance`` never stops at the first problem: it reports every finding, in order, and
``EvidenceReport.ok`` is true only if all hold. ``loanflow verify INSTANCE`` prints it and
exits non-zero; the API serves it as JSON.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from loanflow.engine import Engine
from loanflow.workers.contract import (
    EvidenceSignature,
    VaultEvidenceKeys,
    check_evidence,
    verify_pdf,
)
from loanflow.workers.vault import Vault, VaultError

__all__ = ["EvidenceReport", "Finding", "ReadOnlySealer", "tenant_trust_roots", "verify_instance"]


@dataclass(frozen=True)
class Finding:
    what: str  # audit | document | signature | evidence
    subject: str
    ok: bool
    detail: str

    def __str__(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        return f"[{mark}] {self.what:<9} {self.subject}: {self.detail}"


@dataclass(frozen=True)
class EvidenceReport:
    tenant: str
    instance_id: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    @property
    def first_failure(self) -> Finding | None:
        return next((f for f in self.findings if not f.ok), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "instance_id": self.instance_id,
            "ok": self.ok,
            "findings": [f.__dict__ for f in self.findings],
        }


def verify_instance(
    engine: Engine, vault: Vault, tenant: str, instance_id: str, *, trust_roots: list[Any]
) -> EvidenceReport:
    """Every check of one instance's evidence (``trust_roots``: the tenant's CA certificates)."""
    findings: list[Finding] = []
    chain = engine.verify_audit(tenant, instance_id)
    findings.append(Finding("audit", f"{chain.events} events", chain.ok, str(chain)))
    keys = VaultEvidenceKeys(vault)
    for doc in vault.documents(tenant, instance_id):
        subject = f"{doc.kind} {doc.id}"
        try:
            check = vault.verify(tenant, doc.id)
        except VaultError as exc:
            findings.append(Finding("document", subject, False, str(exc)))
            continue
        findings.append(
            Finding(
                "document",
                subject,
                check.ok,
                check.reason or f"SM3 {doc.sm3[:16]}…, {doc.size} bytes",
            )
        )
        if not check.ok:
            continue
        pdf: bytes | None = None
        if doc.content_type == "application/pdf":
            pdf = vault.read(tenant, doc.id)
            result = verify_pdf(pdf, trust_roots, required_fields=())
            for signature in result.signatures:
                findings.append(
                    Finding(
                        "signature",
                        f"{doc.id} field {signature.field}",
                        signature.ok,
                        "valid, trusted, nothing changed after it"
                        if signature.ok
                        else "; ".join(signature.reasons),
                    )
                )
            if not result.signatures and doc.kind.endswith("_signed"):
                # a draft carries no signatures; a document stored as signed must
                findings.append(Finding("signature", doc.id, False, "; ".join(result.reasons)))
        for name, value in (doc.evidence or {}).items():
            if not isinstance(value, dict) or "signature" not in value or "inputs" not in value:
                continue
            evidence = EvidenceSignature.model_validate(value)
            sha = hashlib.sha256(pdf).hexdigest() if pdf is not None else None
            outcome = check_evidence(keys, tenant, evidence, pdf_sha256=sha)
            findings.append(
                Finding(
                    "evidence",
                    f"{doc.id} {name}",
                    outcome.ok,
                    f"SM2 by key {evidence.key_id}" if outcome.ok else "; ".join(outcome.reasons),
                )
            )
    return EvidenceReport(tenant, instance_id, findings)


class ReadOnlySealer:
    """For readers of certificates (verification needs no private key)."""

    def seal(self, data: bytes) -> bytes:
        raise RuntimeError("verification does not seal keys")

    def unseal(self, data: bytes) -> bytes:
        raise RuntimeError("verification does not unseal keys")


def tenant_trust_roots(engine: Engine, tenant: str) -> list[Any]:
    """The tenant's CA certificates, as contract verification trusts them."""
    from loanflow.workers.contract import CertificateStore

    return list(CertificateStore(engine.db, ReadOnlySealer()).trust_roots(tenant))
