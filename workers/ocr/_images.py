"""Turning untrusted bytes into one RGB image, or a clear ``BusinessError``.

Only PNG, JPEG and PDF are accepted, recognised by their magic bytes rather than by a
name or a declared content type. For raster images the pixel count comes from the
header, before decoding, so a decompression bomb costs nothing; Pillow's own bomb check
is turned into the same error. A PDF page is vector data: it is rendered at the
configured resolution, lowered if needed to stay under the pixel limit. pdfium is not
thread-safe, so rendering holds a lock.

Codes: ``OCR_BAD_IMAGE`` (not an image, corrupt, too many pixels), ``OCR_IMAGE_TOO_LARGE``
(too many bytes), ``OCR_PAGE_NOT_FOUND`` (a PDF page that does not exist).
"""

from __future__ import annotations

import io
import math
import threading
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from loanflow.engine.errors import BusinessError
from loanflow.workers.ocr._settings import OcrSettings

__all__ = ["BAD_IMAGE", "PAGE_NOT_FOUND", "TOO_LARGE", "decode_image", "sniff"]

BAD_IMAGE = "OCR_BAD_IMAGE"
TOO_LARGE = "OCR_IMAGE_TOO_LARGE"
PAGE_NOT_FOUND = "OCR_PAGE_NOT_FOUND"

_PDF_LOCK = threading.Lock()
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"%PDF-", "PDF"))


def sniff(data: bytes) -> str | None:
    """``PNG``, ``JPEG`` or ``PDF`` from the first bytes; None for anything else."""
    return next((kind for magic, kind in _MAGIC if data.startswith(magic)), None)


def check_size(size: int, settings: OcrSettings) -> None:
    """``OCR_IMAGE_TOO_LARGE`` past the configured byte limit."""
    if size > settings.max_bytes:
        raise BusinessError(
            TOO_LARGE,
            f"the file has {size} bytes; at most {settings.max_bytes} are accepted",
        )


def decode_image(data: bytes, settings: OcrSettings, *, page: int = 1) -> Image.Image:
    """The image (or PDF ``page``, from 1) as RGB, upright, at most ``max_side`` long."""
    check_size(len(data), settings)
    kind = sniff(data)
    if kind is None:
        raise BusinessError(BAD_IMAGE, "not a PNG, JPEG or PDF file")
    image = (
        _render_pdf(data, page, settings) if kind == "PDF" else _decode_raster(data, kind, settings)
    )
    longest = max(image.size)
    if longest > settings.max_side:
        factor = settings.max_side / longest
        size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
        image = image.resize(size, Image.Resampling.LANCZOS)
    return image


def _decode_raster(data: bytes, kind: str, settings: OcrSettings) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[kind])
            width, height = image.size
            if width * height > settings.max_pixels:
                raise BusinessError(
                    BAD_IMAGE,
                    f"the image declares {width}x{height} pixels, more than the "
                    f"{settings.max_pixels} accepted (a decompression bomb?)",
                )
            image.load()
            upright = ImageOps.exif_transpose(image)
            return upright.convert("RGB")
    except BusinessError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise BusinessError(BAD_IMAGE, f"the image is a decompression bomb: {exc}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise BusinessError(BAD_IMAGE, f"the {kind} image cannot be decoded: {exc}") from exc


def _render_pdf(data: bytes, page: int, settings: OcrSettings) -> Image.Image:
    import pypdfium2 as pdfium  # type: ignore[import-untyped]

    with _PDF_LOCK:
        try:
            document = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            raise BusinessError(BAD_IMAGE, f"the PDF cannot be opened: {exc}") from exc
        try:
            if page > len(document):
                raise BusinessError(
                    PAGE_NOT_FOUND, f"page {page} asked for; the PDF has {len(document)}"
                )
            pdf_page = document[page - 1]
            width, height = pdf_page.get_size()
            scale = settings.pdf_dpi / 72
            if width * height * scale * scale > settings.max_pixels:
                scale = math.sqrt(settings.max_pixels / max(1.0, width * height))
            try:
                bitmap = pdf_page.render(scale=scale)
                image: Image.Image = bitmap.to_pil().convert("RGB")
            except pdfium.PdfiumError as exc:
                raise BusinessError(BAD_IMAGE, f"page {page} cannot be rendered: {exc}") from exc
            return image
        finally:
            document.close()
