"""Server CPU per concurrent dual-recording session.

The server (``create_app`` under uvicorn, the video service with its relay, recorders and
encoders) runs in this process on loopback; the synthetic participants (640×480 video at
20 fps and a tone, two per session, aiortc) run in a child process, so their encoding is not
counted. For each N, N sessions are joined, run for ``--seconds``, and this process's CPU
time over that window is divided by wall time and N: the share of one core a session costs
(relay re-encoding to each side plus the H.264/AAC recordings). Completion (vault, face
check) is not part of the window.

Usage: ``python bench/video_sessions.py [--sessions 1 2] [--seconds 10]``. The last line of
output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import multiprocessing
import resource
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any


def _loopback() -> None:
    import aioice.ice

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _participants(base: str, tokens: list[str], seconds: float) -> None:
    import av
    import httpx
    import numpy as np
    from aiortc import (
        MediaStreamTrack,
        RTCConfiguration,
        RTCPeerConnection,
        RTCSessionDescription,
    )

    class Video(MediaStreamTrack):  # type: ignore[misc]
        kind = "video"

        def __init__(self) -> None:
            super().__init__()
            self.n = 0
            self.t0 = time.monotonic()
            self.base = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)

        async def recv(self) -> Any:
            await asyncio.sleep(max(0.0, self.t0 + self.n / 20 - time.monotonic()))
            frame = av.VideoFrame.from_ndarray(np.roll(self.base, self.n * 4, 1), format="rgb24")
            frame.pts, frame.time_base = self.n * 4500, fractions.Fraction(1, 90000)
            self.n += 1
            return frame

    class Tone(MediaStreamTrack):  # type: ignore[misc]
        kind = "audio"

        def __init__(self) -> None:
            super().__init__()
            self.n = 0
            self.t0 = time.monotonic()

        async def recv(self) -> Any:
            await asyncio.sleep(max(0.0, self.t0 + self.n * 0.02 - time.monotonic()))
            t = (np.arange(960) + self.n * 960) / 48000
            pcm = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
            frame.sample_rate, frame.pts = 48000, self.n * 960
            frame.time_base = fractions.Fraction(1, 48000)
            self.n += 1
            return frame

    peers = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        for token in tokens:
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            pc.addTrack(Tone())
            pc.addTrack(Video())
            pc.on("track", lambda track: asyncio.ensure_future(_drain(track)))
            await pc.setLocalDescription(await pc.createOffer())
            answer = (
                await http.post(
                    "/api/v1/video/join",
                    json={"sdp": pc.localDescription.sdp},
                    headers={"X-Video-Token": token},
                )
            ).json()
            await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
            peers.append(pc)
        await asyncio.sleep(seconds)
        for pc in peers:
            await pc.close()


async def _drain(track: Any) -> None:
    from aiortc.mediastreams import MediaStreamError

    while True:
        try:
            await track.recv()
        except MediaStreamError:
            return


def _client(base: str, tokens: list[str], seconds: float) -> None:
    _loopback()
    asyncio.run(_participants(base, tokens, seconds))


def _measure(n: int, seconds: float, root: Path) -> dict[str, float]:
    import uvicorn

    from loanflow.api import ApiSettings, create_app
    from loanflow.engine import Engine, EngineSettings
    from loanflow.workers.video import VideoService, VideoSettings

    engine = Engine(EngineSettings(database_url=f"sqlite:///{root}/bench-{n}.sqlite3"))
    engine.migrate()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    service = VideoService(engine, VideoSettings(recording_dir=root / f"rec-{n}", demo=True))
    from loanflow.workers import WorkerRegistry
    from loanflow.workers.video import video_workers

    engine.workers = WorkerRegistry([*engine.workers, *video_workers(service)])
    app = create_app(ApiSettings(database_url=str(engine.db.url), demo=True), engine=engine)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    tokens: list[str] = []
    for i in range(n):
        _session, issued = service.open_session("enshi", f"bench-{i}", "personal_loan", "zh-CN")
        tokens += [issued["agent"], issued["customer"]]
    child = multiprocessing.get_context("spawn").Process(
        target=_client, args=(base, tokens, seconds + 4)
    )
    child.start()
    time.sleep(4)  # joins, ICE and DTLS, encoders warmed up
    cpu0, wall0 = _cpu(), time.monotonic()
    time.sleep(seconds)
    cpu, wall = _cpu() - cpu0, time.monotonic() - wall0
    child.join(60)
    service.close()
    server.should_exit = True
    thread.join(30)
    engine.close()
    return {
        "sessions": n,
        "cpu_s": round(cpu, 2),
        "wall_s": round(wall, 2),
        "core_share_per_session": round(cpu / wall / n, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    _loopback()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sessions:
            result = _measure(n, args.seconds, Path(tmp))
            print(
                f"{n} session(s): {result['core_share_per_session']:.1%} of a core each "
                f"({result['cpu_s']} s CPU in {result['wall_s']} s)",
                flush=True,
            )
            results.append(result)
    print(json.dumps({"video_sessions": results}))


if __name__ == "__main__":
    main()
