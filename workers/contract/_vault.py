"""The vault as the contract workers' document storage and SM2 evidence keys.

:class:`~loanflow.workers.vault.Vault` already has the shape of
:class:`~loanflow.workers.contract.DocumentStorage`; its key ring needs this small adapter
to be :class:`~loanflow.workers.contract.EvidenceKeys`::

    vault = Vault(engine, VaultSettings())
    service = ContractService(certificates, storage=vault, evidence_keys=VaultEvidenceKeys(vault))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loanflow.workers.vault import Vault

__all__ = ["VaultEvidenceKeys"]


class VaultEvidenceKeys:
    """The tenant's SM2 keys of a vault; retired keys still verify."""

    def __init__(self, vault: Vault) -> None:
        self._keys = vault.keys

    def sign(self, tenant: str, data: bytes) -> tuple[str, str]:
        signature = self._keys.sign(tenant, data)
        return signature.key_id, signature.signature

    def verify(self, tenant: str, data: bytes, key_id: str, signature: str) -> bool:
        from loanflow.workers.vault import Sm2Signature, VaultError

        try:
            return self._keys.verify(tenant, data, Sm2Signature(key_id, signature))
        except VaultError:
            return False
