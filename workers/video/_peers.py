"""The peer connections of every session, on the service's loop only.

One ``RTCPeerConnection`` per participant. A (re)join always builds a fresh one from the
participant's offer; the server answers with one outgoing audio and video
:class:`SwitchableTrack` that carry the other side's media through a ``MediaRelay`` when it
is there. So a late joiner or a reconnect never needs renegotiation with the participant
who stayed: only the source of that participant's outgoing tracks changes.

A join for a role that already has a live connection is refused unless it names that
connection (``resume``): that is a reconnect by the same page (it keeps the id in
``sessionStorage``); anything else is a third participant. A malformed offer is refused
before the live connection is touched.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError
from av.audio.frame import AudioFrame
from av.video.frame import VideoFrame

from loanflow.engine.clock import Clock
from loanflow.engine.errors import Conflict, InvalidInput
from loanflow.workers.video._media import SwitchableTrack
from loanflow.workers.video._recorder import Recorder
from loanflow.workers.video._session import SessionState
from loanflow.workers.video._tokens import Role
from loanflow.workers.video.settings import VideoSettings

__all__ = ["Peers"]

log = logging.getLogger(__name__)

_CONNECT_GRACE = 20.0
_KINDS = ("audio", "video")


@dataclass
class Participant:
    role: Role
    pc: Any
    connection_id: str
    joined: float
    outgoing: dict[str, SwitchableTrack]
    incoming: dict[str, Any] = field(default_factory=dict)
    pumps: list[asyncio.Task[None]] = field(default_factory=list)

    def live(self) -> bool:
        state = self.pc.connectionState
        if state == "connected":
            return True
        return state in ("new", "connecting") and time.monotonic() - self.joined < _CONNECT_GRACE


@dataclass
class Media:
    """The media side of one session."""

    relay: Any
    participants: dict[Role, Participant] = field(default_factory=dict)
    recorders: dict[Role, Recorder] = field(default_factory=dict)
    joined: set[Role] = field(default_factory=set)


def _other(role: Role) -> Role:
    return "agent" if role == "customer" else "customer"


class Peers:
    def __init__(self, settings: VideoSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self._media: dict[str, Media] = {}

    def _now(self) -> Any:
        return self.clock.now()

    def presence(self, session_id: str) -> dict[str, dict[str, Any]]:
        media = self._media.get(session_id)
        result: dict[str, dict[str, Any]] = {}
        for role in ("customer", "agent"):
            p = media.participants.get(role) if media else None
            result[role] = {
                "joined": bool(media and role in media.joined),
                "connection": p.pc.connectionState if p else "absent",
            }
        return result

    def has_joined(self, session_id: str, role: Role) -> bool:
        media = self._media.get(session_id)
        return bool(media and role in media.joined)

    def _ice(self) -> RTCConfiguration:
        servers = [
            RTCIceServer(urls=s.urls, username=s.username, credential=s.credential)
            for s in self.settings.ice_servers
        ]
        return RTCConfiguration(iceServers=servers)

    async def join(
        self, session: SessionState, role: Role, sdp: str, resume: str | None
    ) -> dict[str, str]:
        session.check_open()
        media = self._media.setdefault(session.id, Media(MediaRelay()))
        current = media.participants.get(role)
        if current is not None and current.live() and resume != current.connection_id:
            raise Conflict(f"the {role} is already connected to this video session")

        pc = RTCPeerConnection(configuration=self._ice())
        arrived: list[Any] = []
        pc.on("track", arrived.append)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            kinds = {t.kind for t in pc.getTransceivers()}
            if not {"audio", "video"} <= kinds:
                raise InvalidInput(
                    "the offer must send audio and video", {"sdp": "audio and video needed"}
                )
            outgoing = {kind: SwitchableTrack(kind) for kind in _KINDS}
            for track in outgoing.values():
                pc.addTrack(track)
            await pc.setLocalDescription(await pc.createAnswer())
        except InvalidInput:
            await pc.close()
            raise
        except Exception as exc:  # noqa: BLE001 - aiortc raises many kinds for a bad SDP
            await pc.close()
            reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise InvalidInput(
                f"the SDP offer cannot be used: {reason}", {"sdp": "not a usable offer"}
            ) from None
        if session.finished:
            await pc.close()
            session.check_open()

        if current is not None:
            await self._drop(media, current)
        participant = Participant(role, pc, uuid.uuid4().hex, time.monotonic(), outgoing)
        media.participants[role] = participant
        rejoin = role in media.joined
        media.joined.add(role)
        if session.started is None:
            session.started = time.monotonic()
            session.state = "active"
        session.record(
            "participant.rejoined" if rejoin else "participant.joined",
            role,
            self._now(),
            connection_id=participant.connection_id,
        )
        for track in arrived:
            self._wire(session, media, participant, track)
        other = media.participants.get(_other(role))
        if other is not None:
            for kind, track in other.incoming.items():
                outgoing[kind].switch(media.relay.subscribe(track, buffered=kind == "audio"))

        @pc.on("connectionstatechange")
        async def _changed() -> None:
            state = pc.connectionState
            if media.participants.get(role) is participant and not session.finished:
                session.record(f"connection.{state}", role, self._now())
            if state == "failed":
                await pc.close()

        return {
            "type": "answer",
            "sdp": pc.localDescription.sdp,
            "connection_id": participant.connection_id,
        }

    def _recorder(self, session: SessionState, media: Media, role: Role) -> Recorder:
        if role not in media.recorders:
            settings = self.settings
            media.recorders[role] = Recorder(
                settings.recording_dir / session.id / f"{role}.mp4",
                hold=settings.audio_hold_seconds,
            )
        return media.recorders[role]

    def _wire(
        self, session: SessionState, media: Media, participant: Participant, track: Any
    ) -> None:
        kind = track.kind
        if kind not in _KINDS:
            return
        participant.incoming[kind] = track
        recorder = self._recorder(session, media, participant.role)
        proxy = media.relay.subscribe(track, buffered=True)
        participant.pumps.append(asyncio.ensure_future(self._pump(proxy, recorder, kind)))
        other = media.participants.get(_other(participant.role))
        if other is not None:
            other.outgoing[kind].switch(media.relay.subscribe(track, buffered=kind == "audio"))

    @staticmethod
    async def _pump(proxy: MediaStreamTrack, recorder: Recorder, kind: str) -> None:
        while True:
            try:
                frame = await proxy.recv()
            except MediaStreamError:
                return
            if isinstance(frame, VideoFrame):
                recorder.video(frame, time.monotonic())
            elif isinstance(frame, AudioFrame):
                recorder.audio(frame, time.monotonic())

    async def _drop(self, media: Media, participant: Participant) -> None:
        for track in participant.outgoing.values():
            track.stop()
        await participant.pc.close()
        for pump in participant.pumps:
            pump.cancel()
        await asyncio.gather(*participant.pumps, return_exceptions=True)
        other = media.participants.get(_other(participant.role))
        if other is not None:
            for kind in participant.incoming:
                other.outgoing[kind].switch(None)

    async def leave(self, session: SessionState, role: Role, connection_id: str | None) -> None:
        media = self._media.get(session.id)
        current = media.participants.get(role) if media else None
        if media is None or current is None:
            return
        if connection_id is not None and connection_id != current.connection_id:
            raise Conflict("that connection is not the participant's current one")
        del media.participants[role]
        await self._drop(media, current)
        if not session.finished:
            session.record("participant.left", role, self._now())

    async def close_session(self, session: SessionState) -> dict[str, dict[str, Any]]:
        """Close the peers and recordings; what each recording holds, by role."""
        media = self._media.pop(session.id, None)
        if media is None:
            return {}
        for participant in list(media.participants.values()):
            await self._drop(media, participant)
        recordings: dict[str, dict[str, Any]] = {}
        for role, recorder in media.recorders.items():
            info = await asyncio.to_thread(recorder.close)
            recordings[role] = {
                "path": info.path,
                "started_mono": info.started_at,
                "recording_started_offset": session.offset(info.started_at)
                if info.started_at is not None
                else None,
                "duration": round(info.duration, 3),
                "video_frames": info.video_frames,
                "audio_seconds": round(info.audio_seconds, 3),
                "dropped_video_frames": info.dropped_video,
            }
        return recordings

    async def close_all(self) -> None:
        for session_id in list(self._media):
            media = self._media.pop(session_id)
            for participant in list(media.participants.values()):
                await self._drop(media, participant)
            for recorder in media.recorders.values():
                await asyncio.to_thread(recorder.close)
