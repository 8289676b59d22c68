"""Signing a contract (customer, then bank seal) and verifying it, including tampering."""

from __future__ import annotations

import base64
import io
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import gmssl_pyx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from loanflow.engine import ManualClock
from loanflow.workers.contract import (
    DEFAULT_TEMPLATE,
    CertificateStore,
    ContractRequest,
    ContractService,
    EvidenceInputs,
    EvidenceRequest,
    Signatory,
    SigningError,
    SignInput,
    SignOutput,
    VerifyInput,
    VerifyOutput,
    evidence_digest,
    render_contract,
    signature_fields,
    verify_pdf,
)

LENDER = "湖北恩施农村商业银行股份有限公司"
CUSTOMER = Signatory(name="张三", id_number="422801199001011234")


def _sm3(data: bytes) -> str:
    return bytes(gmssl_pyx.sm3_hash(data)).hex()


def _sign_input(pdf: bytes, **overrides: Any) -> SignInput:
    values: dict[str, Any] = {
        "tenant": "enshi",
        "contract_number": "HT-2026-0001",
        "pdf_base64": base64.b64encode(pdf).decode(),
        "customer": CUSTOMER,
        "lender_name": LENDER,
        "signing_city": "恩施市",
    }
    values.update(overrides)
    return SignInput(**values)


def _pdf(output: SignOutput) -> bytes:
    assert output.pdf_base64 is not None
    return base64.b64decode(output.pdf_base64)


def _verify(service: ContractService, pdf: bytes, **overrides: Any) -> VerifyOutput:
    values: dict[str, Any] = {"tenant": "enshi", "pdf_base64": base64.b64encode(pdf).decode()}
    values.update(overrides)
    return service.verify(VerifyInput(**values))


@pytest.fixture
def unsigned(make_request: Callable[..., ContractRequest]) -> bytes:
    return render_contract(make_request(), DEFAULT_TEMPLATE).pdf


@pytest.fixture
def signed(service: ContractService, unsigned: bytes) -> bytes:
    return _pdf(service.sign(_sign_input(unsigned)))


def test_customer_then_bank_both_valid_trusted_and_unmodified(
    service: ContractService, signed: bytes, clock: ManualClock
) -> None:
    result = _verify(service, signed)
    assert result.ok, result.reasons
    customer, seal = result.signatures
    assert (customer.field, seal.field) == ("customer", "bank_seal")
    for report in (customer, seal):
        assert report.intact and report.valid and report.trusted and report.bottom_line
        assert report.docmdp_ok is True and report.ok and report.reasons == []
        assert report.signed_at == clock.now()
    assert customer.signer == "张三"
    assert seal.signer == LENDER
    assert (customer.coverage, customer.modification_level) == ("ENTIRE_REVISION", "FORM_FILLING")
    assert (seal.coverage, seal.modification_level) == ("ENTIRE_FILE", "NONE")
    assert all(f.filled for f in signature_fields(signed).values())


def test_signing_adds_revisions_and_keeps_the_contract(unsigned: bytes, signed: bytes) -> None:
    assert signed.startswith(unsigned), "each signature is an incremental update"
    assert signed.count(b"%%EOF") == unsigned.count(b"%%EOF") + 2


def test_the_customer_signs_first_and_the_bank_later(
    service: ContractService, unsigned: bytes, clock: ManualClock
) -> None:
    first = service.sign(_sign_input(unsigned, fields=["customer"]))
    half = _verify(service, _pdf(first))
    assert not half.ok and half.reasons == ["signature field 'bank_seal' is not signed"]
    assert _verify(service, _pdf(first), required_fields=["customer"]).ok

    clock.advance(hours=2)
    second = service.sign(_sign_input(_pdf(first), fields=["bank_seal"], customer=None))
    result = _verify(service, _pdf(second))
    assert result.ok, result.reasons
    assert result.signatures[1].signed_at == clock.now()
    assert [s.field for s in second.signatures] == ["bank_seal"]


def test_a_field_is_signed_once(service: ContractService, signed: bytes) -> None:
    with pytest.raises(SigningError, match="already signed"):
        service.sign(_sign_input(signed, fields=["customer"]))


def test_a_pdf_without_the_field_cannot_be_signed(
    service: ContractService, unsigned: bytes
) -> None:
    writer = IncrementalPdfFileWriter(io.BytesIO(unsigned))
    del writer.root["/AcroForm"]
    writer.update_root()
    stripped = io.BytesIO()
    writer.write(stripped)
    with pytest.raises(SigningError, match="no signature field 'customer'"):
        service.sign(_sign_input(stripped.getvalue()))


def test_the_customer_signs_only_the_pdf_they_were_shown(
    service: ContractService, unsigned: bytes
) -> None:
    with pytest.raises(SigningError, match="not the one expected"):
        service.sign(_sign_input(unsigned, expected_sha256="0" * 64))


def test_sign_input_is_checked() -> None:
    with pytest.raises(ValueError, match="customer signs before"):
        _sign_input(b"%PDF", fields=["bank_seal", "customer"])
    with pytest.raises(ValueError, match="customer: needed"):
        _sign_input(b"%PDF", customer=None)
    with pytest.raises(ValueError, match="exactly one"):
        SignInput(tenant="enshi", contract_number="x", lender_name=LENDER, customer=CUSTOMER)


# -- tampering --------------------------------------------------------------------------


def test_one_flipped_byte_in_the_signed_range_is_detected(
    service: ContractService, signed: bytes
) -> None:
    at = signed.index(b"stream", len(signed) // 4) + 300
    tampered = bytearray(signed)
    tampered[at] ^= 0x01
    result = _verify(service, bytes(tampered))
    assert not result.ok
    assert [s.intact for s in result.signatures] == [False, False]
    assert any("changed after signing" in r for r in result.reasons)


def _draw_on_page_one(pdf: bytes, text: bytes) -> bytes:
    """An incremental update that paints new text on page 1, as a forger would."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    font = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Font"),
            generic.NameObject("/Subtype"): generic.NameObject("/Type1"),
            generic.NameObject("/BaseFont"): generic.NameObject("/Helvetica"),
        }
    )
    resources = generic.DictionaryObject(
        {
            generic.NameObject("/Font"): generic.DictionaryObject(
                {generic.NameObject("/FForged"): font}
            )
        }
    )
    content = writer.add_object(
        generic.StreamObject(stream_data=b"BT /FForged 28 Tf 120 520 Td (" + text + b") Tj ET")
    )
    writer.add_stream_to_page(0, content, resources=resources)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_page_content_added_after_signing_is_invalid_although_intact(
    service: ContractService, signed: bytes
) -> None:
    forged = _draw_on_page_one(signed, b"AMOUNT: 1,000,000.00")
    result = _verify(service, forged)
    assert not result.ok
    for report in result.signatures:
        # what a check of intact/valid/trusted alone would accept ...
        assert report.intact and report.valid and report.trusted
        # ... and what the modification analysis says
        assert not report.ok
        assert report.modification_level == "OTHER"
        assert not report.bottom_line
        assert any("modified after this signature" in r for r in report.reasons)


def test_a_signature_from_another_ca_is_untrusted(
    service: ContractService, certificates: CertificateStore, unsigned: bytes
) -> None:
    certificates.ensure_ca("enshi", LENDER)
    foreign = service.sign(_sign_input(unsigned, tenant="mallory", lender_name="冒名银行"))
    result = _verify(service, _pdf(foreign))
    assert not result.ok
    assert [s.trusted for s in result.signatures] == [False, False]
    assert all(s.intact and s.valid for s in result.signatures)
    assert any("does not chain to a trusted root" in r for r in result.reasons)
    assert _verify(service, _pdf(foreign), tenant="mallory").ok


def test_without_any_ca_nothing_is_trusted(service: ContractService, signed: bytes) -> None:
    result = _verify(service, signed, tenant="nobody")
    assert not result.ok
    assert "the tenant has no trusted CA certificate" in result.reasons


def test_garbage_is_a_finding_not_a_crash(service: ContractService) -> None:
    result = _verify(service, b"%PDF-1.7\nthis is not a pdf")
    assert not result.ok and result.signatures == []
    assert result.reasons[0].startswith("not a readable PDF")


def test_an_unsigned_contract_does_not_verify(service: ContractService, unsigned: bytes) -> None:
    result = _verify(service, unsigned)
    assert not result.ok
    assert "the PDF has no signatures" in result.reasons


# -- the SM2 evidence signature ---------------------------------------------------------


@pytest.fixture
def evidence_request() -> EvidenceRequest:
    return EvidenceRequest(
        recording_digests=[_sm3(b"video of the signing"), _sm3(b"audio of the risk warning")],
        decision_trail_hash=_sm3(b"audit chain head"),
    )


def test_the_evidence_digest_is_sm3_over_the_concatenated_digests() -> None:
    inputs = EvidenceInputs(
        pdf_sha256="11" * 32,
        recording_digests=["22" * 32, "33" * 32],
        decision_trail_hash="44" * 32,
    )
    expected = gmssl_pyx.sm3_hash(bytes.fromhex("11" * 32 + "22" * 32 + "33" * 32 + "44" * 32))
    assert evidence_digest(inputs) == bytes(expected)


def test_evidence_is_signed_over_the_signed_pdf_and_verifies(
    service: ContractService, unsigned: bytes, evidence_request: EvidenceRequest
) -> None:
    output = service.sign(_sign_input(unsigned, evidence=evidence_request))
    evidence = output.evidence
    assert evidence is not None
    assert evidence.inputs.pdf_sha256 == output.sha256
    assert evidence.inputs.recording_digests == evidence_request.recording_digests
    assert evidence.digest == evidence_digest(evidence.inputs).hex()
    result = _verify(service, _pdf(output), evidence=evidence)
    assert result.ok, result.reasons
    assert result.evidence is not None and result.evidence.ok


def test_evidence_fails_when_one_input_changes(
    service: ContractService, unsigned: bytes, evidence_request: EvidenceRequest
) -> None:
    output = service.sign(_sign_input(unsigned, evidence=evidence_request))
    assert output.evidence is not None
    swapped = output.evidence.inputs.model_copy(
        update={
            "recording_digests": [_sm3(b"another video"), *evidence_request.recording_digests[1:]]
        }
    )
    # the attacker recomputes the digest too: only the SM2 signature can catch it
    forged = output.evidence.model_copy(
        update={"inputs": swapped, "digest": evidence_digest(swapped).hex()}
    )
    result = _verify(service, _pdf(output), evidence=forged)
    assert not result.ok
    assert result.evidence is not None
    assert result.evidence.digest_matches and not result.evidence.signature_valid
    assert result.reasons == [f"evidence: the SM2 signature by key {forged.key_id} does not verify"]

    stale = output.evidence.model_copy(update={"inputs": swapped})
    assert not _verify(service, _pdf(output), evidence=stale).evidence.digest_matches  # type: ignore[union-attr]


def test_evidence_of_another_pdf_is_refused(
    service: ContractService, unsigned: bytes, evidence_request: EvidenceRequest
) -> None:
    output = service.sign(_sign_input(unsigned, evidence=evidence_request))
    other = service.sign(_sign_input(unsigned))
    result = _verify(service, _pdf(other), evidence=output.evidence)
    assert not result.ok
    assert result.evidence is not None and result.evidence.pdf_matches is False


def test_evidence_needs_keys(
    certificates: CertificateStore,
    clock: ManualClock,
    unsigned: bytes,
    evidence_request: EvidenceRequest,
) -> None:
    keyless = ContractService(certificates, clock=clock)
    with pytest.raises(SigningError, match="no SM2 evidence keys"):
        keyless.sign(_sign_input(unsigned, evidence=evidence_request))


# -- a look at the signed page -----------------------------------------------------------


def test_signed_signature_page_as_png(
    signed: bytes, tmp_path: Path, keep_artifact: Callable[[Path], Path]
) -> None:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    source = tmp_path / "signed.pdf"
    source.write_bytes(signed)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "80", "-f", "2", "-l", "2", "-singlefile", str(source),
         str(tmp_path / "signed-contract-page-2")],
        check=True,
        timeout=60,
    )  # fmt: skip
    png = tmp_path / "signed-contract-page-2.png"
    assert png.stat().st_size > 10_000
    print(f"signed page 2: {png} (kept as {keep_artifact(png)})")


def test_verify_pdf_directly(certificates: CertificateStore, signed: bytes) -> None:
    result = verify_pdf(signed, certificates.trust_roots("enshi"), required_fields=["customer"])
    assert result.ok
    assert len(result.sha256) == 64


# -- a bank's own certificates -----------------------------------------------------------


def _rsa_cert(
    subject: str,
    issuer: tuple[x509.Name, rsa.RSAPrivateKey] | None,
    *,
    ca: bool,
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    now = datetime.now(UTC)
    key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, issuer_key = issuer if issuer else (name, key)
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=not ca,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=800))
        .not_valid_after(now + timedelta(days=800))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .sign(issuer_key, hashes.SHA256())
    )
    return cert, key


def test_a_bank_seal_with_its_own_rsa_chain(
    service: ContractService, certificates: CertificateStore, unsigned: bytes
) -> None:
    """A 4096-bit RSA seal under an intermediate: a real bank's PKI, and a bigger CMS."""
    root, root_key = _rsa_cert("Bank Root CA", None, ca=True)
    middle, middle_key = _rsa_cert("Bank Signing CA", (root.subject, root_key), ca=True)
    seal, seal_key = _rsa_cert(LENDER, (middle.subject, middle_key), ca=False)
    pem = serialization.Encoding.PEM
    certificates.import_ca("enshi", root.public_bytes(pem))
    certificates.import_signer(
        "enshi",
        "bank_seal",
        "enshi",
        b"".join(c.public_bytes(pem) for c in (seal, middle, root)),
        seal_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    output = service.sign(_sign_input(unsigned))
    result = _verify(service, _pdf(output))
    assert result.ok, result.reasons
    assert result.signatures[1].signer == LENDER
    assert "Bank" not in (result.signatures[0].signer_subject or "")
