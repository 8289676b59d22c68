"""Signatures with RFC 3161 timestamps from a TSA on loopback (PAdES B-T)."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.keys.internal import (
    translate_pyca_cryptography_cert_to_asn1,
    translate_pyca_cryptography_key_to_asn1,
)
from pyhanko.sign.timestamps import DummyTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore
from sqlalchemy import Engine as SqlEngine

from loanflow.engine import SystemClock
from loanflow.workers.contract import (
    DEFAULT_TEMPLATE,
    CertificateStore,
    ContractRequest,
    ContractService,
    ContractSettings,
    Signatory,
    SigningError,
    SignInput,
    VerifyInput,
    render_contract,
)

LENDER = "湖北恩施农村商业银行股份有限公司"


def _tsa_pki() -> tuple[x509.Certificate, x509.Certificate, rsa.RSAPrivateKey]:
    now = datetime.now(UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test TSA Root")])
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    tsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # pyhanko's test TSA
    tsa = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test TSA")]))
        .issuer_name(root_name)
        .public_key(tsa_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    return root, tsa, tsa_key


@pytest.fixture
def tsa(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A timestamp authority on 127.0.0.1: its URL and the PEM file of its root."""
    root, cert, key = _tsa_pki()
    embedded = SimpleCertificateStore()
    embedded.register(translate_pyca_cryptography_cert_to_asn1(root))
    stamper = DummyTimeStamper(
        tsa_cert=translate_pyca_cryptography_cert_to_asn1(cert),
        tsa_key=translate_pyca_cryptography_key_to_asn1(key),
        certs_to_embed=embedded,
    )

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            request = tsp.TimeStampReq.load(body)
            answer = asyncio.run(stamper.async_request_tsa_response(request)).dump()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    root_pem = tmp_path / "tsa-root.pem"
    root_pem.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/tsa", root_pem
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _service(db: SqlEngine, sealer: Any, settings: ContractSettings) -> ContractService:
    # TSA tokens carry the real time, so this test signs and verifies on the real clock
    clock = SystemClock()
    return ContractService(CertificateStore(db, sealer, clock), settings=settings, clock=clock)


def _sign(service: ContractService, pdf: bytes) -> bytes:
    output = service.sign(
        SignInput(
            tenant="enshi",
            contract_number="HT-2026-0001",
            pdf_base64=base64.b64encode(pdf).decode(),
            customer=Signatory(name="张三", id_number="422801199001011234"),
            lender_name=LENDER,
        )
    )
    assert output.pdf_base64 is not None
    return base64.b64decode(output.pdf_base64)


def test_signatures_carry_a_trusted_timestamp(
    db: SqlEngine,
    sealer: Any,
    tsa: tuple[str, Path],
    make_request: Callable[..., ContractRequest],
) -> None:
    url, root_pem = tsa
    service = _service(db, sealer, ContractSettings(tsa_url=url, tsa_trust_roots=[root_pem]))
    signed = _sign(service, render_contract(make_request(), DEFAULT_TEMPLATE).pdf)
    result = service.verify(
        VerifyInput(tenant="enshi", pdf_base64=base64.b64encode(signed).decode())
    )
    assert result.ok, result.reasons
    for report in result.signatures:
        assert report.timestamp is not None
        assert abs(report.timestamp - datetime.now(UTC)) < timedelta(minutes=5)


def test_a_timestamp_from_an_untrusted_tsa_fails(
    db: SqlEngine,
    sealer: Any,
    tsa: tuple[str, Path],
    make_request: Callable[..., ContractRequest],
) -> None:
    url, _ = tsa
    service = _service(db, sealer, ContractSettings(tsa_url=url))
    signed = _sign(service, render_contract(make_request(), DEFAULT_TEMPLATE).pdf)
    result = service.verify(
        VerifyInput(tenant="enshi", pdf_base64=base64.b64encode(signed).decode())
    )
    assert not result.ok
    assert any("timestamp" in r for r in result.reasons)


def test_an_unreachable_tsa_is_a_retryable_signing_error(
    db: SqlEngine, sealer: Any, make_request: Callable[..., ContractRequest]
) -> None:
    service = _service(
        db, sealer, ContractSettings(tsa_url="http://127.0.0.1:9/tsa", tsa_timeout=2)
    )
    with pytest.raises(SigningError) as caught:
        _sign(service, render_contract(make_request(), DEFAULT_TEMPLATE).pdf)
    assert caught.value.retryable
