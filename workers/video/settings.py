"""Video signing settings, read from ``LOANFLOW_VIDEO_*`` environment variables when built."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["IceServer", "VideoSettings"]


class IceServer(BaseModel):
    """One STUN or TURN server, as ``RTCIceServer`` takes it (and as the pages get it)."""

    urls: list[str] = Field(min_length=1)
    username: str | None = None
    credential: str | None = None


class VideoSettings(BaseSettings):
    """ICE servers, where recordings are written, token lifetime, the face-check threshold.

    ``ice_servers`` is passed to aiortc explicitly: without it aiortc adds a public STUN
    server, which a bank's network must not be made to reach. Give it as JSON, e.g.
    ``LOANFLOW_VIDEO_ICE_SERVERS='[{"urls": ["turn:turn.bank.example:3478"], ...}]'``.

    ``token_secret`` signs the participants' links; without one a random secret is drawn
    per process, so links stop working when the process restarts.
    """

    model_config = SettingsConfigDict(
        env_prefix="LOANFLOW_VIDEO_", extra="ignore", populate_by_name=True
    )

    ice_servers: list[IceServer] = Field(
        default_factory=list, description="STUN/TURN servers for the server and the pages"
    )
    recording_dir: Path = Field(
        Path("var/video"), description="working files of sessions in progress"
    )
    session_minutes: float = Field(
        30.0, gt=0, le=24 * 60, description="how long a session and its links stay valid"
    )
    token_secret: SecretStr | None = Field(
        None, description="HMAC key of participant links (>= 32 characters)", min_length=32
    )
    face_threshold: float = Field(
        0.6, ge=0, le=1, description="share of sampled frames with one face below which to flag"
    )
    face_sample_interval: float = Field(2.0, gt=0, description="seconds between sampled frames")
    face_max_samples: int = Field(120, ge=1)
    face_cascade: Path | None = Field(
        None, description="Haar cascade XML (default: OpenCV's or Debian's opencv-data)"
    )
    public_base_url: str = Field(
        "http://127.0.0.1:8000", description="where participants reach the pages (links)"
    )
    audio_hold_seconds: float = Field(
        3.0, gt=0, description="audio waits this long for the first video frame of a recording"
    )
    max_sdp_bytes: int = Field(64_000, ge=1024, description="largest SDP offer accepted")
    demo: bool = Field(
        False,
        validation_alias=AliasChoices("LOANFLOW_VIDEO_DEMO", "LOANFLOW_DEMO"),
        description="build the vault in demo mode (placeholder master key)",
    )
