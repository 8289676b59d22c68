"""OCR settings, read from ``LOANFLOW_OCR_*`` environment variables when built."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["OcrSettings"]


class OcrSettings(BaseSettings):
    """Input limits, rendering of PDF pages, and check tolerances.

    The limits exist because images come from outside: a 15 MB photo is already large
    for a phone, and a small PNG can declare a billion pixels (a decompression bomb), so
    the pixel count is checked from the header, before anything is decoded.
    """

    model_config = SettingsConfigDict(env_prefix="LOANFLOW_OCR_", extra="ignore")

    max_bytes: int = Field(
        15 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024, description="largest accepted file"
    )
    max_pixels: int = Field(
        40_000_000,
        ge=10_000,
        le=178_956_970,
        description="largest accepted width x height, checked before decoding",
    )
    max_side: int = Field(
        2400, ge=320, le=8000, description="longer side images are scaled down to for OCR"
    )
    pdf_dpi: int = Field(200, ge=72, le=600, description="resolution PDF pages are rendered at")
    min_confidence: float = Field(
        0.5, ge=0.0, le=1.0, description="fields read with less confidence are failures"
    )
    balance_relative_tolerance: float = Field(
        0.001, ge=0.0, le=0.1, description="assets vs liabilities + equity, share of assets"
    )
    balance_absolute_tolerance: float = Field(
        1.0, ge=0.0, description="assets vs liabilities + equity, yuan (rounding)"
    )
    threads: int | None = Field(
        None, ge=1, le=64, description="onnxruntime threads per image (default: all cores)"
    )
