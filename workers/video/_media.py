"""The track the server sends each participant: the other side's media, or a stand-in.

Each participant's peer connection gets one outgoing audio and one outgoing video track at
join time, whether or not the other participant is there yet. The track forwards whatever
source it is currently given (a ``MediaRelay`` subscription of the other side's incoming
track) and sends black frames or silence while there is none. So a late joiner, or the
other side reconnecting with a fresh peer connection, is a change of source on the server,
and never needs an SDP renegotiation with the participant who stayed.

Frames are re-stamped with this track's own clock, so a change of source does not make the
RTP timestamps jump back.
"""

from __future__ import annotations

import asyncio
import time
from fractions import Fraction

import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av.audio.frame import AudioFrame
from av.frame import Frame
from av.video.frame import VideoFrame

__all__ = ["SwitchableTrack"]

_VIDEO_TB = Fraction(1, 90_000)
_RATE = 48_000
_AUDIO_PTIME = 0.02
_STANDIN_FPS = 5
_WAIT = 0.5


class SwitchableTrack(MediaStreamTrack):
    """An outgoing track of ``kind`` whose source can be swapped at any time."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._source: MediaStreamTrack | None = None
        self._start = time.monotonic()
        self._samples = 0
        self._last_pts = -1
        self._silence: AudioFrame | None = None

    @property
    def source(self) -> MediaStreamTrack | None:
        return self._source

    def switch(self, source: MediaStreamTrack | None) -> None:
        """Forward ``source`` from now on (None: the stand-in); the old one is stopped."""
        old, self._source = self._source, source
        if old is not None and old is not source:
            old.stop()

    async def recv(self) -> Frame:
        if self.readyState != "live":
            raise MediaStreamError
        while True:
            source = self._source
            if source is None:
                return await self._standin()
            try:
                frame = await asyncio.wait_for(source.recv(), _WAIT)
            except TimeoutError:
                if self.kind == "audio":
                    return await self._standin()
                continue
            except MediaStreamError:
                if self._source is source:
                    self._source = None
                continue
            if isinstance(frame, Frame):
                return self._stamp(frame)

    def stop(self) -> None:
        self.switch(None)
        super().stop()

    def _stamp(self, frame: Frame) -> Frame:
        now = time.monotonic() - self._start
        if isinstance(frame, AudioFrame):
            if frame is not self._silence:  # shared with the recorder: stamp a copy
                copy = AudioFrame.from_ndarray(
                    frame.to_ndarray(), format=frame.format.name, layout=frame.layout.name
                )
                copy.sample_rate = frame.sample_rate
                frame = copy
            # keep the sample clock within 200 ms of real time (a stall or a gap)
            wall = round(now * _RATE)
            if wall - self._samples > 0.2 * _RATE:
                self._samples = wall
            frame.pts = self._samples
            frame.time_base = Fraction(1, frame.sample_rate or _RATE)
            self._samples += frame.samples
            return frame
        pts = max(round(now / _VIDEO_TB), self._last_pts + 1)
        self._last_pts = pts
        frame.pts = pts
        frame.time_base = _VIDEO_TB
        return frame

    async def _standin(self) -> Frame:
        if self.kind == "audio":
            due = self._start + self._samples / _RATE
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(min(delay, _AUDIO_PTIME))
            self._silence = AudioFrame.from_ndarray(
                np.zeros((1, int(_RATE * _AUDIO_PTIME) * 2), dtype=np.int16),
                format="s16",
                layout="stereo",
            )
            self._silence.sample_rate = _RATE
            return self._stamp(self._silence)
        await asyncio.sleep(1 / _STANDIN_FPS)
        black = VideoFrame.from_ndarray(np.zeros((240, 320, 3), dtype=np.uint8), format="rgb24")
        return self._stamp(black)
