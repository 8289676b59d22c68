"""The national algorithms the vault uses, behind one small typed surface.

- SM3 and SM4 (ECB for vectors, GCM for everything stored) come from ``cryptography``
  (bundled OpenSSL: hundreds of MB/s; pure-Python ``gmssl`` runs at ~0.2 MB/s).
- SM2 comes from ``gmssl_pyx``, a binding of the GmSSL C library: a CSPRNG for the
  ephemeral key and the C3 check on decryption (pure-Python ``gmssl`` has neither).
- HKDF-SM3 (RFC 5869 with SM3) derives the key that seals private keys from the master key.

Formats, and how they map to other libraries (see ``tests/vault/test_interop_gmssl.py``):

- Public key: 65 bytes, SEC1 uncompressed ``04 || x || y``; stored as 130 hex characters.
  GmSSL wants the 64 bytes without ``04``; pure-Python ``gmssl.sm2.CryptSM2`` wants 128 hex
  characters without ``04`` too, but its constructor's ``public_key.lstrip("04")`` strips any
  run of leading ``0``/``4`` characters from a key starting with ``04``: prefixed keys whose
  x starts with hex ``0``/``4`` and unprefixed keys whose x starts with byte ``04`` are
  corrupted. Assign ``crypt.public_key`` after constructing it.
- SM2 ciphertext: GmSSL writes the GM/T 0009 DER ``SEQUENCE { x INTEGER, y INTEGER,
  hash OCTET STRING (C3), ciphertext OCTET STRING (C2) }``, i.e. C1C3C2. Pure-Python gmssl
  writes raw ``x || y || C3 || C2`` (``mode=1``) or ``x || y || C2 || C3`` (``mode=0``, its
  default despite the docstring), with no ``04`` before C1. :func:`sm2_ciphertext_to_raw`
  and :func:`sm2_ciphertext_from_raw` convert.
- SM2 signature: DER ``SEQUENCE { r INTEGER, s INTEGER }`` over ``SM3(Z || M)`` with the
  default signer id ``1234567812345678`` (GB/T 35276). Pure-Python gmssl's
  ``sign_with_sm3``/``verify_with_sm3`` compute the same ``Z`` and ``e``; they speak raw
  ``r || s`` (64 bytes) unless built with ``asn1=True``. :func:`sm2_signature_to_raw` and
  :func:`sm2_signature_from_raw` convert.
"""

from __future__ import annotations

import os

import gmssl_pyx  # type: ignore[import-untyped]  # ships a .pyi but no py.typed
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "GCM_TAG_SIZE",
    "SM2_SIGNER_ID",
    "SM4_KEY_SIZE",
    "CryptoFailure",
    "hkdf_sm3",
    "random_bytes",
    "sm2_ciphertext_from_raw",
    "sm2_ciphertext_to_raw",
    "sm2_decrypt",
    "sm2_encrypt",
    "sm2_generate",
    "sm2_public_key",
    "sm2_sign",
    "sm2_signature_from_raw",
    "sm2_signature_to_raw",
    "sm2_verify",
    "sm3",
    "sm3_hex",
    "sm4_ecb_encrypt",
    "sm4_gcm_decrypt",
    "sm4_gcm_encrypt",
]

SM4_KEY_SIZE = 16
GCM_TAG_SIZE = 16
#: the default signer id of GB/T 35276 (also GmSSL's and gmssl's)
SM2_SIGNER_ID = b"1234567812345678"
_COORDINATE = 32


class CryptoFailure(ValueError):
    """An authentication check failed or an input is malformed; the message says which."""


def random_bytes(n: int) -> bytes:
    """``n`` bytes from the operating system's CSPRNG."""
    return os.urandom(n)


# -- SM3 ----------------------------------------------------------------------------------


def sm3() -> hashes.Hash:
    """A fresh incremental SM3 (``update`` / ``finalize``)."""
    return hashes.Hash(hashes.SM3())


def sm3_hex(data: bytes) -> str:
    digest = sm3()
    digest.update(data)
    return digest.finalize().hex()


def hkdf_sm3(secret: bytes, *, info: bytes, length: int = SM4_KEY_SIZE) -> bytes:
    """RFC 5869 HKDF with HMAC-SM3, no salt: a key bound to ``info`` (the context)."""
    return HKDF(algorithm=hashes.SM3(), length=length, salt=None, info=info).derive(secret)


# -- SM4 ----------------------------------------------------------------------------------


def sm4_ecb_encrypt(key: bytes, blocks: bytes) -> bytes:
    """Raw SM4 block encryption (test vectors only; never use ECB for data)."""
    encryptor = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    return encryptor.update(blocks) + encryptor.finalize()


def sm4_gcm_encrypt(key: bytes, nonce: bytes, aad: bytes, plaintext: bytes) -> bytes:
    """SM4-GCM; returns ``ciphertext || tag`` (16-byte tag)."""
    encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(aad)
    out = encryptor.update(plaintext) + encryptor.finalize()
    return out + encryptor.tag


def sm4_gcm_decrypt(key: bytes, nonce: bytes, aad: bytes, sealed: bytes) -> bytes:
    """Open ``ciphertext || tag``; :class:`CryptoFailure` unless the tag authenticates."""
    if len(sealed) < GCM_TAG_SIZE:
        raise CryptoFailure("shorter than a GCM tag")
    body = memoryview(sealed)[:-GCM_TAG_SIZE]
    tag = bytes(sealed[-GCM_TAG_SIZE:])
    decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    decryptor.authenticate_additional_data(aad)
    plaintext = decryptor.update(body)
    try:
        return plaintext + decryptor.finalize()
    except InvalidTag:
        raise CryptoFailure("GCM tag does not authenticate") from None


# -- SM2 ----------------------------------------------------------------------------------


def sm2_generate() -> tuple[bytes, bytes]:
    """A fresh key pair: (65-byte uncompressed public key ``04||x||y``, 32-byte private key)."""
    public, private = gmssl_pyx.sm2_key_generate()
    return b"\x04" + bytes(public), bytes(private)


def sm2_public_key(value: bytes | str) -> bytes:
    """The 65-byte ``04||x||y`` form of a public key given as bytes or hex (64, 65, 33 bytes).

    Checks that the point is on the curve; :class:`CryptoFailure` otherwise.
    """
    try:
        raw = gmssl_pyx.normalize_sm2_public_key(value)
    except gmssl_pyx.InvalidValueError:
        raise CryptoFailure("not an SM2 public key on the recommended curve") from None
    return b"\x04" + bytes(raw)


def _gmssl_public(public: bytes) -> bytes:
    return public[1:] if len(public) == 65 else public


def sm2_encrypt(public: bytes, plaintext: bytes) -> bytes:
    """SM2 public-key encryption (1–255 bytes, e.g. a data key) as DER C1C3C2."""
    return bytes(gmssl_pyx.sm2_encrypt(_gmssl_public(public), plaintext))


def sm2_decrypt(private: bytes, ciphertext: bytes) -> bytes:
    """Decrypt DER C1C3C2; :class:`CryptoFailure` when C3 does not match or DER is malformed."""
    try:
        return bytes(gmssl_pyx.sm2_decrypt(private, ciphertext))
    except gmssl_pyx.GmsslInnerError:
        raise CryptoFailure("SM2 decryption failed (C3 check or encoding)") from None


def sm2_sign(private: bytes, public: bytes, message: bytes) -> bytes:
    """SM2 signature of SM3(Z || message), Z over the default signer id; DER ``(r, s)``."""
    return bytes(
        gmssl_pyx.sm2_sign(private, _gmssl_public(public), message, signer_id=SM2_SIGNER_ID)
    )


def sm2_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` (DER) is valid; a malformed signature is simply not valid."""
    try:
        return bool(
            gmssl_pyx.sm2_verify(_gmssl_public(public), message, signature, signer_id=SM2_SIGNER_ID)
        )
    except gmssl_pyx.GmsslInnerError:
        return False


def sm2_signature_to_raw(der: bytes) -> bytes:
    """DER ``SEQUENCE {r, s}`` to raw ``r || s`` (32 + 32 bytes)."""
    try:
        r, s = decode_dss_signature(der)
    except ValueError:
        raise CryptoFailure("not a DER SM2 signature") from None
    return r.to_bytes(_COORDINATE, "big") + s.to_bytes(_COORDINATE, "big")


def sm2_signature_from_raw(raw: bytes) -> bytes:
    """Raw ``r || s`` (64 bytes) to DER."""
    if len(raw) != 2 * _COORDINATE:
        raise CryptoFailure("a raw SM2 signature is 64 bytes")
    return encode_dss_signature(
        int.from_bytes(raw[:_COORDINATE], "big"), int.from_bytes(raw[_COORDINATE:], "big")
    )


# -- SM2 ciphertext encodings (GM/T 0009 DER <-> raw C1C3C2 / C1C2C3) ----------------------


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(body)) + body


def _der_integer(value: int) -> bytes:
    body = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big")
    return _der(0x02, body)


def _der_read(data: bytes, pos: int, tag: int) -> tuple[bytes, int]:
    if pos + 2 > len(data) or data[pos] != tag:
        raise CryptoFailure("malformed DER SM2 ciphertext")
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise CryptoFailure("malformed DER SM2 ciphertext")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise CryptoFailure("malformed DER SM2 ciphertext")
    return data[pos : pos + length], pos + length


def sm2_ciphertext_to_raw(der: bytes, *, order: str = "C1C3C2") -> bytes:
    """GmSSL's DER ciphertext as raw bytes ``x||y||C3||C2`` (or ``C1C2C3``), no ``04``.

    The raw form is what pure-Python ``gmssl`` reads (``mode=1`` for C1C3C2, ``mode=0`` for
    C1C2C3); prepend ``04`` for libraries that expect the SEC1 point (BouncyCastle, OpenSSL
    raw mode).
    """
    body, end = _der_read(der, 0, 0x30)
    if end != len(der):
        raise CryptoFailure("trailing bytes after DER SM2 ciphertext")
    x, pos = _der_read(body, 0, 0x02)
    y, pos = _der_read(body, pos, 0x02)
    c3, pos = _der_read(body, pos, 0x04)
    c2, pos = _der_read(body, pos, 0x04)
    if pos != len(body) or len(c3) != 32:
        raise CryptoFailure("malformed DER SM2 ciphertext")
    c1 = int.from_bytes(x, "big").to_bytes(_COORDINATE, "big") + int.from_bytes(y, "big").to_bytes(
        _COORDINATE, "big"
    )
    if order == "C1C3C2":
        return c1 + c3 + c2
    if order == "C1C2C3":
        return c1 + c2 + c3
    raise ValueError("order is 'C1C3C2' or 'C1C2C3'")


def _on_curve(c1: bytes) -> bool:
    try:
        gmssl_pyx.normalize_sm2_public_key(c1)
    except gmssl_pyx.InvalidValueError:
        return False
    return True


def sm2_ciphertext_from_raw(raw: bytes, *, order: str = "C1C3C2") -> bytes:
    """Raw ``[04]||x||y||C3||C2`` (or ``C1C2C3``) as the DER GmSSL decrypts.

    Whether C1 carries the ``04`` prefix is found by checking which reading is a curve point.
    """
    c1_size = 2 * _COORDINATE
    if len(raw) > c1_size + 32 and not _on_curve(raw[:c1_size]) and raw[0] == 0x04:
        raw = raw[1:]
    if len(raw) <= c1_size + 32 or not _on_curve(raw[:c1_size]):
        raise CryptoFailure("not a raw SM2 ciphertext (C1 is not a curve point)")
    x = int.from_bytes(raw[:_COORDINATE], "big")
    y = int.from_bytes(raw[_COORDINATE:c1_size], "big")
    rest = raw[c1_size:]
    if order == "C1C3C2":
        c3, c2 = rest[:32], rest[32:]
    elif order == "C1C2C3":
        c2, c3 = rest[:-32], rest[-32:]
    else:
        raise ValueError("order is 'C1C3C2' or 'C1C2C3'")
    return _der(0x30, _der_integer(x) + _der_integer(y) + _der(0x04, c3) + _der(0x04, c2))
