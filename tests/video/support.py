"""Synthetic participants for the video tests: aiortc peers with a face and a tone."""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import cv2
import httpx
import numpy as np
from aiortc import (  # type: ignore[import-untyped]
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError  # type: ignore[import-untyped]
from factories import diagram
from pydantic import SecretStr

from loanflow.engine import Engine
from loanflow.engine.runner import EmbeddedRunner
from loanflow.workers import WorkerRegistry
from loanflow.workers.vault import Vault, VaultSettings
from loanflow.workers.video import VideoService, VideoSettings, video_workers

DATA = Path(__file__).parent / "data"
TENANT = "enshi"
MASTER_KEY = "video-test-master-key-0123456789abcdef"
FPS = 20


def vault_settings(root: Path) -> VaultSettings:
    return VaultSettings(master_key=SecretStr(MASTER_KEY), local_dir=root, demo=False)


def build_service(engine: Engine, root: Path, **settings: Any) -> VideoService:
    """A service on ``engine`` (its worker registered) with its vault and files under root."""
    vault = Vault(engine, vault_settings(root / "vault"))
    service = VideoService(
        engine, VideoSettings(recording_dir=root / "recordings", **settings), vault=vault
    )
    engine.workers = WorkerRegistry([*engine.workers, *video_workers(service)])
    return service


def start_signing(engine: Engine) -> tuple[str, dict[str, Any]]:
    """Deploy and start video_signing, run its open_session job: (instance id, ``video``)."""
    engine.deploy(diagram("video_signing.bpmn"), tenant=TENANT)
    instance = engine.start(
        TENANT, "video_signing", variables={"product": "personal_loan", "locale": "zh-CN"}
    )
    assert EmbeddedRunner(engine).run_once() == 1
    info = engine.get_instance(TENANT, instance.id)
    assert info.variables is not None
    return instance.id, info.variables["video"]


def face_image() -> np.ndarray:
    """A real face (NASA's astronaut portrait, public domain) on a 320×240 grey canvas."""
    face = cv2.imread(str(DATA / "face.jpg"))
    canvas = np.full((240, 320, 3), 90, np.uint8)
    canvas[40:200, 80:240] = face
    return cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB)


class PictureTrack(MediaStreamTrack):  # type: ignore[misc]
    """Video at 20 fps: ``image`` with a little noise (so the encoder sees motion)."""

    kind = "video"

    def __init__(self, image: np.ndarray) -> None:
        super().__init__()
        self.image = image
        self.count = 0
        self.start: float | None = None
        self.rng = np.random.default_rng(1)

    async def recv(self) -> av.VideoFrame:
        if self.start is None:
            self.start = time.monotonic()
        due = self.start + self.count / FPS
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        noise = self.rng.integers(0, 6, self.image.shape, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(self.image + noise, format="rgb24")
        frame.pts = self.count * (90000 // FPS)
        frame.time_base = fractions.Fraction(1, 90000)
        self.count += 1
        return frame


class ToneTrack(MediaStreamTrack):  # type: ignore[misc]
    """A 440 Hz tone, 20 ms frames at 48 kHz mono."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.samples = 0
        self.start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.start is None:
            self.start = time.monotonic()
        due = self.start + self.samples / 48000
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        t = (np.arange(960) + self.samples) / 48000
        pcm = (np.sin(2 * math.pi * 440 * t) * 8000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = 48000
        frame.pts = self.samples
        frame.time_base = fractions.Fraction(1, 48000)
        self.samples += 960
        return frame


@dataclass
class Peer:
    """One participant: a client peer connection, counting what it receives."""

    http: httpx.AsyncClient
    token: str
    image: np.ndarray = field(default_factory=face_image)
    pc: Any = None
    connection_id: str | None = None
    received: dict[str, int] = field(default_factory=lambda: {"audio": 0, "video": 0})
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Video-Token": self.token}

    async def join(self, *, resume: bool = False) -> httpx.Response:
        await self.close_pc()
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc.addTrack(ToneTrack())
        self.pc.addTrack(PictureTrack(self.image))
        self.pc.on("track", self._consume)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        body: dict[str, Any] = {"type": "offer", "sdp": self.pc.localDescription.sdp}
        if resume:
            body["resume"] = self.connection_id
        response = await self.http.post("/api/v1/video/join", json=body, headers=self.headers)
        if response.status_code == 200:
            answer = response.json()
            self.connection_id = answer["connection_id"]
            await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        return response

    def _consume(self, track: Any) -> None:
        async def run() -> None:
            while True:
                try:
                    await track.recv()
                except MediaStreamError:
                    return
                self.received[track.kind] += 1

        self.tasks.append(asyncio.ensure_future(run()))

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.post(f"/api/v1/video{path}", headers=self.headers, **kwargs)

    async def view(self) -> dict[str, Any]:
        response = await self.http.get("/api/v1/video/session", headers=self.headers)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    async def close_pc(self) -> None:
        if self.pc is not None:
            await self.pc.close()
            self.pc = None
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()


async def wait_until(predicate: Any, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def media_of(content: bytes, path: Path) -> dict[str, float]:
    """Duration in seconds of each stream of an MP4 (by kind), read with PyAV."""
    path.write_bytes(content)
    result: dict[str, float] = {}
    with av.open(str(path)) as container:
        for stream in container.streams:
            frames = 0
            last = 0.0
            for packet in container.demux(stream):
                if packet.pts is not None and packet.time_base is not None:
                    end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                    last = max(last, end)
                    frames += 1
            result[stream.type] = last
            result[f"{stream.type}_packets"] = frames
            container.seek(0)
    return result
