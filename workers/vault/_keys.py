"""Per-tenant SM2 key pairs: creation, rotation, signatures, and sealing data keys.

Each tenant has at most one *active* key: it seals the data keys of new documents and makes
new signatures. Rotation retires it (``retired_at``) without deleting anything, so every
document sealed under an older key stays readable and every older signature verifiable.

Private keys are stored sealed: SM4-GCM under a key derived from the master key with
HKDF-SM3 (fixed context ``loanflow/vault/private-key/v1``), with the key id and the tenant as
associated data, so a sealed key copied to another row or tenant does not open. The
unsealed private key exists only for the duration of one operation.
"""

from __future__ import annotations

import builtins
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, text, update

from loanflow.engine.engine import Engine
from loanflow.engine.errors import Conflict, InvalidInput
from loanflow.engine.store.models import vault_keys_table
from loanflow.engine.tenancy import TENANT_ID_PATTERN
from loanflow.workers.vault._crypto import (
    CryptoFailure,
    hkdf_sm3,
    random_bytes,
    sm2_decrypt,
    sm2_encrypt,
    sm2_generate,
    sm2_public_key,
    sm2_sign,
    sm2_verify,
    sm4_gcm_decrypt,
    sm4_gcm_encrypt,
)
from loanflow.workers.vault._errors import MasterKeyMismatch, UnknownKey
from loanflow.workers.vault.settings import VaultSettings

__all__ = ["KeyInfo", "KeyRing", "Sm2Signature", "check_tenant"]

log = logging.getLogger(__name__)

_SEAL_CONTEXT = b"loanflow/vault/private-key/v1"
_SEAL_VERSION = b"\x01"
_SEAL_NONCE = 12
keys = vault_keys_table
_TENANT = re.compile(TENANT_ID_PATTERN)


def check_tenant(tenant: str) -> str:
    """A county bank's tenant id (the shared tenant ``*`` has no vault)."""
    if not isinstance(tenant, str) or not _TENANT.match(tenant):
        raise InvalidInput(f"{tenant!r} is not a tenant id (lowercase letters, digits, - and _)")
    return tenant


@dataclass(frozen=True)
class KeyInfo:
    """A tenant's SM2 key as anyone may see it (never the private key)."""

    id: str
    tenant: str
    public_key: str
    """Hex of the 65-byte uncompressed point ``04||x||y``."""
    active: bool
    created_at: datetime
    retired_at: datetime | None


@dataclass(frozen=True)
class Sm2Signature:
    """A detached SM2 signature (SM3, default signer id) and the key that made it."""

    key_id: str
    signature: str
    """Hex of the DER ``SEQUENCE { r, s }``."""

    def as_dict(self) -> dict[str, str]:
        return {"algorithm": "SM2-with-SM3", "key_id": self.key_id, "signature": self.signature}


def _info(row: Any) -> KeyInfo:
    return KeyInfo(
        id=row.id,
        tenant=row.tenant,
        public_key=row.public_key,
        active=bool(row.active),
        created_at=row.created_at,
        retired_at=row.retired_at,
    )


def _lock_tenant(conn: Connection, tenant: str) -> None:
    """Serialize key changes of one tenant (SQLite transactions are already exclusive)."""
    if conn.dialect.name == "postgresql":
        digest = hashlib.blake2b(f"loanflow.vault_keys:{tenant}".encode(), digest_size=8)
        lock_id = int.from_bytes(digest.digest(), "big", signed=True)
        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})


class KeyRing:
    """The SM2 keys of every tenant in one store, sealed under one master key."""

    def __init__(self, engine: Engine, settings: VaultSettings) -> None:
        self._engine = engine
        self._kek = hkdf_sm3(settings.master_key.get_secret_value().encode(), info=_SEAL_CONTEXT)

    # -- sealing private keys -------------------------------------------------------------

    def _aad(self, tenant: str, key_id: str) -> bytes:
        return b"\x00".join((_SEAL_CONTEXT, key_id.encode(), tenant.encode()))

    def _seal_private(self, tenant: str, key_id: str, private: bytes) -> bytes:
        nonce = random_bytes(_SEAL_NONCE)
        return (
            _SEAL_VERSION
            + nonce
            + sm4_gcm_encrypt(self._kek, nonce, self._aad(tenant, key_id), private)
        )

    def sealer(self, context: str) -> MasterKeySealer:
        """Seal other secrets (e.g. certificate keys) under the master key, bound to ``context``."""
        return MasterKeySealer(self, context)

    def _unseal_private(self, tenant: str, key_id: str, sealed: bytes) -> bytes:
        if sealed[:1] != _SEAL_VERSION:
            raise MasterKeyMismatch(key_id)
        nonce = sealed[1 : 1 + _SEAL_NONCE]
        try:
            return sm4_gcm_decrypt(
                self._kek, nonce, self._aad(tenant, key_id), sealed[1 + _SEAL_NONCE :]
            )
        except CryptoFailure:
            raise MasterKeyMismatch(key_id) from None

    # -- reading --------------------------------------------------------------------------

    def _row(self, conn: Connection, tenant: str, key_id: str) -> Any:
        row = conn.execute(
            select(keys).where(keys.c.tenant == tenant, keys.c.id == key_id)
        ).one_or_none()
        if row is None:
            raise UnknownKey(tenant, key_id)
        return row

    def _active_row(self, conn: Connection, tenant: str) -> Any:
        return conn.execute(
            select(keys)
            .where(keys.c.tenant == tenant, keys.c.active.is_(True))
            .order_by(keys.c.created_at.desc(), keys.c.id.desc())
            .limit(1)
        ).one_or_none()

    def get(self, tenant: str, key_id: str) -> KeyInfo:
        """One key of ``tenant``; :class:`UnknownKey` for another tenant's or no such key."""
        check_tenant(tenant)
        with self._engine.db.connect() as conn:
            return _info(self._row(conn, tenant, key_id))

    def list(self, tenant: str) -> builtins.list[KeyInfo]:
        """Every key of ``tenant``, oldest first."""
        check_tenant(tenant)
        with self._engine.db.connect() as conn:
            rows = conn.execute(
                select(keys).where(keys.c.tenant == tenant).order_by(keys.c.created_at, keys.c.id)
            ).all()
        return [_info(row) for row in rows]

    # -- creating and rotating ------------------------------------------------------------

    def _insert(self, conn: Connection, tenant: str) -> KeyInfo:
        key_id = "sm2-" + secrets.token_hex(12)
        public, private = sm2_generate()
        now = self._engine.clock.now()
        conn.execute(
            insert(keys).values(
                id=key_id,
                tenant=tenant,
                public_key=public.hex(),
                sealed_private_key=self._seal_private(tenant, key_id, private),
                active=True,
                created_at=now,
                retired_at=None,
            )
        )
        log.info("vault key %s created for tenant %s", key_id, tenant)
        return KeyInfo(key_id, tenant, public.hex(), True, now, None)

    def create(self, tenant: str) -> KeyInfo:
        """The tenant's first key; :class:`Conflict` if it already has an active one."""
        check_tenant(tenant)
        with self._engine.rt.transaction() as conn:
            _lock_tenant(conn, tenant)
            existing = self._active_row(conn, tenant)
            if existing is not None:
                raise Conflict(
                    f"tenant {tenant} already has the active vault key {existing.id}; "
                    "rotate it instead"
                )
            return self._insert(conn, tenant)

    def rotate(self, tenant: str) -> KeyInfo:
        """A new active key; the previous ones are retired but still open their documents."""
        check_tenant(tenant)
        with self._engine.rt.transaction() as conn:
            _lock_tenant(conn, tenant)
            conn.execute(
                update(keys)
                .where(keys.c.tenant == tenant, keys.c.active.is_(True))
                .values(active=False, retired_at=self._engine.clock.now())
            )
            return self._insert(conn, tenant)

    def active(self, tenant: str) -> KeyInfo:
        """The tenant's active key, created on first use."""
        check_tenant(tenant)
        with self._engine.db.connect() as conn:
            row = self._active_row(conn, tenant)
        if row is not None:
            return _info(row)
        with self._engine.rt.transaction() as conn:
            _lock_tenant(conn, tenant)
            row = self._active_row(conn, tenant)
            return _info(row) if row is not None else self._insert(conn, tenant)

    # -- signatures -----------------------------------------------------------------------

    def _private(self, tenant: str, key_id: str) -> tuple[bytes, bytes]:
        with self._engine.db.connect() as conn:
            row = self._row(conn, tenant, key_id)
        public = bytes.fromhex(row.public_key)
        return public, self._unseal_private(tenant, key_id, bytes(row.sealed_private_key))

    def sign(self, tenant: str, data: bytes) -> Sm2Signature:
        """SM2 signature of ``data`` (SM3, default signer id) with the tenant's active key."""
        key = self.active(tenant)
        public, private = self._private(tenant, key.id)
        return Sm2Signature(key.id, sm2_sign(private, public, data).hex())

    def verify(self, tenant: str, data: bytes, signature: Sm2Signature) -> bool:
        """Whether ``signature`` is valid for ``data`` under the tenant's key it names.

        Retired keys still verify. A malformed signature is not valid (False); a key id the
        tenant does not have raises :class:`UnknownKey`.
        """
        info = self.get(tenant, signature.key_id)
        try:
            der = bytes.fromhex(signature.signature)
        except ValueError:
            return False
        return sm2_verify(sm2_public_key(info.public_key), data, der)

    # -- digital envelopes ----------------------------------------------------------------

    def seal_data_key(self, tenant: str, data_key: bytes) -> tuple[KeyInfo, bytes]:
        """``data_key`` encrypted to the tenant's active public key (SM2, DER C1C3C2)."""
        key = self.active(tenant)
        return key, sm2_encrypt(bytes.fromhex(key.public_key), data_key)

    def open_data_key(self, tenant: str, key_id: str, sealed: bytes) -> bytes:
        """The data key sealed to ``key_id``.

        :class:`UnknownKey` for a key the tenant lacks, :class:`MasterKeyMismatch` when the
        private key does not unseal, ``CryptoFailure`` when the envelope does not open (C3).
        """
        _, private = self._private(tenant, key_id)
        return sm2_decrypt(private, sealed)


class MasterKeySealer:
    """``seal``/``unseal`` under the vault's master key (SM4-GCM, ``context`` as AAD)."""

    def __init__(self, ring: KeyRing, context: str) -> None:
        self._ring = ring
        self._context = context

    def seal(self, data: bytes) -> bytes:
        return self._ring._seal_private("*", self._context, data)

    def unseal(self, data: bytes) -> bytes:
        return self._ring._unseal_private("*", self._context, data)
