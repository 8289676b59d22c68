"""Fixtures of the contract tests: a sealer, SM2 keys on gmssl_pyx, storage, requests, service."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import gmssl_pyx
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine as SqlEngine

from loanflow.engine import ManualClock
from loanflow.engine.store.db import connect
from loanflow.workers.contract import (
    DEFAULT_FONT_PATH,
    Borrower,
    CertificateStore,
    ContractRequest,
    ContractService,
    Guarantor,
    Lender,
)

if not DEFAULT_FONT_PATH.is_file():
    pytest.skip(
        f"the CJK font {DEFAULT_FONT_PATH} is missing (Debian: fonts-wqy-zenhei)",
        allow_module_level=True,
    )

LENDER = "湖北恩施农村商业银行股份有限公司"
BORROWER_ID = "422801199001011234"


class AesSealer:
    """AES-GCM with a random nonce: what the vault's master-key sealer does, minus the KDF."""

    def __init__(self) -> None:
        self._aead = AESGCM(AESGCM.generate_key(bit_length=128))

    def seal(self, data: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, data, b"loanflow-test")

    def unseal(self, data: bytes) -> bytes:
        return self._aead.decrypt(data[:12], data[12:], b"loanflow-test")


class GmsslKeys:
    """SM2 evidence keys straight on gmssl_pyx: one key pair per tenant."""

    def __init__(self) -> None:
        self._pairs: dict[str, tuple[str, bytes, bytes]] = {}

    def _pair(self, tenant: str) -> tuple[str, bytes, bytes]:
        if tenant not in self._pairs:
            public, private = gmssl_pyx.sm2_key_generate()
            self._pairs[tenant] = (f"{tenant}-sm2-1", public, private)
        return self._pairs[tenant]

    def sign(self, tenant: str, data: bytes) -> tuple[str, str]:
        key_id, public, private = self._pair(tenant)
        return key_id, gmssl_pyx.sm2_sign(private, public, data).hex()

    def verify(self, tenant: str, data: bytes, key_id: str, signature: str) -> bool:
        known_id, public, _ = self._pair(tenant)
        if key_id != known_id:
            return False
        try:
            return bool(gmssl_pyx.sm2_verify(public, data, bytes.fromhex(signature)))
        except (ValueError, gmssl_pyx.InvalidValueError, gmssl_pyx.GmsslInnerError):
            return False


@dataclass
class StoredDoc:
    id: str
    sm3: str
    size: int


@dataclass
class MemoryStorage:
    """A dict with the vault's shape."""

    documents: dict[tuple[str, str], bytes] = field(default_factory=dict)
    meta: dict[str, dict[str, Any]] = field(default_factory=dict)
    evidence: dict[str, dict[str, Any]] = field(default_factory=dict)

    def store(
        self,
        tenant: str,
        content: bytes,
        *,
        kind: str,
        content_type: str,
        filename: str | None = None,
        instance_id: str | None = None,
        created_by: str | None = None,
        evidence: dict[str, Any] | None = None,
    ) -> StoredDoc:
        doc_id = str(uuid.uuid4())
        self.documents[(tenant, doc_id)] = content
        self.meta[doc_id] = {"kind": kind, "content_type": content_type, "filename": filename}
        self.evidence[doc_id] = dict(evidence or {})
        return StoredDoc(doc_id, "", len(content))

    def read(self, tenant: str, document_id: str) -> bytes:
        return self.documents[(tenant, document_id)]

    def add_evidence(self, tenant: str, document_id: str, name: str, value: dict[str, Any]) -> None:
        assert (tenant, document_id) in self.documents
        self.evidence[document_id][name] = value


@pytest.fixture
def sealer() -> AesSealer:
    return AesSealer()


@pytest.fixture
def sm2_keys() -> GmsslKeys:
    return GmsslKeys()


@pytest.fixture
def db(db_url: str) -> Iterator[SqlEngine]:
    built = connect(db_url)
    yield built
    built.dispose()


@pytest.fixture
def certificates(db: SqlEngine, sealer: AesSealer, clock: ManualClock) -> CertificateStore:
    return CertificateStore(db, sealer, clock)


@pytest.fixture
def service(
    certificates: CertificateStore, sm2_keys: GmsslKeys, clock: ManualClock
) -> ContractService:
    return ContractService(certificates, evidence_keys=sm2_keys, clock=clock)


@pytest.fixture
def make_request() -> Callable[..., ContractRequest]:
    """A contract request with sensible values; keyword arguments override fields."""

    def build(**overrides: Any) -> ContractRequest:
        values: dict[str, Any] = {
            "contract_number": "HT-2026-0001",
            "tenant": "enshi",
            "product": "personal_loan",
            "lender": Lender(name=LENDER, address="湖北省恩施市施州大道1号"),
            "borrower": Borrower(
                name="张三", id_number=BORROWER_ID, address="湖北省恩施市舞阳坝街道"
            ),
            "guarantors": [Guarantor(name="李四", id_number="42280119880202123X")],
            "amount": Decimal("100000.00"),
            "annual_rate": Decimal("0.0435"),
            "months": 24,
            "method": "equal_installment",
            "start_date": date(2026, 1, 5),
            "signing_city": "恩施市",
            "signing_date": date(2026, 1, 5),
        }
        values.update(overrides)
        return ContractRequest(**values)

    return build


@pytest.fixture
def keep_artifact() -> Callable[[Path], Path]:
    """Copy a file the lead may want to look at to ``var/test-artifacts/`` of the work tree."""

    def keep(path: Path) -> Path:
        target_dir = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / path.name
        shutil.copy(path, target)
        return target

    return keep


@pytest.fixture
def memory_storage() -> MemoryStorage:
    return MemoryStorage()
