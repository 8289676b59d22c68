"""Every way a stored document can be damaged is caught, named and audited; never garbage."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import delete, update
from vault.support import CHUNK, TAG, TENANT, blob_path, kinds, layout

from loanflow.engine import Engine
from loanflow.engine.store.models import documents_table, vault_keys_table
from loanflow.workers.vault import (
    DocumentInfo,
    MissingBlob,
    TamperedDocument,
    UnknownKey,
    Vault,
    VaultError,
)

CONTENT = os.urandom(4 * CHUNK + 100)  # five chunks, the last one short


@pytest.fixture
def stored(vault: Vault, instance_id: str) -> DocumentInfo:
    return vault.store(TENANT, CONTENT, kind="recording", instance_id=instance_id)


def flip(path: Path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x01
    path.write_bytes(bytes(data))


def _header_field(name: str) -> Callable[[Path], None]:
    def tamper(path: Path) -> None:
        blob = path.read_bytes()
        header = layout(blob).header
        offsets = {
            "magic": 0,
            "version": 4,
            "key_id": 8,
            "sealed_key": 8 + len(header.key_id) + 2 + 40,
            "nonce_prefix": layout(blob).header_size - 12,
            "chunk_size": layout(blob).header_size - 1,
        }
        flip(path, offsets[name])

    return tamper


def _chunk_byte(index: int, where: str) -> Callable[[Path], None]:
    def tamper(path: Path) -> None:
        start, end = layout(path.read_bytes()).records[index]
        flip(path, start + 3 if where == "ciphertext" else end - TAG + 5)

    return tamper


def _truncate_last_chunk(path: Path) -> None:
    blob = path.read_bytes()
    start, _ = layout(blob).records[-1]
    path.write_bytes(blob[:start])


def _cut_inside_last_chunk(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-7])


def _swap_chunks(path: Path) -> None:
    blob = path.read_bytes()
    records = layout(blob).records
    (a0, a1), (b0, b1) = records[1], records[2]
    path.write_bytes(blob[:a0] + blob[b0:b1] + blob[a0:a1] + blob[b1:])


def _append_bytes(path: Path) -> None:
    path.write_bytes(path.read_bytes() + b"\x00" * (CHUNK + TAG))


def _only_header(path: Path) -> None:
    blob = path.read_bytes()
    path.write_bytes(blob[: layout(blob).header_size])


def _half_header(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:20])


BLOB_TAMPERING = {
    "header magic": (_header_field("magic"), "magic"),
    "header version": (_header_field("version"), "version"),
    "header key id": (_header_field("key_id"), "sealed to key"),
    "header sealed data key": (_header_field("sealed_key"), "sealed data key does not open"),
    "header nonce prefix": (_header_field("nonce_prefix"), "chunk 0 fails"),
    "header chunk size": (_header_field("chunk_size"), "chunk"),
    "first chunk ciphertext": (_chunk_byte(0, "ciphertext"), "chunk 0 fails"),
    "middle chunk tag": (_chunk_byte(2, "tag"), "chunk 2 fails"),
    "last chunk ciphertext": (_chunk_byte(-1, "ciphertext"), "chunk 4 fails"),
    "truncated last chunk": (_truncate_last_chunk, "chunk 3 fails"),
    "cut inside last chunk": (_cut_inside_last_chunk, "chunk 4 fails"),
    "swapped chunks": (_swap_chunks, "chunk 1 fails"),
    "appended bytes": (_append_bytes, "chunk 4 fails"),
    "no chunks": (_only_header, "truncated after its header"),
    "cut inside header": (_half_header, "ends inside its header"),
}


def assert_detected(
    engine: Engine, vault: Vault, info: DocumentInfo, error: type[VaultError], match: str
) -> None:
    with pytest.raises(error, match=match) as raised:
        vault.read(TENANT, info.id)
    assert raised.value.document_id == info.id
    assert info.id in str(raised.value)
    events = [
        e
        for e in engine.audit_events(TENANT, info.instance_id or "")
        if e["kind"] == "document.tamper_detected"
    ]
    assert len(events) == 1
    assert events[0]["data"]["document_id"] == info.id
    assert events[0]["data"]["error"] == error.__name__
    assert engine.verify_audit(TENANT, info.instance_id or "").ok

    check = vault.verify(TENANT, info.id)
    assert not check.ok
    assert check.reason is not None
    assert info.id in check.reason
    assert kinds(engine, info.instance_id or "").count("document.tamper_detected") == 2


@pytest.mark.parametrize("case", BLOB_TAMPERING)
def test_damaged_blob_is_detected(
    engine: Engine, vault: Vault, stored: DocumentInfo, case: str
) -> None:
    tamper, match = BLOB_TAMPERING[case]
    tamper(blob_path(vault, stored.id))
    assert_detected(engine, vault, stored, TamperedDocument, match)


def test_no_unauthenticated_plaintext_is_ever_yielded(vault: Vault, stored: DocumentInfo) -> None:
    _chunk_byte(2, "ciphertext")(blob_path(vault, stored.id))
    received: list[bytes] = []
    with pytest.raises(TamperedDocument, match="chunk 2"):
        for chunk in vault.open(TENANT, stored.id):
            received.append(chunk)
    assert b"".join(received) == CONTENT[: 2 * CHUNK]


def test_blob_of_another_document_is_detected(
    engine: Engine, vault: Vault, stored: DocumentInfo, instance_id: str
) -> None:
    other = vault.store(TENANT, CONTENT, kind="recording", instance_id=instance_id)
    blob_path(vault, stored.id).write_bytes(blob_path(vault, other.id).read_bytes())
    assert_detected(engine, vault, stored, TamperedDocument, "chunk 0 fails")


@pytest.mark.parametrize(
    ("column", "value", "match"),
    [
        ("sm3", "0" * 64, "SM3 digest"),
        ("size", len(CONTENT) + 1, "bytes, its record says"),
    ],
)
def test_edited_metadata_is_detected(
    engine: Engine, vault: Vault, stored: DocumentInfo, column: str, value: object, match: str
) -> None:
    with engine.db.begin() as conn:
        conn.execute(
            update(documents_table).where(documents_table.c.id == stored.id).values({column: value})
        )
    edited = vault.info(TENANT, stored.id)
    assert_detected(engine, vault, edited, TamperedDocument, match)


def test_document_pointed_at_another_key_is_detected(
    engine: Engine, vault: Vault, stored: DocumentInfo
) -> None:
    newer = vault.keys.rotate(TENANT)
    with engine.db.begin() as conn:
        conn.execute(
            update(documents_table).where(documents_table.c.id == stored.id).values(key_id=newer.id)
        )
    assert_detected(engine, vault, stored, TamperedDocument, "sealed to key")


def test_envelope_sealed_to_another_key_is_detected(
    engine: Engine, vault: Vault, stored: DocumentInfo
) -> None:
    """The header names the right key, but the sealed data key was made for another one."""
    from loanflow.workers.vault._crypto import sm2_encrypt
    from loanflow.workers.vault._stream import Header

    path = blob_path(vault, stored.id)
    blob = path.read_bytes()
    shape = layout(blob)
    other = vault.keys.rotate(TENANT)
    forged = Header(
        shape.header.key_id,
        sm2_encrypt(bytes.fromhex(other.public_key), os.urandom(16)),
        shape.header.nonce_prefix,
        shape.header.chunk_size,
    )
    path.write_bytes(forged.encode() + blob[shape.header_size :])
    assert_detected(engine, vault, stored, TamperedDocument, "sealed data key does not open")


def test_missing_blob_is_detected(engine: Engine, vault: Vault, stored: DocumentInfo) -> None:
    blob_path(vault, stored.id).unlink()
    assert_detected(engine, vault, stored, MissingBlob, "missing")


def test_deleted_key_is_detected(engine: Engine, vault: Vault, stored: DocumentInfo) -> None:
    with engine.db.begin() as conn:
        conn.execute(delete(vault_keys_table).where(vault_keys_table.c.id == stored.key_id))
    assert_detected(engine, vault, stored, UnknownKey, stored.key_id)


def test_document_without_instance_fails_without_audit(vault: Vault) -> None:
    info = vault.store(TENANT, CONTENT, kind="scan")
    _chunk_byte(1, "tag")(blob_path(vault, info.id))
    with pytest.raises(TamperedDocument, match="chunk 1"):
        vault.read(TENANT, info.id)
