"""Settings of the HTTP API (``LOANFLOW_*``), on top of the engine's."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from loanflow.engine.settings import EngineSettings

__all__ = ["PLACEHOLDER_SECRET", "ApiSettings"]

PLACEHOLDER_SECRET = "change-me"


class ApiSettings(EngineSettings):
    host: str = Field("127.0.0.1", description="address the API listens on")
    port: int = Field(8000, ge=1, le=65535)
    jwt_secret: SecretStr = Field(
        SecretStr(PLACEHOLDER_SECRET), description="HS256 key that signs access tokens"
    )
    token_ttl_seconds: int = Field(3600, ge=60, le=86400)
    demo_password: SecretStr = Field(SecretStr("demo"), description="demo users' password")
    webhook_secret: SecretStr = Field(
        SecretStr(PLACEHOLDER_SECRET), description="HMAC-SHA256 key of completion callbacks"
    )
    max_body_bytes: int = Field(1_000_000, ge=1024, description="largest JSON request body")
    max_upload_bytes: int = Field(10_000_000, ge=1024, description="largest deployment upload")
    token_attempts_per_minute: int = Field(20, ge=1, description="per client address and name")
    webhook_interval: float = Field(1.0, gt=0, description="seconds between outbox sweeps")

    @model_validator(mode="after")
    def _no_placeholder_secrets(self) -> ApiSettings:
        if not self.demo:
            for name in ("jwt_secret", "webhook_secret"):
                value: SecretStr = getattr(self, name)
                if value.get_secret_value() in ("", PLACEHOLDER_SECRET):
                    raise ValueError(
                        f"LOANFLOW_{name.upper()} must be set to a real secret outside demo mode"
                    )
        return self
