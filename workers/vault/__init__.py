"""Encrypted document store: SM3 digest, SM4-GCM content, SM2 digital envelope.

Build a :class:`Vault` from an engine and :class:`VaultSettings`; store documents, stream
them back (every chunk authenticated, the SM3 digest checked at the end), attach evidence,
and sign with the tenant's SM2 key through :attr:`Vault.keys` (a :class:`KeyRing`)::

    vault = Vault(engine, VaultSettings())
    info = vault.store("enshi", open("id-card.jpg", "rb"), kind="id_card",
                       content_type="image/jpeg", instance_id=instance.id)
    for chunk in vault.open("enshi", info.id):
        ...

Errors are in :mod:`loanflow.workers.vault._errors` (tree in its docstring). The workers
``vault.store`` / ``vault.fetch`` are in :data:`VAULT_WORKERS`, not built in: the integrator
registers them. The ``loanflow keys`` commands are :data:`loanflow.workers.vault.cli.keys_app`.
"""

from loanflow.workers.vault._blobs import (
    BlobBackend,
    BlobNotFound,
    LocalBlobs,
    MemoryBlobs,
    S3Blobs,
)
from loanflow.workers.vault._errors import (
    MasterKeyMismatch,
    MissingBlob,
    TamperedDocument,
    UnknownKey,
    VaultError,
)
from loanflow.workers.vault._keys import KeyInfo, KeyRing, Sm2Signature
from loanflow.workers.vault._store import DocumentCheck, DocumentInfo, Vault, blobs_from_settings
from loanflow.workers.vault._workers import (
    MAX_FETCH_BYTES,
    VAULT_WORKERS,
    fetch_document,
    reset_shared_vault,
    shared_vault,
    store_document,
)
from loanflow.workers.vault.settings import VaultSettings

__all__ = [
    "MAX_FETCH_BYTES",
    "VAULT_WORKERS",
    "BlobBackend",
    "BlobNotFound",
    "DocumentCheck",
    "DocumentInfo",
    "KeyInfo",
    "KeyRing",
    "LocalBlobs",
    "MasterKeyMismatch",
    "MemoryBlobs",
    "MissingBlob",
    "S3Blobs",
    "Sm2Signature",
    "TamperedDocument",
    "UnknownKey",
    "Vault",
    "VaultError",
    "VaultSettings",
    "blobs_from_settings",
    "fetch_document",
    "reset_shared_vault",
    "shared_vault",
    "store_document",
]
