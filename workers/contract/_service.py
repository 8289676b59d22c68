"""The contract service: render, sign and verify with a tenant's templates, keys and storage.

:class:`ContractService` holds what the three workers need (certificate store, SM2
evidence keys, document storage, templates, settings, clock) and does the work; the
workers in :mod:`loanflow.workers.contract._workers` are thin wrappers around it. Without
a storage, PDFs travel inline as base64 in the job data (fine for tests and the demo; a
contract is 60–100 KB); with one (the vault), jobs carry document ids.
"""

from __future__ import annotations

import base64
import binascii
import logging
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper

from loanflow.engine.clock import Clock, SystemClock
from loanflow.engine.errors import BusinessError
from loanflow.workers.builtin.identity import mask_id_number
from loanflow.workers.contract._ca import CertificateStore
from loanflow.workers.contract._digests import sha256_hex, sm3_hex
from loanflow.workers.contract._errors import ContractError, SigningError
from loanflow.workers.contract._evidence import (
    Digest32,
    EvidenceCheck,
    EvidenceInputs,
    EvidenceKeys,
    EvidenceSignature,
    check_evidence,
    sign_evidence,
)
from loanflow.workers.contract._fonts import DEFAULT_FONT_PATH, cjk_font
from loanflow.workers.contract._render import (
    CUSTOMER_FIELD,
    SEAL_FIELD,
    ContractRequest,
    render_contract,
)
from loanflow.workers.contract._sign import sign_pdf
from loanflow.workers.contract._stamp import Stamp
from loanflow.workers.contract._storage import DocumentStorage
from loanflow.workers.contract._templates import TemplateCatalog
from loanflow.workers.contract._verify import SignatureReport, verify_pdf

__all__ = [
    "ContractService",
    "ContractSettings",
    "DocumentOutput",
    "EvidenceRequest",
    "RenderOutput",
    "SignInput",
    "SignOutput",
    "Signatory",
    "SignedField",
    "VerifyInput",
    "VerifyOutput",
]

log = logging.getLogger(__name__)

FieldName = Literal["customer", "bank_seal"]


class ContractSettings(BaseSettings):
    """Contract settings, from ``LOANFLOW_CONTRACT_*`` variables when built without arguments."""

    model_config = SettingsConfigDict(env_prefix="LOANFLOW_CONTRACT_", extra="ignore")

    font_path: Path = Field(DEFAULT_FONT_PATH, description="A TrueType CJK font (or .ttc).")
    font_subfont_index: int = Field(0, ge=0, description="Which font of a .ttc collection.")
    tsa_url: str | None = Field(None, description="RFC 3161 timestamp authority; none: no token.")
    tsa_timeout: float = Field(10.0, gt=0, description="Seconds to wait for the TSA.")
    tsa_username: str | None = None
    tsa_password: SecretStr | None = None
    tsa_trust_roots: list[Path] = Field(
        default_factory=list, description="PEM files of the roots the TSA's tokens chain to."
    )
    signing_reason: str = Field("签署借款合同", max_length=100)
    seal_caption: str = Field("合同专用章", max_length=12, description="Under the seal's star.")


class DocumentOutput(BaseModel):
    """A PDF as a worker returns it: a vault document id, or inline base64 without a vault."""

    document_id: str | None = None
    pdf_base64: str | None = None
    sha256: str
    sm3: str
    size: int


class RenderOutput(DocumentOutput):
    contract_number: str
    pages: int
    template_id: str
    template_version: int


class Signatory(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    id_number: str = Field(min_length=1, max_length=64, repr=False)


class EvidenceRequest(BaseModel):
    recording_digests: list[Digest32] = Field(default_factory=list, max_length=100)
    decision_trail_hash: Digest32


class _PdfSource(BaseModel):
    tenant: str = Field(min_length=1, max_length=64)
    document_id: str | None = Field(default=None, max_length=64)
    pdf_base64: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> _PdfSource:
        if (self.document_id is None) == (self.pdf_base64 is None):
            raise ValueError("give exactly one of document_id and pdf_base64")
        return self


class SignInput(_PdfSource):
    """Sign ``fields`` of a rendered contract in order (the customer before the bank)."""

    contract_number: str = Field(min_length=1, max_length=64)
    fields: list[FieldName] = Field(default=[CUSTOMER_FIELD, SEAL_FIELD], min_length=1)
    customer: Signatory | None = Field(default=None, description="Needed to sign 'customer'.")
    lender_name: str = Field(min_length=1, max_length=64, description="The bank's full name.")
    signing_city: str | None = Field(default=None, max_length=50)
    expected_sha256: Digest32 | None = Field(
        default=None,
        description="Refuse to sign unless the PDF is exactly this one (what the customer saw).",
    )
    evidence: EvidenceRequest | None = Field(
        default=None, description="Add the SM2 evidence signature over the signed PDF."
    )
    instance_id: str | None = Field(default=None, max_length=36)
    created_by: str | None = Field(default=None, max_length=128)

    @model_validator(mode="after")
    def _fields_make_sense(self) -> SignInput:
        if len(set(self.fields)) != len(self.fields):
            raise ValueError("fields: each field at most once")
        if self.fields == [SEAL_FIELD, CUSTOMER_FIELD]:
            raise ValueError("fields: the customer signs before the bank seals")
        if CUSTOMER_FIELD in self.fields and self.customer is None:
            raise ValueError("customer: needed to sign the 'customer' field")
        return self


class SignedField(BaseModel):
    field: FieldName
    signer: str
    certificate_id: str
    signed_at: datetime = Field(description="The signing time put into the signature.")


class SignOutput(DocumentOutput):
    signatures: list[SignedField]
    evidence: EvidenceSignature | None = None


class VerifyInput(_PdfSource):
    required_fields: list[str] = Field(default=[CUSTOMER_FIELD, SEAL_FIELD])
    evidence: EvidenceSignature | None = Field(
        default=None, description="The SM2 evidence signature to check against this PDF."
    )
    strict: bool = Field(
        default=False, description="Raise the BPMN error CONTRACT_INVALID instead of ok=false."
    )


class VerifyOutput(BaseModel):
    ok: bool
    sha256: str
    signatures: list[SignatureReport]
    evidence: EvidenceCheck | None = None
    reasons: list[str]


class ContractService:
    """Renders, signs and verifies contracts; see the module docstring."""

    def __init__(
        self,
        certificates: CertificateStore,
        *,
        settings: ContractSettings | None = None,
        storage: DocumentStorage | None = None,
        evidence_keys: EvidenceKeys | None = None,
        templates: TemplateCatalog | None = None,
        clock: Clock | None = None,
        timestamper: TimeStamper | None = None,
    ) -> None:
        self.certificates = certificates
        self.settings = settings or ContractSettings()
        self.storage = storage
        self.evidence_keys = evidence_keys
        self.templates = templates or TemplateCatalog()
        self.clock: Clock = clock or SystemClock()
        self.timestamper = timestamper or self._http_timestamper()
        self._tsa_roots: list[x509.Certificate] | None = None

    def _http_timestamper(self) -> TimeStamper | None:
        s = self.settings
        if not s.tsa_url:
            return None
        auth = None
        if s.tsa_username:
            password = s.tsa_password.get_secret_value() if s.tsa_password else ""
            auth = (s.tsa_username, password)
        return HTTPTimeStamper(s.tsa_url, timeout=s.tsa_timeout, auth=auth)

    def _timestamp_roots(self) -> list[x509.Certificate]:
        if self._tsa_roots is None:
            roots: list[x509.Certificate] = []
            for path in self.settings.tsa_trust_roots:
                try:
                    roots += x509.load_pem_x509_certificates(path.read_bytes())
                except (OSError, ValueError) as exc:
                    raise ContractError(f"cannot read TSA trust root {path}: {exc}") from exc
            self._tsa_roots = roots
        return self._tsa_roots

    def _font(self) -> str:
        return cjk_font(self.settings.font_path, self.settings.font_subfont_index)

    # -- documents ----------------------------------------------------------------------

    def _load(self, source: _PdfSource) -> bytes:
        if source.document_id is not None:
            if self.storage is None:
                raise ContractError("a document_id was given but no document storage is set up")
            return self.storage.read(source.tenant, source.document_id)
        try:
            return base64.b64decode(source.pdf_base64 or "", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ContractError(f"pdf_base64 is not valid base64: {exc}") from None

    def _output(
        self,
        tenant: str,
        pdf: bytes,
        *,
        kind: str,
        filename: str,
        instance_id: str | None,
        created_by: str | None,
    ) -> dict[str, Any]:
        digests = {"sha256": sha256_hex(pdf), "sm3": sm3_hex(pdf), "size": len(pdf)}
        if self.storage is None:
            return {**digests, "pdf_base64": base64.b64encode(pdf).decode("ascii")}
        stored = self.storage.store(
            tenant,
            pdf,
            kind=kind,
            content_type="application/pdf",
            filename=filename,
            instance_id=instance_id,
            created_by=created_by,
        )
        return {**digests, "document_id": stored.id}

    # -- the three operations -------------------------------------------------------------

    def render(self, job: ContractRequest) -> RenderOutput:
        template = self.templates.resolve(job.tenant, job.product)
        rendered = render_contract(
            job,
            template,
            font_path=self.settings.font_path,
            subfont_index=self.settings.font_subfont_index,
        )
        stored = self._output(
            job.tenant,
            rendered.pdf,
            kind="contract",
            filename=f"{job.contract_number}.pdf",
            instance_id=job.instance_id,
            created_by=None,
        )
        return RenderOutput(
            **stored,
            contract_number=job.contract_number,
            pages=rendered.pages,
            template_id=rendered.template_id,
            template_version=rendered.template_version,
        )

    def sign(self, job: SignInput) -> SignOutput:
        pdf = self._load(job)
        if job.expected_sha256 is not None and sha256_hex(pdf) != job.expected_sha256:
            raise SigningError(
                f"contract {job.contract_number}: the PDF is not the one expected "
                f"(sha256 {job.expected_sha256[:12]}…); refusing to sign"
            )
        if job.evidence is not None and self.evidence_keys is None:
            raise SigningError("evidence was asked for but no SM2 evidence keys are set up")
        font = self._font()
        signed: list[SignedField] = []
        for field in job.fields:
            now = self.clock.now()
            if field == CUSTOMER_FIELD:
                assert job.customer is not None  # checked by SignInput
                material = self.certificates.signer(
                    job.tenant,
                    "customer",
                    job.customer.name,
                    organization=job.lender_name,
                    holder_id=job.customer.id_number,
                )
                stamp = Stamp(
                    kind="signature",
                    name=job.customer.name,
                    caption="电子签名",
                    signed_at=now,
                    detail=f"证书序列号 {material.info.serial[:20]}",
                )
            else:
                material = self.certificates.signer(
                    job.tenant,
                    "bank_seal",
                    job.tenant,
                    organization=job.lender_name,
                    common_name=job.lender_name,
                )
                stamp = Stamp(
                    kind="seal",
                    name=job.lender_name,
                    caption=self.settings.seal_caption,
                    signed_at=now,
                )
            pdf = sign_pdf(
                pdf,
                field=field,
                material=material,
                stamp=stamp,
                font=font,
                timestamper=self.timestamper,
                location=job.signing_city,
                reason=self.settings.signing_reason,
            )
            signed.append(
                SignedField(
                    field=field,
                    signer=material.common_name,
                    certificate_id=material.info.id,
                    signed_at=now,
                )
            )
        evidence = None
        if job.evidence is not None and self.evidence_keys is not None:
            inputs = EvidenceInputs(
                pdf_sha256=sha256_hex(pdf),
                recording_digests=job.evidence.recording_digests,
                decision_trail_hash=job.evidence.decision_trail_hash,
            )
            evidence = sign_evidence(self.evidence_keys, job.tenant, inputs)
        stored = self._output(
            job.tenant,
            pdf,
            kind="contract_signed",
            filename=f"{job.contract_number}-signed.pdf",
            instance_id=job.instance_id,
            created_by=job.created_by,
        )
        if evidence is not None and self.storage is not None:
            self.storage.add_evidence(
                job.tenant,
                stored["document_id"],
                "sm2_evidence_signature",
                evidence.model_dump(mode="json"),
            )
        if job.customer is not None:
            log.info(
                "contract %s signed (%s) for customer %s",
                job.contract_number,
                ", ".join(job.fields),
                mask_id_number(job.customer.id_number),
            )
        return SignOutput(**stored, signatures=signed, evidence=evidence)

    def verify(self, job: VerifyInput) -> VerifyOutput:
        pdf = self._load(job)
        result = verify_pdf(
            pdf,
            self.certificates.trust_roots(job.tenant),
            required_fields=job.required_fields,
            timestamp_roots=self._timestamp_roots(),
            moment=self.clock.now(),
        )
        reasons = list(result.reasons)
        check = None
        if job.evidence is not None:
            if self.evidence_keys is None:
                reasons.append("evidence: no SM2 keys are set up to check it")
            else:
                check = check_evidence(
                    self.evidence_keys, job.tenant, job.evidence, pdf_sha256=result.sha256
                )
                reasons += [f"evidence: {reason}" for reason in check.reasons]
        output = VerifyOutput(
            ok=not reasons,
            sha256=result.sha256,
            signatures=result.signatures,
            evidence=check,
            reasons=reasons,
        )
        if not output.ok and job.strict:
            raise BusinessError(
                "CONTRACT_INVALID",
                f"the contract does not verify: {'; '.join(reasons[:3])}",
                variables={"contract_problems": reasons},
            )
        return output
