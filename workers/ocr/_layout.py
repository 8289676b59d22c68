"""From text boxes to labelled values, by position and label, never by fixed coordinates.

Photos come at any size and a few degrees askew, and the engine sometimes merges a label
with its value (``性别男``) or splits one (``民族`` ``汉``). So extraction works on *lines*:

1. the page's skew is the median angle of the wide boxes; every box is rotated back by it;
2. boxes whose vertical centres are within half a line height form one line, left to right;
3. a label is found in a line's concatenated text, wherever box boundaries fall; its value
   is the text after it up to the next label on that line;
4. a multi-line value (an address, a business scope) continues on the following lines,
   taking only the boxes in its column (from where the value starts to where the next
   label on the label's line starts) and stopping at a label, a gap or a blank column.

A value's confidence is the lowest recognition score of the boxes it came from.
"""

from __future__ import annotations

import math
import re
import statistics
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from loanflow.workers.ocr._engine import TextBox

__all__ = ["Item", "Line", "Page", "Value", "clean_text"]

_SPACE = re.compile(r"\s+")
_LEADING_PUNCT = "：；，.。、"
_FULL_WIDTH = str.maketrans({"(": "（", ")": "）", ";": "；", ":": "：", ",": "，"})


def clean_text(text: str) -> str:
    """NFKC-folded except the CJK punctuation a document prints, without whitespace.

    The engine reads ``（`` as `` (`` on one photo and ``（`` on the next; folding to the
    full-width forms keeps one spelling (amount parsing accepts ``，`` separators).
    Whitespace inside Chinese text carries nothing on these documents.
    """
    folded = unicodedata.normalize("NFKC", text)
    return _SPACE.sub("", folded).translate(_FULL_WIDTH)


@dataclass(frozen=True)
class Item:
    """A box in the deskewed frame: axis-aligned extent, cleaned text, score."""

    text: str
    score: float
    x0: float
    x1: float
    y0: float
    y1: float

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2

    @property
    def height(self) -> float:
        return max(1.0, self.y1 - self.y0)

    def x_at(self, index: int) -> float:
        """Approximate x of character ``index`` (characters taken as equally wide)."""
        if not self.text:
            return self.x0
        return self.x0 + (self.x1 - self.x0) * index / len(self.text)


@dataclass(frozen=True)
class Value:
    """Text read for a label, and the lowest score of the boxes it came from."""

    text: str
    confidence: float
    x0: float


@dataclass
class Line:
    """Items on one text line, left to right, with their text concatenated."""

    items: list[Item]

    @property
    def text(self) -> str:
        return "".join(item.text for item in self.items)

    @property
    def cy(self) -> float:
        return statistics.fmean(item.cy for item in self.items)

    @property
    def height(self) -> float:
        return statistics.median(item.height for item in self.items)

    def locate(self, offset: int) -> tuple[Item, int]:
        """The item holding character ``offset`` of :attr:`text`, and the index inside it."""
        for item in self.items:
            if offset < len(item.text):
                return item, offset
            offset -= len(item.text)
        last = self.items[-1]
        return last, len(last.text)

    def span(self, start: int, end: int) -> Value:
        """The text between two offsets, its confidence and where it starts."""
        text = self.text[start:end]
        stripped = text.lstrip(_LEADING_PUNCT)
        start += len(text) - len(stripped)
        text = stripped
        scores: list[float] = []
        position = 0
        for item in self.items:
            lo, hi = position, position + len(item.text)
            if lo < start + len(text) and hi > start:
                scores.append(item.score)
            position = hi
        first, index = self.locate(start)
        return Value(text, min(scores, default=0.0), first.x_at(index))

    def labels(self, labels: Iterable[str]) -> list[tuple[int, int, str]]:
        """Non-overlapping occurrences ``(start, end, label)``; longer labels win, left first."""
        text = self.text
        found: list[tuple[int, int, str]] = []
        taken = [False] * len(text)
        for label in sorted(set(labels), key=len, reverse=True):
            for match in re.finditer(re.escape(label), text):
                s, e = match.span()
                if not any(taken[s:e]):
                    found.append((s, e, label))
                    taken[s:e] = [True] * (e - s)
        return sorted(found)


def _angle(box: TextBox) -> float | None:
    (x0, y0), (x1, y1) = box.quad[0], box.quad[1]
    width = math.hypot(x1 - x0, y1 - y0)
    height = math.hypot(box.quad[3][0] - x0, box.quad[3][1] - y0)
    if width < 2 * height or width == 0:
        return None
    return math.atan2(y1 - y0, x1 - x0)


def _deskew(boxes: Sequence[TextBox]) -> list[Item]:
    angles = [a for a in map(_angle, boxes) if a is not None]
    theta = statistics.median(angles) if angles else 0.0
    cos, sin = math.cos(-theta), math.sin(-theta)
    items = []
    for box in boxes:
        text = clean_text(box.text)
        if not text:
            continue
        xs = [x * cos - y * sin for x, y in box.quad]
        ys = [x * sin + y * cos for x, y in box.quad]
        items.append(Item(text, box.score, min(xs), max(xs), min(ys), max(ys)))
    return items


class Page:
    """The lines of one image, for label look-ups."""

    def __init__(self, boxes: Sequence[TextBox]) -> None:
        items = sorted(_deskew(boxes), key=lambda item: item.cy)
        lines: list[Line] = []
        for item in items:
            line = lines[-1] if lines else None
            if line is not None and abs(item.cy - line.cy) < 0.5 * min(item.height, line.height):
                line.items.append(item)
            else:
                lines.append(Line([item]))
        for line in lines:
            line.items.sort(key=lambda item: item.x0)
        self.lines = lines

    @property
    def text(self) -> str:
        """All text, line by line (for searches that do not care about labels)."""
        return "\n".join(line.text for line in self.lines)

    def has_any(self, labels: Iterable[str]) -> bool:
        return any(line.labels(labels) for line in self.lines)

    def field(
        self,
        label: str | Sequence[str],
        all_labels: Sequence[str],
        *,
        max_lines: int = 1,
    ) -> Value | None:
        """The value of the first line holding ``label`` (or one of its spellings).

        ``all_labels`` are every label of the document: a value stops where the next one
        starts. ``max_lines`` > 1 lets the value continue in its column below.
        """
        wanted = {label} if isinstance(label, str) else set(label)
        for index, line in enumerate(self.lines):
            found = line.labels([*all_labels, *wanted])
            for position, (_start, end, name) in enumerate(found):
                if name not in wanted:
                    continue
                stop = found[position + 1][0] if position + 1 < len(found) else len(line.text)
                value = line.span(end, stop)
                column_end = line.locate(stop)[0].x0 if stop < len(line.text) else math.inf
                if max_lines > 1:
                    value = self._continue(index, value, column_end, all_labels, max_lines)
                return value
        return None

    def _continue(
        self, index: int, value: Value, column_end: float, labels: Sequence[str], max_lines: int
    ) -> Value:
        line = self.lines[index]
        tolerance = line.height * 1.5
        column_start = value.x0 - tolerance
        texts, scores = [value.text], [value.confidence] if value.text else []
        previous_y, height = line.cy, line.height
        for below in self.lines[index + 1 : index + max_lines]:
            if below.cy - previous_y > 2.2 * height:
                break
            column = [i for i in below.items if i.x1 > column_start and i.x0 < column_end]
            if any(Line([i]).labels(labels) for i in column):
                break
            inside = [i for i in below.items if column_start <= i.x0 and i.cx < column_end]
            if not inside:
                break
            texts.append("".join(i.text for i in inside))
            scores.extend(i.score for i in inside)
            previous_y = below.cy
        return Value("".join(texts), min(scores, default=0.0), value.x0)
