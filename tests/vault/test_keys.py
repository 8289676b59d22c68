"""Per-tenant SM2 keys: create, rotate, sign; private keys sealed under the master key."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from gmssl.sm2 import CryptSM2, default_ecc_table
from pydantic import SecretStr, ValidationError
from sqlalchemy import select, update
from vault.support import MASTER_KEY, OTHER, TENANT, kinds, settings_for

from loanflow.engine import Conflict, Engine, InvalidInput, ManualClock
from loanflow.engine.store.models import vault_keys_table
from loanflow.workers.vault import (
    MasterKeyMismatch,
    Sm2Signature,
    UnknownKey,
    Vault,
    VaultSettings,
)
from loanflow.workers.vault.settings import DEMO_MASTER_KEY


def test_create_then_conflict_then_rotate(vault: Vault, clock: ManualClock) -> None:
    first = vault.keys.create(TENANT)
    assert first.active
    assert first.retired_at is None
    assert len(first.public_key) == 130
    assert first.public_key.startswith("04")
    with pytest.raises(Conflict, match=first.id):
        vault.keys.create(TENANT)
    assert vault.keys.active(TENANT) == first

    clock.advance(days=30)
    second = vault.keys.rotate(TENANT)
    assert second.id != first.id
    assert vault.keys.active(TENANT) == second
    listed = vault.keys.list(TENANT)
    assert [k.id for k in listed] == [first.id, second.id]
    assert [k.active for k in listed] == [False, True]
    assert listed[0].retired_at == clock.now()
    assert vault.keys.get(TENANT, first.id) == listed[0]
    with pytest.raises(UnknownKey):
        vault.keys.get(OTHER, first.id)
    with pytest.raises(InvalidInput):
        vault.keys.list("*")


def test_rotation_keeps_old_documents_readable(vault: Vault, clock: ManualClock) -> None:
    old = vault.store(TENANT, b"before rotation", kind="note")
    old_signature = vault.keys.sign(TENANT, b"decision trail")
    clock.advance(days=1)
    rotated = vault.keys.rotate(TENANT)
    new = vault.store(TENANT, b"after rotation", kind="note")

    assert old.key_id != rotated.id
    assert new.key_id == rotated.id
    assert vault.read(TENANT, old.id) == b"before rotation"
    assert vault.read(TENANT, new.id) == b"after rotation"
    assert vault.keys.verify(TENANT, b"decision trail", old_signature)
    new_signature = vault.keys.sign(TENANT, b"decision trail")
    assert new_signature.key_id == rotated.id
    assert vault.keys.verify(TENANT, b"decision trail", new_signature)


def test_first_use_creates_one_key_even_under_concurrency(vault: Vault) -> None:
    barrier = threading.Barrier(6)

    def use() -> str:
        barrier.wait()
        return vault.keys.active(TENANT).id

    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(use) for _ in range(6)]
        ids = {future.result(timeout=60) for future in futures}
    assert len(ids) == 1
    assert len(vault.keys.list(TENANT)) == 1


def test_signatures(vault: Vault) -> None:
    signature = vault.keys.sign(TENANT, b"evidence digest")
    assert vault.keys.verify(TENANT, b"evidence digest", signature)
    assert not vault.keys.verify(TENANT, b"evidence digest!", signature)
    assert not vault.keys.verify(
        TENANT, b"evidence digest", Sm2Signature(signature.key_id, "zz-not-hex")
    )
    assert not vault.keys.verify(TENANT, b"evidence digest", Sm2Signature(signature.key_id, "3000"))
    with pytest.raises(UnknownKey, match=OTHER):
        vault.keys.verify(OTHER, b"evidence digest", signature)
    assert signature.as_dict()["algorithm"] == "SM2-with-SM3"


def test_private_key_at_rest_is_sealed(engine: Engine, vault: Vault) -> None:
    key = vault.keys.active(TENANT)
    with engine.db.connect() as conn:
        sealed = conn.execute(
            select(vault_keys_table.c.sealed_private_key).where(vault_keys_table.c.id == key.id)
        ).scalar_one()
    public, private = vault.keys._private(TENANT, key.id)
    assert len(private) == 32
    assert private not in sealed
    assert private.hex().encode() not in sealed
    assert len(sealed) == 1 + 12 + 32 + 16
    # the unsealed private key really is the public key's (checked with independent code)
    curve = CryptSM2(private_key=private.hex(), public_key="")
    assert curve._kg(int(private.hex(), 16), default_ecc_table["g"]) == key.public_key[2:]
    assert public.hex() == key.public_key


def test_sealed_key_is_bound_to_its_row(engine: Engine, vault: Vault) -> None:
    one = vault.keys.active(TENANT)
    two = vault.keys.active(OTHER)
    with engine.db.begin() as conn:
        sealed = conn.execute(
            select(vault_keys_table.c.sealed_private_key).where(vault_keys_table.c.id == two.id)
        ).scalar_one()
        conn.execute(
            update(vault_keys_table)
            .where(vault_keys_table.c.id == one.id)
            .values(sealed_private_key=sealed)
        )
    with pytest.raises(MasterKeyMismatch, match=one.id):
        vault.keys.sign(TENANT, b"x")


def test_wrong_master_key_is_a_clear_error(
    engine: Engine, vault: Vault, instance_id: str, tmp_path: Path
) -> None:
    info = vault.store(
        TENANT, b"sealed under the right master key", kind="note", instance_id=instance_id
    )
    wrong = Vault(engine, settings_for(tmp_path / "vault", master_key=SecretStr("x" * 40)))
    with pytest.raises(MasterKeyMismatch, match="LOANFLOW_VAULT_MASTER_KEY") as raised:
        wrong.read(TENANT, info.id)
    assert raised.value.key_id == info.key_id
    with pytest.raises(MasterKeyMismatch):
        wrong.verify(TENANT, info.id)
    with pytest.raises(MasterKeyMismatch):
        wrong.keys.sign(TENANT, b"x")
    # a configuration error is not evidence of tampering
    assert "document.tamper_detected" not in kinds(engine, instance_id)
    assert vault.read(TENANT, info.id) == b"sealed under the right master key"


def test_settings_refuse_weak_or_placeholder_master_keys(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("LOANFLOW_DEMO", "LOANFLOW_VAULT_DEMO", "LOANFLOW_VAULT_MASTER_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValidationError, match="real secret outside demo mode"):
        VaultSettings()
    with pytest.raises(ValidationError, match="at least 32 characters"):
        VaultSettings(master_key=SecretStr("short"), demo=True)
    assert VaultSettings(demo=True).master_key.get_secret_value() == DEMO_MASTER_KEY
    monkeypatch.setenv("LOANFLOW_DEMO", "true")
    assert VaultSettings().demo
    monkeypatch.delenv("LOANFLOW_DEMO")
    monkeypatch.setenv("LOANFLOW_VAULT_MASTER_KEY", MASTER_KEY)
    monkeypatch.setenv("LOANFLOW_VAULT_LOCAL_DIR", str(tmp_path))
    monkeypatch.setenv("LOANFLOW_VAULT_CHUNK_SIZE", "65536")
    loaded = VaultSettings()
    assert not loaded.demo
    assert loaded.local_dir == tmp_path
    assert loaded.chunk_size == 65536
    assert MASTER_KEY not in repr(loaded)
    with pytest.raises(ValidationError, match="S3_BUCKET"):
        VaultSettings(blob_backend="s3")
    with pytest.raises(ValidationError):
        VaultSettings(chunk_size=16)
