"""Blob backends: atomic local writes, S3 (multipart) under moto, locator checks."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from vault.support import TENANT, settings_for

from loanflow.engine import Engine
from loanflow.workers.vault import (
    BlobBackend,
    BlobNotFound,
    LocalBlobs,
    MemoryBlobs,
    MissingBlob,
    S3Blobs,
    TamperedDocument,
    Vault,
    blobs_from_settings,
)

MIB = 1024 * 1024


def failing(parts: list[bytes]) -> Iterator[bytes]:
    yield from parts
    raise OSError("disk full")


def files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_local_put_get_delete(tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path)
    assert isinstance(blobs, BlobBackend)
    assert blobs.put("enshi/ab/doc.lfv", [b"one", b"", b"two"]) == 6
    assert b"".join(blobs.get("enshi/ab/doc.lfv")) == b"onetwo"
    blobs.delete("enshi/ab/doc.lfv")
    blobs.delete("enshi/ab/doc.lfv")
    with pytest.raises(BlobNotFound):
        b"".join(blobs.get("enshi/ab/doc.lfv"))


def test_local_write_is_atomic(tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path)
    with pytest.raises(OSError, match="disk full"):
        blobs.put("enshi/ab/new.lfv", failing([b"partial"] * 3))
    assert files(tmp_path) == []  # neither the blob nor a temporary file

    blobs.put("enshi/ab/old.lfv", [b"complete old blob"])
    with pytest.raises(OSError, match="disk full"):
        blobs.put("enshi/ab/old.lfv", failing([b"half of a new one"]))
    assert b"".join(blobs.get("enshi/ab/old.lfv")) == b"complete old blob"
    assert files(tmp_path) == [tmp_path / "enshi/ab/old.lfv"]


def test_local_write_is_never_visible_half_done(tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path)
    seen: list[bool] = []

    def watching() -> Iterator[bytes]:
        for _ in range(3):
            seen.append((tmp_path / "enshi/ab/doc.lfv").exists())
            yield b"x" * 100

    blobs.put("enshi/ab/doc.lfv", watching())
    assert seen == [False, False, False]
    assert (tmp_path / "enshi/ab/doc.lfv").stat().st_size == 300


@pytest.mark.parametrize(
    "locator", ["../escape.lfv", "/etc/passwd", "enshi/../../x", "Enshi/doc", "", "a//b", "a/.."]
)
def test_locators_cannot_escape(tmp_path: Path, locator: str) -> None:
    with pytest.raises(ValueError, match="invalid blob locator"):
        LocalBlobs(tmp_path).put(locator, [b"x"])


def test_memory_backend(engine: Engine, tmp_path: Path) -> None:
    blobs = MemoryBlobs()
    vault = Vault(engine, settings_for(tmp_path), blobs=blobs)
    info = vault.store(TENANT, b"in memory", kind="note")
    assert vault.read(TENANT, info.id) == b"in memory"
    assert list(blobs.blobs) == [f"{TENANT}/{info.id[:2]}/{info.id}.lfv"]


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="vault")
        yield client


def test_s3_small_and_multipart(s3: object) -> None:
    blobs = S3Blobs(s3, "vault", "docs/", part_size=5 * MIB)
    assert blobs.put("enshi/ab/small.lfv", [b"tiny"]) == 4
    assert b"".join(blobs.get("enshi/ab/small.lfv")) == b"tiny"

    content = os.urandom(11 * MIB + 3)
    pieces = (content[i : i + 300_000] for i in range(0, len(content), 300_000))
    assert blobs.put("enshi/ab/large.lfv", pieces) == len(content)
    assert b"".join(blobs.get("enshi/ab/large.lfv")) == content
    head = s3.head_object(Bucket="vault", Key="docs/enshi/ab/large.lfv")  # type: ignore[attr-defined]
    assert head["ETag"].strip('"').endswith("-3")  # three parts: 5 + 5 + 1 MiB

    blobs.delete("enshi/ab/large.lfv")
    with pytest.raises(BlobNotFound):
        b"".join(blobs.get("enshi/ab/large.lfv"))


def test_s3_failed_upload_leaves_nothing(s3: object) -> None:
    blobs = S3Blobs(s3, "vault", part_size=5 * MIB)
    with pytest.raises(OSError, match="disk full"):
        blobs.put("enshi/ab/broken.lfv", failing([os.urandom(MIB)] * 7))
    assert s3.list_multipart_uploads(Bucket="vault").get("Uploads", []) == []  # type: ignore[attr-defined]
    assert s3.list_objects_v2(Bucket="vault").get("KeyCount") == 0  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="5 MiB"):
        S3Blobs(s3, "vault", part_size=MIB)


def test_vault_on_s3(engine: Engine, s3: object, tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path, blob_backend="s3", s3_bucket="vault", s3_prefix="loanflow/", chunk_size=MIB
    )
    backend = blobs_from_settings(settings)
    assert isinstance(backend, S3Blobs)
    vault = Vault(engine, settings, blobs=S3Blobs(s3, "vault", "loanflow/", part_size=5 * MIB))
    content = os.urandom(6 * MIB + 1)
    info = vault.store(TENANT, content, kind="recording")
    assert vault.read(TENANT, info.id) == content

    key = f"loanflow/{TENANT}/{info.id[:2]}/{info.id}.lfv"
    blob = bytearray(s3.get_object(Bucket="vault", Key=key)["Body"].read())  # type: ignore[attr-defined]
    blob[-100] ^= 0x01
    s3.put_object(Bucket="vault", Key=key, Body=bytes(blob))  # type: ignore[attr-defined]
    with pytest.raises(TamperedDocument, match="chunk 5 fails"):
        vault.read(TENANT, info.id)
    s3.delete_object(Bucket="vault", Key=key)  # type: ignore[attr-defined]
    with pytest.raises(MissingBlob):
        vault.read(TENANT, info.id)
