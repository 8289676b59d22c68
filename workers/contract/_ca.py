"""Signer certificates per tenant: a demo CA that issues them, or the bank's own.

pyhanko has no SM2, so contract PDFs are signed with ECDSA P-256 (or RSA) certificates:

- **demo**: :meth:`CertificateStore.ensure_ca` makes a tenant a root CA (ECDSA P-256, 10
  years) and :meth:`CertificateStore.signer` issues from it, on first use, a certificate
  per signer: ``customer:<name>`` (one per person: the name plus a digest of the ID number)
  and ``bank_seal:<tenant>``, with key usage digitalSignature and nonRepudiation;
- **production**: the bank imports its CA certificate (:meth:`~CertificateStore.import_ca`,
  with the key only if loanflow is to issue customer certificates from it) and its seal
  certificate with key and chain (:meth:`~CertificateStore.import_signer`). Imported
  signers are preferred to issuing new ones; trust roots are the tenant's CA rows.

Everything lives in the ``certificates`` table; private keys only sealed, by a caller's
:class:`Sealer` (the vault's master key in production, anything reversible in tests).
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import Connection, Row, insert, select
from sqlalchemy import Engine as SqlEngine

from loanflow.engine.clock import Clock, SystemClock
from loanflow.engine.store.models import certificates_table as certificates
from loanflow.workers.contract._digests import sm3_hex
from loanflow.workers.contract._errors import CertificateError

__all__ = [
    "CertificateInfo",
    "CertificateStore",
    "Purpose",
    "Sealer",
    "SignerMaterial",
    "SignerPurpose",
]

Purpose = Literal["ca", "customer", "bank_seal"]
SignerPurpose = Literal["customer", "bank_seal"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

_UNITS = {"ca": "电子合同签章CA", "customer": "借款人", "bank_seal": "电子合同专用章"}


class Sealer(Protocol):
    """Encrypts private keys at rest; ``unseal(seal(x)) == x``."""

    def seal(self, data: bytes) -> bytes: ...

    def unseal(self, data: bytes) -> bytes: ...


@dataclass(frozen=True)
class CertificateInfo:
    id: str
    tenant: str
    purpose: str
    subject: str
    """Lookup label: ``ca:<tenant>``, ``customer:<name>#<id digest>``, ``bank_seal:<tenant>``."""
    distinguished_name: str
    serial: str
    issuer_id: str | None
    not_after: datetime
    created_at: datetime
    has_key: bool
    sha256_fingerprint: str


@dataclass(frozen=True)
class SignerMaterial:
    """A certificate with its private key and the chain up to (and with) its root."""

    info: CertificateInfo
    certificate: x509.Certificate
    private_key: PrivateKey
    chain: tuple[x509.Certificate, ...]

    @property
    def common_name(self) -> str:
        names = self.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(names[0].value) if names else self.certificate.subject.rfc4514_string()


def _label(purpose: Purpose, name: str, holder_id: str | None) -> str:
    label = f"{purpose}:{name}"
    return f"{label}#{sm3_hex(holder_id.encode())[:16]}" if holder_id else label


def _clip(text: str, limit: int = 64) -> str:
    """``text`` cut to ``limit`` UTF-8 bytes (X.509 name attributes; a CJK character is 3)."""
    text = text.strip()
    while len(text.encode()) > limit:
        text = text[:-1]
    return text


def _x509_name(common_name: str, organization: str, unit: str) -> x509.Name:
    if not common_name.strip() or not organization.strip():
        raise CertificateError("a certificate needs a name and an organization")
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _clip(organization)),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, _clip(unit)),
            x509.NameAttribute(NameOID.COMMON_NAME, _clip(common_name)),
        ]
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
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


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _key_der(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_key(pem: bytes, password: bytes | None) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=password)
    except (ValueError, TypeError) as exc:
        raise CertificateError(f"cannot read the private key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise CertificateError(f"unsupported key type {type(key).__name__}: use ECDSA or RSA")
    return key


def _load_certs(pem: str | bytes) -> list[x509.Certificate]:
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise CertificateError(f"cannot read the certificate PEM: {exc}") from None
    if not certs:
        raise CertificateError("no certificate in the PEM data")
    return certs


def _same_key(cert: x509.Certificate, key: PrivateKey) -> bool:
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    return cert.public_key().public_bytes(der, fmt) == key.public_key().public_bytes(der, fmt)


class CertificateStore:
    """A tenant's CA and signer certificates in the ``certificates`` table.

    Thread-safe; issuing within one store is serialised so a tenant does not get two demo
    CAs from two first signatures at once.
    """

    def __init__(
        self,
        db: SqlEngine,
        sealer: Sealer,
        clock: Clock | None = None,
        *,
        ca_validity: timedelta = timedelta(days=3650),
        signer_validity: timedelta = timedelta(days=365),
        renew_before: timedelta = timedelta(days=1),
    ) -> None:
        self._db = db
        self._sealer = sealer
        self._clock: Clock = clock or SystemClock()
        self._ca_validity = ca_validity
        self._signer_validity = signer_validity
        self._renew_before = renew_before
        self._lock = threading.RLock()

    # -- reading ------------------------------------------------------------------------

    def for_tenant(self, tenant: str) -> list[CertificateInfo]:
        query = (
            select(certificates)
            .where(certificates.c.tenant == tenant)
            .order_by(certificates.c.created_at, certificates.c.id)
        )
        with self._db.connect() as conn:
            return [self._info(row) for row in conn.execute(query)]

    def trust_roots(self, tenant: str) -> list[x509.Certificate]:
        """Every CA certificate of ``tenant``, expired ones too (old contracts stay checkable)."""
        query = select(certificates.c.certificate_pem).where(
            certificates.c.tenant == tenant, certificates.c.purpose == "ca"
        )
        with self._db.connect() as conn:
            return [_load_certs(pem)[0] for pem in conn.scalars(query)]

    def load(self, tenant: str, certificate_id: str) -> SignerMaterial:
        """A certificate with its key; :class:`CertificateError` if unknown or keyless."""
        with self._db.connect() as conn:
            row = conn.execute(
                select(certificates).where(
                    certificates.c.tenant == tenant, certificates.c.id == certificate_id
                )
            ).first()
            if row is None:
                raise CertificateError(f"tenant {tenant!r} has no certificate {certificate_id!r}")
            return self._material(conn, row)

    # -- demo CA ------------------------------------------------------------------------

    def ensure_ca(self, tenant: str, organization: str) -> CertificateInfo:
        """The tenant's newest CA that can issue (has its key), created when there is none."""
        with self._lock:
            row = self._newest(tenant, "ca", f"ca:{tenant}", with_key=True)
            if row is not None:
                return self._info(row)
            return self.create_demo_ca(tenant, organization)

    def create_demo_ca(self, tenant: str, organization: str) -> CertificateInfo:
        """A new self-signed ECDSA P-256 root for ``tenant``; older roots stay trusted."""
        now = self._clock.now()
        key = ec.generate_private_key(ec.SECP256R1())
        name = _x509_name(f"{organization} CA", organization, _UNITS["ca"])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + self._ca_validity)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return self._insert(tenant, "ca", f"ca:{tenant}", [cert], key, issuer_id=None)

    # -- signers ------------------------------------------------------------------------

    def signer(
        self,
        tenant: str,
        purpose: SignerPurpose,
        name: str,
        *,
        organization: str,
        holder_id: str | None = None,
        common_name: str | None = None,
    ) -> SignerMaterial:
        """The signer certificate for ``name``, issued by the tenant's CA when there is none.

        A certificate expiring within ``renew_before`` is replaced. ``holder_id`` (the ID
        number of a customer) tells apart two people of the same name; only its digest is
        stored. ``common_name`` is the certificate's CN when it is not ``name`` (the bank's
        full name on a seal certificate looked up as ``bank_seal:<tenant>``).
        """
        label = _label(purpose, name, holder_id)
        with self._lock:
            row = self._newest(tenant, purpose, label, with_key=True)
            if row is not None:
                with self._db.connect() as conn:
                    return self._material(conn, row)
            ca = self.ensure_ca(tenant, organization)
            info = self._issue(tenant, purpose, label, common_name or name, organization, ca.id)
        return self.load(tenant, info.id)

    def _issue(
        self,
        tenant: str,
        purpose: SignerPurpose,
        label: str,
        name: str,
        organization: str,
        ca_id: str,
    ) -> CertificateInfo:
        ca = self.load(tenant, ca_id)
        now = self._clock.now()
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_x509_name(name, organization, _UNITS[purpose]))
            .issuer_name(ca.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(min(now + self._signer_validity, ca.certificate.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.private_key.public_key()),
                False,
            )
            .sign(ca.private_key, hashes.SHA256())
        )
        return self._insert(tenant, purpose, label, [cert], key, issuer_id=ca_id)

    # -- a bank's own material ------------------------------------------------------------

    def import_ca(
        self,
        tenant: str,
        certificate_pem: str | bytes,
        private_key_pem: bytes | None = None,
        *,
        password: bytes | None = None,
    ) -> CertificateInfo:
        """Trust a CA certificate for ``tenant``; with its key, loanflow may issue from it."""
        cert = _load_certs(certificate_pem)[0]
        try:
            constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            constraints = None
        if constraints is None or not constraints.ca:
            raise CertificateError("not a CA certificate (basicConstraints cA is not set)")
        key = None
        if private_key_pem is not None:
            key = _load_key(private_key_pem, password)
            if not _same_key(cert, key):
                raise CertificateError("the private key does not belong to the CA certificate")
        with self._lock:
            return self._insert(tenant, "ca", f"ca:{tenant}", [cert], key, issuer_id=None)

    def import_signer(
        self,
        tenant: str,
        purpose: SignerPurpose,
        name: str,
        certificate_pem: str | bytes,
        private_key_pem: bytes,
        *,
        password: bytes | None = None,
        holder_id: str | None = None,
    ) -> CertificateInfo:
        """Use the bank's own certificate (leaf first, then its chain) for ``name``.

        The signatures it makes verify only if the tenant also trusts the root
        (:meth:`import_ca`).
        """
        certs = _load_certs(certificate_pem)
        key = _load_key(private_key_pem, password)
        leaf = certs[0]
        if not _same_key(leaf, key):
            raise CertificateError("the private key does not belong to the certificate")
        if leaf.not_valid_after_utc <= self._clock.now():
            raise CertificateError(f"the certificate expired on {leaf.not_valid_after_utc}")
        try:
            usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            usage = None
        if usage is not None and not (usage.digital_signature or usage.content_commitment):
            raise CertificateError("the certificate may not sign (key usage)")
        issuer = self._issuer_of(tenant, leaf)
        with self._lock:
            return self._insert(
                tenant, purpose, _label(purpose, name, holder_id), certs, key, issuer_id=issuer
            )

    # -- rows ---------------------------------------------------------------------------

    def _issuer_of(self, tenant: str, cert: x509.Certificate) -> str | None:
        query = select(certificates).where(
            certificates.c.tenant == tenant, certificates.c.purpose == "ca"
        )
        with self._db.connect() as conn:
            for row in conn.execute(query):
                ca = _load_certs(row.certificate_pem)[0]
                if ca.subject == cert.issuer:
                    try:
                        cert.verify_directly_issued_by(ca)
                    except (ValueError, TypeError, InvalidSignature):
                        continue
                    return str(row.id)
        return None

    def _newest(self, tenant: str, purpose: str, label: str, *, with_key: bool) -> Row[Any] | None:
        query = (
            select(certificates)
            .where(
                certificates.c.tenant == tenant,
                certificates.c.purpose == purpose,
                certificates.c.subject == label,
                certificates.c.not_after > self._clock.now() + self._renew_before,
            )
            .order_by(certificates.c.created_at.desc(), certificates.c.not_after.desc())
        )
        if with_key:
            query = query.where(certificates.c.sealed_private_key.is_not(None))
        with self._db.connect() as conn:
            return conn.execute(query.limit(1)).first()

    def _insert(
        self,
        tenant: str,
        purpose: Purpose,
        label: str,
        certs: list[x509.Certificate],
        key: PrivateKey | None,
        *,
        issuer_id: str | None,
    ) -> CertificateInfo:
        row = {
            "id": uuid.uuid4().hex,
            "tenant": tenant,
            "purpose": purpose,
            "subject": label[:500],
            "certificate_pem": "".join(_pem(c) for c in certs),
            "sealed_private_key": None if key is None else self._sealer.seal(_key_der(key)),
            "issuer_id": issuer_id,
            "not_after": certs[0].not_valid_after_utc,
            "created_at": self._clock.now(),
        }
        with self._db.begin() as conn:
            conn.execute(insert(certificates).values(**row))
        return self.load_info(tenant, str(row["id"]))

    def load_info(self, tenant: str, certificate_id: str) -> CertificateInfo:
        with self._db.connect() as conn:
            row = conn.execute(
                select(certificates).where(
                    certificates.c.tenant == tenant, certificates.c.id == certificate_id
                )
            ).first()
        if row is None:
            raise CertificateError(f"tenant {tenant!r} has no certificate {certificate_id!r}")
        return self._info(row)

    @staticmethod
    def _info(row: Row[Any]) -> CertificateInfo:
        data = row._mapping
        cert = _load_certs(data["certificate_pem"])[0]
        return CertificateInfo(
            id=data["id"],
            tenant=data["tenant"],
            purpose=data["purpose"],
            subject=data["subject"],
            distinguished_name=cert.subject.rfc4514_string(),
            serial=format(cert.serial_number, "x"),
            issuer_id=data["issuer_id"],
            not_after=data["not_after"],
            created_at=data["created_at"],
            has_key=data["sealed_private_key"] is not None,
            sha256_fingerprint=cert.fingerprint(hashes.SHA256()).hex(),
        )

    def _material(self, conn: Connection, row: Row[Any]) -> SignerMaterial:
        info = self._info(row)
        data = row._mapping
        certs = _load_certs(data["certificate_pem"])
        if data["sealed_private_key"] is None:
            raise CertificateError(f"certificate {info.id} ({info.subject}) has no key here")
        try:
            der = self._sealer.unseal(bytes(data["sealed_private_key"]))
            key = serialization.load_der_private_key(der, password=None)
        except Exception as exc:
            raise CertificateError(f"cannot unseal the key of {info.id}: {exc}") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise CertificateError(f"certificate {info.id}: unsupported key type")
        chain = list(certs[1:])
        issuer_id = data["issuer_id"]
        seen = {info.id}
        while issuer_id and issuer_id not in seen:
            seen.add(issuer_id)
            issuer = conn.execute(
                select(certificates.c.certificate_pem, certificates.c.issuer_id).where(
                    certificates.c.id == issuer_id
                )
            ).first()
            if issuer is None:
                break
            chain.append(_load_certs(issuer.certificate_pem)[0])
            issuer_id = issuer.issuer_id
        return SignerMaterial(info=info, certificate=certs[0], private_key=key, chain=tuple(chain))
