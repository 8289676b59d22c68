"""Where contract PDFs go: nowhere (returned inline as base64) or a document store.

The vault (``loanflow.workers.vault.Vault``) has this shape; tests use a dict. The
protocol asks only for what the contract workers use.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["DocumentStorage", "StoredDocument"]


class StoredDocument(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def sm3(self) -> str: ...

    @property
    def size(self) -> int: ...


class DocumentStorage(Protocol):
    def store(
        self,
        tenant: str,
        content: bytes,
        *,
        kind: str,
        content_type: str,
        filename: str | None = None,
        instance_id: str | None = None,
        created_by: str | None = None,
        evidence: dict[str, Any] | None = None,
    ) -> StoredDocument:
        """Keep ``content``; reading it back with :meth:`read` gives the same bytes."""
        ...

    def read(self, tenant: str, document_id: str) -> bytes:
        """The document's bytes, checked against its digest; raises if it is not there."""
        ...

    def add_evidence(self, tenant: str, document_id: str, name: str, value: dict[str, Any]) -> Any:
        """Attach a named piece of evidence (JSON) to a stored document."""
        ...
