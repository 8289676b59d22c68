"""The vault.store and vault.fetch workers, run as the runner runs them (JSON in, JSON out)."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from vault.support import MASTER_KEY, OTHER, TENANT, blob_path, kinds

from loanflow.engine import BusinessError, Engine, WorkerError
from loanflow.workers import WorkerRegistry, definition_of, run_worker
from loanflow.workers.vault import (
    VAULT_WORKERS,
    _workers,
    fetch_document,
    reset_shared_vault,
    shared_vault,
    store_document,
)

STORE = definition_of(store_document)
FETCH = definition_of(fetch_document)


@pytest.fixture
def environment(
    engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    monkeypatch.setenv("LOANFLOW_DATABASE_URL", db_url)
    monkeypatch.setenv("LOANFLOW_VAULT_MASTER_KEY", MASTER_KEY)
    monkeypatch.setenv("LOANFLOW_VAULT_LOCAL_DIR", str(tmp_path / "vault"))
    monkeypatch.setenv("LOANFLOW_VAULT_IMPORT_DIR", str(inbox))
    monkeypatch.delenv("LOANFLOW_DEMO", raising=False)
    reset_shared_vault()
    yield inbox
    reset_shared_vault()


def test_declared_but_not_built_in() -> None:
    assert [definition_of(w).topic for w in VAULT_WORKERS] == ["vault.store", "vault.fetch"]
    assert WorkerRegistry(VAULT_WORKERS).topics() == ["vault.fetch", "vault.store"]
    from loanflow.workers.builtin import BUILTIN_WORKERS

    assert not set(VAULT_WORKERS) & set(BUILTIN_WORKERS)


def test_store_then_fetch(engine: Engine, environment: Path, instance_id: str) -> None:
    content = "身份证正面".encode() + os.urandom(3000)
    stored = run_worker(
        STORE,
        {
            "tenant": TENANT,
            "content_base64": base64.b64encode(content).decode(),
            "kind": "id_card",
            "content_type": "image/jpeg",
            "filename": "front.jpg",
            "instance_id": instance_id,
            "created_by": "officer.wang",
        },
    )
    assert stored["size"] == len(content)
    assert stored["kind"] == "id_card"
    assert stored["instance_id"] == instance_id
    assert isinstance(stored["created_at"], str)
    assert "document.stored" in kinds(engine, instance_id)

    fetched = run_worker(FETCH, {"tenant": TENANT, "document_id": stored["id"]})
    assert base64.b64decode(fetched["content_base64"]) == content
    assert fetched["sm3"] == stored["sm3"]
    assert fetched["filename"] == "front.jpg"
    assert shared_vault() is shared_vault()


def test_store_from_the_import_directory(environment: Path) -> None:
    (environment / "scan.pdf").write_bytes(b"%PDF scan")
    stored = run_worker(STORE, {"tenant": TENANT, "path": "scan.pdf", "kind": "scan"})
    assert stored["filename"] == "scan.pdf"
    fetched = run_worker(FETCH, {"tenant": TENANT, "document_id": stored["id"]})
    assert base64.b64decode(fetched["content_base64"]) == b"%PDF scan"

    outside = environment.parent / "secret.txt"
    outside.write_text("not yours")
    for path in (str(outside), "../secret.txt"):
        with pytest.raises(WorkerError, match="outside") as refused:
            run_worker(STORE, {"tenant": TENANT, "path": path, "kind": "scan"})
        assert not refused.value.retryable
    with pytest.raises(WorkerError, match="no file"):
        run_worker(STORE, {"tenant": TENANT, "path": "missing.pdf", "kind": "scan"})


def test_paths_are_refused_without_an_import_directory(
    environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOANFLOW_VAULT_IMPORT_DIR")
    reset_shared_vault()
    (environment / "scan.pdf").write_bytes(b"x")
    with pytest.raises(WorkerError, match="disabled"):
        run_worker(STORE, {"tenant": TENANT, "path": str(environment / "scan.pdf"), "kind": "x"})


def test_bad_store_input(environment: Path) -> None:
    for payload in (
        {"tenant": TENANT, "kind": "x"},
        {"tenant": TENANT, "kind": "x", "content_base64": "eA==", "path": "a"},
    ):
        with pytest.raises(WorkerError, match="exactly one") as bad:
            run_worker(STORE, payload)
        assert not bad.value.retryable
    with pytest.raises(WorkerError, match="not base64"):
        run_worker(STORE, {"tenant": TENANT, "kind": "x", "content_base64": "***"})


def test_fetch_refusals(engine: Engine, environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stored = run_worker(
        STORE, {"tenant": TENANT, "kind": "recording", "content_base64": "aGVsbG8gd29ybGQ="}
    )
    with monkeypatch.context() as patch:
        patch.setattr(_workers, "MAX_FETCH_BYTES", 5)
        with pytest.raises(BusinessError, match=r"Vault\.open") as too_large:
            run_worker(FETCH, {"tenant": TENANT, "document_id": stored["id"]})
    assert too_large.value.code == "VAULT_DOCUMENT_TOO_LARGE"

    with pytest.raises(WorkerError, match="not found") as other:
        run_worker(FETCH, {"tenant": OTHER, "document_id": stored["id"]})
    assert not other.value.retryable

    path = blob_path(shared_vault(), stored["id"])
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(WorkerError, match="integrity") as tampered:
        run_worker(FETCH, {"tenant": TENANT, "document_id": stored["id"]})
    assert not tampered.value.retryable

    path.unlink()
    with pytest.raises(WorkerError, match="missing") as missing:
        run_worker(FETCH, {"tenant": TENANT, "document_id": stored["id"]})
    assert missing.value.retryable
