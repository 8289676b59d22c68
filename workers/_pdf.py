"""What the PDFs the workers render share: page footers that know the page count."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.utils import TimeStamp  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]

__all__ = ["fixed_timestamp", "numbered_canvas"]


def fixed_timestamp(when: datetime) -> Any:
    """A reportlab TimeStamp frozen at ``when`` (CreationDate and ModDate of the PDF)."""
    stamp = TimeStamp(invariant=True)
    seconds = when.timestamp()
    stamp.t = seconds
    stamp.lt = time.gmtime(seconds)
    stamp.YMDhms = tuple(stamp.lt)[:6]
    stamp.dhh = stamp.dmm = 0
    stamp.tzname = "UTC"
    return stamp


def numbered_canvas(
    font: str, footer: str, margin: float, created: datetime | None = None
) -> type[Canvas]:
    """A canvas class that holds pages back so each footer can say "第 n 页 共 N 页".

    ``margin`` is in points (use ``reportlab.lib.units.mm``); with ``created`` the PDF's
    dates are fixed, so the same input renders the same bytes.
    """

    class NumberedCanvas(Canvas):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            if created is not None:
                self._doc._timeStamp = fixed_timestamp(created)
            self._pending: list[dict[str, Any]] = []

        def showPage(self) -> None:
            self._pending.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pending)
            for number, state in enumerate(self._pending, start=1):
                self.__dict__.update(state)
                self.setFont(font, 8)
                self.setFillColor(colors.grey)
                self.drawString(margin, margin / 2, footer)
                self.drawRightString(A4[0] - margin, margin / 2, f"第 {number} 页 共 {total} 页")
                super().showPage()
            self.page_count = total
            super().save()

    return NumberedCanvas
