"""The two digests every contract document carries: SHA-256 (what PAdES signs) and SM3."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes

__all__ = ["sha256_hex", "sm3", "sm3_hex"]


def sm3(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def sm3_hex(data: bytes) -> str:
    return sm3(data).hex()


def sha256_hex(data: bytes) -> str:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize().hex()
