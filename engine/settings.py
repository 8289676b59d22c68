"""Engine settings, read from ``LOANFLOW_*`` environment variables only when asked for."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["SHARED_TENANT", "EngineSettings"]

#: the tenant of the provincial union's shared processes, which every county bank may use
SHARED_TENANT = "*"


class EngineSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOANFLOW_", extra="ignore")

    database_url: str = Field(
        "sqlite:///var/loanflow.sqlite3",
        description="SQLAlchemy URL: sqlite:///path (embedded) or postgresql://… (production)",
    )
    demo: bool = Field(False, description="create demo tenants, users and deployments")
    redis_url: str | None = Field(
        None,
        description="redis://host:port/db for fast shared counters (anti-fraud); "
        "without it they are kept in the database",
    )
    script_time_limit: float = Field(
        1.0, gt=0, description="seconds a script or expression may run"
    )
    job_lock_seconds: float = Field(300.0, gt=0, description="default lock of a fetched job")
    default_retries: int = Field(3, ge=0)
    retry_backoff_max: float = Field(3600.0, gt=0, description="cap of exponential backoff (s)")
    command_retries: int = Field(5, ge=0, description="retries of a job command that lost a race")
    scheduler_interval: float = Field(1.0, gt=0, description="seconds between timer sweeps")
    embedded_workers: int = Field(4, ge=0, description="worker threads of the embedded runner")
    spec_cache_size: int = Field(256, ge=1, description="parsed deployments kept in memory")
    definition_cache_seconds: float = Field(
        2.0,
        ge=0,
        description="how long start() trusts its memory of the newest version of a process "
        "(a deploy through this engine clears it at once; other nodes' deploys show after this)",
    )
