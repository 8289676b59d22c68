"""Standard test vectors (GB/T 32905 SM3, GB/T 32907 SM4, RFC 8998 SM4-GCM) and SM2 round trips."""

from __future__ import annotations

import os

import gmssl_pyx
import pytest

from loanflow.workers.vault._crypto import (
    CryptoFailure,
    hkdf_sm3,
    sm2_decrypt,
    sm2_encrypt,
    sm2_generate,
    sm2_public_key,
    sm2_sign,
    sm2_verify,
    sm3,
    sm3_hex,
    sm4_ecb_encrypt,
    sm4_gcm_decrypt,
    sm4_gcm_encrypt,
)

# GB/T 32905-2016, Appendix A
SM3_ABC = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
SM3_ABCD16 = "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"

# GB/T 32907-2016, Appendix A
SM4_KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")
SM4_EXAMPLE_1 = "681edf34d206965e86b3e94f536e4246"
SM4_EXAMPLE_2 = "595298c7c6fd271f0402f804c33d3f66"  # after 1,000,000 encryptions

# RFC 8998, Appendix A.1 (SM4-GCM)
GCM_KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
GCM_IV = bytes.fromhex("00001234567800000000ABCD")
GCM_AAD = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
GCM_PLAINTEXT = bytes.fromhex(
    "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
    "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"
)
GCM_CIPHERTEXT = bytes.fromhex(
    "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
    "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
)
GCM_TAG = bytes.fromhex("83DE3541E4C2B58177E065A9BF7B62EC")


def test_sm3_standard_vectors() -> None:
    assert sm3_hex(b"abc") == SM3_ABC
    assert sm3_hex(b"abcd" * 16) == SM3_ABCD16
    incremental = sm3()
    message = b"abcd" * 16
    for start, end in ((0, 3), (3, 3), (3, 40), (40, 64)):
        incremental.update(message[start:end])
    assert incremental.finalize().hex() == SM3_ABCD16


def test_sm4_standard_vectors() -> None:
    assert sm4_ecb_encrypt(SM4_KEY, SM4_KEY).hex() == SM4_EXAMPLE_1
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    encryptor = Cipher(algorithms.SM4(SM4_KEY), modes.ECB()).encryptor()
    block = SM4_KEY
    for _ in range(1_000_000):
        block = encryptor.update(block)
    assert block.hex() == SM4_EXAMPLE_2


def test_sm4_gcm_rfc8998_vector() -> None:
    sealed = sm4_gcm_encrypt(GCM_KEY, GCM_IV, GCM_AAD, GCM_PLAINTEXT)
    assert sealed == GCM_CIPHERTEXT + GCM_TAG
    assert sm4_gcm_decrypt(GCM_KEY, GCM_IV, GCM_AAD, sealed) == GCM_PLAINTEXT
    # GmSSL's own SM4-GCM agrees with OpenSSL's on the vector
    assert gmssl_pyx.sm4_gcm_encrypt(GCM_KEY, GCM_IV, GCM_AAD, GCM_PLAINTEXT) == (
        GCM_CIPHERTEXT,
        GCM_TAG,
    )


@pytest.mark.parametrize("where", ["ciphertext", "tag", "aad", "nonce"])
def test_sm4_gcm_rejects_any_change(where: str) -> None:
    sealed = bytearray(GCM_CIPHERTEXT + GCM_TAG)
    aad, nonce = bytearray(GCM_AAD), bytearray(GCM_IV)
    target = {"ciphertext": sealed, "tag": sealed, "aad": aad, "nonce": nonce}[where]
    target[-1 if where == "tag" else 0] ^= 0x01
    with pytest.raises(CryptoFailure):
        sm4_gcm_decrypt(GCM_KEY, bytes(nonce), bytes(aad), bytes(sealed))
    with pytest.raises(CryptoFailure):
        sm4_gcm_decrypt(GCM_KEY, GCM_IV, GCM_AAD, b"short")


def test_hkdf_sm3_is_deterministic_and_bound_to_its_context() -> None:
    one = hkdf_sm3(b"m" * 32, info=b"context-a")
    assert len(one) == 16
    assert hkdf_sm3(b"m" * 32, info=b"context-a") == one
    assert hkdf_sm3(b"m" * 32, info=b"context-b") != one
    assert hkdf_sm3(b"n" * 32, info=b"context-a") != one


def test_sm2_encrypt_decrypt_round_trip() -> None:
    public, private = sm2_generate()
    assert len(public) == 65
    assert public[0] == 4
    assert len(private) == 32
    assert sm2_public_key(public.hex()) == public
    assert sm2_public_key(public[1:]) == public
    for size in (1, 16, 32, 255):
        message = os.urandom(size)
        sealed = sm2_encrypt(public, message)
        assert sealed != sm2_encrypt(public, message)  # fresh ephemeral key each time
        assert sm2_decrypt(private, sealed) == message


def test_sm2_decrypt_detects_tampering_and_the_wrong_key() -> None:
    public, private = sm2_generate()
    _, other_private = sm2_generate()
    sealed = sm2_encrypt(public, b"k" * 16)
    with pytest.raises(CryptoFailure):
        sm2_decrypt(other_private, sealed)
    for position in (-1, len(sealed) // 2):  # C2, C3
        altered = bytearray(sealed)
        altered[position] ^= 0x01
        with pytest.raises(CryptoFailure):
            sm2_decrypt(private, bytes(altered))


def test_sm2_sign_verify_round_trip() -> None:
    public, private = sm2_generate()
    other_public, _ = sm2_generate()
    signature = sm2_sign(private, public, "借款合同".encode())
    assert signature[0] == 0x30  # DER SEQUENCE
    assert sm2_verify(public, "借款合同".encode(), signature)
    assert not sm2_verify(public, "借款合同!".encode(), signature)
    assert not sm2_verify(other_public, "借款合同".encode(), signature)
    assert not sm2_verify(public, "借款合同".encode(), b"\x30\x00")


def test_sm2_public_key_refuses_points_off_the_curve() -> None:
    public, _ = sm2_generate()
    off = bytearray(public)
    off[-1] ^= 0x01
    with pytest.raises(CryptoFailure):
        sm2_public_key(bytes(off))
