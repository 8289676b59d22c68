"""The face-presence check: the numpy Haar cascade on a real face and on noise, the share
logic with a stub detector, and sampling key frames from a recorded MP4."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from video.support import face_image

from loanflow.workers.video import HaarCascade, Recorder, check_faces
from loanflow.workers.video._faces import find_cascade, load_detector, sample_frames

CASCADE = find_cascade()
needs_cascade = pytest.mark.skipif(
    CASCADE is None, reason="no Haar cascade (Debian's opencv-data is not installed)"
)


def gray(image: np.ndarray, width: int = 240) -> np.ndarray:
    height = round(image.shape[0] * width / image.shape[1])
    return cv2.resize(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), (width, height))


@pytest.fixture(scope="module")
def cascade() -> HaarCascade:
    assert CASCADE is not None
    return HaarCascade.load(CASCADE)


@needs_cascade
def test_finds_the_one_face(cascade: HaarCascade) -> None:
    faces = cascade.detect(gray(face_image()))
    assert len(faces) == 1
    x, y, w, h = faces[0]
    assert 70 <= x <= 130 and 20 <= y <= 90 and 35 <= w <= 90 and w == h


@needs_cascade
def test_finds_nothing_in_noise_or_a_blank_wall(cascade: HaarCascade) -> None:
    rng = np.random.default_rng(7)
    for _ in range(3):
        assert cascade.detect(rng.integers(0, 256, (180, 240), dtype=np.uint8)) == []
    assert cascade.detect(np.full((180, 240), 128, np.uint8)) == []


@needs_cascade
def test_two_faces_are_not_one(cascade: HaarCascade) -> None:
    face = gray(face_image(), 240)
    pair = np.hstack([face, face])
    assert len(cascade.detect(pair)) == 2


def test_refuses_cascades_it_cannot_evaluate(tmp_path: Path) -> None:
    lbp = tmp_path / "lbp.xml"
    lbp.write_text(
        "<opencv_storage><cascade><featureType>LBP</featureType></cascade></opencv_storage>"
    )
    with pytest.raises(ValueError, match="not a HAAR cascade"):
        HaarCascade.load(lbp)
    assert find_cascade(tmp_path / "missing.xml") == CASCADE


class Stub:
    """Answers from a list: how many faces each successive frame has."""

    def __init__(self, counts: list[int]) -> None:
        self.counts = iter(counts)

    def detect(self, gray: np.ndarray) -> list[tuple[int, int, int, int]]:
        return [(0, 0, 1, 1)] * next(self.counts)


def test_share_of_frames_with_exactly_one_face() -> None:
    frames = [np.zeros((4, 4), np.uint8)] * 10
    passed = check_faces(frames, Stub([1] * 7 + [0, 2, 1]), threshold=0.75)
    assert (passed.sampled, passed.one_face, passed.share) == (10, 8, 0.8)
    assert not passed.flagged
    flagged = check_faces(frames, Stub([1] * 5 + [0] * 3 + [2] * 2), threshold=0.75)
    assert flagged.share == 0.5 and flagged.flagged
    assert check_faces([], Stub([]), threshold=0.5).flagged  # nothing to look at


def test_without_a_detector_every_session_is_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    outcome = check_faces([np.zeros((4, 4), np.uint8)], None, threshold=0.1)
    assert outcome.flagged and not outcome.available
    monkeypatch.setattr("loanflow.workers.video._faces.find_cascade", lambda configured: None)
    assert load_detector() is None


@needs_cascade
def test_samples_key_frames_of_a_recording(tmp_path: Path, cascade: HaarCascade) -> None:
    recorder = Recorder(tmp_path / "face.mp4", keyframe_interval=10)
    image = face_image()
    for n in range(60):  # 3 s at 20 fps
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.time_base = Fraction(1, 20)
        recorder.video(frame, 100 + n / 20)
    info = recorder.close()
    assert info.path is not None
    frames = list(sample_frames(info.path, interval=1.0, limit=10))
    assert 2 <= len(frames) <= 4
    assert frames[0].shape == (180, 240)
    outcome = check_faces(frames, cascade, threshold=0.9)
    assert outcome.share == 1.0 and not outcome.flagged
