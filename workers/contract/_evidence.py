"""The SM2 evidence signature: one national-algorithm signature over the whole loan file.

The PDF signatures (ECDSA, because pyhanko has no SM2) prove the contract; the evidence
signature ties it to what happened around it. Its digest is, byte for byte::

    SM3( sha256(signed PDF) || recording digest 1 || … || recording digest n || trail hash )

each part the 32 raw bytes of a hex digest given in :class:`EvidenceInputs` (recordings
in the order given; every part is 32 bytes, so the split is unambiguous). The tenant's
SM2 key (the vault's) signs those 32 digest bytes; the signature is stored with the
document as vault evidence, and anyone holding the inputs can recompute and check it.
"""

from __future__ import annotations

from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from loanflow.workers.contract._digests import sm3

__all__ = [
    "EvidenceCheck",
    "EvidenceInputs",
    "EvidenceKeys",
    "EvidenceSignature",
    "check_evidence",
    "evidence_digest",
    "sign_evidence",
]

Digest32 = Annotated[
    str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$", to_lower=True, strip_whitespace=True)
]


class EvidenceKeys(Protocol):
    """The tenant's SM2 key pair, e.g. the vault's keys."""

    def sign(self, tenant: str, data: bytes) -> tuple[str, str]:
        """``(key_id, signature as hex)`` of ``data``."""
        ...

    def verify(self, tenant: str, data: bytes, key_id: str, signature: str) -> bool:
        """Whether ``signature`` (hex) by key ``key_id`` is valid for ``data``; never raises."""
        ...


class EvidenceInputs(BaseModel):
    model_config = ConfigDict(frozen=True)

    pdf_sha256: Digest32 = Field(description="SHA-256 of the signed PDF.")
    recording_digests: list[Digest32] = Field(
        default_factory=list, max_length=100, description="SM3 of each recording, in order."
    )
    decision_trail_hash: Digest32 = Field(
        description="Hash closing the instance's decision trail (the audit chain head)."
    )


class EvidenceSignature(BaseModel):
    model_config = ConfigDict(frozen=True)

    algorithm: Literal["SM2-SM3"] = "SM2-SM3"
    key_id: str = Field(min_length=1, max_length=128)
    signature: str = Field(pattern=r"^[0-9a-fA-F]+$", max_length=512)
    digest: Digest32
    inputs: EvidenceInputs


class EvidenceCheck(BaseModel):
    ok: bool
    key_id: str
    pdf_matches: bool | None = Field(
        description="Whether inputs.pdf_sha256 is the checked PDF's (None: no PDF given)."
    )
    digest_matches: bool
    signature_valid: bool
    reasons: list[str]


def evidence_digest(inputs: EvidenceInputs) -> bytes:
    parts = [inputs.pdf_sha256, *inputs.recording_digests, inputs.decision_trail_hash]
    return sm3(b"".join(bytes.fromhex(part) for part in parts))


def sign_evidence(keys: EvidenceKeys, tenant: str, inputs: EvidenceInputs) -> EvidenceSignature:
    digest = evidence_digest(inputs)
    key_id, signature = keys.sign(tenant, digest)
    return EvidenceSignature(key_id=key_id, signature=signature, digest=digest.hex(), inputs=inputs)


def check_evidence(
    keys: EvidenceKeys, tenant: str, evidence: EvidenceSignature, *, pdf_sha256: str | None
) -> EvidenceCheck:
    """Recompute the digest from the inputs and check the SM2 signature over it."""
    reasons: list[str] = []
    digest = evidence_digest(evidence.inputs)
    digest_matches = digest.hex() == evidence.digest
    if not digest_matches:
        reasons.append("the evidence digest does not match its inputs")
    pdf_matches = None
    if pdf_sha256 is not None:
        pdf_matches = pdf_sha256.lower() == evidence.inputs.pdf_sha256
        if not pdf_matches:
            reasons.append("the evidence was signed over another PDF")
    signature_valid = keys.verify(tenant, digest, evidence.key_id, evidence.signature)
    if not signature_valid:
        reasons.append(f"the SM2 signature by key {evidence.key_id} does not verify")
    return EvidenceCheck(
        ok=not reasons,
        key_id=evidence.key_id,
        pdf_matches=pdf_matches,
        digest_matches=digest_matches,
        signature_valid=signature_valid,
        reasons=reasons,
    )
