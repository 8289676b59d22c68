"""PAdES signatures on a contract's signature fields, each with a visible Chinese stamp.

Each signature is an incremental update (earlier signatures stay intact) with subfilter
``ETSI.CAdES.detached``: PAdES B-B, or B-T when a TSA is configured, whose token then
stands for the time; otherwise the signing time given by the caller (the engine's
clock) goes into the signature dictionary and the stamp. Filling a field requires it to
exist and be empty: the contract's template decides where signatures go.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import ClientError
from cryptography.hazmat.primitives import serialization
from pyhanko.keys.internal import (
    translate_pyca_cryptography_cert_to_asn1,
    translate_pyca_cryptography_key_to_asn1,
)
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError as PyhankoSigningError
from pyhanko.sign.signers.pdf_signer import PdfSigningSession
from pyhanko.sign.timestamps import TimeStamper, TimestampRequestError
from pyhanko_certvalidator.registry import SimpleCertificateStore

from loanflow.workers.contract._ca import SignerMaterial
from loanflow.workers.contract._errors import SigningError
from loanflow.workers.contract._stamp import Stamp, render_stamp, stamp_style

__all__ = ["SignatureField", "sign_pdf", "signature_fields"]

log = logging.getLogger(__name__)


def _reserve(material: SignerMaterial) -> int:
    """Hex digits to keep for the CMS container when there is no timestamp token.

    The certificates (signer and chain), the signature and the signed attributes, doubled
    for hex, with room to spare. Fixing it spares pyhanko a dummy signature per document;
    with a TSA pyhanko estimates itself (token sizes vary).
    """
    certs = sum(
        len(c.public_bytes(serialization.Encoding.DER))
        for c in (material.certificate, *material.chain)
    )
    return 2 * (certs + 4096)


@dataclass(frozen=True)
class SignatureField:
    name: str
    filled: bool
    width: float
    height: float


def _rect(field: Any) -> tuple[float, float]:
    widget = field
    if "/Rect" not in widget and "/Kids" in widget:
        widget = widget["/Kids"][0].get_object()
    try:
        x1, y1, x2, y2 = (float(v) for v in widget["/Rect"])
    except (KeyError, TypeError, ValueError):
        return 0.0, 0.0
    return abs(x2 - x1), abs(y2 - y1)


def _fields_of(writer: IncrementalPdfFileWriter) -> dict[str, SignatureField]:
    found: dict[str, SignatureField] = {}
    for name, value, ref in fields.enumerate_sig_fields(writer.prev):
        width, height = _rect(ref.get_object())
        found[str(name)] = SignatureField(str(name), bool(value), width, height)
    return found


def _writer(pdf: bytes) -> IncrementalPdfFileWriter:
    try:
        return IncrementalPdfFileWriter(io.BytesIO(pdf))
    except (PdfError, ValueError) as exc:
        raise SigningError(f"not a PDF that can be signed: {exc}") from exc


def signature_fields(pdf: bytes) -> dict[str, SignatureField]:
    """The signature fields of ``pdf`` by name."""
    return _fields_of(_writer(pdf))


class _TimedPdfSigner(signers.PdfSigner):
    """A PdfSigner whose signing time is the caller's, not the machine's."""

    def __init__(self, *args: Any, signed_at: datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._signed_at = signed_at

    def init_signing_session(
        self, pdf_out: BasePdfFileWriter, existing_fields_only: bool = False
    ) -> PdfSigningSession:
        session = super().init_signing_session(pdf_out, existing_fields_only)
        session.system_time = self._signed_at
        return session


def _pyhanko_signer(material: SignerMaterial) -> signers.SimpleSigner:
    chain = SimpleCertificateStore()  # type: ignore[no-untyped-call]  # pyhanko: no annotation
    for cert in material.chain:
        chain.register(translate_pyca_cryptography_cert_to_asn1(cert))
    return signers.SimpleSigner(
        signing_cert=translate_pyca_cryptography_cert_to_asn1(material.certificate),
        signing_key=translate_pyca_cryptography_key_to_asn1(material.private_key),
        cert_registry=chain,
    )


def sign_pdf(
    pdf: bytes,
    *,
    field: str,
    material: SignerMaterial,
    stamp: Stamp,
    font: str,
    timestamper: TimeStamper | None = None,
    location: str | None = None,
    reason: str | None = None,
) -> bytes:
    """``pdf`` with the empty signature field ``field`` signed by ``material``.

    :class:`SigningError` when the field is missing or already signed, or signing fails;
    a TSA that did not answer is ``retryable``.
    """
    writer = _writer(pdf)
    known = _fields_of(writer)
    target = known.get(field)
    if target is None:
        raise SigningError(
            f"the PDF has no signature field {field!r} (it has: {', '.join(known) or 'none'})"
        )
    if target.filled:
        raise SigningError(f"signature field {field!r} is already signed")
    width, height = (target.width, target.height) if target.width else (170.0, 64.0)
    appearance = stamp_style(render_stamp(stamp, width, height, font))
    meta = signers.PdfSignatureMetadata(
        field_name=field,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        location=location,
        reason=reason,
        name=stamp.name,
    )
    signer = _TimedPdfSigner(
        meta,
        signer=_pyhanko_signer(material),
        timestamper=timestamper,
        stamp_style=appearance,
        signed_at=stamp.signed_at,
    )
    output = io.BytesIO()
    try:
        signer.sign_pdf(
            writer,
            existing_fields_only=True,
            bytes_reserved=None if timestamper else _reserve(material),
            output=output,
        )
    except (TimeoutError, TimestampRequestError, ClientError, OSError) as exc:
        raise SigningError(f"the timestamp authority failed: {exc}", retryable=True) from exc
    except (PyhankoSigningError, PdfError, ValueError) as exc:
        raise SigningError(f"cannot sign field {field!r}: {exc}") from exc
    log.info(
        "signed field %s as %s (certificate %s)", field, material.common_name, material.info.id
    )
    return output.getvalue()
