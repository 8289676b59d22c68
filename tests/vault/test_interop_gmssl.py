"""Interoperability with pure-Python ``gmssl`` 3.2.2 (what many bank integrators use).

Findings, each pinned by a test below:

- SM3: identical digests (and identical to GmSSL's ``sm3_hash``).
- SM2 keys: the same curve and point encoding. ``gmssl`` wants the public key as 128 hex
  characters without the ``04`` prefix, but its constructor does
  ``public_key.lstrip("04") if public_key.startswith("04")``, which strips every leading
  ``0`` and ``4`` character: a prefixed key whose x starts with hex ``0`` or ``4`` (1 in 8)
  is corrupted, and so is an *unprefixed* key whose x starts with byte ``04`` (1 in 256;
  encryption then fails or produces garbage). Set ``crypt.public_key`` after construction.
- SM2 encryption: GmSSL (and the vault) write GM/T 0009 DER ``SEQUENCE {x, y, C3, C2}``
  (C1C3C2); ``gmssl`` reads and writes raw ``x||y||C3||C2`` with ``mode=1`` and
  ``x||y||C2||C3`` with ``mode=0`` (its default, although its docstring says 1), never with
  the ``04`` prefix on C1. Converted with ``sm2_ciphertext_to_raw`` /
  ``sm2_ciphertext_from_raw``, envelopes open both ways.
- ``gmssl`` never checks C3 on decryption: a tampered ciphertext decrypts to garbage without
  an error (GmSSL refuses it), and its ephemeral key comes from ``random`` (not a CSPRNG).
  Use it to read, never to seal.
- SM2 signatures: both sign ``SM3(Z || M)`` with the default signer id ``1234567812345678``.
  GmSSL writes DER ``SEQUENCE {r, s}``; ``gmssl`` writes raw ``r||s`` (64 bytes, hex) unless
  ``asn1=True``, then DER hex. Signatures verify both ways in both encodings.
"""

from __future__ import annotations

import os

import gmssl_pyx
import pytest
from gmssl import sm3 as py_sm3
from gmssl import sm4 as py_sm4
from gmssl.sm2 import CryptSM2
from vault.support import TENANT, blob_path, layout

from loanflow.engine import Engine
from loanflow.workers.vault import Vault
from loanflow.workers.vault._crypto import (
    sm2_ciphertext_from_raw,
    sm2_ciphertext_to_raw,
    sm2_decrypt,
    sm2_encrypt,
    sm2_generate,
    sm2_sign,
    sm2_signature_from_raw,
    sm2_signature_to_raw,
    sm2_verify,
    sm3_hex,
)


def py_sm2(private: bytes | None, public: bytes, *, mode: int = 1, asn1: bool = False) -> CryptSM2:
    """A pure-Python gmssl instance, its public key set past the constructor (see above)."""
    crypt = CryptSM2(
        private_key=private.hex() if private else None, public_key="", mode=mode, asn1=asn1
    )
    crypt.public_key = public[1:].hex()
    return crypt


@pytest.mark.parametrize("size", [0, 1, 3, 55, 56, 63, 64, 65, 1000, 4096])
def test_sm3_digests_agree(size: int) -> None:
    message = os.urandom(size)
    expected = sm3_hex(message)
    assert py_sm3.sm3_hash(list(message)) == expected
    assert gmssl_pyx.sm3_hash(message).hex() == expected


def test_sm4_ecb_vector_in_pure_python_gmssl() -> None:
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    crypt = py_sm4.CryptSM4()
    crypt.set_key(key, py_sm4.SM4_ENCRYPT)
    # gmssl pads with PKCS#7: the first block is the standard example
    assert crypt.crypt_ecb(key)[:16].hex() == "681edf34d206965e86b3e94f536e4246"


def test_key_formats_agree() -> None:
    public, private = sm2_generate()
    derived = py_sm2(private, public)._kg(
        int(private.hex(), 16), py_sm2(None, public).ecc_table["g"]
    )
    assert derived == public[1:].hex()


def key_where(condition: str) -> bytes:
    while True:
        public, _ = sm2_generate()
        if public[1:].hex().startswith(condition):
            return public


@pytest.mark.parametrize(
    ("x_starts", "given"), [("0", "prefixed"), ("4", "prefixed"), ("04", "raw")]
)
def test_gmssl_constructor_corrupts_some_public_keys(x_starts: str, given: str) -> None:
    public = key_where(x_starts)
    text = public.hex() if given == "prefixed" else public[1:].hex()
    crypt = CryptSM2(private_key=None, public_key=text)
    assert crypt.public_key != public[1:].hex()
    assert len(crypt.public_key) < 128


@pytest.mark.parametrize("size", [1, 16, 32, 100, 255])
def test_gmssl_pyx_envelope_opens_with_gmssl(size: int) -> None:
    public, private = sm2_generate()
    message = os.urandom(size)
    sealed = sm2_encrypt(public, message)
    assert sealed[0] == 0x30  # DER
    c1c3c2 = sm2_ciphertext_to_raw(sealed)
    c1c2c3 = sm2_ciphertext_to_raw(sealed, order="C1C2C3")
    assert len(c1c3c2) == 64 + 32 + size
    assert py_sm2(private, public, mode=1).decrypt(c1c3c2) == message
    assert py_sm2(private, public, mode=0).decrypt(c1c2c3) == message


@pytest.mark.parametrize("size", [1, 16, 32, 100, 255])
def test_gmssl_envelope_opens_with_gmssl_pyx(size: int) -> None:
    public, private = sm2_generate()
    message = os.urandom(size)
    c1c3c2 = py_sm2(None, public, mode=1).encrypt(message)
    c1c2c3 = py_sm2(None, public, mode=0).encrypt(message)
    assert sm2_decrypt(private, sm2_ciphertext_from_raw(c1c3c2)) == message
    assert sm2_decrypt(private, sm2_ciphertext_from_raw(b"\x04" + c1c3c2)) == message
    assert sm2_decrypt(private, sm2_ciphertext_from_raw(c1c2c3, order="C1C2C3")) == message


def test_gmssl_does_not_check_c3_but_gmssl_pyx_does() -> None:
    public, private = sm2_generate()
    raw = bytearray(py_sm2(None, public, mode=1).encrypt(b"data key 16 byte"))
    raw[64] ^= 0x01  # first byte of C3
    assert py_sm2(private, public, mode=1).decrypt(bytes(raw)) == b"data key 16 byte"
    with pytest.raises(ValueError, match="SM2 decryption failed"):
        sm2_decrypt(private, sm2_ciphertext_from_raw(bytes(raw)))


def test_gmssl_pyx_signatures_verify_with_gmssl() -> None:
    public, private = sm2_generate()
    message = "贷款合同 HT-2026-0001".encode()
    der = sm2_sign(private, public, message)
    assert py_sm2(None, public, asn1=True).verify_with_sm3(der.hex(), message)
    assert py_sm2(None, public).verify_with_sm3(sm2_signature_to_raw(der).hex(), message)
    assert not py_sm2(None, public, asn1=True).verify_with_sm3(der.hex(), message + b"!")


def test_gmssl_signatures_verify_with_gmssl_pyx() -> None:
    public, private = sm2_generate()
    message = "贷款合同 HT-2026-0001".encode()
    raw = bytes.fromhex(py_sm2(private, public).sign_with_sm3(message))
    assert len(raw) == 64
    assert sm2_verify(public, message, sm2_signature_from_raw(raw))
    der = bytes.fromhex(py_sm2(private, public, asn1=True).sign_with_sm3(message))
    assert sm2_verify(public, message, der)
    assert not sm2_verify(public, message + b"!", der)


def test_vault_signature_and_envelope_open_with_gmssl(engine: Engine, vault: Vault) -> None:
    info = vault.store(TENANT, b"contract bytes", kind="contract")
    key = vault.keys.get(TENANT, info.key_id)
    public = bytes.fromhex(key.public_key)

    signature = vault.keys.sign(TENANT, b"evidence digest")
    assert py_sm2(None, public, asn1=True).verify_with_sm3(signature.signature, b"evidence digest")

    # The blob's digital envelope opens with pure-Python gmssl given the tenant's private key.
    _, private = vault.keys._private(TENANT, key.id)
    sealed = layout(blob_path(vault, info.id).read_bytes()).header.sealed_key
    data_key = py_sm2(private, public, mode=1).decrypt(sm2_ciphertext_to_raw(sealed))
    assert data_key == sm2_decrypt(private, sealed)
    assert len(data_key) == 16
