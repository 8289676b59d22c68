"""Round trips through the vault: every kind of content, metadata, evidence, tenants, audit."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from vault.support import CHUNK, OTHER, TENANT, blob_path, kinds, layout

from loanflow.engine import Conflict, Engine, InvalidInput, ManualClock, NotFound
from loanflow.engine.store.models import documents_table
from loanflow.workers.vault import DocumentCheck, LocalBlobs, MemoryBlobs, Vault
from loanflow.workers.vault._crypto import sm3_hex


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 5 * CHUNK + 17])
def test_bytes_round_trip_at_chunk_boundaries(vault: Vault, size: int) -> None:
    content = os.urandom(size)
    info = vault.store(TENANT, content, kind="scan")
    assert info.size == size
    assert info.sm3 == sm3_hex(content)
    assert vault.read(TENANT, info.id) == content
    assert vault.verify(TENANT, info.id) == DocumentCheck(True)
    blob = blob_path(vault, info.id).read_bytes()
    assert content[:64] not in blob or size < 16
    expected_chunks = max(1, -(-size // CHUNK))
    assert len(layout(blob).records) == expected_chunks
    # open() yields authenticated chunks of the stored chunk size
    assert [len(c) for c in vault.open(TENANT, info.id)] == [
        min(CHUNK, size - i * CHUNK) for i in range(expected_chunks)
    ]


def test_file_object_generator_and_buffers_round_trip(vault: Vault, tmp_path: Path) -> None:
    content = os.urandom(7 * CHUNK + 5)
    on_disk = tmp_path / "recording.wav"
    on_disk.write_bytes(content)

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(content), 333):
            yield content[start : start + 333]

    sources: list[object] = [
        io.BytesIO(content),
        pieces(),
        bytearray(content),
        memoryview(content),
        [content[:10], b"", content[10:]],
    ]
    with on_disk.open("rb") as handle:
        sources.append(handle)
        ids = [vault.store(TENANT, s, kind="recording").id for s in sources]  # type: ignore[arg-type]
    for document_id in ids:
        assert vault.read(TENANT, document_id) == content
        assert vault.info(TENANT, document_id).sm3 == sm3_hex(content)


def test_refuses_text_and_bad_arguments(vault: Vault) -> None:
    with pytest.raises(TypeError, match="must be bytes"):
        vault.store(TENANT, "文本", kind="note")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be bytes"):
        vault.store(TENANT, [b"ok", "not ok"], kind="note")  # type: ignore[list-item]
    with pytest.raises(InvalidInput):
        vault.store("Not A Tenant", b"x", kind="note")
    with pytest.raises(InvalidInput):
        vault.store(TENANT, b"x", kind="")
    with pytest.raises(InvalidInput):
        vault.store(TENANT, b"x", kind="note", content_type="x" * 201)
    with pytest.raises(InvalidInput):
        vault.store(TENANT, b"x", kind="note", created_by="x" * 129)
    # nothing half-written is left behind
    assert isinstance(vault.blobs, LocalBlobs)
    assert not [p for p in vault.blobs.root.rglob("*") if p.is_file()]


def test_metadata_is_kept_and_listed_per_instance(
    engine: Engine, vault: Vault, instance_id: str, clock: ManualClock
) -> None:
    stored_at = clock.now()
    first = vault.store(
        TENANT,
        b"%PDF-1.7 ...",
        kind="contract",
        content_type="application/pdf",
        filename="借款合同.pdf",
        instance_id=instance_id,
        created_by="officer.wang",
        evidence={"source": "contract.render"},
    )
    clock.advance(seconds=1)
    second = vault.store(TENANT, b"jpeg", kind="id_card", instance_id=instance_id)
    vault.store(TENANT, b"unrelated", kind="note")

    assert vault.info(TENANT, first.id) == first
    assert first.filename == "借款合同.pdf"
    assert first.content_type == "application/pdf"
    assert first.created_by == "officer.wang"
    assert first.evidence == {"source": "contract.render"}
    assert first.created_at == stored_at
    assert [d.id for d in vault.documents(TENANT, instance_id)] == [first.id, second.id]
    assert vault.documents(OTHER, instance_id) == []

    events = [e for e in engine.audit_events(TENANT, instance_id) if e["kind"] == "document.stored"]
    assert [e["data"] for e in events] == [
        {
            "document_id": first.id,
            "kind": "contract",
            "sm3": first.sm3,
            "size": 12,
            "key_id": first.key_id,
        },
        {
            "document_id": second.id,
            "kind": "id_card",
            "sm3": second.sm3,
            "size": 4,
            "key_id": second.key_id,
        },
    ]
    assert events[0]["actor"] == "officer.wang"
    assert engine.verify_audit(TENANT, instance_id).ok


def test_other_tenants_see_nothing(vault: Vault, instance_id: str) -> None:
    info = vault.store(TENANT, b"secret", kind="id_card")
    for call in (vault.info, vault.read, vault.open, vault.verify):
        with pytest.raises(NotFound, match=info.id):
            call(OTHER, info.id)
    with pytest.raises(NotFound):
        vault.add_evidence(OTHER, info.id, "x", {})
    with pytest.raises(NotFound, match="process instance"):
        vault.store(OTHER, b"x", kind="note", instance_id=instance_id)
    with pytest.raises(NotFound):
        vault.info(TENANT, "no-such-document")
    # keys are per tenant too
    assert vault.keys.list(OTHER) == []
    assert vault.read(TENANT, info.id) == b"secret"


def test_evidence_is_append_only_and_audited(
    engine: Engine, vault: Vault, instance_id: str
) -> None:
    info = vault.store(TENANT, b"pdf", kind="contract", instance_id=instance_id)
    signature = vault.keys.sign(TENANT, bytes.fromhex(info.sm3))
    updated = vault.add_evidence(TENANT, info.id, "sm2_signature", signature.as_dict())
    assert updated.evidence == {"sm2_signature": signature.as_dict()}
    assert vault.info(TENANT, info.id).evidence == updated.evidence
    with pytest.raises(Conflict, match="sm2_signature"):
        vault.add_evidence(TENANT, info.id, "sm2_signature", {"forged": True})
    vault.add_evidence(TENANT, info.id, "timestamp", {"at": "2026-01-05T09:00:00Z"})
    assert set(vault.info(TENANT, info.id).evidence) == {"sm2_signature", "timestamp"}
    assert kinds(engine, instance_id)[-3:] == [
        "document.stored",
        "document.evidence_added",
        "document.evidence_added",
    ]
    with pytest.raises(InvalidInput):
        vault.add_evidence(TENANT, info.id, "", {})


def test_abandoned_stream_closes_its_blob(vault: Vault) -> None:
    info = vault.store(TENANT, os.urandom(4 * CHUNK), kind="recording")
    stream = vault.open(TENANT, info.id)
    assert len(next(stream)) == CHUNK
    stream.close()  # no ResourceWarning (warnings are errors here)
    unstarted = vault.open(TENANT, info.id)
    del unstarted


def test_failed_metadata_write_removes_the_blob(engine: Engine, vault_settings: object) -> None:
    blobs = MemoryBlobs()
    vault = Vault(engine, vault_settings, blobs=blobs)  # type: ignore[arg-type]
    vault.store(TENANT, b"ok", kind="note")
    assert len(blobs.blobs) == 1

    def broken() -> None:
        raise RuntimeError("database went away")

    original = engine.rt.retrying
    engine.rt.retrying = lambda fn, retries=None: broken()  # type: ignore[method-assign]
    try:
        with pytest.raises(RuntimeError, match="went away"):
            vault.store(TENANT, b"lost", kind="note")
    finally:
        engine.rt.retrying = original  # type: ignore[method-assign]
    assert len(blobs.blobs) == 1
    with engine.db.connect() as conn:
        assert len(conn.execute(select(documents_table.c.id)).all()) == 1
