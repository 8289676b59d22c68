"""Vault settings, read from ``LOANFLOW_VAULT_*`` environment variables when built."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEMO_MASTER_KEY", "MAX_CHUNK_SIZE", "MIN_CHUNK_SIZE", "VaultSettings"]

#: accepted only in demo mode; anything sealed under it is readable by anyone with the source
DEMO_MASTER_KEY = "change-me-demo-master-key-000000000"
MIN_MASTER_KEY_LENGTH = 32
MIN_CHUNK_SIZE = 256
MAX_CHUNK_SIZE = 64 * 1024 * 1024


class VaultSettings(BaseSettings):
    """Where ciphertext goes and which master key seals the tenants' private keys.

    ``demo`` also reads ``LOANFLOW_DEMO``, so one switch puts the whole platform in demo mode.
    Outside demo mode the placeholder master key is refused: changing the master key later
    makes every sealed private key, and so every stored document, unreadable.
    """

    model_config = SettingsConfigDict(
        env_prefix="LOANFLOW_VAULT_", extra="ignore", populate_by_name=True
    )

    master_key: SecretStr = Field(
        SecretStr(DEMO_MASTER_KEY),
        description="secret (>= 32 characters) from which the key sealing SM2 private keys "
        "is derived (HKDF-SM3)",
    )
    demo: bool = Field(
        False,
        validation_alias=AliasChoices("LOANFLOW_VAULT_DEMO", "LOANFLOW_DEMO"),
        description="allow the placeholder master key",
    )
    blob_backend: Literal["local", "s3"] = Field("local", description="where ciphertext is kept")
    local_dir: Path = Field(Path("var/vault"), description="root of the local blob backend")
    s3_bucket: str | None = Field(None, description="bucket of the S3 backend")
    s3_endpoint_url: str | None = Field(
        None, description="S3-compatible endpoint (MinIO, Ceph, OSS…); None for AWS"
    )
    s3_prefix: str = Field("", description="key prefix inside the bucket, e.g. 'vault/'")
    s3_region: str | None = Field(None, description="region of the bucket")
    chunk_size: int = Field(
        1024 * 1024,
        ge=MIN_CHUNK_SIZE,
        le=MAX_CHUNK_SIZE,
        description="plaintext bytes per authenticated chunk (memory per stream ~ 3 chunks)",
    )
    import_dir: Path | None = Field(
        None,
        description="the vault.store worker reads a 'path' only from inside this directory; "
        "None refuses paths (job input is not trusted to name local files)",
    )

    @model_validator(mode="after")
    def _check(self) -> VaultSettings:
        secret = self.master_key.get_secret_value()
        if len(secret) < MIN_MASTER_KEY_LENGTH:
            raise ValueError(
                f"LOANFLOW_VAULT_MASTER_KEY must be at least {MIN_MASTER_KEY_LENGTH} characters"
            )
        if secret == DEMO_MASTER_KEY and not self.demo:
            raise ValueError(
                "LOANFLOW_VAULT_MASTER_KEY must be set to a real secret outside demo mode"
            )
        if self.blob_backend == "s3" and not self.s3_bucket:
            raise ValueError("LOANFLOW_VAULT_S3_BUCKET is required with blob_backend 's3'")
        return self
