"""The per-tenant demo CA and the import of a bank's own certificates."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import Engine as SqlEngine
from sqlalchemy import select

from loanflow.engine import ManualClock
from loanflow.engine.store.models import certificates_table
from loanflow.workers.contract import CertificateError, CertificateStore

LENDER = "湖北恩施农村商业银行股份有限公司"


def _usage(cert: x509.Certificate) -> x509.KeyUsage:
    return cert.extensions.get_extension_for_class(x509.KeyUsage).value


def test_the_first_signer_creates_the_tenants_ca(certificates: CertificateStore) -> None:
    seal = certificates.signer(
        "enshi", "bank_seal", "enshi", organization=LENDER, common_name=LENDER
    )
    (root,) = certificates.trust_roots("enshi")
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert seal.chain == (root,)
    seal.certificate.verify_directly_issued_by(root)
    assert seal.common_name == LENDER
    assert seal.info.subject == "bank_seal:enshi"
    assert isinstance(seal.certificate.public_key(), ec.EllipticCurvePublicKey)
    usage = _usage(seal.certificate)
    assert usage.digital_signature and usage.content_commitment and not usage.key_cert_sign
    constraints = seal.certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and not constraints.value.ca


def test_a_signer_is_issued_once_and_reused(certificates: CertificateStore) -> None:
    first = certificates.signer(
        "enshi", "customer", "张三", organization=LENDER, holder_id="422801199001011234"
    )
    again = certificates.signer(
        "enshi", "customer", "张三", organization=LENDER, holder_id="422801199001011234"
    )
    namesake = certificates.signer(
        "enshi", "customer", "张三", organization=LENDER, holder_id="110101198001010017"
    )
    assert again.info.id == first.info.id
    assert namesake.info.id != first.info.id
    assert "422801199001011234" not in first.info.subject
    assert first.info.subject.startswith("customer:张三#")
    names = first.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert names[0].value == "张三"
    assert len(certificates.trust_roots("enshi")) == 1


def test_a_certificate_about_to_expire_is_replaced(
    db: SqlEngine, sealer: Any, clock: ManualClock
) -> None:
    store = CertificateStore(db, sealer, clock, signer_validity=timedelta(days=10))
    first = store.signer("enshi", "customer", "王五", organization=LENDER)
    clock.advance(days=9, hours=12)
    second = store.signer("enshi", "customer", "王五", organization=LENDER)
    assert second.info.id != first.info.id
    assert second.certificate.not_valid_after_utc > first.certificate.not_valid_after_utc


def test_tenants_have_separate_cas(certificates: CertificateStore) -> None:
    a = certificates.signer("enshi", "bank_seal", "enshi", organization=LENDER)
    b = certificates.signer("lichuan", "bank_seal", "lichuan", organization="利川农商银行")
    assert certificates.trust_roots("enshi") != certificates.trust_roots("lichuan")
    assert a.chain[0] != b.chain[0]
    assert {c.tenant for c in certificates.for_tenant("enshi")} == {"enshi"}


def test_private_keys_are_stored_sealed_only(certificates: CertificateStore, db: SqlEngine) -> None:
    material = certificates.signer("enshi", "customer", "张三", organization=LENDER)
    plain = material.private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with db.connect() as conn:
        sealed = list(conn.scalars(select(certificates_table.c.sealed_private_key)))
    assert len(sealed) == 2
    assert all(blob and plain not in blob and plain[-32:] not in blob for blob in sealed)


def test_a_wrong_sealer_cannot_load_keys(
    certificates: CertificateStore, db: SqlEngine, clock: ManualClock
) -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    class OtherSealer:
        aead = AESGCM(AESGCM.generate_key(bit_length=128))

        def seal(self, data: bytes) -> bytes:
            return b"\0" * 12 + self.aead.encrypt(b"\0" * 12, data, None)

        def unseal(self, data: bytes) -> bytes:
            return self.aead.decrypt(data[:12], data[12:], None)

    material = certificates.signer("enshi", "customer", "张三", organization=LENDER)
    other = CertificateStore(db, OtherSealer(), clock)
    with pytest.raises(CertificateError, match="cannot unseal"):
        other.load("enshi", material.info.id)


def _bank_pki() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, x509.Certificate, bytes]:
    """A bank's own root and seal certificate, made the way an external CA would."""
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    root_key = ec.generate_private_key(ec.SECP384R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bank Root CA")])
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(root_key, hashes.SHA384())
    )
    seal_key = ec.generate_private_key(ec.SECP256R1())
    seal = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, LENDER)]))
        .issuer_name(root_name)
        .public_key(seal_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(root_key, hashes.SHA384())
    )
    key_pem = seal_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    return root, root_key, seal, key_pem


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def test_a_bank_brings_its_own_root_and_seal(certificates: CertificateStore) -> None:
    root, _, seal, key_pem = _bank_pki()
    root_info = certificates.import_ca("enshi", _pem(root))
    assert not root_info.has_key
    info = certificates.import_signer(
        "enshi", "bank_seal", "enshi", _pem(seal) + _pem(root), key_pem, password=b"secret"
    )
    assert info.issuer_id == root_info.id

    material = certificates.signer("enshi", "bank_seal", "enshi", organization=LENDER)
    assert material.info.id == info.id, "the imported seal is used, none is issued"
    assert material.certificate == seal and root in material.chain
    assert certificates.trust_roots("enshi") == [root]


def test_a_ca_without_key_cannot_issue_customer_certificates(
    certificates: CertificateStore,
) -> None:
    root, _, _, _ = _bank_pki()
    certificates.import_ca("enshi", _pem(root))
    material = certificates.signer("enshi", "customer", "张三", organization=LENDER)
    assert material.chain[0] != root, "a demo CA with a key is made for customers"


@pytest.mark.parametrize(
    ("what", "message"),
    [
        ("key of another certificate", "does not belong"),
        ("leaf as CA", "not a CA"),
        ("wrong password", "cannot read the private key"),
        ("garbage pem", "cannot read the certificate"),
    ],
)
def test_imports_that_do_not_fit_are_refused(
    certificates: CertificateStore, what: str, message: str
) -> None:
    root, _root_key, seal, key_pem = _bank_pki()
    other_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(CertificateError, match=message):
        if what == "key of another certificate":
            certificates.import_signer("enshi", "bank_seal", "enshi", _pem(seal), other_key)
        elif what == "leaf as CA":
            certificates.import_ca("enshi", _pem(seal))
        elif what == "wrong password":
            certificates.import_signer(
                "enshi", "bank_seal", "enshi", _pem(seal), key_pem, password=b"wrong"
            )
        else:
            certificates.import_ca("enshi", b"-----BEGIN CERTIFICATE-----\nnope\n")
    assert certificates.trust_roots("enshi") == [] or root not in certificates.trust_roots("enshi")
