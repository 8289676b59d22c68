"""The recorder keeps both tracks whatever arrives first, and the wall-clock timeline."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from video.support import media_of

from loanflow.workers.video import Recorder


def audio(n: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(
        np.full((1, 960 * 2), n % 100, np.int16), format="s16", layout="stereo"
    )
    frame.sample_rate = 48000
    frame.pts = n * 960
    frame.time_base = Fraction(1, 48000)
    return frame


def video(width: int = 320, height: int = 240) -> av.VideoFrame:
    pixels = np.random.default_rng(3).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return av.VideoFrame.from_ndarray(pixels, format="rgb24")


def test_audio_before_the_first_video_frame_keeps_both_tracks(tmp_path: Path) -> None:
    """The MediaRecorder pitfall: audio first must not cost the video track."""
    recorder = Recorder(tmp_path / "r.mp4")
    t0 = 50.0
    for n in range(10):  # 200 ms of audio before any video
        recorder.audio(audio(n), t0 + (n + 1) * 0.02)
    for n in range(10, 250):  # then 4.8 s of both, video at 20 fps
        recorder.audio(audio(n), t0 + (n + 1) * 0.02)
        if n % 5 == 0:
            recorder.video(video(), t0 + n * 0.02)
    info = recorder.close()
    assert info.path is not None
    media = media_of(info.path.read_bytes(), tmp_path / "copy.mp4")
    assert abs(media["video"] - 4.8) < 0.3 and abs(media["audio"] - 4.8) < 0.3, media
    with av.open(str(info.path)) as container:
        assert (container.streams.video[0].width, container.streams.video[0].height) == (320, 240)


def test_gaps_stay_gaps_and_sizes_are_unified(tmp_path: Path) -> None:
    """A reconnect: 2 s of media, 1 s of nothing, 2 s from a camera of another size."""
    recorder = Recorder(tmp_path / "r.mp4")
    for n in range(100):
        recorder.audio(audio(n), 10 + (n + 1) * 0.02)
        if n % 5 == 0:
            recorder.video(video(), 10 + n * 0.02)
    for n in range(150, 250):
        recorder.audio(audio(n), 10 + (n + 1) * 0.02)
        if n % 5 == 0:
            recorder.video(video(640, 480), 10 + n * 0.02)
    info = recorder.close()
    assert info.path is not None
    media = media_of(info.path.read_bytes(), tmp_path / "copy.mp4")
    assert abs(media["audio"] - 5.0) < 0.2 and abs(media["video"] - 4.9) < 0.2, media
    assert 38 <= media["video_packets"] <= 41
    with av.open(str(info.path)) as container:
        assert container.streams.video[0].width == 320


def test_audio_only_opens_after_the_hold(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "r.mp4", hold=0.5)
    for n in range(100):
        recorder.audio(audio(n), 1 + (n + 1) * 0.02)
    info = recorder.close()
    assert info.path is not None and info.video_frames == 0
    assert abs(info.audio_seconds - 2.0) < 0.05


def test_nothing_recorded_no_file(tmp_path: Path) -> None:
    info = Recorder(tmp_path / "r.mp4").close()
    assert info.path is None and info.duration == 0
    assert not (tmp_path / "r.mp4").exists()
