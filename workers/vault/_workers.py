"""The ``vault.store`` and ``vault.fetch`` workers: the vault for BPMN service tasks.

Both build their :class:`Vault` lazily on first use, from ``VaultSettings()`` and
``Engine(EngineSettings())`` (the ``LOANFLOW_*`` environment), and keep it for the life of
the process: one connection pool and one key ring per process, rebuilt after a fork (the
cache is keyed by process id). Tests call :func:`reset_shared_vault` after changing the
environment. Other Python code should build its own ``Vault`` and use it directly.

Job data is JSON, so content travels base64-encoded: ``vault.fetch`` refuses documents
over :data:`MAX_FETCH_BYTES` with the BPMN error ``VAULT_DOCUMENT_TOO_LARGE``; stream those
with :meth:`Vault.open` instead.

The workers trust the ``tenant`` in the job input: the runner does not (yet) tell a worker
which tenant's job it runs, so only deploy diagrams you trust to name their own tenant.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, model_validator

from loanflow.engine.errors import BusinessError, NotFound, WorkerError
from loanflow.workers.sdk import worker
from loanflow.workers.vault._errors import MissingBlob, TamperedDocument, UnknownKey
from loanflow.workers.vault._store import DocumentInfo, Vault
from loanflow.workers.vault.settings import VaultSettings

__all__ = [
    "MAX_FETCH_BYTES",
    "VAULT_WORKERS",
    "DocumentOutput",
    "FetchInput",
    "FetchOutput",
    "StoreInput",
    "fetch_document",
    "reset_shared_vault",
    "shared_vault",
    "store_document",
]

MAX_FETCH_BYTES = 20 * 1024 * 1024


class _Shared:
    """The per-process vault of the workers (keyed by pid so a forked child builds its own)."""

    lock = threading.Lock()
    pid = 0
    vault: Vault | None = None


def shared_vault() -> Vault:
    """This process's vault for the workers, built from the environment on first use."""
    with _Shared.lock:
        if _Shared.vault is None or _Shared.pid != os.getpid():
            from loanflow.engine.engine import Engine
            from loanflow.engine.settings import EngineSettings

            _Shared.vault = Vault(Engine(EngineSettings()), VaultSettings())
            _Shared.pid = os.getpid()
        return _Shared.vault


def reset_shared_vault() -> None:
    """Forget the cached vault (closing its engine); the next job builds a new one."""
    with _Shared.lock:
        if _Shared.vault is not None and _Shared.pid == os.getpid():
            _Shared.vault.engine.close()
        _Shared.vault = None


class StoreInput(BaseModel):
    tenant: str = Field(description="The tenant the document belongs to.")
    kind: str = Field(min_length=1, max_length=64, description="e.g. id_card, contract.")
    content_base64: str | None = Field(default=None, description="The content, base64.")
    path: str | None = Field(
        default=None,
        description="A file inside LOANFLOW_VAULT_IMPORT_DIR to store instead of content.",
    )
    content_type: str = "application/octet-stream"
    filename: str | None = Field(default=None, max_length=255)
    instance_id: str | None = Field(default=None, description="Audit the store on this instance.")
    created_by: str | None = Field(default=None, max_length=128)

    @model_validator(mode="after")
    def _one_source(self) -> StoreInput:
        if (self.content_base64 is None) == (self.path is None):
            raise ValueError("give exactly one of content_base64 and path")
        return self


class DocumentOutput(BaseModel):
    id: str
    tenant: str
    instance_id: str | None
    kind: str
    filename: str | None
    content_type: str
    size: int
    sm3: str
    key_id: str
    created_at: datetime
    created_by: str | None
    evidence: dict[str, Any]

    @classmethod
    def of(cls, info: DocumentInfo) -> DocumentOutput:
        return cls(**asdict(info))


class FetchInput(BaseModel):
    tenant: str
    document_id: str = Field(min_length=1, max_length=36)


class FetchOutput(BaseModel):
    document_id: str
    content_base64: str
    sm3: str
    size: int
    content_type: str
    filename: str | None


def _import_path(vault: Vault, raw: str) -> Path:
    root = vault.settings.import_dir
    if root is None:
        raise WorkerError(
            "vault.store: reading a path is disabled; set LOANFLOW_VAULT_IMPORT_DIR to the "
            "directory workers may import from",
            retryable=False,
        )
    path = Path(raw)
    if not path.is_absolute():
        path = root / path
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise WorkerError(
            "vault.store: the path is outside LOANFLOW_VAULT_IMPORT_DIR", retryable=False
        )
    return resolved


@worker("vault.store", retries=3)
def store_document(job: StoreInput) -> DocumentOutput:
    """Encrypt and store one document (base64 content, or a file from the import directory)."""
    vault = shared_vault()
    options: dict[str, Any] = {
        "kind": job.kind,
        "content_type": job.content_type,
        "filename": job.filename,
        "instance_id": job.instance_id,
        "created_by": job.created_by,
    }
    if job.content_base64 is not None:
        try:
            content = base64.b64decode(job.content_base64, validate=True)
        except binascii.Error:
            raise WorkerError(
                "vault.store: content_base64 is not base64", retryable=False
            ) from None
        return DocumentOutput.of(vault.store(job.tenant, content, **options))
    assert job.path is not None
    path = _import_path(vault, job.path)
    try:
        handle = path.open("rb")
    except (FileNotFoundError, IsADirectoryError):
        raise WorkerError(
            f"vault.store: no file {path.name!r} to import", retryable=False
        ) from None
    with handle:
        if job.filename is None:
            options["filename"] = path.name
        return DocumentOutput.of(vault.store(job.tenant, handle, **options))


@worker("vault.fetch", retries=3)
def fetch_document(job: FetchInput) -> FetchOutput:
    """Read one document back, verified, as base64 (at most 20 MB)."""
    vault = shared_vault()
    try:
        info = vault.info(job.tenant, job.document_id)
        if info.size > MAX_FETCH_BYTES:
            raise BusinessError(
                "VAULT_DOCUMENT_TOO_LARGE",
                f"document {info.id} is {info.size} bytes, more than vault.fetch returns "
                f"({MAX_FETCH_BYTES}); stream it with the Python API "
                "(loanflow.workers.vault.Vault.open)",
            )
        content = vault.read(job.tenant, job.document_id)
    except (NotFound, TamperedDocument, UnknownKey) as exc:
        raise WorkerError(f"vault.fetch: {exc}", retryable=False) from exc
    except MissingBlob as exc:
        raise WorkerError(f"vault.fetch: {exc}") from exc
    return FetchOutput(
        document_id=info.id,
        content_base64=base64.b64encode(content).decode("ascii"),
        sm3=info.sm3,
        size=info.size,
        content_type=info.content_type,
        filename=info.filename,
    )


#: the vault's workers, for the integrator to register (they are not built in)
VAULT_WORKERS: list[Callable[..., Any]] = [store_document, fetch_document]
