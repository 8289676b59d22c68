"""What the OCR service accepts: PNG, JPEG, a PDF page, a vault document; nothing else."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from ocr.support import FakeEngine, Specimens, b64, box, jpeg, png_bomb
from PIL import Image
from pydantic import ValidationError
from vault.support import OTHER, TENANT, settings_for

from loanflow.engine import Engine
from loanflow.engine.errors import BusinessError
from loanflow.workers.ocr import (
    BusinessLicenseInput,
    IdCardInput,
    OcrService,
    OcrSettings,
    decode_image,
)
from loanflow.workers.vault import Vault

SETTINGS = OcrSettings(max_bytes=64 * 1024, max_pixels=4_000_000)
BACK = [box("签发机关", 10, 10, 90, 30), box("利川市公安局", 100, 10, 220, 30)]


def service(vault: Vault | None = None, settings: OcrSettings = SETTINGS) -> OcrService:
    return OcrService(vault, settings, engine=FakeEngine(BACK))


def small_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (120, 60), "white").save(buffer, "PNG")
    return buffer.getvalue()


def code_of(job: IdCardInput, ocr: OcrService) -> str:
    with pytest.raises(BusinessError) as caught:
        ocr.read_id_card(job)
    return caught.value.code


@pytest.mark.parametrize(
    "data",
    [b"", b"hello, not an image", b"GIF89a" + bytes(64), b"\x89PNG\r\n\x1a\n" + bytes(40)],
    ids=["empty", "text", "gif", "corrupt-png"],
)
def test_non_images_are_bad_images(data: bytes) -> None:
    assert code_of(IdCardInput(image_base64=b64(data)), service()) == "OCR_BAD_IMAGE"


def test_invalid_base64_is_a_bad_image() -> None:
    assert code_of(IdCardInput(image_base64="not base64!"), service()) == "OCR_BAD_IMAGE"


def test_too_many_bytes_is_refused_before_decoding() -> None:
    big = jpeg(Image.effect_noise((400, 400), 80).convert("RGB"), quality=100)
    assert len(big) > SETTINGS.max_bytes
    assert code_of(IdCardInput(image_base64=b64(big)), service()) == "OCR_IMAGE_TOO_LARGE"


def test_default_limit_is_15_mb() -> None:
    assert OcrSettings().max_bytes == 15 * 1024 * 1024


@pytest.mark.parametrize("side", [30_000, 100_000])
def test_decompression_bomb_is_refused_from_its_header(side: int) -> None:
    bomb = png_bomb(side, side)
    assert len(bomb) < 1024
    with pytest.raises(BusinessError) as caught:
        decode_image(bomb, SETTINGS)
    assert caught.value.code == "OCR_BAD_IMAGE"
    assert "pixels" in str(caught.value) or "bomb" in str(caught.value)


def test_pillow_bomb_check_is_also_a_bad_image() -> None:
    lax = OcrSettings(max_pixels=178_956_970)
    with pytest.raises(BusinessError) as caught:
        decode_image(png_bomb(20_000, 10_000), lax)  # past Pillow's own warning limit
    assert caught.value.code == "OCR_BAD_IMAGE"


def test_large_images_are_scaled_down_for_ocr() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (3000, 1500), "white").save(buffer, "PNG")
    image = decode_image(buffer.getvalue(), OcrSettings(max_side=1200))
    assert image.size == (1200, 600)


def test_pdf_page_is_rendered_and_a_missing_page_refused() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (400, 250), "white").save(buffer, "PDF", resolution=100)
    pdf = buffer.getvalue()
    image = decode_image(pdf, OcrSettings(pdf_dpi=100), page=1)
    assert image.size == (400, 250)
    with pytest.raises(BusinessError) as caught:
        decode_image(pdf, SETTINGS, page=2)
    assert caught.value.code == "OCR_PAGE_NOT_FOUND"
    assert code_of(IdCardInput(image_base64=b64(b"%PDF-1.4 garbage")), service()) == (
        "OCR_BAD_IMAGE"
    )


def test_a_pdf_id_card_through_the_real_engine(ocr: OcrService, specimens: Specimens) -> None:
    buffer = io.BytesIO()
    with Image.open(io.BytesIO(specimens.images["back"])) as image:
        image.save(buffer, "PDF", resolution=150)
    out = ocr.read_id_card(IdCardInput(image_base64=b64(buffer.getvalue())))
    assert out.side == "back"
    assert out.issuing_authority.value == specimens.card.issuing_authority


def test_exactly_one_source() -> None:
    with pytest.raises(ValidationError):
        IdCardInput()
    with pytest.raises(ValidationError):
        IdCardInput(document_id="d", image_base64=b64(small_png()), tenant=TENANT)
    with pytest.raises(ValidationError):
        BusinessLicenseInput(document_id="d")  # no tenant
    assert "path" not in IdCardInput.model_fields  # server files are never named by a job


def test_document_without_a_vault_is_not_retried() -> None:
    from loanflow.engine.errors import WorkerError

    with pytest.raises(WorkerError) as caught:
        service().read_id_card(IdCardInput(document_id="x", tenant=TENANT))
    assert caught.value.retryable is False


def test_inline_png_reaches_the_engine() -> None:
    ocr = service()
    out = ocr.read_id_card(IdCardInput(image_base64=b64(small_png()), side="back"))
    assert out.issuing_authority.value == "利川市公安局"
    assert isinstance(ocr.engine, FakeEngine) and ocr.engine.calls == 1


# -- the vault ---------------------------------------------------------------------------------


@pytest.fixture
def vault(engine: Engine, tmp_path: Path) -> Vault:
    return Vault(engine, settings_for(tmp_path / "vault"))


def test_vault_document_is_read_as_the_jobs_tenant(vault: Vault) -> None:
    info = vault.store(TENANT, small_png(), kind="id_card", content_type="image/png")
    ocr = service(vault)
    out = ocr.read_id_card(IdCardInput(tenant=TENANT, document_id=info.id))
    assert out.side == "back" and out.issuing_authority.value == "利川市公安局"


def test_unknown_and_other_tenants_documents_are_not_found(vault: Vault) -> None:
    info = vault.store(TENANT, small_png(), kind="id_card", content_type="image/png")
    ocr = service(vault)
    for tenant, document_id in ((TENANT, "no-such-document"), (OTHER, info.id)):
        job = IdCardInput(tenant=tenant, document_id=document_id)
        assert code_of(job, ocr) == "OCR_DOCUMENT_NOT_FOUND"


def test_oversized_vault_document_is_refused_before_decryption(vault: Vault) -> None:
    big = bytes(SETTINGS.max_bytes + 1)
    info = vault.store(TENANT, big, kind="id_card", content_type="image/png")
    job = IdCardInput(tenant=TENANT, document_id=info.id)
    assert code_of(job, service(vault)) == "OCR_IMAGE_TOO_LARGE"
