"""Constants and helpers shared by the vault tests (fixtures are in conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import select

from loanflow.engine import Engine
from loanflow.engine.store.models import documents_table
from loanflow.workers.vault import LocalBlobs, Vault, VaultSettings
from loanflow.workers.vault._stream import ByteReader, Header

MASTER_KEY = "test-master-key-0123456789abcdef-not-for-production"
TENANT = "enshi"
OTHER = "lichuan"
CHUNK = 1024
TAG = 16


def settings_for(root: Path, **overrides: object) -> VaultSettings:
    values: dict[str, object] = {
        "master_key": SecretStr(MASTER_KEY),
        "demo": False,
        "local_dir": root,
        "chunk_size": CHUNK,
    }
    values.update(overrides)
    return VaultSettings(**values)


def blob_path(vault: Vault, document_id: str) -> Path:
    with vault.engine.db.connect() as conn:
        locator = conn.execute(
            select(documents_table.c.blob).where(documents_table.c.id == document_id)
        ).scalar_one()
    assert isinstance(vault.blobs, LocalBlobs)
    return vault.blobs.root / locator


@dataclass(frozen=True)
class Layout:
    """Where the header ends and each sealed chunk (ciphertext || tag) sits in a blob."""

    header: Header
    header_size: int
    records: list[tuple[int, int]]


def layout(blob: bytes) -> Layout:
    header, encoded = Header.read(ByteReader([blob]))
    record = header.chunk_size + TAG
    records = [
        (start, min(start + record, len(blob))) for start in range(len(encoded), len(blob), record)
    ]
    return Layout(header, len(encoded), records)


def kinds(engine: Engine, instance_id: str) -> list[str]:
    return [e["kind"] for e in engine.audit_events(TENANT, instance_id)]
