"""One participant's recording: audio and video muxed into one MP4 (H.264 + AAC) by a thread.

Why not aiortc's ``MediaRecorder``: it binds to one pair of tracks (a participant who
reconnects brings new ones, and the recording must span the whole session) and it loses
the video track when an audio packet is muxed before the first video frame (the codec's
size is then fixed too early; the error is swallowed and the file has audio only). Here:

- frames are handed over with their arrival time (``monotonic``) from any number of
  successive tracks; timestamps come from the arrival time, so gaps stay gaps and the
  duration matches the wall clock;
- nothing is muxed before the first video frame: audio waits (up to ``hold`` seconds, then
  the file opens at a default size) so both streams exist before the header is written;
- later video frames of another size are scaled to the first one's;
- audio is re-timed by sample count, with silence inserted for gaps longer than 250 ms;
- encoding runs in the recorder's own thread; under load video frames are dropped (the
  timestamps keep the timeline right), audio never is.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from av.audio.frame import AudioFrame
from av.video.frame import VideoFrame

__all__ = ["Recorder", "RecordingInfo"]

log = logging.getLogger(__name__)

VIDEO_TIME_BASE = Fraction(1, 90_000)
SAMPLE_RATE = 48_000
_GAP = 0.25
_MAX_BACKLOG = 60
"""video frames waiting to be encoded (3 s at 20 fps) beyond which new ones are dropped"""


@dataclass(frozen=True)
class RecordingInfo:
    """What a closed recording holds (``path`` is None when no media ever arrived)."""

    path: Path | None
    started_at: float | None
    """``monotonic`` time of the recording's zero."""
    duration: float
    video_frames: int
    audio_seconds: float
    dropped_video: int


class Recorder:
    """Records frames handed in by :meth:`video` and :meth:`audio` (from any thread)."""

    def __init__(
        self,
        path: Path,
        *,
        hold: float = 3.0,
        default_size: tuple[int, int] = (640, 480),
        keyframe_interval: int = 20,
    ) -> None:
        self.path = path
        self.hold = hold
        self.default_size = default_size
        self.keyframe_interval = keyframe_interval
        self._queue: queue.Queue[tuple[str, Any, float] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=f"recorder-{path.stem}", daemon=True)
        self._container: Any = None
        self._vstream: Any = None
        self._astream: Any = None
        self._size = default_size
        self._origin: float | None = None
        self._pending: list[tuple[AudioFrame, float]] = []
        self._last_pts = -1
        self._last_video = 0.0
        self._samples = 0
        self._frames = 0
        self._dropped = 0
        self._backlog = 0
        self._count = threading.Lock()
        self._error: BaseException | None = None
        self._closed = False
        self._thread.start()

    # -- feeding (any thread) ---------------------------------------------------------------

    def video(self, frame: VideoFrame, at: float) -> None:
        if self._closed:
            return
        with self._count:
            if self._backlog >= _MAX_BACKLOG:
                self._dropped += 1
                return
            self._backlog += 1
        self._queue.put(("video", frame, at))

    def audio(self, frame: AudioFrame, at: float) -> None:
        if not self._closed:
            self._queue.put(("audio", frame, at))

    def close(self, at: float | None = None) -> RecordingInfo:
        """Flush and close the file; blocks until the thread is done. Idempotent."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            log.error("recording %s failed: %s", self.path, self._error)
        duration = max(self._last_video, self._samples / SAMPLE_RATE)
        return RecordingInfo(
            path=self.path if self._container is not None else None,
            started_at=self._origin,
            duration=duration,
            video_frames=self._frames,
            audio_seconds=self._samples / SAMPLE_RATE,
            dropped_video=self._dropped,
        )

    # -- the thread -------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while (item := self._queue.get()) is not None:
                kind, frame, at = item
                if kind == "video":
                    with self._count:
                        self._backlog -= 1
                    self._on_video(frame, at)
                else:
                    self._on_audio(frame, at)
            if self._container is None and self._pending:
                self._open(self.default_size, self._pending[0][1])
            self._finish()
        except BaseException as exc:  # noqa: BLE001 - reported by close(); drain the queue
            self._error = exc
            while self._queue.get() is not None:
                pass

    def _open(self, size: tuple[int, int], origin: float) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        container = av.open(str(self.path), mode="w", format="mp4")
        width, height = (size[0] // 2 * 2, size[1] // 2 * 2)
        vstream = container.add_stream("libx264", rate=20)
        vstream.width, vstream.height = width, height
        vstream.pix_fmt = "yuv420p"
        vstream.time_base = VIDEO_TIME_BASE
        vstream.codec_context.time_base = VIDEO_TIME_BASE
        vstream.codec_context.gop_size = self.keyframe_interval
        vstream.codec_context.options = {"preset": "ultrafast", "crf": "28"}
        astream = container.add_stream("aac", rate=SAMPLE_RATE)
        astream.layout = "mono"
        self._container, self._vstream, self._astream = container, vstream, astream
        self._size = (width, height)
        self._origin = origin
        pending, self._pending = self._pending, []
        for frame, at in pending:
            self._write_audio(frame, at)

    def _on_video(self, frame: VideoFrame, at: float) -> None:
        if self._container is None:
            self._pending = [(f, t) for f, t in self._pending if t >= at - 0.05]
            self._open((frame.width, frame.height), at)
        assert self._origin is not None
        pts = round((at - self._origin) / VIDEO_TIME_BASE)
        if pts <= self._last_pts:
            return
        self._last_pts = pts
        out = frame.reformat(width=self._size[0], height=self._size[1], format="yuv420p")
        if out is frame:  # shared with the relay's other consumers: never stamp theirs
            out = VideoFrame.from_ndarray(frame.to_ndarray(), format="yuv420p")
        out.pts = pts
        out.time_base = VIDEO_TIME_BASE
        for packet in self._vstream.encode(out):
            self._container.mux(packet)
        self._frames += 1
        self._last_video = pts * float(VIDEO_TIME_BASE)

    def _on_audio(self, frame: AudioFrame, at: float) -> None:
        if self._container is None:
            self._pending.append((frame, at))
            if at - self._pending[0][1] > self.hold:
                self._open(self.default_size, self._pending[0][1])
            return
        self._write_audio(frame, at)

    def _write_audio(self, frame: AudioFrame, at: float) -> None:
        assert self._origin is not None
        duration = frame.samples / frame.sample_rate
        start = at - duration - self._origin
        if start < -duration:
            return
        behind = start - self._samples / SAMPLE_RATE
        if behind > _GAP:
            self._silence(round(behind * SAMPLE_RATE))
        resampled = self._resampler().resample(frame)
        for chunk in resampled:
            chunk.pts = self._samples
            chunk.time_base = Fraction(1, SAMPLE_RATE)
            self._samples += chunk.samples
            for packet in self._astream.encode(chunk):
                self._container.mux(packet)

    def _silence(self, samples: int) -> None:
        while samples > 0:
            n = min(samples, 1024)
            chunk = AudioFrame(format="fltp", layout="mono", samples=n)
            for plane in chunk.planes:
                plane.update(bytes(plane.buffer_size))
            chunk.sample_rate = SAMPLE_RATE
            chunk.pts = self._samples
            chunk.time_base = Fraction(1, SAMPLE_RATE)
            self._samples += n
            samples -= n
            for packet in self._astream.encode(chunk):
                self._container.mux(packet)

    def _resampler(self) -> av.AudioResampler:
        resampler: av.AudioResampler | None = getattr(self, "_audio_resampler", None)
        if resampler is None:
            resampler = av.AudioResampler(format="fltp", layout="mono", rate=SAMPLE_RATE)
            self._audio_resampler = resampler
        return resampler

    def _finish(self) -> None:
        if self._container is None:
            return
        for packet in self._vstream.encode(None):
            self._container.mux(packet)
        for chunk in self._resampler().resample(None):
            chunk.pts = self._samples
            self._samples += chunk.samples
            for packet in self._astream.encode(chunk):
                self._container.mux(packet)
        for packet in self._astream.encode(None):
            self._container.mux(packet)
        self._container.close()
