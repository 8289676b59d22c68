"""The OCR engine: RapidOCR (PP-OCRv4 Chinese models in ONNX), loaded once per process.

Why RapidOCR: its wheel ships the detection, direction and recognition models, so
nothing is downloaded at run time (banks run offline), and PP-OCRv4 reads printed
Chinese far better than Tesseract's ``chi_sim`` on photos (figures in
``bench/ocr_accuracy.py``). Loading the three ONNX sessions takes about a second and
~150 MB, so :func:`shared_engine` builds one engine per process on first use, behind a
lock (never at import time), and every job reuses it. Calls are serialized through
:class:`RapidOcrEngine`'s own lock: the library keeps per-call state on the instance, and
onnxruntime already uses every core for one image.

Extraction only sees :class:`TextBox` values through the :class:`OcrEngine` protocol, so
tests may feed boxes from a fake engine and another engine can be put behind it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from PIL import Image

__all__ = ["OcrEngine", "RapidOcrEngine", "TextBox", "reset_shared_engine", "shared_engine"]

log = logging.getLogger(__name__)

Point = tuple[float, float]


@dataclass(frozen=True)
class TextBox:
    """One line of text the engine found: its four corners (clockwise from top-left)."""

    text: str
    score: float
    quad: tuple[Point, Point, Point, Point]

    @property
    def center(self) -> Point:
        return (
            sum(p[0] for p in self.quad) / 4,
            sum(p[1] for p in self.quad) / 4,
        )


class OcrEngine(Protocol):
    """Anything that turns an RGB image into text boxes."""

    def read(self, image: Image.Image) -> list[TextBox]: ...


class RapidOcrEngine:
    """RapidOCR on onnxruntime, CPU only; thread-safe (one image at a time)."""

    def __init__(self, *, threads: int | None = None) -> None:
        started = time.perf_counter()
        with warnings.catch_warnings():
            # onnxruntime / the library may warn about their own dependencies while loading
            warnings.simplefilter("ignore", DeprecationWarning)
            from rapidocr_onnxruntime import RapidOCR  # type: ignore[import-untyped]

            count = threads if threads is not None else (os.cpu_count() or 1)
            self._ocr: Any = RapidOCR(intra_op_num_threads=count, inter_op_num_threads=1)
        self._lock = threading.Lock()
        log.info("RapidOCR models loaded in %.2f s", time.perf_counter() - started)

    def read(self, image: Image.Image) -> list[TextBox]:
        array = np.asarray(image.convert("RGB"))[:, :, ::-1].copy()  # RGB -> BGR
        with self._lock:
            result, _elapsed = self._ocr(array)
        boxes: list[TextBox] = []
        for quad, text, score in result or ():
            points = tuple((float(x), float(y)) for x, y in quad)
            boxes.append(TextBox(str(text), float(score), points))  # type: ignore[arg-type]
        return boxes


class _Shared:
    lock = threading.Lock()
    pid = 0
    engine: RapidOcrEngine | None = None


def shared_engine(threads: int | None = None) -> RapidOcrEngine:
    """This process's engine, built on first call (a forked child builds its own)."""
    with _Shared.lock:
        if _Shared.engine is None or _Shared.pid != os.getpid():
            _Shared.engine = RapidOcrEngine(threads=threads)
            _Shared.pid = os.getpid()
        return _Shared.engine


def reset_shared_engine() -> None:
    """Forget the process's engine (tests that change the thread count)."""
    with _Shared.lock:
        _Shared.engine = None
