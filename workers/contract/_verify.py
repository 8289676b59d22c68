"""Offline verification of a signed contract: every signature, and what came after it.

pyhanko answers three separate questions per signature: ``intact`` (the signed bytes
hash to the signed digest), ``valid`` (the signature over that digest verifies) and
``trusted`` (the certificate chains to a trust root). None of them looks at what was
appended *after* the signature: an incremental update that draws new text on a page
leaves every earlier signature intact and valid. That is the difference analysis
(``coverage``, ``modification_level``, ``docmdp_ok``), which pyhanko folds into
``bottom_line`` — but ``bottom_line`` still passes when the analysis could not run. A
signature is accepted here only if all of these hold:

- intact, valid, trusted, and its timestamp (if any) valid and trusted;
- it covers the whole file, or its whole revision with the later changes analysed and
  found to be no more than signing other fields (``modification_level`` at most
  FORM_FILLING, ``docmdp_ok``);
- pyhanko's ``bottom_line``.

No network: revocation information is not fetched (the demo CA publishes none; a bank's
CA with CRLs would need them embedded at signing, PAdES B-LT).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cryptography import x509
from pydantic import BaseModel, Field
from pyhanko.keys.internal import translate_pyca_cryptography_cert_to_asn1
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import (
    EmbeddedPdfSignature,
    PdfSignatureStatus,
    SignatureCoverageLevel,
    validate_pdf_signature,
)
from pyhanko_certvalidator import ValidationContext

from loanflow.workers.contract._digests import sha256_hex

__all__ = ["PdfVerification", "SignatureReport", "verify_pdf"]

log = logging.getLogger(__name__)

_ACCEPTED_LEVELS = (
    ModificationLevel.NONE,
    ModificationLevel.LTA_UPDATES,
    ModificationLevel.FORM_FILLING,
)
_ACCEPTED_COVERAGE = (SignatureCoverageLevel.ENTIRE_FILE, SignatureCoverageLevel.ENTIRE_REVISION)


class SignatureReport(BaseModel):
    field: str
    signer: str | None = Field(description="Common name of the signer's certificate.")
    signer_subject: str | None
    signed_at: datetime | None = Field(description="The time the signer claims.")
    timestamp: datetime | None = Field(description="The TSA's time, when there is a token.")
    intact: bool
    valid: bool
    trusted: bool
    coverage: str | None
    modification_level: str | None
    docmdp_ok: bool | None
    bottom_line: bool
    ok: bool
    reasons: list[str]


class PdfVerification(BaseModel):
    ok: bool
    sha256: str
    signatures: list[SignatureReport]
    reasons: list[str]


def _context(roots: Sequence[x509.Certificate], moment: datetime | None) -> ValidationContext:
    return ValidationContext(
        trust_roots=[translate_pyca_cryptography_cert_to_asn1(c) for c in roots],
        allow_fetching=False,
        moment=moment,
    )


def _judge(status: PdfSignatureStatus) -> list[str]:
    reasons: list[str] = []
    if not status.intact:
        reasons.append("the signed bytes were changed after signing")
    if not status.valid:
        reasons.append("the signature value does not verify")
    if not status.trusted:
        reasons.append("the signer's certificate does not chain to a trusted root of the tenant")
    ts = status.timestamp_validity
    if ts is not None and not (ts.intact and ts.valid and ts.trusted):
        reasons.append("the signature's timestamp is not valid or not from a trusted TSA")
    if status.coverage not in _ACCEPTED_COVERAGE:
        reasons.append(f"the signature does not cover its revision ({status.coverage})")
    level = status.modification_level
    if level is None:
        reasons.append("changes made after the signature could not be analysed")
    elif level not in _ACCEPTED_LEVELS:
        reasons.append(f"the file was modified after this signature ({level.name})")
    if status.docmdp_ok is not True and level is not None and level in _ACCEPTED_LEVELS:
        reasons.append("the changes after this signature break its modification policy")
    if not status.bottom_line and not reasons:
        reasons.append("pyhanko judges the signature invalid")
    return reasons


def _common_name(cert: Any) -> str | None:
    if cert is None:
        return None
    value = cert.subject.native.get("common_name")
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value is None else str(value)


def _report(signature: EmbeddedPdfSignature, status: PdfSignatureStatus) -> SignatureReport:
    cert = status.signing_cert
    reasons = _judge(status)
    ts = status.timestamp_validity
    return SignatureReport(
        field=str(signature.field_name),
        signer=_common_name(cert),
        signer_subject=cert.subject.human_friendly if cert is not None else None,
        signed_at=status.signer_reported_dt,
        timestamp=ts.timestamp if ts is not None else None,
        intact=status.intact,
        valid=status.valid,
        trusted=status.trusted,
        coverage=status.coverage.name if status.coverage is not None else None,
        modification_level=(
            status.modification_level.name if status.modification_level is not None else None
        ),
        docmdp_ok=status.docmdp_ok,
        bottom_line=status.bottom_line,
        ok=not reasons,
        reasons=reasons,
    )


def _broken(field: str, reason: str) -> SignatureReport:
    return SignatureReport(
        field=field,
        signer=None,
        signer_subject=None,
        signed_at=None,
        timestamp=None,
        intact=False,
        valid=False,
        trusted=False,
        coverage=None,
        modification_level=None,
        docmdp_ok=None,
        bottom_line=False,
        ok=False,
        reasons=[reason],
    )


def verify_pdf(
    pdf: bytes,
    trust_roots: Sequence[x509.Certificate],
    *,
    required_fields: Sequence[str] = ("customer", "bank_seal"),
    timestamp_roots: Sequence[x509.Certificate] = (),
    moment: datetime | None = None,
) -> PdfVerification:
    """Check every signature of ``pdf`` against ``trust_roots``; never raises on bad input.

    ``ok`` only if the PDF reads, has a signature on each of ``required_fields``, and every
    signature passes (see the module docstring). ``moment`` is the time to validate at
    (default now); ``timestamp_roots`` are trusted for timestamp tokens only.
    """
    digest = sha256_hex(pdf)
    reasons = ["the tenant has no trusted CA certificate"] if not trust_roots else []
    try:
        reader = PdfFileReader(io.BytesIO(pdf))
        embedded = list(reader.embedded_regular_signatures)
    except Exception as exc:  # noqa: BLE001 - a damaged file is a finding, not a crash
        return PdfVerification(
            ok=False, sha256=digest, signatures=[], reasons=[f"not a readable PDF: {exc}"]
        )
    signer_context = _context(trust_roots, moment)
    timestamp_context = _context([*trust_roots, *timestamp_roots], moment)
    reports: list[SignatureReport] = []
    for signature in embedded:
        name = str(signature.field_name)
        try:
            status = validate_pdf_signature(
                signature,
                signer_validation_context=signer_context,
                ts_validation_context=timestamp_context,
            )
        except Exception as exc:  # noqa: BLE001 - pyhanko raises many types on malformed input
            log.warning("signature %s could not be validated: %s", name, exc)
            reports.append(_broken(name, f"the signature could not be validated: {exc}"))
            continue
        reports.append(_report(signature, status))
    signed = {r.field for r in reports}
    if not reports:
        reasons.append("the PDF has no signatures")
    for field in required_fields:
        if field not in signed:
            reasons.append(f"signature field {field!r} is not signed")
    for report in reports:
        reasons += [f"{report.field}: {reason}" for reason in report.reasons]
    return PdfVerification(ok=not reasons, sha256=digest, signatures=reports, reasons=reasons)
