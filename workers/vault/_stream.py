"""The ``LFV1`` blob format: a digital-envelope header, then a chunked SM4-GCM stream.

Layout (integers big-endian)::

    header  "LFV1" | version u8 = 1 | flags u8 = 0
            | key id length u16 | key id (ASCII)
            | sealed data key length u16 | sealed data key (SM2 DER C1C3C2)
            | nonce prefix (8 random bytes) | chunk size u32
    chunks  ciphertext || tag (16)   for each chunk of ``chunk size`` plaintext bytes;
                                     the last holds the rest (0 .. chunk size bytes)

This is the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015): chunk ``i`` is
sealed with nonce ``prefix || i`` (u32) and the associated data::

    "LFV1" | document id length u16 | document id | key id length u16 | key id
           | SM3(header) | last flag (0x01 on the final chunk, else 0x00)

so each chunk authenticates on its own (a reader yields plaintext only after its tag
checked, with at most one chunk in memory), a reordered or moved chunk fails (counter),
a truncated stream fails (no chunk with the last flag where the data ends), appended bytes
fail (the true last chunk is then read as "not last"), and a blob copied under another
document id or an altered header fails at the first chunk.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from loanflow.workers.vault._crypto import (
    GCM_TAG_SIZE,
    CryptoFailure,
    sm3,
    sm4_gcm_decrypt,
    sm4_gcm_encrypt,
)
from loanflow.workers.vault.settings import MAX_CHUNK_SIZE, MIN_CHUNK_SIZE

__all__ = [
    "MAGIC",
    "VERSION",
    "ByteReader",
    "Header",
    "StreamError",
    "decrypt_chunks",
    "encrypt_chunks",
    "rechunk",
]

MAGIC = b"LFV1"
VERSION = 1
NONCE_PREFIX_SIZE = 8
MAX_KEY_ID = 64
MAX_SEALED_KEY = 512
MAX_CHUNKS = 2**32
_FIXED = struct.Struct(">4sBB")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")


class StreamError(ValueError):
    """The blob is not a valid ``LFV1`` stream for this document; the message says where."""


class ByteReader:
    """Exact-size reads over an iterator of byte pieces of any size, without re-copying."""

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self._pieces = iter(pieces)
        self._buffer = bytearray()
        self._pos = 0
        self._eof = False

    def _fill(self, n: int) -> None:
        while len(self._buffer) - self._pos < n and not self._eof:
            try:
                piece = next(self._pieces)
            except StopIteration:
                self._eof = True
                return
            if self._pos:
                del self._buffer[: self._pos]
                self._pos = 0
            self._buffer += piece

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes; fewer only at the end of the stream."""
        self._fill(n)
        out = bytes(self._buffer[self._pos : self._pos + n])
        self._pos += len(out)
        return out

    def at_end(self) -> bool:
        self._fill(1)
        return len(self._buffer) - self._pos == 0

    def close(self) -> None:
        close = getattr(self._pieces, "close", None)
        if close is not None:
            close()


@dataclass(frozen=True)
class Header:
    key_id: str
    sealed_key: bytes
    nonce_prefix: bytes
    chunk_size: int

    def encode(self) -> bytes:
        key_id = self.key_id.encode("ascii")
        return b"".join(
            (
                _FIXED.pack(MAGIC, VERSION, 0),
                _U16.pack(len(key_id)),
                key_id,
                _U16.pack(len(self.sealed_key)),
                self.sealed_key,
                self.nonce_prefix,
                _U32.pack(self.chunk_size),
            )
        )

    @classmethod
    def read(cls, reader: ByteReader) -> tuple[Header, bytes]:
        """The header at the start of ``reader`` and its exact bytes (for the AAD)."""
        raw = bytearray()

        def take(n: int, what: str) -> bytes:
            part = reader.read(n)
            if len(part) != n:
                raise StreamError(f"blob ends inside its header ({what})")
            raw.extend(part)
            return part

        magic, version, flags = _FIXED.unpack(take(_FIXED.size, "magic"))
        if magic != MAGIC:
            raise StreamError(f"not an LFV1 blob (magic {magic!r})")
        if version != VERSION or flags != 0:
            raise StreamError(f"unsupported LFV1 version {version} / flags {flags}")
        (key_len,) = _U16.unpack(take(2, "key id length"))
        if not 0 < key_len <= MAX_KEY_ID:
            raise StreamError(f"bad key id length {key_len} in header")
        try:
            key_id = take(key_len, "key id").decode("ascii")
        except UnicodeDecodeError:
            raise StreamError("key id in header is not ASCII") from None
        (sealed_len,) = _U16.unpack(take(2, "sealed key length"))
        if not 0 < sealed_len <= MAX_SEALED_KEY:
            raise StreamError(f"bad sealed key length {sealed_len} in header")
        sealed = take(sealed_len, "sealed key")
        prefix = take(NONCE_PREFIX_SIZE, "nonce prefix")
        (chunk_size,) = _U32.unpack(take(4, "chunk size"))
        if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
            raise StreamError(f"chunk size {chunk_size} in header is out of range")
        return cls(key_id, sealed, prefix, chunk_size), bytes(raw)


def _aad_prefix(document_id: str, key_id: str, header: bytes) -> bytes:
    doc = document_id.encode()
    key = key_id.encode()
    digest = sm3()
    digest.update(header)
    return b"".join((MAGIC, _U16.pack(len(doc)), doc, _U16.pack(len(key)), key, digest.finalize()))


def _nonce(prefix: bytes, counter: int) -> bytes:
    if counter >= MAX_CHUNKS:
        raise StreamError("too many chunks for one document")
    return prefix + _U32.pack(counter)


def rechunk(pieces: Iterable[bytes], size: int) -> Iterator[bytes]:
    """Pieces of any size as chunks of exactly ``size`` bytes, the last possibly shorter.

    Yields nothing for empty input. Holds at most one chunk plus one incoming piece.
    """
    buffer = bytearray()
    for piece in pieces:
        if not isinstance(piece, bytes | bytearray | memoryview):
            raise TypeError(f"document content must be bytes, got {type(piece).__name__}")
        view = memoryview(piece).cast("B")
        if not buffer and len(view) >= size:
            whole = len(view) - len(view) % size
            for start in range(0, whole, size):
                yield bytes(view[start : start + size])
            view = view[whole:]
        buffer += view
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)


def encrypt_chunks(
    header: Header, data_key: bytes, document_id: str, chunks: Iterable[bytes]
) -> Iterator[bytes]:
    """The blob: the header, then each chunk sealed (``chunks`` from :func:`rechunk`).

    Holds one chunk back to know which one is last; empty content gives one empty chunk.
    """
    encoded = header.encode()
    yield encoded
    aad = _aad_prefix(document_id, header.key_id, encoded)
    counter = 0
    pending: bytes | None = None
    for chunk in chunks:
        if pending is not None:
            nonce = _nonce(header.nonce_prefix, counter)
            yield sm4_gcm_encrypt(data_key, nonce, aad + b"\x00", pending)
            counter += 1
        pending = chunk
    nonce = _nonce(header.nonce_prefix, counter)
    yield sm4_gcm_encrypt(data_key, nonce, aad + b"\x01", pending or b"")


def decrypt_chunks(
    reader: ByteReader, header: Header, encoded: bytes, data_key: bytes, document_id: str
) -> Iterator[bytes]:
    """Plaintext chunks, each yielded only after its tag authenticated; StreamError if not."""
    aad = _aad_prefix(document_id, header.key_id, encoded)
    record = header.chunk_size + GCM_TAG_SIZE
    counter = 0
    while True:
        sealed = reader.read(record)
        last = len(sealed) < record or reader.at_end()
        if len(sealed) < GCM_TAG_SIZE:
            where = "after its header" if counter == 0 else f"after chunk {counter - 1}"
            raise StreamError(f"blob is truncated {where}")
        try:
            plaintext = sm4_gcm_decrypt(
                data_key,
                _nonce(header.nonce_prefix, counter),
                aad + (b"\x01" if last else b"\x00"),
                sealed,
            )
        except CryptoFailure:
            problem = "altered, moved, truncated or extended" if last else "altered or moved"
            raise StreamError(f"chunk {counter} fails authentication ({problem})") from None
        yield plaintext
        if last:
            return
        counter += 1
