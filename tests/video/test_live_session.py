"""A whole session in-process: two aiortc peers through the server, over the HTTP routes.

The agent joins first and the customer late; the customer reconnects mid-session; a third
participant and a malformed offer are refused without harming the session; the agent
reads every disclosure, the customer confirms, the agent completes. Then: both recordings
are in the vault with an audio and a video track lasting as long as the participant was
in the session, the log has every step with its offsets, the face check passed on the
customer's recording, and the instance went on to the signing task.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from factories import assert_round_trip, only
from video.support import TENANT, Peer, media_of, start_signing, wait_until

from loanflow.api import ApiSettings, create_app
from loanflow.engine import Engine
from loanflow.workers.video import VideoService

pytestmark = pytest.mark.slow


async def rate(peer: Peer, kind: str, seconds: float = 1.0) -> float:
    before = peer.received[kind]
    await asyncio.sleep(seconds)
    return (peer.received[kind] - before) / seconds


async def scenario(app: Any, video: dict[str, Any], service: VideoService) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        agent = Peer(http, video["agent_token"])
        customer = Peer(http, video["customer_token"])
        marks: dict[str, float] = {}
        try:
            assert (await agent.join()).status_code == 200
            marks["agent"] = time.monotonic()
            await asyncio.sleep(1.5)
            # the customer joins late: the agent's connection is not renegotiated
            assert (await customer.join()).status_code == 200
            marks["customer"] = time.monotonic()
            await wait_until(lambda: customer.received["video"] > 5, what="agent's video")
            assert await rate(agent, "video") >= 12  # relayed at 20 fps, not the 5 fps stand-in
            assert customer.received["audio"] > 0

            intruder = Peer(http, video["customer_token"])
            refused = await intruder.join()
            await intruder.close_pc()
            assert refused.status_code == 409, refused.text
            assert refused.json()["error"] == "conflict"

            broken = await http.post(
                "/api/v1/video/join",
                json={"sdp": "v=0\r\nthis is not sdp", "resume": agent.connection_id},
                headers=agent.headers,
            )
            assert broken.status_code == 422, broken.text
            assert broken.json()["error"] == "invalid_input"

            disclosures = [d["id"] for d in (await agent.view())["disclosures"]]
            early = await customer.post(f"/disclosures/{disclosures[0]}/confirm")
            assert early.status_code == 409
            assert (await agent.post(f"/disclosures/{disclosures[0]}/confirm")).status_code == 403
            assert (await agent.post("/complete")).status_code == 409
            for disclosure in disclosures[:2]:
                assert (await agent.post(f"/disclosures/{disclosure}/read")).status_code == 200
                assert (
                    await customer.post(f"/disclosures/{disclosure}/confirm")
                ).status_code == 200

            # the customer's page reloads: a fresh peer connection, resuming its place
            old = customer.connection_id
            assert (await customer.join(resume=True)).status_code == 200
            assert customer.connection_id != old
            await wait_until(lambda: customer.received["video"] > 5, what="video after rejoin")
            assert await rate(agent, "video") >= 12

            for disclosure in disclosures[2:]:
                assert (await agent.post(f"/disclosures/{disclosure}/read")).status_code == 200
                await asyncio.sleep(0.5)
                assert (
                    await customer.post(f"/disclosures/{disclosure}/confirm")
                ).status_code == 200
            view = await customer.view()
            assert all(d["read"] and d["confirmed"] for d in view["disclosures"])
            assert view["participants"]["agent"]["connection"] == "connected"

            remaining = 10.0 - (time.monotonic() - marks["agent"])
            await asyncio.sleep(max(0.0, remaining))
            assert (await agent.post("/complete")).status_code == 200
            marks["end"] = time.monotonic()
            outcome = await asyncio.to_thread(service.wait_finished, view["session_id"], 60)
            after = await agent.post(f"/disclosures/{disclosures[0]}/read")
            assert after.status_code == 409
        finally:
            await agent.close_pc()
            await customer.close_pc()
    return {"outcome": outcome, "marks": marks}


@pytest.mark.filterwarnings("ignore::DeprecationWarning:aiortc.*")
def test_a_whole_session(sqlite_engine: Engine, service: VideoService, tmp_path: Path) -> None:
    engine = sqlite_engine
    instance_id, video = start_signing(engine)
    app = create_app(ApiSettings(database_url=str(engine.db.url), demo=True), engine=engine)
    assert app.state.video is service

    result = asyncio.run(scenario(app, video, service))
    outcome, marks = result["outcome"], result["marks"]
    assert outcome["outcome"] == "completed"
    assert outcome["disclosures"] == {"total": 5, "read": 5, "confirmed": 5}
    assert outcome["face_check"]["flagged"] is False, outcome["face_check"]
    assert outcome["face_check"]["share"] >= 0.9

    vault = service.vault()
    recordings = {r["role"]: r for r in outcome["recordings"]}
    assert set(recordings) == {"customer", "agent"}
    assert outcome["recording_digests"] == [
        recordings["customer"]["sm3"],
        recordings["agent"]["sm3"],
    ]
    for role, recording in recordings.items():
        info = vault.info(TENANT, recording["document_id"])
        assert info.kind == "video_recording"
        assert info.instance_id == instance_id
        assert info.sm3 == recording["sm3"]
        media = media_of(vault.read(TENANT, recording["document_id"]), tmp_path / f"{role}.mp4")
        expected = marks["end"] - marks[role]
        for kind in ("audio", "video"):
            assert abs(media[kind] - expected) <= 0.1 * expected, (role, kind, media, expected)

    log = json.loads(vault.read(TENANT, outcome["log_document_id"]))
    events = [(e["event"], e["role"]) for e in log["entries"]]
    assert ("participant.joined", "agent") in events
    assert ("participant.joined", "customer") in events
    assert ("participant.rejoined", "customer") in events
    assert events.count(("disclosure.read", "agent")) == 5
    assert events.count(("disclosure.confirmed", "customer")) == 5
    assert events[-1] == ("session.completed", "agent")
    confirmed = [e for e in log["entries"] if e["event"] == "disclosure.confirmed"]
    assert all(0 < e["recording_offsets"]["customer"] < e["offset"] for e in confirmed)
    assert log["script"]["en"][0]["id"] == "identity"

    info = engine.get_instance(TENANT, instance_id)
    assert info.state == "running"
    assert only(info.user_tasks).element_id == "sign_contract"
    assert info.variables is not None
    assert info.variables["video_outcome"]["log_sm3"] == outcome["log_sm3"]
    assert_round_trip(engine, instance_id)
    assert not (tmp_path / "recordings" / outcome["session_id"]).exists()
