"""Job input and output models of the ``ocr.*`` workers.

Every input names exactly one source: a vault document (``document_id``, read as the job's
``tenant``) or inline ``image_base64``. Server paths are not accepted: a diagram author
must not be able to make a worker read the server's files.

Every output gives each field as ``{value, confidence}`` (value None when not found), the
same values flat in ``fields`` for filling a form, the ``failures`` of the checks, and
``valid`` (no failures).
"""

from __future__ import annotations

from datetime import date
from typing import Literal, Self

from pydantic import BaseModel, Field, model_validator

__all__ = [
    "BalanceCheck",
    "BusinessLicenseInput",
    "BusinessLicenseOutput",
    "Failure",
    "FinancialStatementInput",
    "FinancialStatementOutput",
    "IdCardInput",
    "IdCardOutput",
    "OcrField",
    "OcrInput",
    "StatementItem",
]

#: base64 of the largest image any configuration accepts; the configured byte limit is
#: checked by the service before decoding
_MAX_BASE64 = 96 * 1024 * 1024 * 4 // 3


class OcrInput(BaseModel):
    """Where the image is; the runner fills ``tenant`` and ``instance_id`` from the job."""

    tenant: str | None = Field(default=None, description="Tenant whose vault holds the document.")
    instance_id: str | None = Field(default=None, description="Process instance (for logs).")
    document_id: str | None = Field(
        default=None, max_length=64, description="A PNG, JPEG or PDF stored in the vault."
    )
    image_base64: str | None = Field(
        default=None, max_length=_MAX_BASE64, description="PNG, JPEG or PDF bytes, base64."
    )
    page: int = Field(default=1, ge=1, le=10_000, description="PDF page, from 1.")
    strict: bool = Field(
        default=False,
        description="Raise the BPMN error OCR_VALIDATION_FAILED instead of returning valid=false.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.document_id is None) == (self.image_base64 is None):
            raise ValueError("give exactly one of document_id and image_base64")
        if self.document_id is not None and not self.tenant:
            raise ValueError("document_id needs the tenant that stored it")
        return self


class IdCardInput(OcrInput):
    side: Literal["front", "back", "auto"] = Field(
        default="auto", description="Which side the image shows; auto decides from its labels."
    )
    application_date: date | None = Field(
        default=None, description="The card must be valid on this date (default: today)."
    )


class BusinessLicenseInput(OcrInput):
    pass


class FinancialStatementInput(OcrInput):
    pass


class OcrField(BaseModel):
    """A value as read (normalized), and the engine's confidence in it (0 to 1)."""

    value: str | None = None
    confidence: float = Field(default=0.0, ge=0.0, le=1.0)


class Failure(BaseModel):
    """One check that did not pass; ``code`` is stable, ``message`` is for people."""

    code: str
    field: str | None = None
    message: str


class _Checked(BaseModel):
    failures: list[Failure] = Field(default_factory=list)
    valid: bool = True


class IdCardOutput(_Checked):
    side: Literal["front", "back"]
    name: OcrField = Field(default_factory=OcrField)
    sex: OcrField = Field(default_factory=OcrField, description="男 or 女.")
    ethnicity: OcrField = Field(default_factory=OcrField)
    birth_date: OcrField = Field(default_factory=OcrField, description="ISO date.")
    address: OcrField = Field(default_factory=OcrField)
    id_number: OcrField = Field(default_factory=OcrField)
    issuing_authority: OcrField = Field(default_factory=OcrField)
    valid_from: OcrField = Field(default_factory=OcrField, description="ISO date.")
    valid_until: OcrField = Field(
        default_factory=OcrField, description="ISO date, or 长期 for a card valid for life."
    )
    masked_id_number: str | None = Field(
        default=None, description="The number with the birth date hidden, safe for logs."
    )
    fields: dict[str, str | None] = Field(default_factory=dict)


class BusinessLicenseOutput(_Checked):
    company_name: OcrField = Field(default_factory=OcrField)
    credit_code: OcrField = Field(default_factory=OcrField)
    company_type: OcrField = Field(default_factory=OcrField)
    legal_representative: OcrField = Field(default_factory=OcrField)
    registered_capital: OcrField = Field(default_factory=OcrField, description="As printed.")
    registered_capital_yuan: float | None = None
    established: OcrField = Field(default_factory=OcrField, description="ISO date.")
    address: OcrField = Field(default_factory=OcrField)
    business_scope: OcrField = Field(default_factory=OcrField)
    fields: dict[str, str | float | None] = Field(default_factory=dict)


class StatementItem(BaseModel):
    """One line item in yuan (already multiplied by the statement's unit)."""

    value: float
    confidence: float = Field(ge=0.0, le=1.0)
    label: str = Field(description="The caption as read, e.g. 资产总计.")


class BalanceCheck(BaseModel):
    """Assets against liabilities plus equity; ``balanced`` None when a total is missing."""

    total_assets: float | None = None
    liabilities_plus_equity: float | None = None
    difference: float | None = None
    tolerance: float | None = None
    balanced: bool | None = None


class FinancialStatementOutput(_Checked):
    unit: str = Field(description="The unit the page prints amounts in (元, 万元...).")
    period: OcrField = Field(default_factory=OcrField, description="As printed.")
    period_end: date | None = None
    items: dict[str, StatementItem] = Field(
        default_factory=dict, description="By key: total_assets, net_profit..."
    )
    balance: BalanceCheck = Field(default_factory=BalanceCheck)
    fields: dict[str, float | str | None] = Field(default_factory=dict)
