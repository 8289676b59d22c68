"""Face presence in the customer's recording: the share of sampled frames with exactly one face.

The check uses OpenCV's Haar frontal-face cascade. OpenCV 5 (the ``opencv-python`` wheel
this project gets) dropped both ``cv2.CascadeClassifier`` and the bundled cascade files, so
:class:`HaarCascade` evaluates the cascade itself in numpy, the way OpenCV 4 does (image
pyramid, 24×24 window, variance-normalised stump features, stage rejection, neighbour
grouping). The cascade file is found in this order: the configured path, ``cv2.data`` (an
OpenCV 4 wheel), Debian's ``opencv-data`` (``/usr/share/opencv4/haarcascades``). With none,
the check reports ``available=False`` and flags the session for a person to review.

This is a presence check, not identity verification: it says whether one face was in front
of the camera for most of the session, which is what the dual-recording rules ask the
recording to show.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from xml.etree import ElementTree

import av
import cv2
import numpy as np
import numpy.typing as npt

__all__ = [
    "CASCADE_NAME",
    "FaceCheck",
    "FaceDetector",
    "HaarCascade",
    "check_faces",
    "find_cascade",
    "load_detector",
]

log = logging.getLogger(__name__)

CASCADE_NAME = "haarcascade_frontalface_default.xml"
_SEARCH = (Path("/usr/share/opencv4/haarcascades"), Path("/usr/share/opencv/haarcascades"))

Gray = npt.NDArray[np.uint8]
Box = tuple[int, int, int, int]


class FaceDetector(Protocol):
    """Finds faces in a grayscale image; returns ``(x, y, w, h)`` boxes."""

    def detect(self, gray: Gray) -> list[Box]: ...


def find_cascade(configured: Path | None = None) -> Path | None:
    """The first frontal-face cascade file that exists, or None."""
    candidates: list[Path] = []
    if configured is not None:
        candidates.append(configured)
    data = getattr(cv2, "data", None)
    if data is not None and getattr(data, "haarcascades", None):
        candidates.append(Path(data.haarcascades) / CASCADE_NAME)
    candidates.extend(root / CASCADE_NAME for root in _SEARCH)
    return next((path for path in candidates if path.is_file()), None)


def load_detector(configured: Path | None = None) -> FaceDetector | None:
    cascade = find_cascade(configured)
    if cascade is None:
        log.warning("no Haar face cascade found (install Debian's opencv-data): check is off")
        return None
    return HaarCascade.load(cascade)


@dataclass(frozen=True)
class _Stage:
    """One stage, its weak classifiers' rectangles padded to three (weight 0) for numpy."""

    threshold: float
    rects: npt.NDArray[np.int64]
    """(weak, 3, 4): x, y, w, h of each rectangle."""
    weights: npt.NDArray[np.float64]
    """(weak, 3)."""
    thresholds: npt.NDArray[np.float64]
    left: npt.NDArray[np.float64]
    right: npt.NDArray[np.float64]


class HaarCascade:
    """An OpenCV stump-based Haar cascade (``BASIC`` features), evaluated with numpy."""

    def __init__(
        self,
        size: tuple[int, int],
        stages: list[_Stage],
        *,
        scale_factor: float = 1.2,
        min_neighbors: int = 3,
        min_size: int = 30,
    ) -> None:
        self.width, self.height = size
        self.stages = stages
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = min_size

    @classmethod
    def load(cls, path: Path) -> HaarCascade:
        """Read an OpenCV cascade XML (the ``opencv-cascade-classifier`` format)."""
        root = ElementTree.parse(path).getroot()  # a local, configured file: not untrusted XML
        cascade = root.find("cascade")
        if cascade is None or (cascade.findtext("featureType") or "").strip() != "HAAR":
            raise ValueError(f"{path}: not a HAAR cascade in OpenCV's current format")
        features: list[list[tuple[int, int, int, int, float]]] = []
        for feature in cascade.iterfind("features/_"):
            if (feature.findtext("tilted") or "0").strip() == "1":
                raise ValueError(f"{path}: tilted features are not supported")
            parts = []
            for rect in feature.iterfind("rects/_"):
                x, y, w, h, weight = (rect.text or "").split()
                parts.append((int(x), int(y), int(w), int(h), float(weight)))
            features.append((parts + [(0, 0, 0, 0, 0.0)] * 3)[:3])
        stages: list[_Stage] = []
        for stage in cascade.iterfind("stages/_"):
            rects, thresholds, left, right = [], [], [], []
            for weak in stage.iterfind("weakClassifiers/_"):
                internal = (weak.findtext("internalNodes") or "").split()
                if len(internal) != 4:
                    raise ValueError(f"{path}: only stump cascades are supported")
                rects.append(features[int(internal[2])])
                thresholds.append(float(internal[3]))
                leaves = [float(v) for v in (weak.findtext("leafValues") or "").split()]
                left.append(leaves[0])
                right.append(leaves[1])
            table = np.array(rects, dtype=np.float64)
            stages.append(
                _Stage(
                    threshold=float(stage.findtext("stageThreshold") or 0),
                    rects=table[:, :, :4].astype(np.int64),
                    weights=table[:, :, 4],
                    thresholds=np.array(thresholds),
                    left=np.array(left),
                    right=np.array(right),
                )
            )
        width = int(cascade.findtext("width") or 0)
        height = int(cascade.findtext("height") or 0)
        return cls((width, height), stages)

    def detect(self, gray: Gray) -> list[Box]:
        """Faces in ``gray``, grouped as OpenCV's ``detectMultiScale`` groups them."""
        found: list[Box] = []
        scale = 1.0
        image = gray.astype(np.float64)
        while True:
            w = round(gray.shape[1] / scale)
            h = round(gray.shape[0] / scale)
            if w < self.width or h < self.height:
                break
            if self.width * scale >= self.min_size:
                scaled = np.asarray(
                    cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR), dtype=np.float64
                )
                step = 1 if scale > 2 else 2
                size = (round(self.width * scale), round(self.height * scale))
                found.extend(
                    (round(x * scale), round(y * scale), *size) for x, y in self._scan(scaled, step)
                )
            scale *= self.scale_factor
        return _group(found, self.min_neighbors)

    def _scan(self, image: npt.NDArray[np.float64], step: int) -> list[tuple[int, int]]:
        ii = np.zeros((image.shape[0] + 1, image.shape[1] + 1))
        ii[1:, 1:] = image.cumsum(0).cumsum(1)
        sq = np.zeros_like(ii)
        sq[1:, 1:] = (image * image).cumsum(0).cumsum(1)
        grid = np.mgrid[
            0 : image.shape[0] - self.height + 1 : step, 0 : image.shape[1] - self.width + 1 : step
        ]
        ys, xs = grid[0].ravel(), grid[1].ravel()
        inner = (1, 1, self.width - 2, self.height - 2)
        total = _sums(ii, xs, ys, *inner)
        squares = _sums(sq, xs, ys, *inner)
        norm = inner[2] * inner[3] * squares - total * total
        norm = np.where(norm > 0, np.sqrt(np.maximum(norm, 0.0)), 1.0)
        for stage in self.stages:
            if ys.size == 0:
                break
            r = stage.rects[:, :, :, None]
            values = (
                stage.weights[:, :, None] * _sums(ii, xs, ys, *(r[:, :, k] for k in range(4)))
            ).sum(1)
            passed = values < stage.thresholds[:, None] * norm
            score = np.where(passed, stage.left[:, None], stage.right[:, None]).sum(0)
            keep = score >= stage.threshold
            ys, xs, norm = ys[keep], xs[keep], norm[keep]
        return list(zip(xs.tolist(), ys.tolist(), strict=True))


def _sums(
    table: npt.NDArray[np.float64],
    xs: npt.NDArray[np.int64],
    ys: npt.NDArray[np.int64],
    x: Any,
    y: Any,
    w: Any,
    h: Any,
) -> npt.NDArray[np.float64]:
    """Sums of rectangle ``(x, y, w, h)`` (broadcast) in every window at ``(xs, ys)``."""
    x0 = xs + x
    y0 = ys + y
    return table[y0 + h, x0 + w] - table[y0, x0 + w] - table[y0 + h, x0] + table[y0, x0]  # type: ignore[no-any-return]


def _similar(a: Box, b: Box, eps: float = 0.2) -> bool:
    delta = eps * (min(a[2], b[2]) + min(a[3], b[3])) * 0.5
    return (
        abs(a[0] - b[0]) <= delta
        and abs(a[1] - b[1]) <= delta
        and abs(a[0] + a[2] - b[0] - b[2]) <= delta
        and abs(a[1] + a[3] - b[1] - b[3]) <= delta
    )


def _group(boxes: Sequence[Box], min_neighbors: int) -> list[Box]:
    """OpenCV's ``groupRectangles``: clusters of similar boxes, small ones inside big dropped."""
    labels = list(range(len(boxes)))

    def find(i: int) -> int:
        while labels[i] != i:
            labels[i] = labels[labels[i]]
            i = labels[i]
        return i

    for i in range(len(boxes)):
        for j in range(i):
            if _similar(boxes[i], boxes[j]):
                labels[find(i)] = find(j)
    clusters: dict[int, list[Box]] = {}
    for i, b in enumerate(boxes):
        clusters.setdefault(find(i), []).append(b)
    merged = [
        (
            tuple(round(sum(b[k] for b in members) / len(members)) for k in range(4)),
            len(members),
        )
        for members in clusters.values()
        if len(members) > min_neighbors
    ]
    result: list[Box] = []
    for box, count in merged:
        inside = any(
            other is not box
            and other_count >= count
            and box[0] >= other[0] - 0.2 * other[2]
            and box[1] >= other[1] - 0.2 * other[3]
            and box[0] + box[2] <= other[0] + other[2] * 1.2
            and box[1] + box[3] <= other[1] + other[3] * 1.2
            for other, other_count in merged
        )
        if not inside:
            result.append(box)  # type: ignore[arg-type]
    return result


@dataclass(frozen=True)
class FaceCheck:
    """The outcome of :func:`check_faces`; ``flagged`` asks a person to review the session."""

    available: bool
    sampled: int
    one_face: int
    share: float
    threshold: float
    flagged: bool

    def as_dict(self) -> dict[str, object]:
        return {
            "available": self.available,
            "sampled": self.sampled,
            "one_face": self.one_face,
            "share": round(self.share, 4),
            "threshold": self.threshold,
            "flagged": self.flagged,
        }


def sample_frames(path: Path, interval: float, limit: int, width: int = 240) -> Iterable[Gray]:
    """Grayscale key frames of a recording, at least ``interval`` seconds apart."""
    with av.open(str(path)) as container:
        if not container.streams.video:
            return
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONKEY"
        last: float | None = None
        taken = 0
        for frame in container.decode(stream):
            at = float(frame.time) if frame.time is not None else 0.0
            if last is not None and at - last < interval:
                continue
            last = at
            height = max(2, round(frame.height * width / max(frame.width, 1)))
            small = frame.reformat(width=width, height=height, format="gray")
            yield np.asarray(small.to_ndarray(), dtype=np.uint8)
            taken += 1
            if taken >= limit:
                return


def check_faces(
    frames: Iterable[Gray], detector: FaceDetector | None, threshold: float
) -> FaceCheck:
    """Count the frames with exactly one face; flag below ``threshold`` (or without detector)."""
    if detector is None:
        return FaceCheck(False, 0, 0, 0.0, threshold, True)
    sampled = one = 0
    for gray in frames:
        sampled += 1
        if len(detector.detect(gray)) == 1:
            one += 1
    share = one / sampled if sampled else 0.0
    return FaceCheck(True, sampled, one, share, threshold, share < threshold)
