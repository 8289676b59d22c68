"""The OCR service: get the image, read it once, extract, check.

One :class:`OcrService` per process holds the settings, the vault (optional: without one,
only inline images are accepted) and the engine, which is created on first use (so
building a service, like importing this module, costs nothing) and then shared by every
job. Tests pass their own engine or settings.

Vault documents are read as the job's tenant; an unknown document and another tenant's
answer the same ``OCR_DOCUMENT_NOT_FOUND``. A document that fails the vault's integrity
checks is not a business outcome: it becomes a non-retryable ``WorkerError`` (an incident
for an operator), never garbage text.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
import time
from datetime import date
from typing import TypeVar

from PIL import Image

from loanflow.engine.errors import BusinessError, NotFound, WorkerError
from loanflow.workers.ocr._documents import read_license, read_statement
from loanflow.workers.ocr._engine import OcrEngine, shared_engine
from loanflow.workers.ocr._idcard import detect_side, read_id_back, read_id_front
from loanflow.workers.ocr._images import BAD_IMAGE, check_size, decode_image
from loanflow.workers.ocr._layout import Page
from loanflow.workers.ocr._models import (
    BusinessLicenseInput,
    BusinessLicenseOutput,
    FinancialStatementInput,
    FinancialStatementOutput,
    IdCardInput,
    IdCardOutput,
    OcrInput,
)
from loanflow.workers.ocr._settings import OcrSettings
from loanflow.workers.vault import Vault, VaultError

__all__ = ["DOCUMENT_NOT_FOUND", "VALIDATION_FAILED", "OcrService"]

log = logging.getLogger(__name__)

_Output = TypeVar("_Output", IdCardOutput, BusinessLicenseOutput, FinancialStatementOutput)

DOCUMENT_NOT_FOUND = "OCR_DOCUMENT_NOT_FOUND"
VALIDATION_FAILED = "OCR_VALIDATION_FAILED"


class OcrService:
    """Reads ID cards, business licences and financial statements; thread-safe."""

    def __init__(
        self,
        vault: Vault | None = None,
        settings: OcrSettings | None = None,
        *,
        engine: OcrEngine | None = None,
    ) -> None:
        self.vault = vault
        self.settings = settings if settings is not None else OcrSettings()
        self._engine = engine
        self._lock = threading.Lock()

    @property
    def engine(self) -> OcrEngine:
        """The engine given, else the process's shared RapidOCR engine (loaded on first use)."""
        with self._lock:
            if self._engine is None:
                self._engine = shared_engine(self.settings.threads)
            return self._engine

    # -- input ------------------------------------------------------------------------------

    def source_bytes(self, job: OcrInput) -> bytes:
        """The raw file the job names, size-checked before it is decoded or decrypted."""
        if job.image_base64 is not None:
            check_size(len(job.image_base64) * 3 // 4 - 2, self.settings)
            try:
                return base64.b64decode(job.image_base64, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise BusinessError(BAD_IMAGE, f"image_base64 is not base64: {exc}") from exc
        assert job.document_id is not None and job.tenant is not None  # the model checks
        if self.vault is None:
            raise WorkerError(
                "this OCR service has no vault; send image_base64 instead", retryable=False
            )
        try:
            info = self.vault.info(job.tenant, job.document_id)
            check_size(info.size, self.settings)
            return self.vault.read(job.tenant, job.document_id)
        except NotFound as exc:
            raise BusinessError(
                DOCUMENT_NOT_FOUND, f"document {job.document_id} not found"
            ) from exc
        except VaultError as exc:
            raise WorkerError(str(exc), retryable=False) from exc

    def image(self, job: OcrInput) -> Image.Image:
        """The job's image (or PDF page), decoded under the settings' limits."""
        return decode_image(self.source_bytes(job), self.settings, page=job.page)

    def _page(self, job: OcrInput, topic: str) -> Page:
        image = self.image(job)
        started = time.perf_counter()
        boxes = self.engine.read(image)
        log.info(
            "%s: %d text boxes from a %dx%d image in %.2f s (instance %s)",
            topic,
            len(boxes),
            image.width,
            image.height,
            time.perf_counter() - started,
            job.instance_id,
        )
        return Page(boxes)

    @staticmethod
    def _strict(job: OcrInput, failures: list[dict[str, str | None]]) -> None:
        if job.strict and failures:
            codes = ", ".join(sorted({str(f["code"]) for f in failures}))
            raise BusinessError(
                VALIDATION_FAILED,
                f"the document failed its checks: {codes}",
                variables={"ocr_failures": failures},
            )

    # -- documents --------------------------------------------------------------------------

    def read_id_card(self, job: IdCardInput) -> IdCardOutput:
        """Either side of a resident ID card; the back is checked on ``application_date``."""
        page = self._page(job, "ocr.id_card")
        side = detect_side(page) if job.side == "auto" else job.side
        threshold = self.settings.min_confidence
        if side == "front":
            out = read_id_front(page, min_confidence=threshold)
        else:
            on = job.application_date or date.today()
            out = read_id_back(page, on=on, min_confidence=threshold)
        names = (
            ("name", "sex", "ethnicity", "birth_date", "address", "id_number")
            if side == "front"
            else ("issuing_authority", "valid_from", "valid_until")
        )
        out.fields = {name: getattr(out, name).value for name in names}
        return self._finish(job, out)

    def read_business_license(self, job: BusinessLicenseInput) -> BusinessLicenseOutput:
        """A business licence, its credit code checked (GB 32100)."""
        out = read_license(
            self._page(job, "ocr.business_license"), min_confidence=self.settings.min_confidence
        )
        out.fields = {
            "company_name": out.company_name.value,
            "credit_code": out.credit_code.value,
            "company_type": out.company_type.value,
            "legal_representative": out.legal_representative.value,
            "registered_capital": out.registered_capital.value,
            "registered_capital_yuan": out.registered_capital_yuan,
            "established": out.established.value,
            "address": out.address.value,
            "business_scope": out.business_scope.value,
        }
        return self._finish(job, out)

    def read_financial_statement(self, job: FinancialStatementInput) -> FinancialStatementOutput:
        """Balance sheet and income statement items in yuan, and whether they balance."""
        out = read_statement(
            self._page(job, "ocr.financial_statement"),
            relative_tolerance=self.settings.balance_relative_tolerance,
            absolute_tolerance=self.settings.balance_absolute_tolerance,
        )
        return self._finish(job, out)

    def _finish(self, job: OcrInput, out: _Output) -> _Output:
        out.valid = not out.failures
        self._strict(job, [f.model_dump() for f in out.failures])
        return out
