"""The CJK font contracts and signature stamps are set in, loaded once per process.

reportlab embeds a subset of a TrueType font, so the PDF carries only the glyphs it
uses; it cannot use CFF-outline CJK fonts (Noto CJK), so the default is Debian's
``fonts-wqy-zenhei`` (a TrueType collection: subfont 0 is WenQuanYi Zen Hei). Parsing
the 16 MB file costs about 0.3 s, paid once by the first render or signature of a
process; every later document reuses the parsed font.

reportlab keeps module-level state (font registry, per-document subset tables), so
every document is built under :data:`REPORTLAB_LOCK`. Its CJK line breaking knows the
Japanese punctuation that may not start a line but not the Chinese full-width ``，；：！？》``;
registering the font adds them, so no line of a contract starts with a comma.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
from reportlab.pdfbase.ttfonts import TTFont  # type: ignore[import-untyped]

from loanflow.workers.contract._errors import RenderError

__all__ = ["DEFAULT_FONT_PATH", "REPORTLAB_LOCK", "cjk_font"]

DEFAULT_FONT_PATH = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")

REPORTLAB_LOCK = threading.RLock()
"""Held while a reportlab document is built."""

_registered: dict[tuple[str, int], str] = {}
_CANNOT_START_LINE = "，；：！？》”’"


def _teach_chinese_line_breaking() -> None:
    from reportlab.lib import textsplit  # type: ignore[import-untyped]
    from reportlab.platypus import paragraph  # type: ignore[import-untyped]

    for module in (textsplit, paragraph):  # one-fragment and many-fragment paragraphs
        missing = "".join(c for c in _CANNOT_START_LINE if c not in module.ALL_CANNOT_START)
        module.ALL_CANNOT_START += missing


def cjk_font(path: Path = DEFAULT_FONT_PATH, subfont_index: int = 0) -> str:
    """The reportlab font name of ``path`` (subfont ``subfont_index``), registered once.

    :class:`RenderError` if the file is missing or not a TrueType font reportlab can embed.
    """
    key = (str(path), subfont_index)
    with REPORTLAB_LOCK:
        name = _registered.get(key)
        if name is not None:
            return name
        if not path.is_file():
            raise RenderError(
                f"CJK font {path} not found: install Debian's fonts-wqy-zenhei or set "
                "LOANFLOW_CONTRACT_FONT_PATH to a TrueType CJK font"
            )
        name = "LoanflowCJK-" + hashlib.sha256(repr(key).encode()).hexdigest()[:12]
        try:
            font = TTFont(name, str(path), subfontIndex=subfont_index)
        except Exception as exc:
            raise RenderError(f"cannot use {path} (subfont {subfont_index}): {exc}") from exc
        pdfmetrics.registerFont(font)
        _teach_chinese_line_breaking()
        _registered[key] = name
        return name
