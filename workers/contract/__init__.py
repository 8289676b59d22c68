"""Loan contracts: PDF rendering, PAdES signatures, offline verification, SM2 evidence.

- :func:`render_contract` / worker ``contract.render``: a contract PDF from a template per
  product and tenant (:class:`TemplateCatalog`), amounts in Chinese capitals
  (:func:`to_chinese_capitals`), repayment schedule, empty signature fields ``customer``
  and ``bank_seal``; deterministic.
- :func:`sign_pdf` / worker ``contract.sign``: PAdES signatures with a visible Chinese
  stamp, certificates from :class:`CertificateStore` (a per-tenant demo CA or the bank's
  own), optional RFC 3161 timestamps, plus the SM2 evidence signature
  (:func:`sign_evidence`).
- :func:`verify_pdf` / worker ``contract.verify``: every signature, and every change
  made after it, checked offline; :func:`check_evidence` for the SM2 signature.

:class:`ContractService` ties them to storage (the vault, or inline base64), SM2 keys
(:class:`VaultEvidenceKeys`) and settings; :func:`contract_workers` makes the workers for
a service.
"""

from loanflow.workers.contract._amounts import MAX_AMOUNT, chinese_numeral, to_chinese_capitals
from loanflow.workers.contract._ca import (
    CertificateInfo,
    CertificateStore,
    Sealer,
    SignerMaterial,
)
from loanflow.workers.contract._errors import (
    CertificateError,
    ContractError,
    RenderError,
    SigningError,
)
from loanflow.workers.contract._evidence import (
    EvidenceCheck,
    EvidenceInputs,
    EvidenceKeys,
    EvidenceSignature,
    check_evidence,
    evidence_digest,
    sign_evidence,
)
from loanflow.workers.contract._fonts import DEFAULT_FONT_PATH
from loanflow.workers.contract._render import (
    CUSTOMER_FIELD,
    SEAL_FIELD,
    Borrower,
    ContractRequest,
    Guarantor,
    Lender,
    RenderedContract,
    render_contract,
)
from loanflow.workers.contract._service import (
    ContractService,
    ContractSettings,
    DocumentOutput,
    EvidenceRequest,
    RenderOutput,
    Signatory,
    SignedField,
    SignInput,
    SignOutput,
    VerifyInput,
    VerifyOutput,
)
from loanflow.workers.contract._sign import SignatureField, sign_pdf, signature_fields
from loanflow.workers.contract._stamp import Stamp
from loanflow.workers.contract._storage import DocumentStorage, StoredDocument
from loanflow.workers.contract._templates import (
    BUILTIN_TEMPLATES,
    DEFAULT_TEMPLATE,
    PLACEHOLDERS,
    Clause,
    ContractTemplate,
    TemplateCatalog,
)
from loanflow.workers.contract._vault import VaultEvidenceKeys
from loanflow.workers.contract._verify import PdfVerification, SignatureReport, verify_pdf
from loanflow.workers.contract._workers import contract_workers

__all__ = [
    "BUILTIN_TEMPLATES",
    "CUSTOMER_FIELD",
    "DEFAULT_FONT_PATH",
    "DEFAULT_TEMPLATE",
    "MAX_AMOUNT",
    "PLACEHOLDERS",
    "SEAL_FIELD",
    "Borrower",
    "CertificateError",
    "CertificateInfo",
    "CertificateStore",
    "Clause",
    "ContractError",
    "ContractRequest",
    "ContractService",
    "ContractSettings",
    "ContractTemplate",
    "DocumentOutput",
    "DocumentStorage",
    "EvidenceCheck",
    "EvidenceInputs",
    "EvidenceKeys",
    "EvidenceRequest",
    "EvidenceSignature",
    "Guarantor",
    "Lender",
    "PdfVerification",
    "RenderError",
    "RenderOutput",
    "RenderedContract",
    "Sealer",
    "SignInput",
    "SignOutput",
    "Signatory",
    "SignatureField",
    "SignatureReport",
    "SignedField",
    "SignerMaterial",
    "SigningError",
    "Stamp",
    "StoredDocument",
    "TemplateCatalog",
    "VaultEvidenceKeys",
    "VerifyInput",
    "VerifyOutput",
    "check_evidence",
    "chinese_numeral",
    "contract_workers",
    "evidence_digest",
    "render_contract",
    "sign_evidence",
    "sign_pdf",
    "signature_fields",
    "to_chinese_capitals",
    "verify_pdf",
]
