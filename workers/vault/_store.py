"""The vault: documents sealed in digital envelopes, metadata in ``documents``.

Storing a document (all in one pass over the content, whatever its size):

1. SM3 of the plaintext and its size, computed as it streams;
2. a fresh 128-bit SM4 data key (``os.urandom``), sealed with the tenant's active SM2
   public key (the digital envelope, GmSSL's SM2 encryption with its C3 check);
3. the content encrypted chunk by chunk with SM4-GCM (the ``LFV1`` format of
   :mod:`loanflow.workers.vault._stream`) and written to the blob backend atomically;
4. the metadata row, and ``document.stored`` on the instance's audit chain, in one
   transaction (the blob is removed again if that transaction fails).

Reading verifies every chunk tag before yielding its plaintext, then the SM3 digest and size
against the metadata. Any failure raises a :class:`VaultError` naming the document and
appends ``document.tamper_detected`` to the instance's audit chain.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO

from sqlalchemy import Connection, RowMapping, insert, select, update

from loanflow.engine.audit import AuditRecord, sm3_hex
from loanflow.engine.engine import Engine
from loanflow.engine.errors import Conflict, InvalidInput, NotFound
from loanflow.engine.jobs import append_audit
from loanflow.engine.store.models import documents_table, instances_table
from loanflow.workers.vault._blobs import BlobBackend, BlobNotFound, LocalBlobs, S3Blobs
from loanflow.workers.vault._crypto import (
    SM4_KEY_SIZE,
    CryptoFailure,
    random_bytes,
    sm3,
)
from loanflow.workers.vault._errors import (
    MissingBlob,
    TamperedDocument,
    UnknownKey,
    VaultError,
)
from loanflow.workers.vault._keys import KeyRing, check_tenant
from loanflow.workers.vault._stream import (
    NONCE_PREFIX_SIZE,
    ByteReader,
    Header,
    StreamError,
    decrypt_chunks,
    encrypt_chunks,
    rechunk,
)
from loanflow.workers.vault.settings import VaultSettings

__all__ = ["DocumentCheck", "DocumentInfo", "Vault", "blobs_from_settings"]

log = logging.getLogger(__name__)

documents = documents_table
_MAX_KIND = 64
_MAX_EVIDENCE_NAME = 64


@dataclass(frozen=True)
class DocumentInfo:
    """A stored document's metadata (never its content or keys)."""

    id: str
    tenant: str
    instance_id: str | None
    kind: str
    filename: str | None
    content_type: str
    size: int
    sm3: str
    """Hex SM3 digest of the plaintext."""
    key_id: str
    """The SM2 key whose public half sealed the data key."""
    created_at: datetime
    created_by: str | None
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DocumentCheck:
    """The outcome of :meth:`Vault.verify`; ``reason`` says what failed."""

    ok: bool
    reason: str | None = None


def _info(row: Mapping[Any, Any]) -> DocumentInfo:
    return DocumentInfo(
        id=row["id"],
        tenant=row["tenant"],
        instance_id=row["instance_id"],
        kind=row["kind"],
        filename=row["filename"],
        content_type=row["content_type"],
        size=int(row["size"]),
        sm3=row["sm3"],
        key_id=row["key_id"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        evidence=dict(row["evidence"] or {}),
    )


def _canonical(value: dict[str, Any]) -> bytes:
    return json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
    ).encode()


def blobs_from_settings(settings: VaultSettings) -> BlobBackend:
    """The blob backend the settings name (S3 clients are built here, not at import)."""
    if settings.blob_backend == "s3":
        assert settings.s3_bucket is not None  # checked by VaultSettings
        return S3Blobs.connect(
            settings.s3_bucket,
            settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
        )
    return LocalBlobs(settings.local_dir)


def _pieces(content: bytes | BinaryIO | Iterable[bytes], size: int) -> Iterable[bytes]:
    if isinstance(content, bytes | bytearray):
        return (bytes(content),)
    if isinstance(content, memoryview):
        return (content.tobytes(),)
    read = getattr(content, "read", None)
    if callable(read):
        return iter(lambda: read(size), b"")
    return content


class _Measured:
    """Passes chunks through while computing their SM3 and total size."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = chunks
        self._digest = sm3()
        self.size = 0
        self.sm3 = ""

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self._digest.update(chunk)
            self.size += len(chunk)
            yield chunk
        self.sm3 = self._digest.finalize().hex()


class Vault:
    """The encrypted document store of every tenant; thread-safe.

    ``blobs`` replaces the backend the settings name (tests, or a caller's own storage).
    """

    def __init__(
        self,
        engine: Engine,
        settings: VaultSettings,
        *,
        blobs: BlobBackend | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.keys = KeyRing(engine, settings)
        self.blobs = blobs if blobs is not None else blobs_from_settings(settings)

    # -- storing --------------------------------------------------------------------------

    def store(
        self,
        tenant: str,
        content: bytes | BinaryIO | Iterable[bytes],
        *,
        kind: str,
        content_type: str = "application/octet-stream",
        filename: str | None = None,
        instance_id: str | None = None,
        created_by: str | None = None,
        evidence: dict[str, Any] | None = None,
    ) -> DocumentInfo:
        """Encrypt and store ``content`` (bytes, a binary file object, or an iterable of bytes).

        The content is read once, in chunks; memory stays bounded whatever its size. With
        ``instance_id`` (an instance of ``tenant``, else :class:`NotFound`) the instance's
        audit chain records ``document.stored`` with the id, kind, digest and size.
        """
        check_tenant(tenant)
        if not kind or len(kind) > _MAX_KIND:
            raise InvalidInput("a document kind is 1 to 64 characters", {"kind": "length"})
        if filename is not None and len(filename) > 255:
            raise InvalidInput("a filename is at most 255 characters", {"filename": "length"})
        if not content_type or len(content_type) > 200:
            raise InvalidInput("a content type is 1 to 200 characters", {"content_type": "length"})
        if created_by is not None and len(created_by) > 128:
            raise InvalidInput("created_by is at most 128 characters", {"created_by": "length"})
        if instance_id is not None:
            self._check_instance(tenant, instance_id)
        document_id = str(uuid.uuid4())
        locator = f"{tenant}/{document_id[:2]}/{document_id}.lfv"

        data_key = random_bytes(SM4_KEY_SIZE)
        key, sealed = self.keys.seal_data_key(tenant, data_key)
        header = Header(key.id, sealed, random_bytes(NONCE_PREFIX_SIZE), self.settings.chunk_size)
        measured = _Measured(rechunk(_pieces(content, header.chunk_size), header.chunk_size))
        self.blobs.put(locator, encrypt_chunks(header, data_key, document_id, measured))

        now = self.engine.clock.now()
        row = {
            "id": document_id,
            "tenant": tenant,
            "instance_id": instance_id,
            "kind": kind,
            "filename": filename,
            "content_type": content_type,
            "size": measured.size,
            "sm3": measured.sm3,
            "key_id": key.id,
            "blob": locator,
            "evidence": dict(evidence or {}),
            "created_at": now,
            "created_by": created_by,
        }

        def write() -> None:
            with self.engine.rt.transaction() as conn:
                conn.execute(insert(documents).values(**row))
                if instance_id is not None:
                    record = AuditRecord(
                        "document.stored",
                        {
                            "document_id": document_id,
                            "kind": kind,
                            "sm3": measured.sm3,
                            "size": measured.size,
                            "key_id": key.id,
                        },
                        actor=created_by,
                    )
                    append_audit(conn, tenant, instance_id, [record], now)

        try:
            self.engine.rt.retrying(write)
        except BaseException:
            self.blobs.delete(locator)
            raise
        log.info(
            "stored document %s (%s, %s bytes) for tenant %s",
            document_id,
            kind,
            measured.size,
            tenant,
        )
        return _info(row)

    def _check_instance(self, tenant: str, instance_id: str) -> None:
        with self.engine.db.connect() as conn:
            found = conn.execute(
                select(instances_table.c.id).where(
                    instances_table.c.id == instance_id, instances_table.c.tenant == tenant
                )
            ).scalar_one_or_none()
        if found is None:
            raise NotFound(f"process instance {instance_id} not found")

    # -- metadata -------------------------------------------------------------------------

    def _row(self, conn: Connection, tenant: str, document_id: str) -> RowMapping:
        row = (
            conn.execute(
                select(documents).where(documents.c.id == document_id, documents.c.tenant == tenant)
            )
            .mappings()
            .one_or_none()
        )
        if row is None:
            raise NotFound(f"document {document_id} not found")
        return row

    def info(self, tenant: str, document_id: str) -> DocumentInfo:
        """A document's metadata; :class:`NotFound` for an unknown or another tenant's id."""
        check_tenant(tenant)
        with self.engine.db.connect() as conn:
            return _info(self._row(conn, tenant, document_id))

    def documents(self, tenant: str, instance_id: str) -> list[DocumentInfo]:
        """The documents of one instance, oldest first."""
        check_tenant(tenant)
        with self.engine.db.connect() as conn:
            rows = conn.execute(
                select(documents)
                .where(documents.c.tenant == tenant, documents.c.instance_id == instance_id)
                .order_by(documents.c.created_at, documents.c.id)
            ).mappings()
        return [_info(row) for row in rows]

    def add_evidence(
        self, tenant: str, document_id: str, name: str, value: dict[str, Any]
    ) -> DocumentInfo:
        """Attach evidence (e.g. a detached SM2 signature) under a new ``name``.

        Evidence is append-only: a name already present raises :class:`Conflict`. With an
        instance, its audit chain records ``document.evidence_added`` with the SM3 of the
        value, so a later edit of the JSON column is detectable.
        """
        check_tenant(tenant)
        if not name or len(name) > _MAX_EVIDENCE_NAME:
            raise InvalidInput("an evidence name is 1 to 64 characters", {"name": "length"})
        if not isinstance(value, dict):
            raise InvalidInput("evidence is a JSON object", {"value": "type"})

        def write() -> DocumentInfo:
            with self.engine.rt.transaction() as conn:
                row = (
                    conn.execute(
                        select(documents)
                        .where(documents.c.id == document_id, documents.c.tenant == tenant)
                        .with_for_update()
                    )
                    .mappings()
                    .one_or_none()
                )
                if row is None:
                    raise NotFound(f"document {document_id} not found")
                evidence = dict(row["evidence"] or {})
                if name in evidence:
                    raise Conflict(f"document {document_id} already has evidence {name!r}")
                evidence[name] = value
                conn.execute(
                    update(documents).where(documents.c.id == document_id).values(evidence=evidence)
                )
                if row["instance_id"] is not None:
                    digest = sm3_hex(_canonical(value))
                    record = AuditRecord(
                        "document.evidence_added",
                        {"document_id": document_id, "name": name, "sm3": digest},
                    )
                    append_audit(
                        conn, tenant, row["instance_id"], [record], self.engine.clock.now()
                    )
                return _info({**row, "evidence": evidence})

        return self.engine.rt.retrying(write)

    # -- reading --------------------------------------------------------------------------

    def open(self, tenant: str, document_id: str) -> Iterator[bytes]:
        """The plaintext in chunks, each authenticated before it is yielded.

        The header and envelope are checked before this returns (so :class:`NotFound`,
        :class:`MissingBlob`, :class:`UnknownKey` and a tampered header raise here); a
        failing chunk raises :class:`TamperedDocument` from the iteration, and the SM3 digest
        and size are checked after the last chunk. Chunks already yielded are authentic,
        but a consumer writing them somewhere must discard that output if iteration raises.
        """
        check_tenant(tenant)
        with self.engine.db.connect() as conn:
            row = self._row(conn, tenant, document_id)
        info = _info(row)
        locator: str = row["blob"]
        reader: ByteReader | None = None
        try:
            reader = ByteReader(self.blobs.get(locator))
            header, data_key, encoded = self._open_header(info, reader)
        except BlobNotFound:
            if reader is not None:
                reader.close()
            raise self._failed(info, MissingBlob(info.id, locator)) from None
        except BaseException:
            if reader is not None:
                reader.close()
            raise
        return self._plaintext(info, reader, header, encoded, data_key)

    def _open_header(self, info: DocumentInfo, reader: ByteReader) -> tuple[Header, bytes, bytes]:
        try:
            header, encoded = Header.read(reader)
        except StreamError as exc:
            raise self._failed(info, TamperedDocument(info.id, str(exc))) from None
        if header.key_id != info.key_id:
            raise self._failed(
                info,
                TamperedDocument(
                    info.id,
                    f"blob is sealed to key {header.key_id}, its record names {info.key_id}",
                ),
            )
        try:
            data_key = self.keys.open_data_key(info.tenant, header.key_id, header.sealed_key)
        except UnknownKey as exc:
            raise self._failed(
                info, UnknownKey(info.tenant, exc.key_id, document_id=info.id)
            ) from None
        except CryptoFailure:
            raise self._failed(
                info,
                TamperedDocument(
                    info.id, f"the sealed data key does not open with key {header.key_id}"
                ),
            ) from None
        if len(data_key) != SM4_KEY_SIZE:
            raise self._failed(
                info, TamperedDocument(info.id, "the sealed data key is not an SM4 key")
            )
        return header, data_key, encoded

    def _plaintext(
        self, info: DocumentInfo, reader: ByteReader, header: Header, encoded: bytes, key: bytes
    ) -> Iterator[bytes]:
        digest = sm3()
        size = 0
        try:
            for chunk in decrypt_chunks(reader, header, encoded, key, info.id):
                digest.update(chunk)
                size += len(chunk)
                yield chunk
        except StreamError as exc:
            raise self._failed(info, TamperedDocument(info.id, str(exc))) from None
        finally:
            reader.close()
        if size != info.size:
            raise self._failed(
                info,
                TamperedDocument(info.id, f"content is {size} bytes, its record says {info.size}"),
            )
        if digest.finalize().hex() != info.sm3:
            raise self._failed(
                info, TamperedDocument(info.id, "SM3 digest of the content differs from its record")
            )

    def read(self, tenant: str, document_id: str) -> bytes:
        """The whole plaintext, verified; for small documents (use :meth:`open` to stream)."""
        return b"".join(self.open(tenant, document_id))

    def verify(self, tenant: str, document_id: str) -> DocumentCheck:
        """Decrypt the whole document, checking every tag, the digest and the size.

        A failure is reported (and audited like a failed read), not raised; an unknown
        document still raises :class:`NotFound` and a wrong master key
        :class:`MasterKeyMismatch`.
        """
        try:
            for _ in self.open(tenant, document_id):
                pass
        except (TamperedDocument, MissingBlob, UnknownKey) as exc:
            return DocumentCheck(False, str(exc))
        return DocumentCheck(True)

    # -- failures -------------------------------------------------------------------------

    def _failed(self, info: DocumentInfo, error: VaultError) -> VaultError:
        """Log and audit a failed read; returns ``error`` for the caller to raise."""
        log.error("vault read failed for tenant %s: %s", info.tenant, error)
        if info.instance_id is not None:
            record = AuditRecord(
                "document.tamper_detected",
                {"document_id": info.id, "error": type(error).__name__, "reason": str(error)},
            )
            try:
                self.engine.rt.retrying(lambda: self._append(info, record))
            except Exception:  # the integrity error must still reach the caller
                log.exception("could not audit the failed read of document %s", info.id)
        return error

    def _append(self, info: DocumentInfo, record: AuditRecord) -> None:
        assert info.instance_id is not None
        with self.engine.rt.transaction() as conn:
            append_audit(conn, info.tenant, info.instance_id, [record], self.engine.clock.now())
