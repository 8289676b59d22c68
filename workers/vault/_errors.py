"""The vault's errors, all under :class:`loanflow.engine.errors.LoanflowError`::

    LoanflowError
     ├── NotFound               unknown document, or another tenant's (from loanflow.engine)
     ├── Conflict               a tenant that already has an active key; evidence names reused
     └── VaultError             a document or key cannot be trusted or reached
          ├── TamperedDocument  a blob or its record fails authentication (``document_id``)
          ├── MissingBlob       the record exists, its ciphertext does not (``locator``)
          ├── UnknownKey        a key id the tenant does not have (``key_id``)
          └── MasterKeyMismatch a private key does not unseal under the configured master key

A read that fails with ``TamperedDocument``, ``MissingBlob`` or ``UnknownKey`` has also
appended ``document.tamper_detected`` to the document's instance audit chain (when it has an
instance). ``MasterKeyMismatch`` is a configuration problem, not evidence about a document,
so it is only raised.
"""

from __future__ import annotations

from loanflow.engine.errors import LoanflowError

__all__ = ["MasterKeyMismatch", "MissingBlob", "TamperedDocument", "UnknownKey", "VaultError"]


class VaultError(LoanflowError):
    """A vault document or key cannot be trusted or reached; never garbage data instead."""

    def __init__(self, message: str, *, document_id: str | None = None) -> None:
        super().__init__(message)
        self.document_id = document_id


class TamperedDocument(VaultError):
    """The blob, its sealed data key or its metadata does not authenticate.

    ``reason`` says which check failed (a chunk tag, the header, the SM3 digest, the size).
    """

    def __init__(self, document_id: str, reason: str) -> None:
        super().__init__(
            f"document {document_id} failed its integrity check: {reason}",
            document_id=document_id,
        )
        self.reason = reason


class MissingBlob(VaultError):
    """The document's record exists but its ciphertext is gone from the blob backend."""

    def __init__(self, document_id: str, locator: str) -> None:
        super().__init__(
            f"document {document_id}: its encrypted content ({locator}) is missing "
            "from the blob store",
            document_id=document_id,
        )
        self.locator = locator


class UnknownKey(VaultError):
    """A key id that does not exist for this tenant (or exists for another one only)."""

    def __init__(self, tenant: str, key_id: str, *, document_id: str | None = None) -> None:
        where = f"document {document_id}: " if document_id else ""
        super().__init__(
            f"{where}vault key {key_id} is unknown to tenant {tenant}", document_id=document_id
        )
        self.tenant = tenant
        self.key_id = key_id


class MasterKeyMismatch(VaultError):
    """A sealed private key does not open: the master key differs from the one that sealed it.

    (An altered ``sealed_private_key`` column looks the same; both are a misconfiguration or
    an attack on the key table, not on a document.)
    """

    def __init__(self, key_id: str) -> None:
        super().__init__(
            f"the private key of vault key {key_id} cannot be unsealed: "
            "LOANFLOW_VAULT_MASTER_KEY is not the master key it was sealed with "
            "(or its sealed form in vault_keys was altered)"
        )
        self.key_id = key_id
